import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from '../engine/__testUtils__/FakeCluster';
import {
  TestClock,
  createEngine,
  migrationsDir,
  resolved,
} from '../engine/__testUtils__/harness';
import {
  WebhookDispatcher,
  chatMessage,
  escapeMrkdwn,
} from './WebhookDispatcher';
import { WebhookOutbox } from './outbox';
import { startHookReceiver as receiver } from './__testUtils__/hookReceiver';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

describe.each(databases.eachSupportedId())(
  'webhook outbox on %s',
  databaseId => {
    it('keeps no webhook URL, header or secret in any row, and delivers post-rollout and event hooks at least once across a restart, with an idempotency key', async () => {
      let down = true;
      const hooks = await receiver(() => (down ? 503 : 200));
      try {
        const db = await databases.init(databaseId);
        const cluster = new FakeCluster('versioned-subsets');
        const clock = new TestClock();
        const { engine, service, store, outbox, logger } = await createEngine(
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
              name: 'cleanup',
              type: 'post-rollout',
              url: `${hooks.base}/post?key=url-s3cret`,
              secret: 'bearer-s3cret',
              headers: { 'x-api-key': 'header-s3cret' },
            },
            { name: 'chat', type: 'event', url: `${hooks.base}/chat` },
          ],
        });
        const { id } = await service.start({
          resolved: target,
          cluster: 'c',
          startedBy: 'user:default/jane',
        });
        for (let i = 0; i < 8; i++) {
          await engine.idle();
          clock.advance(10_000);
          await engine.tick();
        }
        await engine.idle();
        expect((await store.get(id))!.phase).toBe('Succeeded');

        // The database row check: nothing of the hooks' addresses or credentials.
        const rows = JSON.stringify([
          await db('canary_rollouts').select('*'),
          await db('canary_rollout_events').select('*'),
          await db('canary_webhook_outbox').select('*'),
        ]);
        for (const secret of [
          'url-s3cret',
          'bearer-s3cret',
          'header-s3cret',
          hooks.base,
        ]) {
          expect(rows).not.toContain(secret);
        }

        // The receiver is down: one round fails every message and keeps them.
        const queued = await outbox.pending();
        expect(queued).toBeGreaterThan(3);
        expect(await outbox.deliverDue()).toBe(0);
        expect(await outbox.pending()).toBe(queued);

        // "Restart": a new replica with its own outbox on the same database,
        // after the back-off; the receiver is back.
        down = false;
        const restarted = new WebhookOutbox({
          db,
          dispatcher: new WebhookDispatcher(
            mockServices.logger.mock(),
            (_policy, name) =>
              name === 'cleanup'
                ? {
                    name,
                    type: 'post-rollout',
                    url: `${hooks.base}/post?key=url-s3cret`,
                    secret: 'bearer-s3cret',
                    headers: { 'x-api-key': 'header-s3cret' },
                    timeoutMs: 2000,
                    retries: 0,
                  }
                : {
                    name,
                    type: 'event',
                    url: `${hooks.base}/chat`,
                    timeoutMs: 2000,
                    retries: 0,
                  },
            10,
          ),
          logger,
          recordEvents: (rid, events) => store.addEvents(rid, events),
          now: () => Date.now() + 5_000,
        });
        expect(await restarted.deliverDue()).toBe(queued);
        expect(await restarted.pending()).toBe(0);
        const post = hooks.calls.filter(c => c.path.startsWith('/post'));
        expect(post.length).toBe(2); // one failed attempt, one delivery
        expect(post[0].headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
        expect(post[1].headers['idempotency-key']).toBe(
          post[0].headers['idempotency-key'],
        );
        expect(post[1].headers.authorization).toBe('Bearer bearer-s3cret');
        expect(post[1].headers['x-api-key']).toBe('header-s3cret');
        expect(post[1].body).toMatchObject({
          rolloutId: id,
          phase: 'Succeeded',
          type: 'post-rollout',
        });
        const events = await store.events(id);
        expect(events.map(e => e.message)).toContainEqual(
          'Webhook cleanup (post-rollout) delivered: answered 200',
        );
        // Delivered messages are not sent again.
        expect(await restarted.deliverDue()).toBe(0);
      } finally {
        await hooks.close();
      }
    });
  },
);

