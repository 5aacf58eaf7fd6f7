/**
 * The providers and the workload manager against the sandbox's Kubernetes
 * API server, over HTTP with @kubernetes/client-node — the production code
 * path. The shapes are the four of the demo world.
 */
import { startApiSandbox, type Sandbox } from '@coalmine/sandbox';
import { parseAllDocuments } from 'yaml';
import { ClusterClients } from './ClusterClients';
import {
  CHECKOUT,
  PAYMENTS,
  SEARCH,
  STOREFRONT,
} from './__fixtures__/demoShapes';
import { createTrafficProvider } from './createTrafficProvider';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import {
  ClusterUnavailableError,
  ConfigurationError,
  RolloutTarget,
  TrafficProviderName,
} from './types';

// Real HTTP on a shared, busy machine.
jest.setTimeout(60_000);

const header = { name: 'x-canary-user', value: 'true' };

function inDemo(yaml: string) {
  return parseAllDocuments(yaml).map(d => {
    const o = d.toJSON();
    o.metadata.namespace = 'demo';
    return o;
  });
}

// Every case twice: reads as GETs, and through the watch caches the engine
// uses by default (reads after writes must see the writes either way).
describe.each([
  ['GETs', false],
  ['watch caches', true],
])(
  'kubernetes access against the sandbox API server, reading with %s',
  (_, cached) => {
    let sb: Sandbox;
    let clients: ClusterClients;

    beforeEach(async () => {
      sb = await startApiSandbox();
      await sb.apply({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'demo' },
      });
      for (const shape of [CHECKOUT, PAYMENTS, SEARCH, STOREFRONT]) {
        await sb.apply(inDemo(shape));
      }
      clients = new ClusterClients(
        [
          {
            name: 'sandbox',
            url: sb.apiUrl,
            authProvider: 'serviceAccount',
            serviceAccountToken: sb.token,
            skipTLSVerify: true,
          },
        ],
        { watchCache: cached },
      );
    });
    afterEach(async () => {
      clients.close();
      await sb.stop();
    });

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

    it('checkout: discovers v1 → v2, creates checkout-v2, stores every step, finalizes on v2', async () => {
      const istio = createTrafficProvider('istio', clients);
      const topology = await istio.discover(target('checkout', 'istio'));
      expect(topology).toMatchObject({
        shape: 'versioned-subsets',
        stable: { name: 'checkout-v1', version: 'v1' },
        canary: { name: 'checkout-v2', version: 'v2' },
      });
      const workloads = KubernetesWorkloadManager.forCluster(
        clients,
        'sandbox',
      );
      const prepared = await workloads.prepareCanary(topology, {
        image: 'coalmine/checkout:v2',
        version: 'v2',
      });
      expect(prepared.canary).toMatchObject({
        name: 'checkout-v2',
        image: 'coalmine/checkout:v2',
      });
      const [created] = sb.writes({
        group: 'apps',
        kind: 'Deployment',
        namespace: 'demo',
        name: 'checkout-v2',
      });
      expect(created.spec.template.metadata.labels).toEqual({
        app: 'checkout',
        version: 'v2',
      });
      expect(created.spec.template.spec.containers[0].image).toBe(
        'coalmine/checkout:v2',
      );

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
      const writes = sb.writes({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: 'demo',
        name: 'checkout',
      });
      expect(writes[writes.length - 1].spec.http).toEqual([
        {
          route: [
            { destination: { host: 'checkout', subset: 'v2' }, weight: 100 },
          ],
        },
      ]);
    });

    it('payments: keeps the header route while stepping, removes it on finalize, promotes the template', async () => {
      const istio = createTrafficProvider('istio', clients);
      const topology = await istio.discover(
        target('payments', 'istio', { stickyHeader: header }),
      );
      expect(topology).toMatchObject({
        shape: 'fixed-subsets',
        stable: { name: 'payments-stable' },
        canary: { name: 'payments-canary' },
      });
      for (const w of [5, 25, 50, 75, 100]) {
        await istio.setSplit(topology, { canaryWeight: w, headerRoute: true });
        await expect(istio.getSplit(topology)).resolves.toEqual({
          canaryWeight: w,
          headerRoute: true,
        });
      }
      const workloads = KubernetesWorkloadManager.forCluster(
        clients,
        'sandbox',
      );
      await workloads.promoteTemplate(topology);
      const stableWrites = sb.writes({
        group: 'apps',
        kind: 'Deployment',
        namespace: 'demo',
        name: 'payments-stable',
      });
      const promoted = stableWrites[stableWrites.length - 1];
      expect(promoted.spec.template.spec.containers[0].image).toBe(
        'coalmine/payments:1.1',
      );
      expect(promoted.spec.selector.matchLabels).toEqual({
        app: 'payments',
        version: 'stable',
      });
      await istio.finalizePromotion(topology);
      await expect(istio.getSplit(topology)).resolves.toEqual({
        canaryWeight: 0,
        headerRoute: false,
      });
    });

    it('talks TLS to a cluster configured with caData', async () => {
      const tls = new ClusterClients([
        {
          name: 'tls',
          url: sb.apiTlsUrl,
          authProvider: 'serviceAccount',
          serviceAccountToken: sb.token,
          caData: Buffer.from(sb.caPem).toString('base64'),
        },
      ]);
      const istio = createTrafficProvider('istio', tls);
      await expect(
        istio.discover({ ...target('checkout', 'istio'), cluster: 'tls' }),
      ).resolves.toMatchObject({ stable: { name: 'checkout-v1' } });
      const untrusted = new ClusterClients([
        {
          name: 'tls',
          url: sb.apiTlsUrl,
          authProvider: 'serviceAccount',
          serviceAccountToken: sb.token,
        },
      ]);
      await expect(
        createTrafficProvider('istio', untrusted).discover({
          ...target('checkout', 'istio'),
          cluster: 'tls',
        }),
      ).rejects.toThrow(/TLS certificate was not accepted.*set caData/);
    });

    it('retries a 409 and reports a 500 as ClusterUnavailableError', async () => {
      const istio = createTrafficProvider('istio', clients);
      const topology = await istio.discover(target('checkout', 'istio'));
      sb.failNext({
        verb: 'update',
        resource: 'virtualservices',
        status: 409,
        count: 2,
      });
      await expect(
        istio.setSplit(topology, { canaryWeight: 25, headerRoute: false }),
      ).resolves.toMatchObject({
        canaryWeight: 25,
      });
      await expect(istio.getSplit(topology)).resolves.toMatchObject({
        canaryWeight: 25,
      });
      // conflicts that never stop are bounded: the engine gets a transient error
      sb.failNext({
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
      sb.failNext({ verb: 'get', resource: 'virtualservices', status: 500 });
      await expect(istio.getSplit(topology)).rejects.toBeInstanceOf(
        ClusterUnavailableError,
      );
      sb.failNext({
        verb: 'update',
        resource: 'deployments/scale',
        status: 409,
      });
      const workloads = KubernetesWorkloadManager.forCluster(
        clients,
        'sandbox',
      );
      await workloads.scale('demo', 'checkout-v1', 4);
      await expect(
        workloads.readiness('demo', 'checkout-v1'),
      ).resolves.toMatchObject({ desired: 4 });
    });

    it('says what to change when the routing object is missing', async () => {
      const istio = createTrafficProvider('istio', clients);
      const error = await istio
        .discover(target('checkout', 'istio', { route: 'checkout-main' }))
        .catch(e => e);
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error.message).toBe(
        'VirtualService demo/checkout-main not found: set coalmine.io/route or create it',
      );
      const gw = createTrafficProvider('gateway-api', clients);
      await expect(
        gw.discover(target('checkout', 'gateway-api')),
      ).rejects.toThrow(
        /HTTPRoute demo\/checkout not found .*set coalmine\.io\/route or create it/,
      );
    });

    it('search: replica ratio scales 9/1 for 10 % and back', async () => {
      const replicas = createTrafficProvider('replicas', clients);
      const topology = await replicas.discover(target('search', 'replicas'));
      expect(topology).toMatchObject({
        shape: 'replica-ratio',
        replicaTotal: 10,
      });
      await expect(
        replicas.setSplit(topology, { canaryWeight: 10, headerRoute: false }),
      ).resolves.toMatchObject({
        canaryWeight: 10,
      });
      const workloads = KubernetesWorkloadManager.forCluster(
        clients,
        'sandbox',
      );
      await expect(
        workloads.readiness('demo', 'search-canary'),
      ).resolves.toMatchObject({ desired: 1 });
      await expect(
        workloads.readiness('demo', 'search-stable'),
      ).resolves.toMatchObject({ desired: 9 });
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

    it('storefront: splits the HTTPRoute with a header rule', async () => {
      const gw = createTrafficProvider('gateway-api', clients);
      const topology = await gw.discover(
        target('storefront', 'gateway-api', { stickyHeader: header }),
      );
      expect(topology).toMatchObject({
        stable: { name: 'storefront-stable' },
        canary: { name: 'storefront-canary' },
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
  },
);
