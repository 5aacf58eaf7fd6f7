import { argoRolloutsDemo, startSandbox, Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  component,
  sandboxConfig,
  startCanaryBackend,
} from '../__testUtils__/sandboxBackend';
import { encodeExternalRolloutId } from './externalId';

jest.setTimeout(120_000);

const MALLORY = mockCredentials.user.header('user:default/mallory');

// The basic canary of the Argo Rollouts documentation.
const argoRollout = (image: string) =>
  argoRolloutsDemo(image, { service: true });

// Flagger's manual gating, as its docs show it, with the gates served by Coalmine.
const flaggerCanary = (gateBase: string, image: string) => `
apiVersion: v1
kind: Service
metadata:
  name: hello
  namespace: demo
  annotations: { coalmine.io/entity: component:default/hello }
spec:
  selector: { app: hello }
  ports: [{ port: 9898 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello, namespace: demo }
spec:
  replicas: 2
  selector: { matchLabels: { app: hello } }
  template:
    metadata: { labels: { app: hello } }
    spec:
      containers:
      - name: podinfod
        image: ${image}
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: hello
  namespace: demo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: hello
  service:
    port: 9898
  analysis:
    interval: 300ms
    threshold: 5
    maxWeight: 50
    stepWeight: 25
    webhooks:
      - name: "gate"
        type: confirm-promotion
        url: ${gateBase}/confirm-promotion
      - name: "rollback"
        type: rollback
        url: ${gateBase}/rollback
`;

const entities = [
  component('rollouts-demo', 'mesh'),
  component('hello', '', { 'coalmine.io/controller': 'flagger' }),
  component('other', 'mesh'),
  component('unbound', '', { 'coalmine.io/controller': 'argo-rollouts' }),
];

async function until<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  timeoutMs = 40_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let v: T | undefined | false;
    try {
      v = await f();
    } catch (e) {
      last = e;
    }
    if (v) return v;
    await new Promise(r => setTimeout(r, 150));
  }
  throw new Error(`${what} did not happen in time (${String(last ?? '')})`);
}

