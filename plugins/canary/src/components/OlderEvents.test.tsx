import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { RolloutEvent } from '@coalmine/backstage-plugin-canary-common';
import { EntityCanaryContent } from './EntityCanaryContent';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { details } from '../__testUtils__/fixtures';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';

const event = (id: number, message: string): RolloutEvent => ({
  id,
  rolloutId: 'r-2',
  time: new Date(Date.UTC(2026, 10, 22, 10, 0, id)).toISOString(),
  type: 'step',
  message,
  actor: 'coalmine',
});

const messages = () =>
  within(screen.getByTestId('canary-timeline'))
    .getAllByTestId('canary-event')
    .map(e => e.querySelector('p')?.textContent);

describe('the timeline of a rollout with many events', () => {
  it('shows the newest page and loads older pages on demand', async () => {
    const canaryApi = fakeCanaryApi({
      getRollout: jest.fn(async () =>
        details({
          events: [event(201, 'Step 3 at 50 %'), event(202, 'Step 4 at 75 %')],
          eventsCursor: 'cursor-before-201',
        }),
      ),
      getRolloutEvents: jest.fn(async (_id: string, page: { before: string }) =>
        page.before === 'cursor-before-201'
          ? {
              items: [event(101, 'Step 2 at 25 %')],
              cursor: 'cursor-before-101',
            }
          : { items: [event(1, 'Rollout started')], cursor: null },
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    await screen.findByText('Step 4 at 75 %');
    expect(messages()).toEqual(['Step 4 at 75 %', 'Step 3 at 50 %']);
    expect(canaryApi.getRolloutEvents).not.toHaveBeenCalled();

    await userEvent.click(
      screen.getByRole('button', { name: 'Load older events' }),
    );
    await screen.findByText('Step 2 at 25 %');
    expect(canaryApi.getRolloutEvents).toHaveBeenLastCalledWith('r-2', {
      before: 'cursor-before-201',
    });
    await userEvent.click(
      screen.getByRole('button', { name: 'Load older events' }),
    );
    await screen.findByText('Rollout started');
    expect(canaryApi.getRolloutEvents).toHaveBeenLastCalledWith('r-2', {
      before: 'cursor-before-101',
    });
    expect(messages()).toEqual([
      'Step 4 at 75 %',
      'Step 3 at 50 %',
      'Step 2 at 25 %',
      'Rollout started',
    ]);
    // The first event reached: nothing older to offer.
    expect(
      screen.queryByRole('button', { name: 'Load older events' }),
    ).not.toBeInTheDocument();
  });

  it('says why older events did not load and lets the user try again', async () => {
    let fail = true;
    const canaryApi = fakeCanaryApi({
      getRollout: jest.fn(async () =>
        details({ events: [event(50, 'Step 1 at 5 %')], eventsCursor: 'c-50' }),
      ),
      getRolloutEvents: jest.fn(async () => {
        if (fail) throw new Error('backend unavailable');
        return { items: [event(1, 'Rollout started')], cursor: null };
      }),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    await userEvent.click(
      await screen.findByRole('button', { name: 'Load older events' }),
    );
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Older events could not be loaded: backend unavailable',
    );
    fail = false;
    await userEvent.click(
      screen.getByRole('button', { name: 'Load older events' }),
    );
    await screen.findByText('Rollout started');
    await waitFor(() =>
      expect(screen.queryByRole('alert')).not.toBeInTheDocument(),
    );
  });
});
