import { FakeKubernetesApi } from './__fixtures__/FakeKubernetesApi';
import {
  CHECKOUT,
  PAYMENTS,
  SEARCH,
  STOREFRONT,
} from './__fixtures__/demoShapes';
import { createTrafficProvider } from './createTrafficProvider';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import { REPLICA_TOTAL_ANNOTATION } from './ReplicaRatioTrafficProvider';
import {
  ClusterUnavailableError,
  ConfigurationError,
  RolloutTarget,
} from './types';

// Real HTTP on a shared, busy machine.
jest.setTimeout(60_000);

const header = { name: 'x-canary-user', value: 'true' };

describe('traffic providers against an in-memory API', () => {
  let api: FakeKubernetesApi;

  beforeEach(async () => {
    api = new FakeKubernetesApi();
    api.apply(CHECKOUT);
    api.apply(PAYMENTS);
    api.apply(SEARCH);
    api.apply(STOREFRONT);
    await api.start();
  });
  afterEach(() => api.stop());

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

  it('istio versioned: discovers v1 → v2, prepares checkout-v2, splits and finalizes', async () => {
    const clients = api.clients();
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(target('checkout'));
    expect(topology).toMatchObject({
      shape: 'versioned-subsets',
      stable: { name: 'checkout-v1', version: 'v1', replicas: 3 },
      canary: { name: 'checkout-v2', version: 'v2', replicas: 0 },
      routeObject: {
        kind: 'VirtualService',
        name: 'checkout',
        apiVersion: 'networking.istio.io/v1',
      },
    });
    const workloads = KubernetesWorkloadManager.forCluster(clients, 'fake');
    const prepared = await workloads.prepareCanary(topology, {
      image: 'coalmine/checkout:v2',
      version: 'v2',
    });
    expect(prepared.canary).toEqual({
      name: 'checkout-v2',
      version: 'v2',
      image: 'coalmine/checkout:v2',
      replicas: 0,
    });
    const created = api.get('Deployment', 'demo', 'checkout-v2')!;
    expect(created.spec.template.metadata.labels).toEqual({
      app: 'checkout',
      version: 'v2',
    });

    for (const w of [5, 25, 50, 75, 100]) {
      await expect(
        istio.setSplit(prepared, { canaryWeight: w, headerRoute: false }),
      ).resolves.toEqual({
        canaryWeight: w,
        headerRoute: false,
      });
      await expect(istio.getSplit(prepared)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: false,
      });
    }
    await istio.finalizePromotion(prepared);
    expect(api.get('VirtualService', 'demo', 'checkout')!.spec.http).toEqual([
      {
        route: [
          { destination: { host: 'checkout', subset: 'v2' }, weight: 100 },
        ],
      },
    ]);
  });

  it('istio versioned: adds a missing subset to the DestinationRule', async () => {
    api.mutate('DestinationRule', 'demo', 'checkout', dr => {
      dr.spec.subsets = [dr.spec.subsets[0]];
    });
    const istio = createTrafficProvider('istio', api.clients());
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

  it('istio fixed: keeps the header route during the rollout and removes it on finalize', async () => {
    const clients = api.clients();
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(
      target('payments', { stickyHeader: header }),
    );
    expect(topology).toMatchObject({
      shape: 'fixed-subsets',
      stable: { name: 'payments-stable', version: 'stable' },
      canary: { name: 'payments-canary', version: 'canary' },
    });
    await expect(istio.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: true,
    });
    for (const w of [5, 25, 50, 75, 100]) {
      await expect(
        istio.setSplit(topology, { canaryWeight: w, headerRoute: true }),
      ).resolves.toEqual({
        canaryWeight: w,
        headerRoute: true,
      });
    }
    const workloads = KubernetesWorkloadManager.forCluster(clients, 'fake');
    await workloads.promoteTemplate(topology);
    const stable = api.get('Deployment', 'demo', 'payments-stable')!;
    expect(stable.spec.template.spec.containers[0].image).toBe(
      'coalmine/payments:1.1',
    );
    expect(stable.spec.template.metadata.labels).toEqual({
      app: 'payments',
      version: 'stable',
    });
    await istio.finalizePromotion(topology);
    await expect(istio.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
    expect(
      api.get('VirtualService', 'demo', 'payments')!.spec.http,
    ).toHaveLength(1);
  });

  it('istio: re-reads and retries after a 409, gives up as unavailable on 500', async () => {
    const istio = createTrafficProvider('istio', api.clients());
    const topology = await istio.discover(target('checkout'));
    api.failNext({
      method: 'PUT',
      plural: 'virtualservices',
      status: 409,
      count: 2,
    });
    await expect(
      istio.setSplit(topology, { canaryWeight: 25, headerRoute: false }),
    ).resolves.toMatchObject({
      canaryWeight: 25,
    });
    api.failNext({
      method: 'GET',
      plural: 'virtualservices',
      status: 500,
      count: 1,
    });
    await expect(istio.getSplit(topology)).rejects.toBeInstanceOf(
      ClusterUnavailableError,
    );
  });

  it('istio: writes over the latest object, keeping changes others made', async () => {
    const istio = createTrafficProvider('istio', api.clients());
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

  it('istio: explains a missing VirtualService and refuses bad names', async () => {
    const istio = createTrafficProvider('istio', api.clients());
    await expect(
      istio.discover(target('checkout', { route: 'nope' })),
    ).rejects.toThrow(
      'VirtualService demo/nope not found: set coalmine.io/route or create it',
    );
    await expect(istio.discover(target('search'))).rejects.toThrow(
      /VirtualService demo\/search not found.*set coalmine\.io\/route or create it/,
    );
    await expect(istio.discover(target('../secrets'))).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    await expect(istio.discover(target('ghost'))).rejects.toThrow(
      /Service demo\/ghost not found: set coalmine\.io\/workload/,
    );
  });

  it('replicas: scales in 10 % steps and reports ready share', async () => {
    const replicas = createTrafficProvider('replicas', api.clients());
    const topology = await replicas.discover(
      target('search', { provider: 'replicas' }),
    );
    expect(topology).toMatchObject({
      shape: 'replica-ratio',
      stable: { name: 'search-stable', replicas: 9 },
      canary: { name: 'search-canary', replicas: 0 },
      replicaTotal: 10,
    });
    const split = await replicas.setSplit(topology, {
      canaryWeight: 10,
      headerRoute: false,
    });
    expect(split.canaryWeight).toBe(10);
    expect(api.get('Deployment', 'demo', 'search-stable')!.spec.replicas).toBe(
      9,
    );
    expect(api.get('Deployment', 'demo', 'search-canary')!.spec.replicas).toBe(
      1,
    );
    expect(
      api.get('Deployment', 'demo', 'search-stable')!.metadata.annotations[
        REPLICA_TOTAL_ANNOTATION
      ],
    ).toBe('10');
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

  it('gateway-api: splits the storefront HTTPRoute', async () => {
    const gw = createTrafficProvider('gateway-api', api.clients());
    const topology = await gw.discover(
      target('storefront', { provider: 'gateway-api' }),
    );
    expect(topology).toMatchObject({
      shape: 'fixed-subsets',
      stable: { name: 'storefront-stable' },
      canary: { name: 'storefront-canary' },
      backends: { stable: 'storefront-stable', canary: 'storefront-canary' },
    });
    for (const w of [5, 25, 50, 75, 100]) {
      await gw.setSplit(topology, { canaryWeight: w, headerRoute: true });
      await expect(gw.getSplit(topology)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: true,
      });
    }
    await gw.finalizePromotion(topology);
    await expect(gw.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('smi and nginx: split their objects', async () => {
    api.apply(`
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata:
  name: storefront
spec:
  service: storefront
  backends:
  - service: storefront-stable
    weight: 100
  - service: storefront-canary
    weight: 0
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: storefront
spec:
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: storefront-stable
            port: { number: 80 }
`);
    const clients = api.clients();
    const smi = createTrafficProvider('smi', clients);
    const smiTopology = await smi.discover(
      target('storefront', { provider: 'smi' }),
    );
    await expect(
      smi.setSplit(smiTopology, { canaryWeight: 25, headerRoute: false }),
    ).resolves.toEqual({
      canaryWeight: 25,
      headerRoute: false,
    });
    await expect(
      smi.discover(
        target('storefront', { provider: 'smi', stickyHeader: header }),
      ),
    ).rejects.toThrow(/cannot pin requests/);

    const nginx = createTrafficProvider('nginx', clients);
    const nginxTopology = await nginx.discover(
      target('storefront', { provider: 'nginx', stickyHeader: header }),
    );
    expect(nginxTopology.canaryRouteObject?.name).toBe('storefront-canary');
    await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
    await expect(
      nginx.setSplit(nginxTopology, { canaryWeight: 5, headerRoute: true }),
    ).resolves.toEqual({
      canaryWeight: 5,
      headerRoute: true,
    });
    const canaryIngress = api.get('Ingress', 'demo', 'storefront-canary')!;
    expect(canaryIngress.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '5',
      'nginx.ingress.kubernetes.io/canary-by-header': 'x-canary-user',
    });
    expect(canaryIngress.spec.rules[0].http.paths[0].backend.service.name).toBe(
      'storefront-canary',
    );
    await nginx.setSplit(nginxTopology, {
      canaryWeight: 50,
      headerRoute: true,
    });
    await nginx.finalizePromotion(nginxTopology);
    await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
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
    const workloads = KubernetesWorkloadManager.forCluster(
      api.clients(),
      'fake',
    );
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
