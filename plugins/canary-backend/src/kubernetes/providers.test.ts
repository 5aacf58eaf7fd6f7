import { FakeKubernetesApi } from './__fixtures__/FakeKubernetesApi';
import {
  CHECKOUT,
  PAYMENTS,
  SEARCH,
  STOREFRONT,
} from './__fixtures__/demoShapes';
import { providerScenarios } from './__fixtures__/providerScenarios';
import type { ClusterClients } from './ClusterClients';
import { createTrafficProvider } from './createTrafficProvider';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import { ConfigurationError, RolloutTarget } from './types';

// Real HTTP on a shared, busy machine.
jest.setTimeout(60_000);

describe('traffic providers against an in-memory API', () => {
  let api: FakeKubernetesApi;
  let clients: ClusterClients;

  beforeEach(async () => {
    api = new FakeKubernetesApi();
    api.apply(CHECKOUT);
    api.apply(PAYMENTS);
    api.apply(SEARCH);
    api.apply(STOREFRONT);
    await api.start();
    clients = api.clients();
  });
  afterEach(async () => {
    clients.close();
    await api.stop();
  });

  // The fake keeps objects as they are now: the last write is the object.
  providerScenarios(() => ({
    cluster: 'fake',
    clients,
    registry: 'coalmine',
    apply: async yaml => api.apply(yaml),
    lastWrite: ({ kind, name }) => api.get(kind, 'demo', name),
    failNext: ({ verb, resource, status, count }) =>
      api.failNext({
        method: verb === 'update' ? 'PUT' : 'GET',
        plural: resource.split('/')[0],
        status,
        count: count ?? 1,
      }),
  }));

  const target = (
    service: string,
    more: Partial<RolloutTarget> = {},
  ): RolloutTarget => ({
    cluster: 'fake',
    namespace: 'demo',
    service,
    provider: 'istio',
    ...more,
  });

  it('istio versioned: adds a missing subset to the DestinationRule', async () => {
    api.mutate('DestinationRule', 'demo', 'checkout', dr => {
      dr.spec.subsets = [dr.spec.subsets[0]];
    });
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(target('checkout'));
    expect(topology.canary.version).toBe('v2');
    await istio.setSplit(topology, { canaryWeight: 5, headerRoute: false });
    expect(
      api.get('DestinationRule', 'demo', 'checkout')!.spec.subsets,
    ).toEqual([
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ]);
  });

  it('istio: writes over the latest object, keeping changes others made', async () => {
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(target('checkout'));
    // someone else adds a timeout while we work: our replace must not drop it
    api.mutate('VirtualService', 'demo', 'checkout', vs => {
      vs.spec.http[0].timeout = '3s';
    });
    await istio.setSplit(topology, { canaryWeight: 50, headerRoute: false });
    const vs = api.get('VirtualService', 'demo', 'checkout')!;
    expect(vs.spec.http[0].timeout).toBe('3s');
    expect(vs.spec.http[0].route.map((d: any) => d.weight)).toEqual([50, 50]);
  });

  it('replicas: reports the ready share, and a canary scaled by hand; finalize leaves the canary serving', async () => {
    const replicas = createTrafficProvider('replicas', clients);
    const topology = await replicas.discover(
      target('search', { provider: 'replicas' }),
    );
    await replicas.setSplit(topology, { canaryWeight: 10, headerRoute: false });
    // the fake has no controller: pretend the pods became ready
    api.mutate('Deployment', 'demo', 'search-canary', d => {
      d.status = { readyReplicas: 1 };
    });
    await expect(replicas.getSplit(topology)).resolves.toEqual({
      canaryWeight: 10,
      actualWeight: 10,
      headerRoute: false,
    });
    await replicas.setSplit(topology, { canaryWeight: 25, headerRoute: false });
    expect(api.get('Deployment', 'demo', 'search-canary')!.spec.replicas).toBe(
      3,
    );
    await expect(replicas.getSplit(topology)).resolves.toMatchObject({
      canaryWeight: 25,
    });
    // scaled by hand: the real share shows
    api.mutate('Deployment', 'demo', 'search-canary', d => {
      d.spec.replicas = 5;
    });
    await expect(replicas.getSplit(topology)).resolves.toMatchObject({
      canaryWeight: 41.67,
    });
    await replicas.finalizePromotion(topology);
    const stable = api.get('Deployment', 'demo', 'search-stable')!;
    expect(stable.spec.replicas).toBe(9);
    expect(stable.metadata.annotations).toEqual({});
    // the canary keeps serving until stable is available; the engine scales it down
    expect(api.get('Deployment', 'demo', 'search-canary')!.spec.replicas).toBe(
      5,
    );
  });

  it('workloads: scale, readiness, pod health and template hash', async () => {
    api.apply(`
apiVersion: v1
kind: Pod
metadata:
  name: payments-canary-abc
  labels: { app: payments, version: canary }
spec: {}
status:
  conditions: [{ type: Ready, status: "False" }]
  containerStatuses:
  - name: app
    restartCount: 4
    state: { waiting: { reason: CrashLoopBackOff } }
    lastState: { terminated: { reason: OOMKilled, exitCode: 137 } }
`);
    const workloads = KubernetesWorkloadManager.forCluster(clients, 'fake');
    api.failNext({
      method: 'PUT',
      plural: 'deployments',
      status: 409,
      count: 1,
    });
    await workloads.scale('demo', 'payments-canary', 2);
    expect(
      api.get('Deployment', 'demo', 'payments-canary')!.spec.replicas,
    ).toBe(2);
    await expect(
      workloads.readiness('demo', 'payments-stable'),
    ).resolves.toEqual({
      desired: 3,
      ready: 3,
      available: 3,
      updated: 0,
      observedGeneration: false,
    });
    await expect(
      workloads.podHealth('demo', 'payments-canary'),
    ).resolves.toEqual({
      pods: [
        {
          name: 'payments-canary-abc',
          ready: false,
          restarts: 4,
          reasons: ['CrashLoopBackOff', 'OOMKilled'],
        },
      ],
    });
    const before = await workloads.templateHash('demo', 'payments-canary');
    api.mutate('Deployment', 'demo', 'payments-canary', d => {
      d.spec.template.spec.containers[0].image = 'coalmine/payments:1.2';
    });
    const after = await workloads.templateHash('demo', 'payments-canary');
    expect(after).not.toBe(before);
    await expect(
      workloads.templateHash('demo', 'nope'),
    ).resolves.toBeUndefined();
    await expect(workloads.scale('demo', 'Bad_Name', 1)).rejects.toBeInstanceOf(
      ConfigurationError,
    );
  });
});
