import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from '../engine/__testUtils__/FakeCluster';
import {
  TestClock,
  createEngine,
  resolved,
} from '../engine/__testUtils__/harness';
import { startHookReceiver } from './__testUtils__/hookReceiver';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

/** A webhook receiver answering by path: /ok → 200, /veto → 403, /flaky → 503 first, /slow → never in time. */
function receiver() {
  let flaky = 0;
  return startHookReceiver((_n, path) => {
    if (path === '/veto') return 403;
    if (path === '/flaky' && flaky++ === 0) return 503;
    if (path === '/slow') return { status: 200, afterMs: 1000 };
    return 200;
  });
}

describe('webhooks', () => {
  it('calls pre-rollout, per-step, confirm-promotion, post-rollout and event hooks; retries 5xx; never logs secrets', async () => {
    const hooks = await receiver();
    try {
      const db = await databases.init('SQLITE_3');
      const cluster = new FakeCluster('versioned-subsets');
      const clock = new TestClock();
      const { engine, service, store, logger, outbox } = await createEngine(
        db,
        cluster,
        { clock },
      );
      const target = resolved('component:default/app', {
        trafficProvider: 'istio',
        steps: [50, 100],
        analysis: { interval: '10s' },
        webhooks: [
          {
            name: 'smoke',
            type: 'pre-rollout',
            url: `${hooks.base}/ok`,
            secret: 's3cret',
          },
          {
            name: 'load-test',
            type: 'rollout',
            url: `${hooks.base}/flaky`,
            retries: 1,
          },
          {
            name: 'release-manager',
            type: 'confirm-promotion',
            url: `${hooks.base}/ok`,
          },
          { name: 'cleanup', type: 'post-rollout', url: `${hooks.base}/ok` },
          { name: 'chat', type: 'event', url: `${hooks.base}/chat` },
        ],
      });
      const { id } = await service.start({
        resolved: target,
        cluster: 'c',
        startedBy: 'user:default/jane',
      });
      for (let i = 0; i < 10; i++) {
        await engine.idle();
        clock.advance(10_000);
        await engine.tick();
        await outbox.deliverDue();
      }
      await engine.idle();
      await outbox.deliverDue();
      expect((await store.get(id))!.phase).toBe('Succeeded');
      expect(await outbox.pending()).toBe(0);
      const paths = hooks.calls
        .filter(c => c.path !== '/chat')
        .map(c => c.path);
      expect(paths).toEqual([
        '/ok',
        '/flaky',
        '/flaky',
        '/flaky',
        '/ok',
        '/ok',
      ]);
      const pre = hooks.calls.find(c => c.body.type === 'pre-rollout')!;
      expect(pre.headers.authorization).toBe('Bearer s3cret');
      expect(pre.body).toMatchObject({
        name: 'app',
        namespace: 'default',
        rolloutId: id,
        type: 'pre-rollout',
      });
      const chat = hooks.calls.filter(c => c.path === '/chat').map(c => c.body);
      expect(chat.length).toBeGreaterThan(3);
      expect(chat[0].text).toMatch(/component:default\/app/);
      expect(Array.isArray(chat[0].blocks)).toBe(true);
      const events = await store.events(id);
      expect(
        events.filter(e => e.type === 'webhook').map(e => e.message),
      ).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/smoke \(pre-rollout\) passed/),
          expect.stringMatching(/release-manager/),
        ]),
      );
      const logged = JSON.stringify([
        ...logger.warn.mock.calls,
        ...logger.info.mock.calls,
        ...logger.error.mock.calls,
      ]);
      const recorded = JSON.stringify(events);
      for (const secret of ['s3cret', hooks.base]) {
        expect(logged).not.toContain(secret);
        expect(recorded).not.toContain(secret);
      }
    } finally {
      await hooks.close();
    }
  });

  it('holds a step while a rollout hook vetoes and rolls back after the limit; a refused pre-rollout hook stops the start', async () => {
    const hooks = await receiver();
    try {
      const db = await databases.init('SQLITE_3');
      const cluster = new FakeCluster('versioned-subsets');
      const clock = new TestClock();
      const { engine, service, store } = await createEngine(db, cluster, {
        clock,
      });
      const veto = resolved('component:default/app', {
        trafficProvider: 'istio',
        steps: [20, 100],
        analysis: { interval: '10s' },
        clusterErrorLimit: 3,
        webhooks: [
          {
            name: 'gate',
            type: 'rollout',
            url: `${hooks.base}/veto`,
            timeout: '500ms',
          },
        ],
      });
      const { id } = await service.start({
        resolved: veto,
        cluster: 'c',
        startedBy: 'u',
      });
      for (let i = 0; i < 8; i++) {
        await engine.idle();
        clock.advance(10_000);
        await engine.tick();
      }
      const r = await store.get(id);
      expect(r!.phase).toBe('RolledBack');
      expect(r!.message).toMatch(/gate \(rollout\) refused/);
      expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([20, 0]);

      const refused = resolved('component:default/other', {
        trafficProvider: 'istio',
        webhooks: [
          {
            name: 'smoke',
            type: 'pre-rollout',
            url: `${hooks.base}/slow`,
            timeout: '200ms',
            retries: 0,
          },
        ],
      });
      const second = await service.start({
        resolved: refused,
        cluster: 'c2',
        startedBy: 'u',
      });
      await engine.idle();
      const s = await store.get(second.id);
      expect(s!.phase).toBe('RolledBack');
      expect(s!.message).toMatch(/no answer within 200 ms/);
    } finally {
      await hooks.close();
    }
  });

  it('runs confirm-promotion hooks when someone promotes by hand; a refusal keeps the rollout where it is', async () => {
    const hooks = await receiver();
    try {
      const db = await databases.init('SQLITE_3');
      const cluster = new FakeCluster('versioned-subsets');
      const clock = new TestClock();
      const { engine, service, store } = await createEngine(db, cluster, {
        clock,
      });
      const gated = (path: string, entity: string) =>
        resolved(`component:default/${entity}`, {
          trafficProvider: 'istio',
          steps: [20, 50, 100],
          analysis: { interval: '10s' },
          webhooks: [
            {
              name: 'release-manager',
              type: 'confirm-promotion',
              url: `${hooks.base}${path}`,
              retries: 0,
            },
          ],
        });
      const vetoed = await service.start({
        resolved: gated('/veto', 'app'),
        cluster: 'c',
        startedBy: 'u',
      });
      await engine.idle();
      expect((await store.get(vetoed.id))!.phase).toBe('Progressing');
      await expect(
        service.control(vetoed.id, 'promote', 'user:default/jane'),
      ).rejects.toThrow(
        /release-manager \(confirm-promotion\) refused: answered 403/,
      );
      expect((await store.get(vetoed.id))!.phase).toBe('Progressing');
      expect(
        (await store.events(vetoed.id)).map(e => e.message),
      ).toContainEqual(
        'Webhook release-manager (confirm-promotion) refused: answered 403',
      );

      const confirmed = await service.start({
        resolved: gated('/ok', 'other'),
        cluster: 'c2',
        startedBy: 'u',
      });
      await engine.idle();
      const promoted = await service.control(
        confirmed.id,
        'promote',
        'user:default/jane',
      );
      expect(promoted.phase).toBe('Promoting');
      expect(promoted.state.webhooksPassed).toContain(
        'release-manager@promote',
      );
      expect(
        hooks.calls
          .filter(c => c.body.type === 'confirm-promotion')
          .map(c => c.path),
      ).toEqual(['/veto', '/ok']);
    } finally {
      await hooks.close();
    }
  });
});
