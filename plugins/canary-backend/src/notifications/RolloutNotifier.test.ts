import {
  TestDatabaseId,
  TestDatabases,
  mockServices,
} from '@backstage/backend-test-utils';
import type {
  NotificationSendOptions,
  NotificationService,
} from '@backstage/plugin-notifications-node';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import { RolloutStore } from '../store/RolloutStore';
import type { RolloutRecord } from '../domain/types';
import { RolloutNotifier } from './RolloutNotifier';
import { storedRollout } from '../store/__testUtils__/storedRollout';
import { migrationsDir } from '../engine/__testUtils__/harness';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

/** Records what was sent; fails the next `failures` sends like an unreachable notifications backend. */
class RecordingNotifications implements NotificationService {
  sent: NotificationSendOptions[] = [];
  failures = 0;
  async send(options: NotificationSendOptions) {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('connect ECONNREFUSED notifications');
    }
    this.sent.push(options);
  }
}

/** A Pending rollout of `entityRef` on prod-eu with an approval at 50 %. */
function record(id: string, entityRef: string): RolloutRecord {
  return storedRollout(id, 'checkout', {
    entityRef,
    cluster: 'prod-eu',
    namespace: 'shop',
    steps: [{ weight: 10 }, { weight: 50, approval: true }, { weight: 100 }],
    stable: { name: 'checkout-v1', version: 'v1' },
    canary: { name: 'checkout-v2', image: 'shop/checkout:v2', version: 'v2' },
  });
}

async function setUp(databaseId: TestDatabaseId) {
  const db = await databases.init(databaseId);
  const store = await RolloutStore.create(db, migrationsDir);
  const notifications = new RecordingNotifications();
  const newNotifier = () =>
    new RolloutNotifier({
      db,
      notifications,
      logger: mockServices.logger.mock(),
      settleMs: 0,
    });
  return { db, store, notifications, newNotifier };
}

/** Moves a rollout to a phase the way the engine records it: a commit with a phase event. */
async function moveTo(
  store: RolloutStore,
  id: string,
  to: RolloutPhase,
  message: string,
  extra: Parameters<RolloutStore['commit']>[3] = {},
) {
  const current = (await store.get(id))!;
  const weights: Partial<Record<RolloutPhase, number>> = {
    AwaitingApproval: 10,
    Succeeded: 100,
  };
  const weight = weights[to] ?? current.weight;
  const updated = await store.commit(
    id,
    current.version,
    { phase: to, weight },
    {
      ...extra,
      events: [
        ...(extra.events ?? []),
        {
          type: 'phase',
          message,
          actor: 'canary-engine',
          data: { from: current.phase, to },
        },
      ],
    },
  );
  expect(updated).toBeDefined();
}

