import { startSandbox, Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  component,
  fastAnalysis,
  sandboxConfig,
  startCanaryBackend,
  virtualServiceWeights,
  waitForRollout,
  outcome,
  changes,
  scaleDeployment,
} from '../__testUtils__/sandboxBackend';

jest.setTimeout(240_000);

const policies = {
  mesh: {
    trafficProvider: 'istio',
    steps: [
      { weight: 5, pause: '1s' },
      { weight: 25, pause: '1s' },
      { weight: 50, pause: '1s' },
      { weight: 75, pause: '1s' },
      { weight: 100, pause: '1s' },
    ],
    analysis: fastAnalysis,
    progressDeadline: '60s',
    maxCanaryRestarts: 2,
  },
  sticky: {
    trafficProvider: 'istio',
    steps: [10, 50, 100],
    stickyHeader: 'x-canary-user: true',
    analysis: fastAnalysis,
  },
  ratio: {
    trafficProvider: 'replicas',
    steps: [10, 50, 100],
    analysis: fastAnalysis,
  },
  gateway: {
    trafficProvider: 'gateway-api',
    steps: [10, 50, 100],
    analysis: { interval: '1s', metrics: [] },
  },
  slow: {
    trafficProvider: 'istio',
    steps: [{ weight: 10, pause: '1s' }, { weight: 30, pause: '10m' }, 100],
    analysis: fastAnalysis,
  },
};

const entities = [
  component('checkout', 'mesh'),
  component('payments', 'sticky'),
  component('search', 'ratio'),
  component('storefront', 'gateway'),
  // Another team's component naming checkout's Service: the intruder case,
  // refused because the checkout Service is bound to checkout alone.
  component('storefront-tools', 'slow', { 'coalmine.io/workload': 'checkout' }),
  // A second component, which the cluster binds to checkout's Service later
  // (coalmine.io/entity lists both), to run a rollout with a slow policy.
  component('checkout-drill', 'slow', { 'coalmine.io/workload': 'checkout' }),
  component('ghost', 'mesh'),
];

/** What the cluster holds for checkout: every Deployment's spec and the routing objects' versions. */
async function checkoutState(sb: Sandbox) {
  const res = await fetch(
    `${sb.apiUrl}/apis/apps/v1/namespaces/demo/deployments`,
    { headers: { authorization: `Bearer ${sb.token}` } },
  );
  const list = (await res.json()) as { items: any[] };
  return {
    deployments: Object.fromEntries(
      list.items.map(d => [
        d.metadata.name,
        JSON.stringify({
          spec: d.spec,
          annotations: d.metadata.annotations ?? {},
        }),
      ]),
    ),
    virtualService: sb.writes({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'checkout',
    }).length,
    destinationRule: sb.writes({
      group: 'networking.istio.io',
      kind: 'DestinationRule',
      namespace: 'demo',
      name: 'checkout',
    }).length,
  };
}

