import { act, screen, waitFor } from '@testing-library/react';
import {
  MockFetchApi,
  mockApis,
  registerMswTestHooks,
} from '@backstage/test-utils';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { CanaryClient } from '../api';
import { details, rollout, series, status } from '../__testUtils__/fixtures';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { fakeSignals } from '../__testUtils__/fakeSignals';
import { renderWithEntity } from '../__testUtils__/renderWithEntity';
import { EntityCanaryCard } from './EntityCanaryCard';
import { EntityCanaryContent } from './EntityCanaryContent';

const baseUrl = 'http://backstage.test/api/canary';
const CHANNEL = 'canary:entity:component:default/checkout';
/* Polling an hour apart: every request in a test is a load or a push. */
const HOURLY = {
  activeMs: 3_600_000,
  idleMs: 3_600_000,
  pushedMs: 3_600_000,
};

/**
 * The overview card and the tab of one entity on one page, with the real
 * client over HTTP (msw): they share the status request.
 */
describe('the card and the tab share the status call', () => {
  const server = setupServer();
  registerMswTestHooks(server);

  function backend() {
    const seen = { status: 0 };
    server.use(
      http.get(`${baseUrl}/entities/component/default/checkout`, () => {
        seen.status += 1;
        return HttpResponse.json(
          status({ active: rollout({ weight: seen.status * 5 }) }),
        );
      }),
      http.get(`${baseUrl}/rollouts/r-2`, () => HttpResponse.json(details())),
      http.get(`${baseUrl}/rollouts/r-2/series`, () =>
        HttpResponse.json({ series }),
      ),
    );
    return seen;
  }

  const client = () =>
    new CanaryClient({
      discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
      fetchApi: new MockFetchApi(),
    });

  it('loads the status once for both, and once per pushed change', async () => {
    const seen = backend();
    const signals = fakeSignals();
    await renderWithEntity(
      <>
        <EntityCanaryCard pollIntervals={HOURLY} />
        <EntityCanaryContent pollIntervals={HOURLY} />
      </>,
      { canaryApi: client(), signalApi: signals.api },
    );
    await screen.findByRole('group', { name: 'Rollout controls' });
    await screen.findByTestId('canary-card');
    expect(screen.getByTestId('canary-card-weight')).toHaveAttribute(
      'data-weight',
      '5',
    );
    expect(screen.getByTestId('canary-weight')).toHaveAttribute(
      'data-weight',
      '5',
    );
    expect(seen.status).toBe(1);

    // A pushed change reaches both through one request sent after it.
    act(() =>
      signals.send(CHANNEL, { type: 'rollout-changed', rolloutId: 'r-2' }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-card-weight')).toHaveAttribute(
        'data-weight',
        '10',
      ),
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-weight')).toHaveAttribute(
        'data-weight',
        '10',
      ),
    );
    expect(seen.status).toBe(2);
  });

  it('shares the card’s request with the tab opened right after it', async () => {
    const seen = backend();
    const canaryApi = client();
    const card = await renderWithEntity(
      <EntityCanaryCard pollIntervals={HOURLY} />,
      { canaryApi },
    );
    // The tab opens before the card's answer came (the click on the tab).
    card.unmount();
    await renderWithEntity(<EntityCanaryContent pollIntervals={HOURLY} />, {
      canaryApi,
    });
    await screen.findByRole('group', { name: 'Rollout controls' });
    expect(seen.status).toBe(1);
  });

  it('never stretches a short poll interval: a poll takes no answer older than half of it', async () => {
    const asked: Array<{ at: number; notBefore?: number }> = [];
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async (_entity, options) => {
        asked.push({ at: Date.now(), notBefore: options?.notBefore });
        return status();
      }),
    });
    await renderWithEntity(
      <EntityCanaryContent
        pollIntervals={{ activeMs: 400, idleMs: 400, pushedMs: 400 }}
      />,
      { canaryApi },
    );
    await waitFor(() => expect(asked.length).toBeGreaterThanOrEqual(2));
    // Half of 400 ms, and the few ms between the hook's clock and the call's.
    for (const call of asked) {
      expect(call.at - (call.notBefore ?? -Infinity)).toBeLessThanOrEqual(300);
    }
  });
});
