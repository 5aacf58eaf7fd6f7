import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { EntityCanaryContent } from './EntityCanaryContent';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { rollout, status } from '../__testUtils__/fixtures';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';
import type { EntityCanaryStatus } from '@coalmine/backstage-plugin-canary-common';

const fast = { activeMs: 50, idleMs: 50 };

/** Starts a rollout from the empty tab; the backend then answers `next.current`. */
async function startFromEmptyTab(next: { current: EntityCanaryStatus }) {
  const started = rollout({
    id: 'r-9',
    phase: 'Pending',
    weight: 0,
    stepIndex: -1,
  });
  const canaryApi = fakeCanaryApi({
    getEntityStatus: jest.fn(async () => next.current),
    startRollout: jest.fn(async () => {
      // The backend now answers with the rollout running.
      const running = rollout({ id: 'r-9', phase: 'Progressing', weight: 5 });
      next.current = status({ active: running, history: [running] });
      return started;
    }),
  });
  await renderWithEntity(<EntityCanaryContent pollIntervals={fast} />, {
    canaryApi,
  });
  const empty = await screen.findByTestId('canary-empty');
  await userEvent.click(within(empty).getByRole('button', { name: 'Start' }));
  const dialog = await screen.findByRole('dialog', {
    name: 'Start a canary rollout?',
  });
  await userEvent.click(
    within(dialog).getByRole('button', { name: 'Confirm' }),
  );
  expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
    '% of the traffic goes to the canary first',
  );
  await waitFor(() =>
    expect(screen.getByTestId('canary-phase')).toHaveAttribute(
      'data-phase',
      'Progressing',
    ),
  );
  // Still the rollout just started: the banner stays.
  expect(screen.getByTestId('canary-action-result')).toBeInTheDocument();
}

describe('CanaryTab action banner', () => {
  it('drops the "Rollout started" banner once that rollout was rolled back', async () => {
    const next = { current: status({ active: null, history: [] }) };
    await startFromEmptyTab(next);
    const rolledBack = rollout({
      id: 'r-9',
      phase: 'RolledBack',
      weight: 0,
      actualWeight: 0,
      finishedAt: '2026-11-22T10:05:00.000Z',
      message: 'Rolled back: error-rate failed',
    });
    next.current = status({ active: null, history: [rolledBack] });
    await waitFor(() =>
      expect(screen.getByTestId('canary-phase')).toHaveAttribute(
        'data-phase',
        'RolledBack',
      ),
    );
    await waitFor(() =>
      expect(screen.queryByTestId('canary-action-result')).toBeNull(),
    );
  });

  it('drops it once another rollout has taken the place of the one started', async () => {
    const next = { current: status({ active: null, history: [] }) };
    await startFromEmptyTab(next);
    const other = rollout({ id: 'r-10', phase: 'Progressing', weight: 25 });
    next.current = status({ active: other, history: [other] });
    await waitFor(() =>
      expect(screen.queryByTestId('canary-action-result')).toBeNull(),
    );
  });

  it('keeps "Promotion requested" once the promoted rollout has succeeded, the end it announced', async () => {
    const next = {
      current: status({ active: rollout({ id: 'r-9', phase: 'Progressing' }) }),
    };
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => next.current),
      controlRollout: jest.fn(async () => {
        const promoting = rollout({ id: 'r-9', phase: 'Promoting' });
        next.current = status({ active: promoting, history: [promoting] });
        return promoting;
      }),
    });
    await renderWithEntity(<EntityCanaryContent pollIntervals={fast} />, {
      canaryApi,
    });
    const promote = await screen.findByRole('button', { name: 'Promote' });
    await waitFor(() => expect(promote).toBeEnabled());
    await userEvent.click(promote);
    const dialog = await screen.findByRole('dialog', {
      name: 'Promote the canary now?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Confirm' }),
    );
    expect(await screen.findByTestId('canary-action-result')).toHaveTextContent(
      'Promotion requested',
    );
    const succeeded = rollout({
      id: 'r-9',
      phase: 'Succeeded',
      weight: 100,
      finishedAt: '2026-11-22T10:05:00.000Z',
    });
    next.current = status({ active: null, history: [succeeded] });
    await waitFor(() =>
      expect(screen.getByTestId('canary-phase')).toHaveAttribute(
        'data-phase',
        'Succeeded',
      ),
    );
    // Polls go on (inside act: each one updates the tab); the banner stays
    // true and stays.
    await act(() => new Promise(r => setTimeout(r, 200)));
    expect(screen.getByTestId('canary-action-result')).toHaveTextContent(
      'Promotion requested',
    );
  });
});