describe('rollouts against the sandbox, through the API', () => {
  let sb: Sandbox;
  let server: any;
  let stopBackend: () => Promise<void>;
  const audit: Array<{
    eventId: string;
    actor?: unknown;
    control?: unknown;
    outcome?: string;
    error?: string;
  }> = [];

  beforeAll(async () => {
    sb = await startSandbox({
      prometheus: true,
      readinessDelayMs: 400,
      // An HPA acts before a scale's new pods are ready (see the HPA test).
      autoscalerSyncMs: 100,
    });
    await sb.applyDemoWorld();
    for (const service of ['checkout', 'payments', 'search']) {
      sb.traffic.start({ service, namespace: 'demo', rps: 100 });
    }
    // Everyone may do everything, except mallory, who may only read, and eve,
    // who may not see payments.
    const permissions = mockServices.permissions.mock({
      authorize: async (requests: any[], options: any) =>
        requests.map(r => {
          const user = options.credentials.principal.userEntityRef;
          const denied =
            (user === 'user:default/mallory' &&
              r.permission.name !== 'canary.rollout.read') ||
            (user === 'user:default/eve' &&
              r.resourceRef === 'component:default/payments');
          return {
            result: denied ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
          };
        }) as any,
    });
    const auditor = mockServices.auditor.mock({
      createEvent: async (options: any) => {
        const entry: (typeof audit)[number] = {
          eventId: options.eventId,
          actor: options.meta?.actor,
          control: options.meta?.control,
        };
        audit.push(entry);
        return {
          success: async () => {
            entry.outcome = 'success';
          },
          fail: async ({ error }: { error: Error }) => {
            entry.outcome = 'fail';
            entry.error = error.name;
          },
        };
      },
    });
    const backend = await startCanaryBackend(
      sandboxConfig(sb, policies),
      entities,
      {
        features: [permissions.factory, auditor.factory],
      },
    );
    server = backend.server;
    stopBackend = () => backend.stop();
  });

  afterAll(async () => {
    await stopBackend?.();
    await sb?.stop();
  });

  it('runs checkout v1 → v2 through 5, 25, 50, 75, 100 and ends with the route on v2 alone', async () => {
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v2',
      version: 'v2',
    });
    expect(res.status).toBe(201);
    expect(res.body.phase).toBe('Pending');
    const second = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/checkout' });
    expect(second.status).toBe(409);

    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Succeeded' });
    const writes = sb.writes({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'checkout',
    });
    expect(virtualServiceWeights(writes, 'v2').slice(1)).toEqual([
      5, 25, 50, 75, 100, 100,
    ]);
    const last = writes[writes.length - 1] as any;
    const destinations = last.spec.http.flatMap((h: any) =>
      h.route.map((d: any) => d.destination.subset),
    );
    expect(destinations).toEqual(['v2']);
    const deployments = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'checkout-v1',
    }) as any[];
    expect(deployments[deployments.length - 1].spec.replicas).toBe(0);
    expect(details.analysis.length).toBeGreaterThan(0);
    expect(
      details.analysis.some(
        (a: any) =>
          a.action === 'advance' &&
          a.checks.some((c: any) => c.metric === 'error-rate'),
      ),
    ).toBe(true);
    const series = await request(server).get(
      `/api/canary/rollouts/${res.body.id}/series`,
    );
    expect(series.status).toBe(200);
    expect(series.body.series.map((m: any) => m.metric)).toEqual([
      'error-rate',
    ]);
    // Points depend on whether any 5xx happened yet; the shape does not.
    expect(Array.isArray(series.body.series[0].canary)).toBe(true);
    expect(series.body.series[0].bound.text).toMatch(/sequential/);

    const list = await request(server).get(
      '/api/canary/rollouts?entityRef=component:default/checkout&phase=Succeeded',
    );
    expect(list.body.items.map((r: any) => r.id)).toEqual([res.body.id]);
    const pause = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/pause`)
      .send({});
    expect(pause.status).toBe(409);
    expect(pause.body.error.message).toMatch(/Succeeded/);
    const promoteAgain = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/promote`)
      .send({});
    expect(promoteAgain.status).toBe(200);
    const status = await request(server).get(
      '/api/canary/entities/component/default/checkout',
    );
    expect(status.body.active).toBeNull();
    expect(status.body.history[0].phase).toBe('Succeeded');
  });

  it('runs payments on fixed subsets with the header route, which is removed at the end', async () => {
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/payments',
      image: 'shop/payments:1.5.0',
    });
    expect(res.status).toBe(201);
    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Succeeded' });
    const writes = sb.writes({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'payments',
    }) as any[];
    expect(virtualServiceWeights(writes, 'canary').slice(1)).toEqual([
      10, 50, 100, 0,
    ]);
    const hasHeader = (vs: any) => vs.spec.http.some((h: any) => h.match);
    expect(writes.slice(1, -1).every(hasHeader)).toBe(true);
    expect(hasHeader(writes[writes.length - 1])).toBe(false);
    const stable = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'payments-stable',
    }) as any[];
    expect(
      stable[stable.length - 1].spec.template.spec.containers[0].image,
    ).toBe('shop/payments:1.5.0');
    const canary = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'payments-canary',
    }) as any[];
    expect(canary[canary.length - 1].spec.replicas).toBe(0);
  });

  it('re-reads on 409 and holds through 5xx from the cluster, then finishes', async () => {
    const vs = {
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'payments',
    };
    const before = sb.writes(vs).length;
    for (const verb of ['update', 'patch']) {
      sb.failNext({
        verb,
        resource: 'virtualservices',
        status: 409,
        namespace: 'demo',
        name: 'payments',
      });
    }
    sb.failNext({
      verb: 'get',
      resource: 'virtualservices',
      status: 503,
      count: 2,
      namespace: 'demo',
      name: 'payments',
    });
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/payments',
      image: 'shop/payments:1.6.0',
    });
    expect(res.status).toBe(201);
    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Succeeded' });
    expect(
      virtualServiceWeights(sb.writes(vs).slice(before), 'canary'),
    ).toEqual([10, 50, 100, 0]);
    expect(
      details.events.filter((e: any) => e.type === 'cluster-error').length,
    ).toBeGreaterThanOrEqual(1);
  });

  it('runs search as a replica ratio 9/1 and reports the actual weight', async () => {
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/search',
      image: 'shop/search:2.1.0',
    });
    expect(res.status).toBe(201);
    // 9 stable + 1 canary replica once the canary pod is ready.
    const atFirst = await waitForRollout(
      server,
      res.body.id,
      r => r.actualWeight === 10 || r.stepIndex > 0,
    );
    expect(atFirst.rollout.actualWeight).toBe(10);
    expect(atFirst.rollout.weight).toBe(10);
    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Succeeded' });
    const canary = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'search-canary',
    }) as any[];
    expect(canary.map(d => d.spec.replicas)).toContain(1);
    expect(canary[canary.length - 1].spec.replicas).toBe(0);
    const stable = sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'search-stable',
    }) as any[];
    expect(stable[stable.length - 1].spec.replicas).toBe(9);
    expect(
      stable[stable.length - 1].spec.template.spec.containers[0].image,
    ).toBe('shop/search:2.1.0');
  });

  it("refuses a component that names another component's Service: 403, audited, nothing written", async () => {
    const before = await checkoutState(sb);
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/storefront-tools',
      image: 'evil.example/x:1',
    });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(
      /Service demo\/checkout on cluster sandbox is not bound to component:default\/storefront-tools: add the annotation coalmine\.io\/entity/,
    );
    expect(audit).toContainEqual({
      eventId: 'rollout-start',
      actor: 'user:default/mock',
      control: undefined,
      outcome: 'fail',
      error: 'NotAllowedError',
    });
    // The tab shows the same problem, naming what to add.
    const status = await request(server).get(
      '/api/canary/entities/component/default/storefront-tools',
    );
    expect(status.body.problems).toEqual([
      {
        key: 'coalmine.io/entity',
        message: expect.stringMatching(
          /not bound to component:default\/storefront-tools/,
        ),
      },
    ]);
    // Two loop intervals later the cluster is exactly as it was.
    await new Promise(r => setTimeout(r, 700));
    expect(await checkoutState(sb)).toEqual(before);
    const list = await request(server).get(
      '/api/canary/rollouts?entityRef=component:default/storefront-tools',
    );
    expect(list.body.items).toEqual([]);
  });

  /** Starts a storefront rollout of `image` and waits until it ends; it must succeed. Its details. */
  async function rollOutStorefront(image: string) {
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/storefront',
      image,
    });
    expect(res.status).toBe(201);
    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Succeeded' });
    return details;
  }

  const scaleStorefrontCanary = (replicas: number) =>
    scaleDeployment(sb, 'demo', 'storefront-canary', replicas);

  const storefrontCanaryVersions = () =>
    sb.writes({
      group: 'apps',
      kind: 'Deployment',
      namespace: 'demo',
      name: 'storefront-canary',
    }) as any[];

  it('runs storefront on a Gateway API HTTPRoute', async () => {
    const rollOut = rollOutStorefront;
    await rollOut('shop/storefront:5.2.0');
    const routes = sb.writes({
      group: 'gateway.networking.k8s.io',
      kind: 'HTTPRoute',
      namespace: 'demo',
      name: 'storefront',
    }) as any[];
    const canaryWeight = (route: any) =>
      route.spec.rules
        .flatMap((rule: any) => rule.backendRefs ?? [])
        .filter((b: any) => b.name === 'storefront-canary')
        .reduce((sum: number, b: any) => sum + (b.weight ?? 1), 0);
    expect(routes.slice(1).map(canaryWeight)).toEqual([10, 50, 100, 0]);

    // Again with a one-pod canary beside 3 stable pods: before each weight
    // is written the canary has the weight's share of the stable's pods
    // (canaryScale: weight, the default) — 1 at 10 %, 2 at 50 %, 3 at 100 %.
    await scaleStorefrontCanary(1);
    await rollOut('shop/storefront:5.3.0');
    const version = (o: any) => Number(o.metadata.resourceVersion);
    const canary = storefrontCanaryVersions();
    const routesAgain = (
      sb.writes({
        group: 'gateway.networking.k8s.io',
        kind: 'HTTPRoute',
        namespace: 'demo',
        name: 'storefront',
      }) as any[]
    ).filter(route => version(route) > version(routes[routes.length - 1]));
    // Each weight, and the canary's replicas in the cluster when it was written.
    const writtenWith = routesAgain.map(route => [
      canaryWeight(route),
      canary.filter(d => version(d) < version(route)).pop()?.spec.replicas,
    ]);
    expect(writtenWith).toEqual([
      [10, 1],
      [50, 2],
      [100, 3],
      [0, 3],
    ]);
    expect(canary[canary.length - 1].spec.replicas).toBe(0);
  });

  it("goes on with the pods a HorizontalPodAutoscaler at its maxReplicas leaves the canary, writing each step's count once", async () => {
    // The sandbox's HPA holds storefront-canary within 1–2 pods; 100 % of
    // storefront's traffic wants 3 (as many as its stable pods).
    await sb.apply(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: storefront-canary, namespace: demo }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: storefront-canary }
  minReplicas: 1
  maxReplicas: 2
`);
    try {
      await scaleStorefrontCanary(1);
      const before = storefrontCanaryVersions().length;
      const details = await rollOutStorefront('shop/storefront:5.4.0');
      const replicas = storefrontCanaryVersions()
        .slice(before - 1)
        .map(d => d.spec.replicas);
      // 1 at 10 %, 2 for 50 %, 3 for 100 % which the HPA set back to 2, and 0
      // once promoted: the engine did not write 3 again.
      expect(changes(replicas)).toEqual([1, 2, 3, 2, 0]);
      const scaledTo3 = details.events.filter(
        (e: any) => e.message === 'Scaled storefront-canary to 3',
      );
      expect(scaledTo3).toHaveLength(1);
    } finally {
      await fetch(
        `${sb.apiUrl}/apis/autoscaling/v2/namespaces/demo/horizontalpodautoscalers/storefront-canary`,
        {
          method: 'DELETE',
          headers: { authorization: `Bearer ${sb.token}` },
        },
      );
    }
  });

  it('rolls a crash-looping canary back before the progress deadline', async () => {
    const started = Date.now();
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v3-crash',
      version: 'v3',
    });
    expect(res.status).toBe(201);
    const details = await waitForRollout(server, res.body.id, r =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'RolledBack' });
    expect(details.rollout.message).toMatch(/restarted/);
    expect(Date.now() - started).toBeLessThan(60_000);

    // Retry starts a new rollout of the same version; abort it at once.
    const retry = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/retry`)
      .send({ reason: 'one more time' });
    expect(retry.status).toBe(201);
    expect(retry.body.id).not.toBe(res.body.id);
    expect(retry.body.canary.image).toBe('shop/checkout:v3-crash');
    const abort = await request(server)
      .post(`/api/canary/rollouts/${retry.body.id}/abort`)
      .send({});
    expect(abort.status).toBe(200);
    const aborted = await waitForRollout(server, retry.body.id, r =>
      ['RolledBack', 'Aborted', 'Failed'].includes(r.phase),
    );
    expect(outcome(aborted)).toMatchObject({ phase: 'Aborted' });
  });

  it('aborts mid-rollout: all traffic back on stable within one loop interval', async () => {
    // The cluster's owner binds a second component to checkout's Service.
    const [svc] = sb
      .writes({ kind: 'Service', namespace: 'demo', name: 'checkout' })
      .slice(-1) as any[];
    const bound = JSON.parse(JSON.stringify(svc));
    bound.metadata.annotations['coalmine.io/entity'] =
      'component:default/checkout, component:default/checkout-drill';
    delete bound.metadata.resourceVersion;
    await sb.apply(bound);
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout-drill',
      image: 'shop/checkout:v4',
      version: 'v4',
    });
    expect(res.status).toBe(201);
    await waitForRollout(server, res.body.id, r => r.weight === 30);
    // The tab's status carries the pods behind both versions, as the
    // cluster reports them.
    const status = await request(server).get(
      '/api/canary/entities/component/default/checkout-drill',
    );
    const { stable, canary } = status.body.active;
    for (const side of [stable, canary]) {
      const [deployment] = sb
        .writes({
          group: 'apps',
          kind: 'Deployment',
          namespace: 'demo',
          name: side.name,
        })
        .slice(-1) as any[];
      expect(deployment.spec.replicas).toBeGreaterThan(0);
      expect(side.pods).toEqual({
        desired: deployment.spec.replicas,
        available: deployment.status.availableReplicas,
      });
    }
    const vs = {
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'checkout',
    };
    const canarySubset = 'v4';
    expect(virtualServiceWeights(sb.writes(vs), canarySubset).pop()).toBe(30);

    // Someone edits the weight by hand: noticed, recorded, restored (policy default).
    const current = JSON.parse(JSON.stringify(sb.writes(vs).pop()));
    const main = current.spec.http.find((h: any) => !h.match);
    for (const d of main.route)
      d.weight = d.destination.subset === canarySubset ? 70 : 30;
    delete current.metadata.resourceVersion;
    await sb.apply(current);
    const drifted = await waitForRollout(server, res.body.id, () => true);
    const restoredBy = Date.now() + 30_000;
    while (
      virtualServiceWeights(sb.writes(vs), canarySubset).pop() !== 30 &&
      Date.now() < restoredBy
    ) {
      await new Promise(r => setTimeout(r, 50));
    }
    expect(
      virtualServiceWeights(sb.writes(vs), canarySubset).slice(-2),
    ).toEqual([70, 30]);
    const afterDrift = await request(server).get(
      `/api/canary/rollouts/${res.body.id}`,
    );
    expect(
      afterDrift.body.events.find((e: any) => e.type === 'drift')?.message,
    ).toMatch(/expected 30 %, found 70 %/);
    expect(drifted.rollout.weight).toBe(30);
    const denied = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/abort`)
      .set('Authorization', mockCredentials.user.header('user:default/mallory'))
      .send({});
    expect(denied.status).toBe(403);
    expect(audit).toContainEqual({
      eventId: 'rollout-control',
      actor: 'user:default/mallory',
      control: 'abort',
      outcome: 'fail',
      error: 'NotAllowedError',
    });
    const pause = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/pause`)
      .send({ reason: 'look' });
    expect(pause.body.phase).toBe('Paused');
    const t0 = Date.now();
    const abort = await request(server)
      .post(`/api/canary/rollouts/${res.body.id}/abort`)
      .send({ reason: 'errors in the logs' });
    expect(abort.status).toBe(200);
    expect(abort.body.phase).toBe('RollingBack');
    const deadline = t0 + 10_000;
    while (
      virtualServiceWeights(sb.writes(vs), canarySubset).pop() !== 0 &&
      Date.now() < deadline
    ) {
      await new Promise(r => setTimeout(r, 20));
    }
    const elapsed = Date.now() - t0;
    expect(virtualServiceWeights(sb.writes(vs), canarySubset).pop()).toBe(0);
    // The abort advances the rollout at once instead of waiting for the
    // loop; allow for a loaded machine on top of one loop interval (300 ms).
    expect(elapsed).toBeLessThan(3000);
    const details = await waitForRollout(
      server,
      res.body.id,
      r => r.phase === 'Aborted',
    );
    const control = details.events.find(
      (e: any) => e.type === 'control' && e.data.control === 'abort',
    );
    expect(control.actor).toBe('user:default/mock');
    expect(control.message).toMatch(/errors in the logs/);
    expect(audit).toContainEqual({
      eventId: 'rollout-control',
      actor: 'user:default/mock',
      control: 'abort',
      outcome: 'success',
    });
    expect(
      audit.filter(a => a.eventId === 'rollout-start').every(a => a.outcome),
    ).toBe(true);
  });

  it('aborts to stable when the cluster removes the binding mid-rollout', async () => {
    const service = { kind: 'Service', namespace: 'demo', name: 'checkout' };
    const setBinding = async (value: string) => {
      const current = JSON.parse(
        JSON.stringify(sb.writes(service).slice(-1)[0]),
      );
      current.metadata.annotations['coalmine.io/entity'] = value;
      delete current.metadata.resourceVersion;
      await sb.apply(current);
    };
    await setBinding(
      'component:default/checkout, component:default/checkout-drill',
    );
    const res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout-drill',
      image: 'shop/checkout:v5',
      version: 'v5',
    });
    expect(res.status).toBe(201);
    await waitForRollout(server, res.body.id, r => r.weight === 10);
    await setBinding('component:default/checkout');
    const details = await waitForRollout(server, res.body.id, r =>
      ['Aborted', 'RolledBack', 'Failed', 'Succeeded'].includes(r.phase),
    );
    expect(outcome(details)).toMatchObject({ phase: 'Aborted' });
    expect(details.rollout.message).toMatch(
      /no longer bound to component:default\/checkout-drill/,
    );
    const vs = {
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name: 'checkout',
    };
    expect(virtualServiceWeights(sb.writes(vs), 'v5').pop()).toBe(0);
  });

  it('lists only rollouts of components the caller may read', async () => {
    const all = await request(server).get('/api/canary/rollouts?active=false');
    const asEve = await request(server)
      .get('/api/canary/rollouts?active=false')
      .set('Authorization', mockCredentials.user.header('user:default/eve'));
    const refs = (res: any) =>
      [...new Set(res.body.items.map((r: any) => r.entityRef))].sort();
    expect(refs(all)).toContain('component:default/payments');
    expect(refs(asEve)).toEqual(
      refs(all).filter(ref => ref !== 'component:default/payments'),
    );
    const phases = await request(server).get(
      '/api/canary/rollouts?phase=Succeeded,Aborted&limit=3',
    );
    expect(phases.body.items.length).toBeLessThanOrEqual(3);
    expect(
      phases.body.items.every((r: any) =>
        ['Succeeded', 'Aborted'].includes(r.phase),
      ),
    ).toBe(true);
    const payments = all.body.items.find(
      (r: any) => r.entityRef === 'component:default/payments',
    );
    const eveReads = await request(server)
      .get(`/api/canary/rollouts/${payments.id}`)
      .set('Authorization', mockCredentials.user.header('user:default/eve'));
    expect(eveReads.status).toBe(403);
  });

  it('reports annotations that point at nothing in the cluster', async () => {
    const res = await request(server).get(
      '/api/canary/entities/component/default/ghost',
    );
    expect(res.status).toBe(200);
    expect(res.body.target.workload).toBe('ghost');
    expect(res.body.problems).toEqual([
      {
        key: 'coalmine.io/workload',
        message: expect.stringMatching(/^sandbox: .*ghost/),
      },
    ]);
    const fine = await request(server).get(
      '/api/canary/entities/component/default/payments',
    );
    expect(fine.body.problems).toEqual([]);
  });
});
