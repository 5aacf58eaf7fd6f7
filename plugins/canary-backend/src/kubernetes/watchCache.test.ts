/**
 * The watch caches against the sandbox's Kubernetes API server over HTTP,
 * behind a TCP proxy the test controls: it can cut every connection, stall
 * the open ones (a watch that delivers nothing), or leave the open ones
 * flowing while new requests hang (an API server that stopped answering).
 */
import net from 'node:net';
import { startApiSandbox, type Sandbox } from '@coalmine/sandbox';
import { parseAllDocuments } from 'yaml';
import { ClusterClients } from './ClusterClients';
import { CHECKOUT } from './__fixtures__/demoShapes';
import { createTrafficProvider } from './createTrafficProvider';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import { ClusterUnavailableError, TrafficTopology } from './types';
import {
  ClusterWatchCache,
  resourceVersionAtLeast,
  WatchCacheOptions,
} from './watchCache';

// Real HTTP on a shared, busy machine.
jest.setTimeout(60_000);

type ProxyMode = 'pass' | 'cut' | 'stall' | 'hang-new';

/** A TCP proxy in front of the API server; see the file comment. */
class ControlledProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<{
    client: net.Socket;
    upstream?: net.Socket;
    held: Buffer[];
    stalled: boolean;
  }>();
  private current: ProxyMode = 'pass';

  private constructor(private readonly target: number) {
    this.server = net.createServer(client => this.accept(client));
  }

  static async start(targetUrl: string): Promise<ControlledProxy> {
    const proxy = new ControlledProxy(Number(new URL(targetUrl).port));
    await new Promise<void>(resolve =>
      proxy.server.listen(0, '127.0.0.1', () => resolve()),
    );
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${
      (this.server.address() as net.AddressInfo).port
    }`;
  }

  private accept(client: net.Socket) {
    client.on('error', () => client.destroy());
    if (this.current === 'cut') {
      client.destroy();
      return;
    }
    const pair = {
      client,
      upstream: undefined as net.Socket | undefined,
      held: [] as Buffer[],
      stalled: false,
    };
    this.pairs.add(pair);
    client.on('close', () => {
      this.pairs.delete(pair);
      pair.upstream?.destroy();
    });
    // Accepted, never answered.
    if (this.current === 'hang-new') return;
    const upstream = net.connect(this.target, '127.0.0.1');
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    upstream.on('data', (data: Buffer) => {
      if (pair.stalled) pair.held.push(data);
      else client.write(data);
    });
    client.pipe(upstream);
  }

  /**
   * - `pass`: forward everything (held bytes of stalled connections are sent);
   * - `cut`: close every connection and refuse new ones (a server restart);
   * - `stall`: open connections deliver nothing; new ones pass;
   * - `hang-new`: open connections keep flowing; new ones are never answered.
   */
  mode(next: ProxyMode) {
    this.current = next;
    for (const pair of this.pairs) {
      if (next === 'cut') {
        pair.client.destroy();
        pair.upstream?.destroy();
      } else if (next === 'stall') {
        pair.stalled = true;
      } else if (next === 'pass' && pair.stalled) {
        pair.stalled = false;
        for (const data of pair.held.splice(0)) pair.client.write(data);
      }
    }
  }

  async close() {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }
}

function inDemo(yaml: string) {
  return parseAllDocuments(yaml).map(d => {
    const o = d.toJSON();
    o.metadata.namespace = 'demo';
    return o;
  });
}

function pod(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'demo',
      labels: { app: 'checkout', version: 'v1' },
    },
    spec: { containers: [{ name: 'app', image: 'coalmine/checkout:v1' }] },
  };
}

/** Polls `check` until it returns a value (not undefined) or throws no more. */
async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}: ${last ?? 'not yet'}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

describe('resourceVersionAtLeast', () => {
  it('compares integers numerically and opaque versions only for equality', () => {
    expect(resourceVersionAtLeast('10', '9')).toBe(true);
    expect(resourceVersionAtLeast('9', '10')).toBe(false);
    expect(resourceVersionAtLeast('10', '10')).toBe(true);
    expect(resourceVersionAtLeast('abc', 'abc')).toBe(true);
    expect(resourceVersionAtLeast('abd', 'abc')).toBe(false);
    expect(resourceVersionAtLeast(undefined, '1')).toBe(false);
  });
});

describe('watch caches against the sandbox API server', () => {
  let sb: Sandbox;
  let proxy: ControlledProxy;
  let clients: ClusterClients;
  let other: ClusterClients;
  let cache: ClusterWatchCache;
  let manager: KubernetesWorkloadManager;

  async function setUp(options: WatchCacheOptions = {}) {
    sb = await startApiSandbox();
    await sb.apply({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'demo' },
    });
    await sb.apply([
      ...inDemo(CHECKOUT),
      pod('checkout-v1-a'),
      pod('checkout-v1-b'),
    ]);
    proxy = await ControlledProxy.start(sb.apiUrl);
    const cluster = (url: string) => ({
      name: 'sandbox',
      url,
      authProvider: 'serviceAccount',
      serviceAccountToken: sb.token,
      skipTLSVerify: true,
    });
    clients = new ClusterClients([cluster(proxy.url)], {
      requestTimeoutMs: 1000,
      watchCache: {
        staleAfterMs: 1500,
        connectTimeoutMs: 1000,
        maxRestartDelayMs: 500,
        ...options,
      },
    });
    // Another client, straight to the API server, without a cache.
    other = new ClusterClients([cluster(sb.apiUrl)]);
    cache = clients.forCluster('sandbox').cache!;
    manager = new KubernetesWorkloadManager(clients.forCluster('sandbox'));
  }

  afterEach(async () => {
    clients?.close();
    await proxy?.close();
    await sb?.stop();
  });

  /** Reads until a read is answered by the cache; returns what it read. */
  async function fromCache<T>(read: () => Promise<T>, what: string) {
    return eventually(async () => {
      const before = { ...cache.stats };
      const value = await read();
      return cache.stats.fromCache > before.fromCache &&
        cache.stats.direct === before.direct
        ? value
        : undefined;
    }, `${what} from the cache`);
  }

  /** The Istio provider over the cache, once the VirtualService is read from it. */
  async function istioFromCache() {
    await setUp();
    const istio = createTrafficProvider('istio', clients);
    const topology: TrafficTopology = await istio.discover({
      cluster: 'sandbox',
      namespace: 'demo',
      service: 'checkout',
      provider: 'istio',
    });
    await fromCache(() => istio.getSplit(topology), 'the VirtualService');
    return { istio, topology };
  }

  const replicasOf = async (n: number) => {
    const d = await other.forCluster('sandbox').apps.readNamespacedDeployment({
      namespace: 'demo',
      name: 'checkout-v1',
    });
    await other.forCluster('sandbox').apps.replaceNamespacedDeployment({
      namespace: 'demo',
      name: 'checkout-v1',
      body: { ...d, spec: { ...d.spec!, replicas: n } },
    });
  };

  it('answers repeated reads from the watch, without GETs, and sees another client change the object', async () => {
    await setUp();
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'the Deployment',
    );
    const getsBefore = sb.apiRequests().GET ?? 0;
    const directBefore = cache.stats.direct;
    for (let i = 0; i < 20; i++) {
      expect((await manager.readiness('demo', 'checkout-v1')).desired).toBe(3);
    }
    expect(cache.stats.direct).toBe(directBefore);
    // At most a probe of /version went out meanwhile, not one GET per read.
    expect((sb.apiRequests().GET ?? 0) - getsBefore).toBeLessThan(5);

    await replicasOf(5);
    await eventually(
      async () =>
        (await manager.readiness('demo', 'checkout-v1')).desired === 5
          ? true
          : undefined,
      'the change made by the other client',
    );
    // What the engine compares across passes is the same from the cache as
    // from a GET (watched objects are decoded like the typed client's).
    const direct = new KubernetesWorkloadManager(other.forCluster('sandbox'));
    expect(
      await fromCache(
        () => manager.templateHash('demo', 'checkout-v1'),
        'the template',
      ),
    ).toBe(await direct.templateHash('demo', 'checkout-v1'));
    expect(
      await fromCache(
        () => manager.readTemplate('demo', 'checkout-v1'),
        'the template',
      ),
    ).toEqual(await direct.readTemplate('demo', 'checkout-v1'));
    // Pod reads are a filter over the namespace's pods.
    const health = await fromCache(
      () => manager.podHealth('demo', 'checkout-v1'),
      'the pods',
    );
    expect(health.pods.map(p => p.name).sort()).toEqual([
      'checkout-v1-a',
      'checkout-v1-b',
    ]);
  });

  it('resumes a watch the server cut, and relists when the server answers 410 Gone', async () => {
    await setUp();
    await fromCache(() => manager.podHealth('demo', 'checkout-v1'), 'pods');
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'Deployment',
    );

    // 1. Cut: reads fail like without a cache, then the watch resumes.
    proxy.mode('cut');
    const error = await eventually(
      () =>
        manager.readiness('demo', 'checkout-v1').then(
          () => undefined,
          e => e,
        ),
      'a read to fail',
    );
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    await replicasOf(4);
    proxy.mode('pass');
    await eventually(async () => {
      const r = await fromCache(
        () => manager.readiness('demo', 'checkout-v1'),
        'Deployment',
      );
      return r.desired === 4 ? true : undefined;
    }, 'the change made during the cut, from the resumed watch');

    // 2. Cut again; while it lasts, a pod is deleted and the server's event
    // log moves on past the watch's resourceVersion: the resume gets 410 and
    // only a relist can tell the pod is gone.
    proxy.mode('cut');
    await other
      .forCluster('sandbox')
      .core.deleteNamespacedPod({ namespace: 'demo', name: 'checkout-v1-b' });
    const filler = Array.from({ length: 10_050 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `filler-${i}`, namespace: 'demo' },
      data: { i: String(i) },
    }));
    await sb.apply(filler);
    proxy.mode('pass');
    await eventually(async () => {
      const health = await fromCache(
        () => manager.podHealth('demo', 'checkout-v1'),
        'pods',
      );
      return health.pods.length === 1 ? health : undefined;
    }, 'the relisted pods without the deleted one').then(health =>
      expect(health.pods[0].name).toBe('checkout-v1-a'),
    );
  });

  it('after a write, the next read returns the written state even while the watch lags', async () => {
    const { istio, topology } = await istioFromCache();

    // The open watch delivers nothing from now on; requests still pass.
    proxy.mode('stall');
    await istio.setSplit(topology, { canaryWeight: 25, headerRoute: false });
    expect((await istio.getSplit(topology)).canaryWeight).toBe(25);
    await istio.setSplit(topology, { canaryWeight: 50, headerRoute: false });
    expect((await istio.getSplit(topology)).canaryWeight).toBe(50);

    // A Deployment scaled through the subresource (no object returned): the
    // cached copy is older than the write, so the read goes to the server.
    await manager.scale('demo', 'checkout-v1', 6);
    expect((await manager.readiness('demo', 'checkout-v1')).desired).toBe(6);

    // The watch catches up: the cache answers again, with the written state.
    proxy.mode('pass');
    const split = await fromCache(
      () => istio.getSplit(topology),
      'the VirtualService',
    );
    expect(split.canaryWeight).toBe(50);
    const readiness = await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'the Deployment',
    );
    expect(readiness.desired).toBe(6);
  });

  it('writes from the cached copy (one PUT, no GET); a copy behind the server gets a 409, is read with a GET and the write is redone', async () => {
    const { istio, topology } = await istioFromCache();
    const count = () => sb.apiRequests();

    // Once the caches of the VirtualService and the DestinationRule (its
    // subsets are checked first) are live, a write reads neither directly.
    await eventually(async () => {
      const d = cache.stats.direct;
      await istio.setSplit(topology, { canaryWeight: 5, headerRoute: false });
      return cache.stats.direct === d ? true : undefined;
    }, 'a write based on the cached copies');
    let before = count();
    const direct = cache.stats.direct;
    await istio.setSplit(topology, { canaryWeight: 10, headerRoute: false });
    let after = count();
    expect((after.PUT ?? 0) - (before.PUT ?? 0)).toBe(1);
    expect(cache.stats.direct).toBe(direct);
    expect((after.GET ?? 0) - (before.GET ?? 0)).toBeLessThan(2); // a /version probe at most

    // The watch delivers nothing from now on, and another client changes
    // the VirtualService: the cached copy is behind the server.
    proxy.mode('stall');
    const otherApis = other.forCluster('sandbox');
    const vsRef = {
      group: 'networking.istio.io',
      version: await otherApis.preferredVersion('networking.istio.io', 'v1'),
      plural: 'virtualservices',
      namespace: 'demo',
      name: 'checkout',
    };
    const vs = (await otherApis.custom.getNamespacedCustomObject(vsRef)) as any;
    await otherApis.custom.replaceNamespacedCustomObject({
      ...vsRef,
      body: {
        ...vs,
        metadata: {
          ...vs.metadata,
          labels: { ...vs.metadata.labels, 'edited-by': 'someone-else' },
        },
      },
    });

    before = count();
    const split = await istio.setSplit(topology, {
      canaryWeight: 20,
      headerRoute: false,
    });
    after = count();
    expect(split.canaryWeight).toBe(20);
    // The PUT from the stale copy (409), the GET, the PUT that lands.
    expect((after.PUT ?? 0) - (before.PUT ?? 0)).toBe(2);
    expect((after.GET ?? 0) - (before.GET ?? 0)).toBeGreaterThanOrEqual(1);
    const stored = (await otherApis.custom.getNamespacedCustomObject(
      vsRef,
    )) as any;
    // Both writes hold: the other client's label and our weight.
    expect(stored.metadata.labels['edited-by']).toBe('someone-else');
    expect(JSON.stringify(stored.spec.http)).toContain('"weight":20');
  });

  it('an API server that stops answering makes reads fail after the bound, though the watch stays open', async () => {
    await setUp();
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'Deployment',
    );
    // The open watch keeps flowing; every new request hangs.
    proxy.mode('hang-new');
    const error = await eventually(
      () =>
        manager.readiness('demo', 'checkout-v1').then(
          () => undefined,
          e => e,
        ),
      'a read to fail',
    );
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    // And it keeps failing: the cache is not trusted again on its own.
    await expect(manager.readiness('demo', 'checkout-v1')).rejects.toThrow(
      ClusterUnavailableError,
    );
    proxy.mode('pass');
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'Deployment',
    );
  });

  it('stops the watch of a namespace nobody reads any more', async () => {
    await setUp({ idleMs: 300 });
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'Deployment',
    );
    expect(cache.stats.informers).toBe(1);
    await eventually(
      async () => (cache.stats.informers === 0 ? true : undefined),
      'the idle watch to stop',
    );
    // The next read starts it again.
    await fromCache(
      () => manager.readiness('demo', 'checkout-v1'),
      'Deployment',
    );
    expect(cache.stats.informers).toBe(1);
  });
});
