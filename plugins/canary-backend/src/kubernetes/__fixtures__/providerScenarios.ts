/* eslint-disable jest/no-export -- the suite three test files share */
/* eslint-disable jest/no-conditional-expect -- what needs pods or a mesh runs on the backend that has them */
/**
 * One suite of traffic provider and workload scenarios, run against every
 * Kubernetes backend the tests have: the in-memory fake API
 * (providers.test.ts), the sandbox's API server alone (sandboxApi.test.ts,
 * reading by GETs and through the watch caches) and the full sandbox with
 * simulated pods and traffic (sandboxDemoWorld.test.ts). All of them speak
 * HTTP to @kubernetes/client-node through ClusterClients; what a backend
 * can do beyond storing objects (pods that become ready, a mesh that routes
 * requests) adds the assertions that need it.
 */
import type { ClusterClients } from '../ClusterClients';
import { createTrafficProvider } from '../createTrafficProvider';
import { KubernetesWorkloadManager } from '../KubernetesWorkloadManager';
import { REPLICA_TOTAL_ANNOTATION } from '../ReplicaRatioTrafficProvider';
import {
  ClusterUnavailableError,
  ConfigurationError,
  RolloutTarget,
  TrafficProviderName,
} from '../types';

/** What the scenarios need from a backend (its state is the demo shapes in namespace `demo`). */
export interface ProviderBackend {
  /** The cluster's name in `clients`. */
  cluster: string;
  clients: ClusterClients;
  /** Image repository of the shapes: `coalmine` (demoShapes) or `shop` (the sandbox's demo world). */
  registry: string;
  /** Adds manifests to namespace `demo`. */
  apply(yaml: string): Promise<void>;
  /** The object as Coalmine last wrote it. */
  lastWrite(ref: { group: string; kind: string; name: string }): any;
  /** The next `count` (default 1) requests of this verb on this resource fail with `status`. */
  failNext(fault: {
    verb: 'get' | 'update';
    resource: string;
    status: number;
    count?: number;
  }): void;
  /**
   * Until the Deployment's pods run as scaled and are ready (the full
   * sandbox's simulated pods). Absent where nothing runs pods: the fake
   * and the API server alone store Deployments, no pods.
   */
  podsReady?(deployment: string): Promise<void>;
  /** The full sandbox's mesh: requests per Deployment of a burst to a Service. */
  burst?(
    service: string,
    requests: number,
    stickyShare?: number,
  ): Record<string, number>;
}

export const stickyHeader = { name: 'x-canary-user', value: 'true' };

