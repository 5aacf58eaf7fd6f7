import { act, screen, waitFor } from '@testing-library/react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import {
  EntityProvider,
  entityRouteRef,
} from '@backstage/plugin-catalog-react';
import { discoveryApiRef } from '@backstage/core-plugin-api';
import { signalApiRef } from '@backstage/plugin-signals-react';
import {
  TestApiProvider,
  mockApis,
  renderInTestApp,
} from '@backstage/test-utils';
import { SWRConfig } from 'swr';
import { EntityCanaryContent } from './EntityCanaryContent';
import { EntityCanaryCard } from './EntityCanaryCard';
import { canaryApiRef } from '../api';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { annotatedEntity, rollout, status } from '../__testUtils__/fixtures';
import { fakeSignals } from '../__testUtils__/fakeSignals';

const HOURLY = {
  activeMs: 3_600_000,
  idleMs: 3_600_000,
  pushedMs: 3_600_000,
};

async function render(
  canaryApi: any,
  signals?: ReturnType<typeof fakeSignals>,
  /* Polling an hour apart: whatever changes sooner was pushed. */
  element: JSX.Element = <EntityCanaryContent pollIntervals={HOURLY} />,
) {
  return renderInTestApp(
    <TestApiProvider
      apis={
        [
          [canaryApiRef, canaryApi],
          [
            discoveryApiRef,
            mockApis.discovery({ baseUrl: 'http://backstage.test' }),
          ],
          [
            permissionApiRef,
            mockApis.permission({ authorize: () => AuthorizeResult.ALLOW }),
          ],
          ...(signals ? [[signalApiRef, signals.api] as const] : []),
        ] as any
      }
    >
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={annotatedEntity}>{element}</EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

const CHANNEL = 'canary:entity:component:default/checkout';

describe('CanaryTab with Backstage Signals', () => {
  it('refetches at once when the backend signals a change of the rollout', async () => {
    let answer = status({ active: rollout({ weight: 5, stepIndex: 0 }) });
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => answer),
    });
    const signals = fakeSignals();
    await render(canaryApi, signals);
    await waitFor(() =>
      expect(screen.getByTestId('canary-weight')).toHaveAttribute(
        'data-weight',
        '5',
      ),
    );
    expect(signals.channels()).toContain(CHANNEL);
    expect(screen.getByTestId('canary-live')).toHaveAttribute(
      'data-pushed',
      'true',
    );
    expect(screen.getByTestId('canary-live')).toHaveTextContent(
      'Live: changes are pushed as they happen',
    );
    // The details load after the first paint; wait for them, so the
    // refetch below is the signal's.
    await waitFor(() => expect(canaryApi.getRollout).toHaveBeenCalled());
    const asked = canaryApi.getEntityStatus.mock.calls.length;
    const detailsAsked = canaryApi.getRollout.mock.calls.length;

    answer = status({ active: rollout({ weight: 25, stepIndex: 1 }) });
    act(() =>
      signals.send(CHANNEL, { type: 'rollout-changed', rolloutId: 'r-2' }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-weight')).toHaveAttribute(
        'data-weight',
        '25',
      ),
    );
    expect(canaryApi.getEntityStatus.mock.calls.length).toBe(asked + 1);
    await waitFor(() =>
      expect(canaryApi.getRollout.mock.calls.length).toBeGreaterThan(
        detailsAsked,
      ),
    );

    // The same message again is another change, and is fetched again.
    answer = status({ active: rollout({ weight: 50, stepIndex: 2 }) });
    act(() =>
      signals.send(CHANNEL, { type: 'rollout-changed', rolloutId: 'r-2' }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-weight')).toHaveAttribute(
        'data-weight',
        '50',
      ),
    );
  });

  it('ignores signals of other entities', async () => {
    const canaryApi = fakeCanaryApi();
    const signals = fakeSignals();
    await render(canaryApi, signals);
    await screen.findByTestId('canary-weight');
    const asked = canaryApi.getEntityStatus.mock.calls.length;
    act(() =>
      signals.send('canary:entity:component:default/payments', {
        type: 'rollout-changed',
        rolloutId: 'r-7',
      }),
    );
    await act(() => new Promise(r => setTimeout(r, 100)));
    expect(canaryApi.getEntityStatus.mock.calls.length).toBe(asked);
  });

  it('updates the overview card too', async () => {
    let answer = status({ active: rollout({ weight: 5, stepIndex: 0 }) });
    const canaryApi = fakeCanaryApi({
      getEntityStatus: jest.fn(async () => answer),
    });
    const signals = fakeSignals();
    await render(
      canaryApi,
      signals,
      <EntityCanaryCard pollIntervals={HOURLY} />,
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-card-weight')).toHaveAttribute(
        'data-weight',
        '5',
      ),
    );
    answer = status({ active: rollout({ weight: 25, stepIndex: 1 }) });
    act(() =>
      signals.send(CHANNEL, { type: 'rollout-changed', rolloutId: 'r-2' }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('canary-card-weight')).toHaveAttribute(
        'data-weight',
        '25',
      ),
    );
  });

  it('polls as before when the app has no Signals', async () => {
    const canaryApi = fakeCanaryApi();
    await render(canaryApi);
    const live = await screen.findByTestId('canary-live');
    expect(live).toHaveAttribute('data-pushed', 'false');
    expect(live).toHaveTextContent('Live: refreshing every 3600 s');
  });
});