describe.each(databases.eachSupportedId())(
  'webhook migration on %s',
  databaseId => {
    it('removes the copies of webhook URLs, headers and secrets from rollouts stored before', async () => {
      const db = await databases.init(databaseId);
      const migrations = {
        directory: migrationsDir,
        tableName: 'canary_knex_migrations',
      };
      await db.migrate.up({ ...migrations, name: '20261122_init.js' });
      const spec = {
        policy: {
          name: 'p',
          webhooks: [
            {
              name: 'chat',
              type: 'event',
              url: 'https://hooks.slack.example/T000/B000/s3cret-path',
              secret: 's3cret',
              headers: { 'x-api-key': 'k3y' },
              metadata: { team: 'shop' },
            },
          ],
        },
        request: {},
      };
      await db('canary_rollouts').insert({
        id: 'old',
        entity_ref: 'component:default/app',
        cluster: 'c',
        namespace: 'default',
        workload: 'app',
        policy: 'p',
        traffic_provider: 'istio',
        phase: 'Succeeded',
        step_index: 0,
        weight: 100,
        steps: '[]',
        stable: '{}',
        canary: '{}',
        spec: JSON.stringify(spec),
        state: '{}',
        started_by: 'u',
        created_at: 1,
        updated_at: 1,
      });
      await db.migrate.latest(migrations);
      const row = await db('canary_rollouts').where({ id: 'old' }).first();
      expect(JSON.parse(row.spec).policy.webhooks).toEqual([
        { name: 'chat', type: 'event', metadata: { team: 'shop' } },
      ]);
      expect(row.spec).not.toMatch(/s3cret|k3y|slack/);
      // Later migrations may exist: undo this one by name.
      await db.migrate.down({
        ...migrations,
        name: '20261202b_trust_webhook_outbox.js',
      });
      expect(await db.schema.hasTable('canary_webhook_outbox')).toBe(false);
    });
  },
);

describe('webhook dispatcher', () => {
  it('follows no redirect, shows no response body and gives up on a refusal', async () => {
    const hooks = await receiver((_n, path) => (path === '/moved' ? 302 : 400));
    try {
      const logger = mockServices.logger.mock();
      const spec = (name: string, path: string) => ({
        name,
        type: 'event' as const,
        url: `${hooks.base}${path}`,
        timeoutMs: 2000,
        retries: 3,
        headers: { 'x-api-key': 'header-s3cret' },
      });
      const dispatcher = new WebhookDispatcher(
        logger,
        (policy, name) => {
          if (policy !== 'p') return undefined;
          return name === 'moved'
            ? spec('moved', '/moved')
            : spec('bad', '/bad');
        },
        10,
      );
      const moved = await dispatcher.call(
        'p',
        { name: 'moved', type: 'event' },
        {},
      );
      expect(moved).toMatchObject({
        ok: false,
        status: 302,
        attempts: 1,
        permanent: true,
      });
      expect(moved.message).toMatch(/redirects are not followed/);
      expect(hooks.calls.map(c => c.path)).toEqual(['/moved']);
      const bad = await dispatcher.call(
        'p',
        { name: 'bad', type: 'event' },
        {},
      );
      expect(bad).toMatchObject({ ok: false, status: 400, attempts: 1 });
      expect(bad.message).toBe('answered 400');
      // The body went to the backend log only.
      expect(JSON.stringify(logger.info.mock.calls)).toContain('10.1.2.3');
      const gone = await dispatcher.call(
        'removed-policy',
        { name: 'x', type: 'event' },
        {},
      );
      expect(gone).toMatchObject({ ok: true, unconfigured: true, attempts: 0 });
    } finally {
      await hooks.close();
    }
  });

  it('escapes user text for Slack mrkdwn', () => {
    expect(escapeMrkdwn('<!channel> & <https://evil.example|docs>')).toBe(
      '&lt;!channel&gt; &amp; &lt;https://evil.example|docs&gt;',
    );
    const message = chatMessage(
      {
        entityRef: 'component:default/app',
        cluster: 'c',
        namespace: 'ns',
        phase: 'Aborted',
        weight: 0,
      },
      {
        type: 'control',
        message: 'Aborted: <!here> see <http://x|this>',
        actor: 'user:default/<b>',
      },
    );
    expect(JSON.stringify(message)).not.toMatch(/<!here>|<http|<b>/);
    expect(message.text).toContain('&lt;!here&gt;');
  });
});
