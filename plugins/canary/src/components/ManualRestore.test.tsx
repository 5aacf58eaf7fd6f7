import { screen } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { ManualRestore } from './ManualRestore';

const base: Rollout = {
  id: 'r-9',
  entityRef: 'component:default/checkout',
  cluster: 'prod',
  namespace: 'shop',
  policy: 'standard',
  trafficProvider: 'istio',
  phase: 'RollingBack',
  stepIndex: 1,
  steps: [{ weight: 10 }, { weight: 100 }],
  weight: 10,
  stable: { name: 'checkout-v1' },
  canary: { name: 'checkout-v2' },
  createdAt: '2026-12-02T10:00:00.000Z',
  updatedAt: '2026-12-02T10:44:00.000Z',
  startedBy: 'user:default/jane',
};

describe('ManualRestore', () => {
  it('shows the commands that restore stable when a rollback could not finish', async () => {
    const command =
      'kubectl --context prod -n shop patch virtualservices.networking.istio.io checkout --type=merge -p \'{"spec":{"http":[]}}\'';
    await renderInTestApp(
      <ManualRestore
        rollout={{ ...base, phase: 'Failed', manualRestore: [command] }}
      />,
    );
    expect(screen.getByText(/Restore stable by hand/)).toBeInTheDocument();
    expect(screen.getByTestId('canary-manual-restore')).toHaveTextContent(
      'kubectl --context prod -n shop patch',
    );
  });

  it('says since when a rollback has been retrying', async () => {
    await renderInTestApp(
      <ManualRestore
        rollout={{
          ...base,
          retrying: {
            since: '2026-12-02T10:42:00.000Z',
            attempts: 12,
            lastError: 'connect ECONNREFUSED',
          },
        }}
      />,
    );
    expect(screen.getByTestId('canary-retrying')).toHaveTextContent(
      /Cluster unreachable since .*; retrying \(attempt 12\)/,
    );
  });

  it('shows nothing for a rollout that needs nothing', async () => {
    const { container } = await renderInTestApp(
      <ManualRestore rollout={{ ...base, phase: 'Progressing' }} />,
    );
    expect(container.textContent).toBe('');
  });
});
