/**
 * The Kubernetes side of the engine against the full sandbox — API server,
 * simulated Deployments/ReplicaSets/pods, its mesh's traffic — on its demo
 * world, over HTTP with @kubernetes/client-node. This is the production
 * code path. The shared scenarios (__fixtures__/providerScenarios.ts) run
 * here with pods that become ready and requests routed by what was written;
 * the world carries over from one test to the next.
 */
import { startSandbox, type Sandbox } from '@coalmine/sandbox';
import { ClusterClients } from './ClusterClients';
import {
  eventually,
  providerScenarios,
} from './__fixtures__/providerScenarios';
import { createTrafficProvider } from './createTrafficProvider';
import { detectSplitDrift } from './drift';
import { KubernetesWorkloadManager } from './KubernetesWorkloadManager';
import {
  ClusterUnavailableError,
  RolloutTarget,
  TrafficProviderName,
} from './types';

// Simulated pods take real time; the machine may be busy.
jest.setTimeout(90_000);

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
  afterAll(async () => {
    clients?.close();
    await sb?.stop();
  });

  providerScenarios(() => ({
    cluster: 'sandbox',
    clients,
    registry: 'shop',
    apply: async yaml => {
      await sb.apply(yaml);
    },
    lastWrite: ({ group, kind, name }) =>
      sb.writes({ group, kind, namespace: 'demo', name }).pop(),
    failNext: fault => sb.failNext(fault),
    podsReady: async deployment => {
      await eventually(
        () => workloads.readiness('demo', deployment),
        r =>
          r.observedGeneration &&
          r.ready === r.desired &&
          r.available === r.desired &&
          r.updated === r.desired,
      );
    },
    burst: (service, requests, stickyShare) => {
      const before = sb.counters({ namespace: 'demo', service });
      sb.traffic.burst({ service, namespace: 'demo', stickyShare }, requests);
      const after = sb.counters({ namespace: 'demo', service });
      return Object.fromEntries(
        Object.keys(after).map(name => [
          name,
          (after[name]?.requests ?? 0) - (before[name]?.requests ?? 0),
        ]),
      );
    },
  }));

  const target = (
    service: string,
    provider: TrafficProviderName,
  ): RolloutTarget => ({
    cluster: 'sandbox',
    namespace: 'demo',
    service,
    provider,
  });

  it('search: the ready share follows a step, and a canary scaled by hand is drift', async () => {
    const replicas = createTrafficProvider('replicas', clients);
    const topology = await replicas.discover(target('search', 'replicas'));
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

  it('retries an injected 409 on an HTTPRoute with one write more, and turns a 500 or 503 into ClusterUnavailableError', async () => {
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

  it("podHealth names each pod's IP as the API server reports it (what an `instance` label of `ip:port` carries)", async () => {
    const health = await eventually(
      () => workloads.podHealth('demo', 'search-stable'),
      h => h.pods.length > 0 && h.pods.every(p => p.ip),
    );
    const res = await fetch(`${sb.apiUrl}/api/v1/namespaces/demo/pods`, {
      headers: { authorization: `Bearer ${sb.token}` },
    });
    const listed: Array<{
      metadata: { name: string };
      status: { podIP: string };
    }> = (await res.json()).items;
    const ipOf = new Map(listed.map(p => [p.metadata.name, p.status.podIP]));
    for (const pod of health.pods) {
      expect(pod.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(pod.ip).toBe(ipOf.get(pod.name));
    }
    expect(new Set(health.pods.map(p => p.ip)).size).toBe(health.pods.length);
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
