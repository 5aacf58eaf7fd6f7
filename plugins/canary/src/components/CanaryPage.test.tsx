import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { Entity } from '@backstage/catalog-model';
import { catalogApiRef, entityRouteRef } from '@backstage/plugin-catalog-react';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { TestApiProvider, renderInTestApp } from '@backstage/test-utils';
import { canaryApiRef } from '../api';
import { fakeCanaryApi } from '../__testUtils__/fakeCanaryApi';
import { finishedRollout, rollout } from '../__testUtils__/fixtures';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { act } from '@testing-library/react';
import { fakeSignals } from '../__testUtils__/fakeSignals';
import { CanaryPage } from './CanaryPage';

function component(name: string, owner: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name, namespace: 'default' },
    spec: { type: 'service', owner, lifecycle: 'production' },
  };
}

const rollouts = [
  rollout(),
  finishedRollout(),
  rollout({
    id: 'r-9',
    entityRef: 'component:default/search',
    cluster: 'eu-west',
    phase: 'AwaitingApproval',
    weight: 50,
  }),
];

async function renderPage(
  canaryApi = fakeCanaryApi({
    listRollouts: jest.fn(async () => rollouts),
  }),
  signals?: ReturnType<typeof fakeSignals>,
) {
  await renderInTestApp(
    <TestApiProvider
      apis={[
        [canaryApiRef, canaryApi],
        ...(signals ? [[signalApiRef, signals.api] as any] : []),
        [
          catalogApiRef,
          catalogApiMock({
            entities: [
              component('checkout', 'payments'),
              component('search', 'group:default/discovery'),
            ],
          }),
        ],
      ]}
    >
      <CanaryPage
        pollIntervals={{
          activeMs: 3_600_000,
          idleMs: 3_600_000,
          pushedMs: 3_600_000,
        }}
      />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
  return canaryApi;
}

async function choose(filter: string, option: string) {
  const filters = screen.getByRole('search', { name: 'Filter rollouts' });
  await userEvent.click(
    within(filters).getByRole('button', { name: new RegExp(`^${filter}`) }),
  );
  await userEvent.click(await screen.findByRole('option', { name: option }));
}

function visibleComponents() {
  const table = screen.getByTestId('canary-rollouts');
  return within(table)
    .getAllByRole('row')
    .slice(1)
    .map(row => row.textContent ?? '');
}

describe('CanaryPage', () => {
  it('lists rollouts across the organisation with links to their components', async () => {
    const canaryApi = await renderPage();
    expect(await screen.findByText('Rollouts (3)')).toBeInTheDocument();
    expect(canaryApi.listRollouts).toHaveBeenCalledWith({ limit: 500 });
    const links = await screen.findAllByRole('link', { name: /checkout/ });
    expect(links[0]).toHaveAttribute(
      'href',
      '/catalog/default/component/checkout',
    );
    await waitFor(() =>
      expect(
        screen.getAllByRole('link', { name: /discovery/ })[0],
      ).toHaveAttribute('href', '/catalog/default/group/discovery'),
    );
  });

  it('filters by phase, owner and cluster', async () => {
    await renderPage();
    await screen.findByText('Rollouts (3)');
    await waitFor(() =>
      expect(screen.getAllByRole('link', { name: /payments/ }).length).toBe(2),
    );

    await choose('Phase', 'Any active phase');
    expect(await screen.findByText('Rollouts (2)')).toBeInTheDocument();
    expect(visibleComponents().join()).not.toMatch(/v1\.2\.0 → v1\.3\.0/);

    await choose('Owner', 'group:default/discovery');
    expect(await screen.findByText('Rollouts (1)')).toBeInTheDocument();
    expect(visibleComponents()[0]).toMatch(/search/);

    await choose('Owner', 'Any');
    await choose('Phase', 'Any');
    expect(await screen.findByText('Rollouts (3)')).toBeInTheDocument();
    await choose('Cluster', 'sandbox');
    expect(await screen.findByText('Rollouts (2)')).toBeInTheDocument();
    expect(visibleComponents().join()).not.toMatch(/search/);
  });

  it('counts what runs and waits, each count a shortcut to its filter', async () => {
    await renderPage();
    await screen.findByText('Rollouts (3)');
    const summary = screen.getByTestId('canary-summary');
    expect(summary).toHaveTextContent('2 running');
    expect(summary).toHaveTextContent('1 awaiting approval');
    expect(summary).toHaveTextContent('0 rolled back');
    await userEvent.click(
      within(summary).getByRole('button', { name: '1 awaiting approval' }),
    );
    expect(await screen.findByText('Rollouts (1)')).toBeInTheDocument();
  });

  it('says when the backend cannot be reached', async () => {
    const canaryApi = fakeCanaryApi({
      listRollouts: jest.fn(async () => {
        throw new Error('connect ECONNREFUSED');
      }),
    });
    await renderInTestApp(
      <TestApiProvider
        apis={[
          [canaryApiRef, canaryApi],
          [catalogApiRef, catalogApiMock()],
        ]}
      >
        <CanaryPage pollIntervals={{ idleMs: 60_000 }} />
      </TestApiProvider>,
    );
    expect(
      await screen.findByText(/Could not reach the Coalmine backend/),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('button', { name: 'Try again' }),
    ).toBeInTheDocument();
  });

  it('refetches the list at once when the backend signals that some rollout changed', async () => {
    let answer = [rollout()];
    const canaryApi = fakeCanaryApi({
      listRollouts: jest.fn(async () => answer),
    });
    const signals = fakeSignals();
    await renderPage(canaryApi, signals);
    expect(await screen.findByText('Rollouts (1)')).toBeInTheDocument();
    expect(signals.channels()).toContain('canary:rollouts');
    expect(screen.getByTestId('canary-org-rollouts')).toHaveAttribute(
      'data-pushed',
      'true',
    );
    const calls = (canaryApi.listRollouts as jest.Mock).mock.calls.length;
    answer = rollouts;
    // Polling is an hour apart: only the signal can bring the new list.
    act(() =>
      signals.send('canary:rollouts', {
        type: 'rollouts-changed',
        rolloutIds: ['r-9'],
      }),
    );
    expect(await screen.findByText('Rollouts (3)')).toBeInTheDocument();
    // Asked through the same (permission-filtered) list call.
    expect(
      (canaryApi.listRollouts as jest.Mock).mock.calls.length,
    ).toBeGreaterThan(calls);
    expect(canaryApi.listRollouts).toHaveBeenLastCalledWith({ limit: 500 });
  });

  it('ignores other messages on the channel', async () => {
    const signals = fakeSignals();
    const canaryApi = fakeCanaryApi({
      listRollouts: jest.fn(async () => rollouts),
    });
    await renderPage(canaryApi, signals);
    await screen.findByText('Rollouts (3)');
    const calls = (canaryApi.listRollouts as jest.Mock).mock.calls.length;
    act(() => signals.send('canary:rollouts', { type: 'something-else' }));
    await new Promise(r => setTimeout(r, 300));
    expect((canaryApi.listRollouts as jest.Mock).mock.calls.length).toBe(calls);
  });

  it('polls alone when the app has no Signals API', async () => {
    await renderPage();
    await screen.findByText('Rollouts (3)');
    expect(screen.getByTestId('canary-org-rollouts')).toHaveAttribute(
      'data-pushed',
      'false',
    );
  });
});
