import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type {
  AnalysisResult,
  RolloutEvent,
} from '@coalmine/backstage-plugin-canary-common';
import { EntityCanaryContent } from './EntityCanaryContent';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { analysisResult, details } from '../__testUtils__/fixtures';
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

const tick = (id: number, action: AnalysisResult['action']): AnalysisResult =>
  analysisResult({
    id,
    time: new Date(Date.UTC(2026, 10, 22, 10, 0, id)).toISOString(),
    action,
  });

const ticks = () =>
  within(screen.getByTestId('canary-decision-strip'))
    .getAllByTestId('canary-tick')
    .map(t => t.getAttribute('aria-label'));

describe('the analysis rows of a rollout with a long history', () => {
  it('shows the newest page in the tick strip and loads older rows on demand', async () => {
    const canaryApi = fakeCanaryApi({
      getRollout: jest.fn(async () =>
        details({
          analysis: [tick(40, 'hold'), tick(41, 'advance')],
          analysisCursor: 'a-before-40',
        }),
      ),
      getRolloutAnalysis: jest.fn(
        async (_id: string, page: { before: string; limit?: number }) =>
          page.before === 'a-before-40'
            ? {
                items: [tick(20, 'hold'), tick(21, 'hold')],
                cursor: 'a-before-20',
              }
            : { items: [tick(1, 'advance')], cursor: null },
      ),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    await waitFor(() => expect(ticks()).toHaveLength(2));
    expect(canaryApi.getRolloutAnalysis).not.toHaveBeenCalled();

    await userEvent.click(
      screen.getByRole('button', { name: 'Load older analysis checks' }),
    );
    await waitFor(() => expect(ticks()).toHaveLength(4));
    expect(canaryApi.getRolloutAnalysis).toHaveBeenLastCalledWith('r-2', {
      before: 'a-before-40',
      limit: 100,
    });
    await userEvent.click(
      screen.getByRole('button', { name: 'Load older analysis checks' }),
    );
    await waitFor(() => expect(ticks()).toHaveLength(5));
    expect(canaryApi.getRolloutAnalysis).toHaveBeenLastCalledWith('r-2', {
      before: 'a-before-20',
      limit: 100,
    });
    // Oldest first, the loaded pages to the left of the polled one.
    expect(ticks().map(label => label?.split(': ')[1])).toEqual([
      'advance',
      'hold',
      'hold',
      'hold',
      'advance',
    ]);
    // The first row reached: nothing older to offer.
    expect(
      screen.queryByRole('button', { name: 'Load older analysis checks' }),
    ).not.toBeInTheDocument();
  });

  it('says why older analysis rows did not load', async () => {
    const canaryApi = fakeCanaryApi({
      getRollout: jest.fn(async () =>
        details({
          analysis: [tick(40, 'hold'), tick(41, 'advance')],
          analysisCursor: 'a-before-40',
        }),
      ),
      getRolloutAnalysis: jest.fn(async () => {
        throw new Error('backend unavailable');
      }),
    });
    await renderWithEntity(
      <EntityCanaryContent pollIntervals={{ activeMs: 60_000 }} />,
      { canaryApi },
    );
    await userEvent.click(
      await screen.findByRole('button', { name: 'Load older analysis checks' }),
    );
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'Older analysis checks could not be loaded: backend unavailable',
    );
    expect(ticks()).toHaveLength(2);
  });
});