/** Polls until `check` holds; a generous deadline for a loaded machine. */
export async function eventually<T>(
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

/** A TrafficSplit and an Ingress for storefront, for the smi and nginx providers. */
const STOREFRONT_SMI_AND_INGRESS = `
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
`;

/**
 * Registers the scenarios in the calling describe block. `backend` is read
 * when a test runs, so the caller may create it in beforeEach or beforeAll
 * (the scenarios run in this order and leave the world as a rollout would:
 * checkout is on v2 after the first).
 */
export function providerScenarios(backend: () => ProviderBackend) {
  const target = (
    service: string,
    provider: TrafficProviderName,
    more: Partial<RolloutTarget> = {},
  ): RolloutTarget => ({
    cluster: backend().cluster,
    namespace: 'demo',
    service,
    provider,
    ...more,
  });
  const provider = (name: TrafficProviderName) =>
    createTrafficProvider(name, backend().clients);
  const workloadManager = () =>
    KubernetesWorkloadManager.forCluster(backend().clients, backend().cluster);
  /** Requests reaching each Deployment of a burst to a Service. */
  const sentBy = (
    burst: NonNullable<ProviderBackend['burst']>,
    service: string,
    requests: number,
    stickyShare?: number,
  ) => {
    const counts = burst(service, requests, stickyShare);
    return (name: string) => counts[name] ?? 0;
  };

  it('checkout (istio, versioned subsets): discovers v1 → v2, creates checkout-v2, stores every step, finalizes on v2', async () => {
    const { registry, podsReady, burst } = backend();
    const istio = provider('istio');
    const topology = await istio.discover(target('checkout', 'istio'));
    expect(topology).toMatchObject({
      shape: 'versioned-subsets',
      stable: {
        name: 'checkout-v1',
        version: 'v1',
        image: `${registry}/checkout:v1`,
        replicas: 3,
      },
      canary: { name: 'checkout-v2', version: 'v2', replicas: 0 },
      routeObject: {
        kind: 'VirtualService',
        name: 'checkout',
        apiVersion: 'networking.istio.io/v1',
      },
      subsetObject: { kind: 'DestinationRule', name: 'checkout' },
    });
    const workloads = workloadManager();
    const prepared = await workloads.prepareCanary(topology, {
      image: `${registry}/checkout:v2`,
      version: 'v2',
    });
    expect(prepared.canary).toEqual({
      name: 'checkout-v2',
      version: 'v2',
      image: `${registry}/checkout:v2`,
      replicas: 0,
    });
    const created = backend().lastWrite({
      group: 'apps',
      kind: 'Deployment',
      name: 'checkout-v2',
    });
    expect(created.spec.template.metadata.labels).toEqual({
      app: 'checkout',
      version: 'v2',
    });
    expect(created.spec.template.spec.containers[0].image).toBe(
      `${registry}/checkout:v2`,
    );

    if (podsReady) {
      await workloads.scale('demo', 'checkout-v2', 2);
      await podsReady('checkout-v2');
      await expect(
        workloads.readiness('demo', 'checkout-v2'),
      ).resolves.toMatchObject({ desired: 2, ready: 2, available: 2 });
      const health = await workloads.podHealth('demo', 'checkout-v2');
      expect(health.pods).toHaveLength(2);
      expect(
        health.pods.every(
          p => p.ready && p.restarts === 0 && !p.reasons.length,
        ),
      ).toBe(true);
    }

    for (const w of [5, 25, 50, 75, 100]) {
      await expect(
        istio.setSplit(prepared, { canaryWeight: w, headerRoute: false }),
      ).resolves.toEqual({ canaryWeight: w, headerRoute: false });
      await expect(istio.getSplit(prepared)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: false,
      });
    }
    if (burst) {
      // The mesh routes by what we wrote: 25 % reaches checkout-v2.
      await istio.setSplit(prepared, { canaryWeight: 25, headerRoute: false });
      const sent = sentBy(burst, 'checkout', 2000);
      const canaryShare =
        sent('checkout-v2') / (sent('checkout-v1') + sent('checkout-v2'));
      expect(sent('checkout-v1') + sent('checkout-v2')).toBe(2000);
      expect(canaryShare).toBeGreaterThan(0.19);
      expect(canaryShare).toBeLessThan(0.31);
    }

    await istio.finalizePromotion(prepared);
    expect(
      backend().lastWrite({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        name: 'checkout',
      }).spec.http,
    ).toEqual([
      {
        route: [
          { destination: { host: 'checkout', subset: 'v2' }, weight: 100 },
        ],
      },
    ]);
    // The next rollout starts from v2.
    await expect(
      istio.discover(target('checkout', 'istio')),
    ).resolves.toMatchObject({
      stable: { name: 'checkout-v2', version: 'v2' },
      canary: { name: 'checkout-v3', version: 'v3' },
    });
  });

  it('payments (istio, fixed subsets): keeps the header route while stepping, removes it on finalize, promotes the template', async () => {
    const { registry, podsReady, burst } = backend();
    const istio = provider('istio');
    const topology = await istio.discover(
      target('payments', 'istio', { stickyHeader }),
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
    const workloads = workloadManager();
    const prepared = await workloads.prepareCanary(topology, {
      image: `${registry}/payments:1.5.0`,
    });
    await workloads.scale('demo', 'payments-canary', 1);
    for (const w of [5, 25, 50, 75, 100]) {
      await expect(
        istio.setSplit(prepared, { canaryWeight: w, headerRoute: true }),
      ).resolves.toEqual({ canaryWeight: w, headerRoute: true });
      await expect(istio.getSplit(prepared)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: true,
      });
    }
    const hashBefore = await workloads.templateHash('demo', 'payments-stable');
    await workloads.promoteTemplate(prepared);
    if (podsReady) {
      await podsReady('payments-stable');
      const stable = await eventually(
        () => workloads.readiness('demo', 'payments-stable'),
        r => r.observedGeneration && r.updated === 3 && r.available === 3,
      );
      expect(stable.desired).toBe(3);
    }
    expect(await workloads.templateHash('demo', 'payments-stable')).not.toBe(
      hashBefore,
    );
    const promoted = backend().lastWrite({
      group: 'apps',
      kind: 'Deployment',
      name: 'payments-stable',
    });
    expect(promoted.spec.template.spec.containers[0].image).toBe(
      `${registry}/payments:1.5.0`,
    );
    expect(promoted.spec.template.metadata.labels).toEqual({
      app: 'payments',
      version: 'stable',
    });
    expect(promoted.spec.selector.matchLabels).toEqual({
      app: 'payments',
      version: 'stable',
    });

    if (burst && podsReady) {
      // Requests with the sticky header all reach the canary pods.
      await istio.setSplit(prepared, { canaryWeight: 5, headerRoute: true });
      await podsReady('payments-canary');
      const sent = sentBy(burst, 'payments', 200, 1);
      expect(sent('payments-canary')).toBe(200);
      expect(sent('payments-stable')).toBe(0);
    }

    await istio.finalizePromotion(prepared);
    await expect(istio.getSplit(prepared)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
    expect(
      backend().lastWrite({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        name: 'payments',
      }).spec.http,
    ).toHaveLength(1);
  });

  it('search (replica ratio): scales 9/1 for 10 %, reports the ready share, and steps to 100 %', async () => {
    const { podsReady } = backend();
    const replicas = provider('replicas');
    const topology = await replicas.discover(target('search', 'replicas'));
    expect(topology).toMatchObject({
      shape: 'replica-ratio',
      stable: { name: 'search-stable', replicas: 9 },
      canary: { name: 'search-canary', replicas: 0 },
      replicaTotal: 10,
    });
    await expect(
      replicas.setSplit(topology, { canaryWeight: 10, headerRoute: false }),
    ).resolves.toMatchObject({ canaryWeight: 10 });
    const deployment = (name: string) =>
      backend().lastWrite({ group: 'apps', kind: 'Deployment', name });
    expect(deployment('search-stable').spec.replicas).toBe(9);
    expect(
      deployment('search-stable').metadata.annotations[
        REPLICA_TOTAL_ANNOTATION
      ],
    ).toBe('10');
    expect(deployment('search-canary').spec.replicas).toBe(1);
    const workloads = workloadManager();
    await expect(
      workloads.readiness('demo', 'search-canary'),
    ).resolves.toMatchObject({ desired: 1 });
    await expect(
      workloads.readiness('demo', 'search-stable'),
    ).resolves.toMatchObject({ desired: 9 });
    if (podsReady) {
      await podsReady('search-canary');
      await expect(
        eventually(
          () => replicas.getSplit(topology),
          s => s.actualWeight === 10,
        ),
      ).resolves.toEqual({
        canaryWeight: 10,
        actualWeight: 10,
        headerRoute: false,
      });
    }
    for (const w of [25, 50, 75, 100]) {
      await replicas.setSplit(topology, {
        canaryWeight: w,
        headerRoute: false,
      });
      await expect(replicas.getSplit(topology)).resolves.toMatchObject({
        canaryWeight: w,
      });
    }
    await replicas.finalizePromotion(topology);
    await expect(
      workloads.readiness('demo', 'search-stable'),
    ).resolves.toMatchObject({ desired: 9 });
    await workloads.scale('demo', 'search-canary', 0);
    await expect(
      workloads.readiness('demo', 'search-canary'),
    ).resolves.toMatchObject({ desired: 0 });
  });

  it('storefront (gateway-api): splits the HTTPRoute with a header rule', async () => {
    const gateway = provider('gateway-api');
    const topology = await gateway.discover(
      target('storefront', 'gateway-api', { stickyHeader }),
    );
    expect(topology).toMatchObject({
      shape: 'fixed-subsets',
      stable: { name: 'storefront-stable' },
      canary: { name: 'storefront-canary' },
      backends: { stable: 'storefront-stable', canary: 'storefront-canary' },
      routeObject: { kind: 'HTTPRoute', name: 'storefront' },
    });
    for (const w of [5, 25, 50, 75, 100]) {
      await gateway.setSplit(topology, { canaryWeight: w, headerRoute: true });
      await expect(gateway.getSplit(topology)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: true,
      });
    }
    await gateway.finalizePromotion(topology);
    await expect(gateway.getSplit(topology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('storefront (smi and nginx): splits a TrafficSplit and a canary Ingress', async () => {
    await backend().apply(STOREFRONT_SMI_AND_INGRESS);
    const smi = provider('smi');
    const smiTopology = await smi.discover(target('storefront', 'smi'));
    expect(smiTopology.routeObject).toEqual({
      apiVersion: expect.stringMatching(/^split\.smi-spec\.io\/v1alpha\d$/),
      kind: 'TrafficSplit',
      name: 'storefront',
    });
    for (const w of [5, 25, 50, 75, 100]) {
      await expect(
        smi.setSplit(smiTopology, { canaryWeight: w, headerRoute: false }),
      ).resolves.toEqual({ canaryWeight: w, headerRoute: false });
      await expect(smi.getSplit(smiTopology)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: false,
      });
    }
    await smi.finalizePromotion(smiTopology);
    await expect(smi.getSplit(smiTopology)).resolves.toMatchObject({
      canaryWeight: 0,
    });
    await expect(
      smi.discover(target('storefront', 'smi', { stickyHeader })),
    ).rejects.toThrow(/cannot pin requests/);

    const nginx = provider('nginx');
    const nginxTopology = await nginx.discover(
      target('storefront', 'nginx', { stickyHeader }),
    );
    expect(nginxTopology.canaryRouteObject?.name).toBe('storefront-canary');
    await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
    const stepNginx = async (w: number) => {
      await expect(
        nginx.setSplit(nginxTopology, { canaryWeight: w, headerRoute: true }),
      ).resolves.toEqual({ canaryWeight: w, headerRoute: true });
      await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
        canaryWeight: w,
        headerRoute: true,
      });
    };
    await stepNginx(5);
    const canaryIngress = backend().lastWrite({
      group: 'networking.k8s.io',
      kind: 'Ingress',
      name: 'storefront-canary',
    });
    expect(canaryIngress.metadata.annotations).toMatchObject({
      'nginx.ingress.kubernetes.io/canary': 'true',
      'nginx.ingress.kubernetes.io/canary-weight': '5',
      'nginx.ingress.kubernetes.io/canary-by-header': 'x-canary-user',
      'nginx.ingress.kubernetes.io/canary-by-header-value': 'true',
    });
    expect(canaryIngress.spec.rules[0].http.paths[0].backend.service.name).toBe(
      'storefront-canary',
    );
    for (const w of [25, 50, 75, 100]) await stepNginx(w);
    await nginx.finalizePromotion(nginxTopology);
    await expect(nginx.getSplit(nginxTopology)).resolves.toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });

  it('says what to change when a routing object is missing, and refuses bad names', async () => {
    const istio = provider('istio');
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
    await expect(
      provider('gateway-api').discover(target('checkout', 'gateway-api')),
    ).rejects.toThrow(
      /HTTPRoute demo\/checkout not found .*set coalmine\.io\/route or create it/,
    );
    await expect(
      istio.discover(target('../secrets', 'istio')),
    ).rejects.toBeInstanceOf(ConfigurationError);
    await expect(istio.discover(target('ghost', 'istio'))).rejects.toThrow(
      /Service demo\/ghost not found: set coalmine\.io\/workload/,
    );
  });

  it('retries a 409 (a bounded number of times) and reports a 500 as ClusterUnavailableError', async () => {
    const { clients } = backend();
    const istio = provider('istio');
    const topology = await istio.discover(target('checkout', 'istio'));
    backend().failNext({
      verb: 'update',
      resource: 'virtualservices',
      status: 409,
      count: 2,
    });
    await expect(
      istio.setSplit(topology, { canaryWeight: 25, headerRoute: false }),
    ).resolves.toMatchObject({ canaryWeight: 25 });
    await expect(istio.getSplit(topology)).resolves.toMatchObject({
      canaryWeight: 25,
    });
    // Conflicts that never stop are bounded: the engine gets a transient error.
    backend().failNext({
      verb: 'update',
      resource: 'virtualservices',
      status: 409,
      count: 5,
    });
    await expect(
      istio.setSplit(topology, { canaryWeight: 50, headerRoute: false }),
    ).rejects.toThrow(/kept changing under us/);
    await expect(istio.getSplit(topology)).resolves.toMatchObject({
      canaryWeight: 25,
    });
    // A fresh watch cache is not live yet, so with caches too this read is
    // a GET (watchCache.test.ts covers a failing server under a live cache).
    clients.close();
    backend().failNext({
      verb: 'get',
      resource: 'virtualservices',
      status: 500,
    });
    await expect(istio.getSplit(topology)).rejects.toBeInstanceOf(
      ClusterUnavailableError,
    );
    backend().failNext({
      verb: 'update',
      resource: 'deployments/scale',
      status: 409,
    });
    const workloads = workloadManager();
    await workloads.scale('demo', 'checkout-v1', 4);
    await expect(
      workloads.readiness('demo', 'checkout-v1'),
    ).resolves.toMatchObject({ desired: 4 });
  });
}
