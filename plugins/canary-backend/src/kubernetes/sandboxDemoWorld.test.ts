/**
 * The Kubernetes side of the engine against the full sandbox — API server,
 * simulated Deployments/ReplicaSets/pods — on its demo world, over HTTP with
 * @kubernetes/client-node. This is the production code path.
 */
import { startSandbox, type Sandbox } from '@coalmine/sandbox';
import { ClusterClients } from './ClusterClients';
import { createTrafficProvider } from './createTrafficProvider';
import { detectSplitDrift } from './drift';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import {
  ClusterUnavailableError,
  ConfigurationError,
  RolloutTarget,
  TrafficProviderName,
} from './types';

// Simulated pods take real time; the machine may be busy.
jest.setTimeout(90_000);

const header = { name: 'x-canary-user', value: 'true' };

/** Polls until `check` resolves truthy; generous deadline for a loaded machine. */
async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  deadlineMs = 30_000,
): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: T = await read();
  while (!check(last)) {
    if (Date.now() > until) {
      throw new Error(
        `condition not met in time; last value ${JSON.stringify(last)}`,
      );
    }
    await new Promise(r => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

describe('kubernetes access against the sandbox demo world', () => {
  let sb: Sandbox;
  let clients: ClusterClients;
  let workloads: KubernetesWorkloadManager;

  beforeAll(async () => {
    sb = await startSandbox({
      prometheus: false,
      readinessDelayMs: 200,
      seed: 7,
    });
    await sb.applyDemoWorld();
    clients = new ClusterClients([
      {
        name: 'sandbox',
        url: sb.apiUrl,
        authProvider: 'serviceAccount',
        serviceAccountToken: sb.token,
        skipTLSVerify: true,
      },
    ]);
    workloads = KubernetesWorkloadManager.forCluster(clients, 'sandbox');
  });
  afterAll(() => sb?.stop());

  const target = (
    service: string,
    provider: TrafficProviderName,
    more: Partial<RolloutTarget> = {},
  ): RolloutTarget => ({
    cluster: 'sandbox',
    namespace: 'demo',
    service,
    provider,
    ...more,
  });

  it('checkout: creates checkout-v2 from checkout-v1, steps 5→100, finalizes on v2', async () => {
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(target('checkout', 'istio'));
    expect(topology).toMatchObject({
      shape: 'versioned-subsets',
      stable: {
        name: 'checkout-v1',
        version: 'v1',
        image: 'shop/checkout:v1',
        replicas: 3,
      },
      canary: { name: 'checkout-v2', version: 'v2', replicas: 0 },
      routeObject: { kind: 'VirtualService', name: 'checkout' },
      subsetObject: { kind: 'DestinationRule', name: 'checkout' },
    });

    const prepared = await workloads.prepareCanary(topology, {
      image: 'shop/checkout:v2',
      version: 'v2',
    });
    expect(prepared.canary).toEqual({
      name: 'checkout-v2',
      version: 'v2',
      image: 'shop/checkout:v2',
      replicas: 0,
    });
    await workloads.scale('demo', 'checkout-v2', 2);
    const ready = await eventually(
      () => workloads.readiness('demo', 'checkout-v2'),
      r => r.available === 2 && r.observedGeneration,
    );
    expect(ready).toMatchObject({ desired: 2, ready: 2, available: 2 });
    const health = await workloads.podHealth('demo', 'checkout-v2');
    expect(health.pods).toHaveLength(2);
    expect(
      health.pods.every(p => p.ready && p.restarts === 0 && !p.reasons.length),
    ).toBe(true);

    for (const weight of [5, 25, 50, 75, 100]) {
      const stored = await istio.setSplit(prepared, {
        canaryWeight: weight,
        headerRoute: false,
      });
      expect(stored).toEqual({ canaryWeight: weight, headerRoute: false });
      await expect(istio.getSplit(prepared)).resolves.toEqual({
        canaryWeight: weight,
        headerRoute: false,
      });
    }
    // The sandbox's mesh routes by what we wrote: 25 % reaches checkout-v2.
    await istio.setSplit(prepared, { canaryWeight: 25, headerRoute: false });
    const before = sb.counters({ namespace: 'demo', service: 'checkout' });
    sb.traffic.burst({ service: 'checkout', namespace: 'demo' }, 2000);
    const after = sb.counters({ namespace: 'demo', service: 'checkout' });
    const sent = (name: string) =>
      (after[name]?.requests ?? 0) - (before[name]?.requests ?? 0);
    const canaryShare =
      sent('checkout-v2') / (sent('checkout-v1') + sent('checkout-v2'));
    expect(sent('checkout-v1') + sent('checkout-v2')).toBe(2000);
    expect(canaryShare).toBeGreaterThan(0.19);
    expect(canaryShare).toBeLessThan(0.31);

    await istio.finalizePromotion(prepared);
    const vs = sb.writes({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'checkout',
    });
    expect(vs[vs.length - 1].spec.http).toEqual([
      {
        route: [
          { destination: { host: 'checkout', subset: 'v2' }, weight: 100 },
        ],
      },
    ]);
    // the next rollout starts from v2
    await expect(
      istio.discover(target('checkout', 'istio')),
    ).resolves.toMatchObject({
      stable: { name: 'checkout-v2', version: 'v2' },
      canary: { name: 'checkout-v3', version: 'v3' },
    });
  });

  it('payments: the header route stays while stepping and goes on finalize; promoteTemplate copies the template', async () => {
    const istio = createTrafficProvider('istio', clients);
    const topology = await istio.discover(
      target('payments', 'istio', { stickyHeader: header }),
    );
    expect(topology).toMatchObject({
      shape: 'fixed-subsets',
      stable: { name: 'payments-stable', version: 'stable' },
      canary: { name: 'payments-canary', version: 'canary', replicas: 0 },
    });
    await expect(istio.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: true,
    });
    const prepared = await workloads.prepareCanary(topology, {
      image: 'shop/payments:1.5.0',
    });
    await workloads.scale('demo', 'payments-canary', 1);
    for (const weight of [5, 25, 50, 75, 100]) {
      await istio.setSplit(prepared, {
        canaryWeight: weight,
        headerRoute: true,
      });
      await expect(istio.getSplit(prepared)).resolves.toEqual({
        canaryWeight: weight,
        headerRoute: true,
      });
    }
    const hashBefore = await workloads.templateHash('demo', 'payments-stable');
    await workloads.promoteTemplate(prepared);
    const stable = await eventually(
      () => workloads.readiness('demo', 'payments-stable'),
      r => r.observedGeneration && r.updated === 3 && r.available === 3,
    );
    expect(stable.desired).toBe(3);
    expect(await workloads.templateHash('demo', 'payments-stable')).not.toBe(
      hashBefore,
    );
    const writes = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'payments-stable',
    });
    const promoted = writes[writes.length - 1];
    expect(promoted.spec.template.spec.containers[0].image).toBe(
      'shop/payments:1.5.0',
    );
    expect(promoted.spec.template.metadata.labels).toEqual({
      app: 'payments',
      version: 'stable',
    });

    // Requests with the sticky header all reach the canary pods.
    await istio.setSplit(prepared, { canaryWeight: 5, headerRoute: true });
    await eventually(
      () => workloads.readiness('demo', 'payments-canary'),
      r => r.available === 1,
    );
    const before = sb.counters({ namespace: 'demo', service: 'payments' });
    sb.traffic.burst(
      { service: 'payments', namespace: 'demo', stickyShare: 1 },
      200,
    );
    const after = sb.counters({ namespace: 'demo', service: 'payments' });
    const sent = (name: string) =>
      (after[name]?.requests ?? 0) - (before[name]?.requests ?? 0);
    expect(sent('payments-canary')).toBe(200);
    expect(sent('payments-stable')).toBe(0);

    await istio.finalizePromotion(prepared);
    await expect(istio.getSplit(prepared)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('search: replica ratio reports 10 % with 9/1 ready pods', async () => {
    const replicas = createTrafficProvider('replicas', clients);
    const topology = await replicas.discover(target('search', 'replicas'));
    expect(topology).toMatchObject({
      shape: 'replica-ratio',
      stable: { name: 'search-stable', replicas: 9 },
      canary: { name: 'search-canary', replicas: 0 },
      replicaTotal: 10,
    });
    await replicas.setSplit(topology, { canaryWeight: 10, headerRoute: false });
    const split = await eventually(
      () => replicas.getSplit(topology),
      s => s.actualWeight === 10,
    );
    expect(split).toEqual({
      canaryWeight: 10,
      actualWeight: 10,
      headerRoute: false,
    });
    await replicas.setSplit(topology, { canaryWeight: 50, headerRoute: false });
    await expect(
      eventually(
        () => replicas.getSplit(topology),
        s => s.actualWeight === 50,
      ),
    ).resolves.toEqual({
      canaryWeight: 50,
      actualWeight: 50,
      headerRoute: false,
    });

    // someone scales the canary by hand: the engine sees drift
    await workloads.scale('demo', 'search-canary', 8);
    const drift = detectSplitDrift(
      { canaryWeight: 50 },
      await replicas.getSplit(topology),
    );
    expect(drift.drifted).toBe(true);
    expect(drift.message).toMatch(
      /canary weight is 61.54 %, the rollout set 50 %/,
    );
  });

  it('storefront: splits the HTTPRoute and keeps a header rule', async () => {
    const gateway = createTrafficProvider('gateway-api', clients);
    const topology = await gateway.discover(
      target('storefront', 'gateway-api', { stickyHeader: header }),
    );
    expect(topology).toMatchObject({
      shape: 'fixed-subsets',
      stable: { name: 'storefront-stable' },
      canary: { name: 'storefront-canary' },
      backends: { stable: 'storefront-stable', canary: 'storefront-canary' },
      routeObject: { kind: 'HTTPRoute', name: 'storefront' },
    });
    for (const weight of [5, 25, 50, 75, 100]) {
      await gateway.setSplit(topology, {
        canaryWeight: weight,
        headerRoute: true,
      });
      await expect(gateway.getSplit(topology)).resolves.toEqual({
        canaryWeight: weight,
        headerRoute: true,
      });
    }
    await gateway.finalizePromotion(topology);
    await expect(gateway.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('smi and nginx: split a TrafficSplit and a canary Ingress', async () => {
    await sb.apply(`
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata:
  name: storefront
  namespace: demo
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
  namespace: demo
spec:
  ingressClassName: nginx
  rules:
    - host: storefront.shop.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: storefront-stable
                port:
                  number: 80
`);
    const smi = createTrafficProvider('smi', clients);
    const smiTopology = await smi.discover(target('storefront', 'smi'));
    expect(smiTopology.routeObject).toEqual({
      apiVersion: expect.stringMatching(/^split\.smi-spec\.io\/v1alpha\d$/),
      kind: 'TrafficSplit',
      name: 'storefront',
    });
    for (const weight of [5, 25, 50, 75, 100]) {
      await smi.setSplit(smiTopology, {
        canaryWeight: weight,
        headerRoute: false,
      });
      await expect(smi.getSplit(smiTopology)).resolves.toEqual({
        canaryWeight: weight,
        headerRoute: false,
      });
    }
    await smi.finalizePromotion(smiTopology);
    await expect(smi.getSplit(smiTopology)).resolves.toMatchObject({
      canaryWeight: 0,
    });

    const nginx = createTrafficProvider('nginx', clients);
    const nginxTopology = await nginx.discover(
      target('storefront', 'nginx', { stickyHeader: header }),
    );
    expect(nginxTopology.canaryRouteObject?.name).toBe('storefront-canary');
    for (const weight of [5, 25, 50, 75, 100]) {
      await nginx.setSplit(nginxTopology, {
        canaryWeight: weight,
        headerRoute: true,
      });
      await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
        canaryWeight: weight,
        headerRoute: true,
      });
    }
    const [created] = sb.writes({
      group: 'networking.k8s.io',
      kind: 'Ingress',
      namespace: 'demo',
      name: 'storefront-canary',
    });
    expect(created.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '5',
      'nginx.ingress.kubernetes.io/canary-by-header': 'x-canary-user',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'true',
    });
    await nginx.finalizePromotion(nginxTopology);
    await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('retries an injected 409, and turns a 500 into ClusterUnavailableError', async () => {
    const gateway = createTrafficProvider('gateway-api', clients);
    const topology = await gateway.discover(
      target('storefront', 'gateway-api'),
    );
    const before = sb.writes({
      group: 'gateway.networking.k8s.io',
      kind: 'HTTPRoute',
      namespace: 'demo',
      name: 'storefront',
    }).length;
    sb.failNext({
      verb: 'update',
      resource: 'httproutes',
      status: 409,
      count: 1,
    });
    await expect(
      gateway.setSplit(topology, { canaryWeight: 25, headerRoute: false }),
    ).resolves.toEqual({ canaryWeight: 25, headerRoute: false });
    const after = sb.writes({
      group: 'gateway.networking.k8s.io',
      kind: 'HTTPRoute',
      namespace: 'demo',
      name: 'storefront',
    });
    expect(after).toHaveLength(before + 1);

    sb.failNext({ verb: 'get', resource: 'httproutes', status: 500, count: 1 });
    await expect(gateway.getSplit(topology)).rejects.toBeInstanceOf(
      ClusterUnavailableError,
    );
    sb.failNext({
      verb: 'get',
      resource: 'deployments',
      status: 503,
      count: 1,
    });
    await expect(
      workloads.readiness('demo', 'search-stable'),
    ).rejects.toBeInstanceOf(ClusterUnavailableError);
  });

  it('says what to change when a routing object is missing', async () => {
    const istio = createTrafficProvider('istio', clients);
    const named = await istio
      .discover(target('checkout', 'istio', { route: 'checkout-main' }))
      .catch(e => e);
    expect(named).toBeInstanceOf(ConfigurationError);
    expect(named.message).toBe(
      'VirtualService demo/checkout-main not found: set coalmine.io/route or create it',
    );
    const search = await istio
      .discover(target('search', 'istio'))
      .catch(e => e);
    expect(search).toBeInstanceOf(ConfigurationError);
    expect(search.message).toBe(
      'VirtualService demo/search not found (no VirtualService in demo routes to search): set coalmine.io/route or create it',
    );
  });

  it('podHealth reports crash loops and OOM kills of simulated pods', async () => {
    const topology = await createTrafficProvider('replicas', clients).discover(
      target('search', 'replicas'),
    );
    await workloads.prepareCanary(topology, {
      image: 'shop/search:2.1.0-crash',
    });
    await workloads.scale('demo', 'search-canary', 1);
    const crashing = await eventually(
      () => workloads.podHealth('demo', 'search-canary'),
      h =>
        h.pods.some(
          p => p.restarts > 0 && p.reasons.includes('CrashLoopBackOff'),
        ),
    );
    // pods of the earlier template may still be serving; the crashing ones never are ready
    const crashed = crashing.pods.filter(p =>
      p.reasons.includes('CrashLoopBackOff'),
    );
    expect(crashed.every(p => !p.ready)).toBe(true);

    await workloads.prepareCanary(topology, { image: 'shop/search:2.1.0-oom' });
    const oom = await eventually(
      () => workloads.podHealth('demo', 'search-canary'),
      h => h.pods.some(p => p.reasons.includes('OOMKilled')),
    );
    expect(oom.pods.some(p => p.restarts > 0)).toBe(true);
  });
});