describe('Flagger and Argo Rollouts in the Canary tab, against the sandbox', () => {
  let sb: Sandbox;
  let server: any;
  let stop: () => Promise<void>;
  const audit: any[] = [];

  beforeAll(async () => {
    sb = await startSandbox({ readinessDelayMs: 100 });
    await sb.applyDemoWorld();
    const permissions = mockServices.permissions.mock({
      authorize: async (requests: any[], options: any) =>
        requests.map(r => ({
          result:
            options.credentials.principal.userEntityRef ===
              'user:default/mallory' &&
            r.permission.name !== 'canary.rollout.read'
              ? AuthorizeResult.DENY
              : AuthorizeResult.ALLOW,
        })) as any,
    });
    const auditor = mockServices.auditor.mock({
      createEvent: async (options: any) => {
        const entry: any = { ...options.meta, eventId: options.eventId };
        audit.push(entry);
        return {
          success: async (o: any) => {
            entry.outcome = 'success';
            Object.assign(entry, o?.meta);
          },
          fail: async ({ error }: { error: Error }) => {
            entry.outcome = 'fail';
            entry.error = error.name;
          },
        };
      },
    });
    const backend = await startCanaryBackend(
      sandboxConfig(sb, {
        mesh: { trafficProvider: 'istio', steps: [10, 100] },
      }),
      entities,
      { features: [permissions.factory, auditor.factory] },
    );
    server = backend.server;
    stop = () => backend.stop();
  });

  afterAll(async () => {
    await stop?.();
    await sb?.stop();
  });

  const status = async (name: string) =>
    (
      await request(server).get(
        `/api/canary/entities/component/default/${name}`,
      )
    ).body;

  it('finds the Argo Rollout, refuses the engine, and promotes, aborts, retries and fully promotes it the way the kubectl plugin does', async () => {
    await sb.apply(argoRollout('argoproj/rollouts-demo:blue'));
    const healthy = await until(
      'the Rollout to be found and healthy',
      async () => {
        const s = await status('rollouts-demo');
        return (
          s.controller?.kind === 'argo-rollouts' &&
          s.history[0]?.phase === 'Succeeded' &&
          s
        );
      },
    );
    expect(healthy.controller).toMatchObject({
      objectKind: 'Rollout',
      name: 'rollouts-demo',
      namespace: 'demo',
      cluster: 'sandbox',
    });
    expect(healthy.active).toBeNull();

    const start = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/rollouts-demo' });
    expect(start.status).toBe(409);
    expect(start.body.error.message).toMatch(
      /managed by Argo Rollouts \(Rollout rollouts-demo\)/,
    );

    await sb.apply(argoRollout('argoproj/rollouts-demo:yellow'));
    const paused = await until(
      'the Rollout to pause at its first pause step',
      async () => {
        const s = await status('rollouts-demo');
        return s.active?.phase === 'AwaitingApproval' && s.active;
      },
    );
    expect(paused.weight).toBe(20);
    expect(paused.steps).toEqual([
      { weight: 20, approval: true },
      { weight: 40, pauseSeconds: 10 },
    ]);
    expect(paused.stepIndex).toBe(0);
    expect(paused.canary.image).toBe('argoproj/rollouts-demo:yellow');
    const approve = paused.controls.find((c: any) => c.control === 'approve');
    expect(approve).toMatchObject({
      enabled: false,
      reason: expect.stringMatching(/no approval gates/),
    });
    expect(
      paused.controls.find((c: any) => c.control === 'promote').enabled,
    ).toBe(true);

    const denied = await request(server)
      .post(`/api/canary/rollouts/${paused.id}/promote`)
      .set('Authorization', MALLORY)
      .send({});
    expect(denied.status).toBe(403);

    const promoted = await request(server)
      .post(`/api/canary/rollouts/${paused.id}/promote`)
      .send({ reason: 'looks good' });
    expect(promoted.status).toBe(200);
    // The kubectl plugin's promote at a pause step: pauseConditions cleared, step index untouched.
    const writes = sb.writes({
      group: 'argoproj.io',
      kind: 'Rollout',
      namespace: 'demo',
      name: 'rollouts-demo',
    }) as any[];
    const pausedAt = writes.findIndex(r => r.status?.pauseConditions?.length);
    expect(
      writes
        .slice(pausedAt)
        .some(
          r =>
            r.status.pauseConditions === undefined &&
            r.status.currentStepIndex === 1,
        ),
    ).toBe(true);
    const at40 = await until('the Rollout to reach 40 %', async () => {
      const s = await status('rollouts-demo');
      return s.active?.weight === 40 && s.active;
    });
    expect(at40.stepIndex).toBe(1);

    const aborted = await request(server)
      .post(`/api/canary/rollouts/${paused.id}/abort`)
      .send({});
    expect(aborted.status).toBe(200);
    const abortedView = await until('the Rollout to be aborted', async () => {
      const s = await status('rollouts-demo');
      return (
        s.history[0]?.phase === 'Aborted' &&
        s.history[0].message?.startsWith('RolloutAborted') &&
        s.history[0]
      );
    });
    expect(abortedView.message).toMatch(/^RolloutAborted/);
    const again = await request(server)
      .post(`/api/canary/rollouts/${paused.id}/abort`)
      .send({});
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/already aborted/);

    expect(
      (
        await request(server)
          .post(`/api/canary/rollouts/${paused.id}/retry`)
          .send({})
      ).status,
    ).toBe(200);
    await until('the retried Rollout to pause again', async () => {
      const s = await status('rollouts-demo');
      return s.active?.phase === 'AwaitingApproval';
    });
    expect(
      (
        await request(server)
          .post(`/api/canary/rollouts/${paused.id}/promote-full`)
          .send({})
      ).status,
    ).toBe(200);
    await until('the Rollout to be fully promoted', async () => {
      const s = await status('rollouts-demo');
      return s.history[0]?.phase === 'Succeeded' && s.active === null;
    });

    const details = await request(server).get(
      `/api/canary/rollouts/${paused.id}`,
    );
    expect(details.status).toBe(200);
    const reasons = details.body.events.map((e: any) => e.data.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'RolloutPaused',
        'RolloutAborted',
        'RolloutCompleted',
      ]),
    );

    const controls = audit.filter(a => a.eventId === 'rollout-control');
    expect(controls.map(a => [a.control, a.outcome])).toEqual([
      ['promote', 'fail'],
      ['promote', 'success'],
      ['abort', 'success'],
      ['abort', 'fail'],
      ['retry', 'success'],
      ['promote-full', 'success'],
    ]);
    expect(controls[1]).toMatchObject({
      controller: 'argo-rollouts',
      reason: 'looks good',
    });
  });

  it('refuses controls on a Rollout whose Service is not bound to the component', async () => {
    await sb.apply(`
apiVersion: v1
kind: Service
metadata: { name: unbound, namespace: demo }
spec:
  selector: { app: unbound }
  ports: [{ port: 80 }]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: unbound, namespace: demo }
spec:
  replicas: 1
  paused: true
  selector: { matchLabels: { app: unbound } }
  template:
    metadata: { labels: { app: unbound } }
    spec: { containers: [{ name: app, image: shop/unbound:1 }] }
  strategy: { canary: { steps: [{ setWeight: 50 }, { pause: {} }] } }
`);
    const view = await until('the unbound Rollout to be found', async () => {
      const s = await status('unbound');
      return s.history[0]?.controls && s.history[0];
    });
    const res = await request(server)
      .post(`/api/canary/rollouts/${view.id}/resume`)
      .send({});
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(
      /Service demo\/unbound on cluster sandbox is not bound to component:default\/unbound/,
    );
    // Nothing was written: the Rollout is still paused by hand.
    const writes = sb.writes({
      group: 'argoproj.io',
      kind: 'Rollout',
      namespace: 'demo',
      name: 'unbound',
    }) as any[];
    expect(writes.every(w => w.spec.paused === true)).toBe(true);
  });

  it('refuses an id that names another entity’s object', async () => {
    const forged = encodeExternalRolloutId({
      kind: 'argo-rollouts',
      entityRef: 'component:default/other',
      cluster: 'sandbox',
      namespace: 'demo',
      name: 'rollouts-demo',
    });
    const res = await request(server)
      .post(`/api/canary/rollouts/${forged}/abort`)
      .send({});
    expect(res.status).toBe(404);
    const garbage = await request(server).get(
      '/api/canary/rollouts/ext.bm9wZQ',
    );
    expect(garbage.status).toBe(400);
  });

  it('runs Flagger’s manual gating through Coalmine: approve opens confirm-promotion, roll back opens the rollback gate', async () => {
    const port = server.address().port;
    const gateBase = `http://127.0.0.1:${port}/api/canary/flagger/gates/sandbox`;
    await sb.apply(
      flaggerCanary(gateBase, 'ghcr.io/stefanprodan/podinfo:6.0.0'),
    );
    await until('the Canary to initialize', async () => {
      const s = await status('hello');
      return (
        s.controller?.kind === 'flagger' &&
        s.history[0]?.message?.startsWith('Initialized')
      );
    });
    const noPolicy = await status('hello');
    expect(noPolicy.problems).toEqual([]);

    // Flagger's own call, without Backstage credentials: the gate is shut.
    const shut = await request(server)
      .post('/api/canary/flagger/gates/sandbox/confirm-promotion')
      .send({
        name: 'hello',
        namespace: 'demo',
        phase: 'Progressing',
        checksum: 'x',
      });
    expect(shut.status).toBe(403);

    await sb.apply(
      flaggerCanary(gateBase, 'ghcr.io/stefanprodan/podinfo:6.0.1'),
    );
    const waiting = await until(
      'the Canary to wait for promotion',
      async () => {
        const s = await status('hello');
        return s.active?.phase === 'AwaitingApproval' && s.active;
      },
    );
    expect(waiting.weight).toBe(50);
    expect(waiting.steps).toEqual([
      { weight: 25 },
      { weight: 50, approval: true },
    ]);
    expect(
      waiting.controls.find((c: any) => c.control === 'promote'),
    ).toMatchObject({
      enabled: false,
      reason: expect.stringMatching(/no manual promote/),
    });
    const mallory = await request(server)
      .post(`/api/canary/rollouts/${waiting.id}/approve`)
      .set('Authorization', MALLORY)
      .send({});
    expect(mallory.status).toBe(403);
    expect(
      (
        await request(server)
          .post(`/api/canary/rollouts/${waiting.id}/approve`)
          .send({})
      ).status,
    ).toBe(200);
    await until('the Canary to be promoted', async () => {
      const s = await status('hello');
      return (
        s.history[0]?.phase === 'Succeeded' &&
        s.history[0].message.startsWith('Succeeded')
      );
    });

    await sb.apply(
      flaggerCanary(gateBase, 'ghcr.io/stefanprodan/podinfo:6.0.2'),
    );
    const next = await until('the next revision to wait', async () => {
      const s = await status('hello');
      return s.active?.phase === 'AwaitingApproval' && s.active;
    });
    // The organisation-wide list shows it with Coalmine's own rollouts.
    const list = await request(server).get('/api/canary/rollouts?active=true');
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: any) => r.id)).toContain(next.id);
    const finished = await request(server).get(
      '/api/canary/rollouts?phase=Succeeded&entityRef=component:default/hello',
    );
    expect(finished.body.items.map((r: any) => r.id)).not.toContain(next.id);
    // The approval was for the previous revision only.
    expect(
      next.controls.find((c: any) => c.control === 'approve').enabled,
    ).toBe(true);
    expect(
      (
        await request(server)
          .post(`/api/canary/rollouts/${next.id}/abort`)
          .send({})
      ).status,
    ).toBe(200);
    const rolledBack = await until('the Canary to roll back', async () => {
      const s = await status('hello');
      return s.history[0]?.phase === 'RolledBack' && s.history[0];
    });
    expect(rolledBack.weight).toBe(0);
    const details = await request(server).get(
      `/api/canary/rollouts/${next.id}`,
    );
    expect(details.body.events.map((e: any) => e.message)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Rolling back hello.demo manual webhook invoked/),
      ]),
    );
  });
});