describe.each(databases.eachSupportedId())(
  'RolloutNotifier on %s',
  databaseId => {
    it('tells the owners when a rollout waits for approval, rolled back, failed or succeeded', async () => {
      const { store, notifications, newNotifier } = await setUp(databaseId);
      const notifier = newNotifier();
      // The first pass only takes its position: earlier history is not news.
      await store.insert(record('old', 'component:default/legacy'), []);
      await moveTo(store, 'old', 'Succeeded', 'done long ago');
      expect(await notifier.run()).toBe(0);

      await store.insert(record('r1', 'component:default/checkout'), [
        { type: 'phase', message: 'Started', actor: 'user:default/jane' },
      ]);
      await moveTo(store, 'r1', 'Progressing', 'Progressing');
      await moveTo(store, 'r1', 'AwaitingApproval', 'Step 2 needs an approval');
      await moveTo(
        store,
        'r1',
        'RollingBack',
        'Rolling back: analysis failed',
        {
          analysis: {
            stepIndex: 1,
            weight: 10,
            action: 'rollback',
            reason: 'error-rate failed',
            failedChecks: 1,
            checks: [
              {
                metric: 'request-success-rate',
                judge: 'threshold',
                canaryValue: 99.5,
                stableValue: 99.9,
                verdict: 'pass',
                evidence: 'success rate 99.5 % ≥ 99 %',
              },
              {
                metric: 'error-rate',
                judge: 'sequential',
                canaryValue: 0.227,
                stableValue: 0.0024,
                verdict: 'fail',
                evidence:
                  'canary error rate 22.7 % (27 of 119) vs stable 0.24 % (2 of 822): the canary is worse than stable',
              },
            ],
          },
        },
      );
      await moveTo(store, 'r1', 'RolledBack', 'Rolled back');
      await store.insert(record('r2', 'component:team-a/search'), []);
      await moveTo(
        store,
        'r2',
        'Failed',
        'Failed: the canary Deployment vanished',
      );
      await store.insert(record('r3', 'component:default/payments'), []);
      await moveTo(store, 'r3', 'Succeeded', 'Promoted v2 to stable');

      expect(await notifier.run()).toBe(4);
      expect(notifications.sent).toEqual([
        {
          recipients: {
            type: 'entity',
            entityRef: 'component:default/checkout',
          },
          payload: expect.objectContaining({
            title:
              'Canary of component:default/checkout v2 on prod-eu waits for your approval',
            link: '/catalog/default/component/checkout/canary?approve=r1',
            severity: 'high',
            topic: 'Canary rollouts of component:default/checkout',
            scope: 'canary:r1:AwaitingApproval',
          }),
        },
        {
          recipients: {
            type: 'entity',
            entityRef: 'component:default/checkout',
          },
          payload: expect.objectContaining({
            title:
              'Canary of component:default/checkout v2 on prod-eu was rolled back',
            description:
              'error-rate: canary error rate 22.7 % (27 of 119) vs stable 0.24 % (2 of 822): the canary is worse than stable',
            link: '/catalog/default/component/checkout/canary',
            topic: 'Canary rollouts of component:default/checkout',
          }),
        },
        {
          recipients: { type: 'entity', entityRef: 'component:team-a/search' },
          payload: expect.objectContaining({
            title: 'Canary of component:team-a/search v2 on prod-eu failed',
            description: 'Failed: the canary Deployment vanished',
            link: '/catalog/team-a/component/search/canary',
            severity: 'critical',
            topic: 'Canary rollouts of component:team-a/search',
          }),
        },
        {
          recipients: {
            type: 'entity',
            entityRef: 'component:default/payments',
          },
          payload: expect.objectContaining({
            title:
              'Canary of component:default/payments v2 on prod-eu succeeded',
            severity: 'normal',
          }),
        },
      ]);
      // Nothing new: nothing sent again.
      expect(await notifier.run()).toBe(0);
      expect(notifications.sent).toHaveLength(4);
    });

    it('keeps its position across restarts and retries what the notifications backend refused', async () => {
      const { store, notifications, newNotifier } = await setUp(databaseId);
      await newNotifier().run(); // takes its position
      await store.insert(record('r1', 'component:default/checkout'), []);
      await moveTo(store, 'r1', 'Progressing', 'Progressing');
      await moveTo(store, 'r1', 'AwaitingApproval', 'needs approval');
      await moveTo(store, 'r1', 'Progressing', 'approved by jane');
      await moveTo(store, 'r1', 'Succeeded', 'Promoted');

      // The notifications backend is down: nothing is lost, nothing skipped.
      notifications.failures = 1;
      expect(await newNotifier().run()).toBe(0);
      expect(notifications.sent).toHaveLength(0);

      // A new replica (or the same after a restart) picks up from the database.
      expect(await newNotifier().run()).toBe(2);
      expect(notifications.sent.map(s => s.payload.scope)).toEqual([
        'canary:r1:AwaitingApproval',
        'canary:r1:Succeeded',
      ]);

      // Down again after the first of two new notifications: only the second is repeated.
      await store.insert(record('r2', 'component:default/search'), []);
      await moveTo(store, 'r2', 'Failed', 'Failed');
      await store.insert(record('r3', 'component:default/payments'), []);
      await moveTo(store, 'r3', 'RolledBack', 'Rolled back: aborted by jane');
      const flaky = newNotifier();
      const original = notifications.send.bind(notifications);
      let calls = 0;
      notifications.send = async options => {
        calls++;
        if (calls === 2) throw new Error('502 Bad Gateway');
        return original(options);
      };
      expect(await flaky.run()).toBe(1);
      notifications.send = original;
      expect(await newNotifier().run()).toBe(1);
      expect(notifications.sent.map(s => s.payload.scope)).toEqual([
        'canary:r1:AwaitingApproval',
        'canary:r1:Succeeded',
        'canary:r2:Failed',
        'canary:r3:RolledBack',
      ]);
      // Without an analysis, the rollback's recorded cause explains it.
      expect(notifications.sent[3].payload.description).toBe(
        'Rolled back: aborted by jane',
      );
    });

    it('leaves events younger than the settle time for the next pass', async () => {
      const { db, store, notifications } = await setUp(databaseId);
      const notifier = new RolloutNotifier({
        db,
        notifications,
        logger: mockServices.logger.mock(),
        settleMs: 60_000,
      });
      await notifier.run();
      await store.insert(record('r1', 'component:default/checkout'), []);
      await moveTo(store, 'r1', 'Succeeded', 'Promoted');
      expect(await notifier.run()).toBe(0);
      expect(await notifier.run(Date.now() + 61_000)).toBe(1);
    });
  },
);
