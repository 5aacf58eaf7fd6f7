import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import { RolloutStore } from '../store/RolloutStore';
import { migrationsDir } from '../engine/__testUtils__/harness';
import type { RolloutRecord } from '../domain/types';
import { ROLLOUT_CHILD_TABLES, RolloutRetention } from './RolloutRetention';
import { storedRollout } from '../store/__testUtils__/storedRollout';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

const DAY = 24 * 3600_000;
const NOW = Date.UTC(2026, 11, 2);
const MAX_AGE = 90 * DAY;

function record(
  id: string,
  workload: string,
  createdAt: number,
): RolloutRecord {
  return storedRollout(id, workload, {
    canary: { name: `${workload}-v2` },
    createdAt,
    updatedAt: createdAt,
  });
}

/** A rollout with two events, an analysis row and an outbox row; finished `finishedDaysAgo` ago unless `phase` is live. */
async function seed(
  store: RolloutStore,
  db: Knex,
  id: string,
  phase: RolloutPhase,
  finishedDaysAgo: number | null,
) {
  await store.insert(record(id, id, NOW - 200 * DAY), [
    { type: 'phase', message: 'started', actor: 'u' },
  ]);
  await store.commit(
    id,
    0,
    {
      phase,
      finishedAt: finishedDaysAgo === null ? null : NOW - finishedDaysAgo * DAY,
    },
    {
      events: [{ type: 'phase', message: phase, actor: 'u' }],
      analysis: {
        stepIndex: 0,
        weight: 5,
        action: 'advance',
        reason: 'ok',
        failedChecks: 0,
        checks: [],
      },
    },
  );
  await db('canary_webhook_outbox').insert({
    id: `hook-${id}`,
    rollout_id: id,
    policy: 'p',
    hook: 'chat',
    hook_type: 'event',
    payload: '{}',
    created_at: NOW - 200 * DAY,
    next_attempt_at: NOW - 200 * DAY,
    delivered_at: NOW - 200 * DAY,
  });
}

async function rowsOf(db: Knex, id: string) {
  const counts: Record<string, number> = {};
  for (const table of ROLLOUT_CHILD_TABLES) {
    const [{ n }] = await db(table).where({ rollout_id: id }).count({ n: '*' });
    counts[table] = Number(n);
  }
  return counts;
}

describe.each(databases.eachSupportedId())(
  'RolloutRetention on %s',
  databaseId => {
    it('deletes finished rollouts older than maxAge with their rows, and nothing else', async () => {
      const db = await databases.init(databaseId);
      const store = await RolloutStore.create(db, migrationsDir);
      await seed(store, db, 'old-succeeded', 'Succeeded', 120);
      await seed(store, db, 'old-rolled-back', 'RolledBack', 91);
      await seed(store, db, 'old-aborted', 'Aborted', 365);
      await seed(store, db, 'old-failed', 'Failed', 100);
      await seed(store, db, 'young-succeeded', 'Succeeded', 89);
      // Started 200 days ago and still running: never deleted.
      await seed(store, db, 'old-progressing', 'Progressing', null);
      await seed(store, db, 'old-paused', 'Paused', null);
      // Not finished, whatever finished_at says (a record bent by hand).
      await seed(store, db, 'odd-rolling-back', 'RollingBack', 300);

      const retention = new RolloutRetention({
        db,
        maxAgeMs: MAX_AGE,
        now: () => NOW,
      });
      const run = await retention.run();
      expect(run.rollouts).toBe(4);
      expect(run.more).toBe(false);
      expect(run.rows).toEqual({
        canary_rollout_events: 8,
        canary_analysis_results: 4,
        canary_webhook_outbox: 4,
      });

      const left = (await db('canary_rollouts').select('id'))
        .map(r => r.id)
        .sort();
      expect(left).toEqual([
        'odd-rolling-back',
        'old-paused',
        'old-progressing',
        'young-succeeded',
      ]);
      for (const gone of [
        'old-succeeded',
        'old-rolled-back',
        'old-aborted',
        'old-failed',
      ]) {
        expect(await rowsOf(db, gone)).toEqual({
          canary_rollout_events: 0,
          canary_analysis_results: 0,
          canary_webhook_outbox: 0,
        });
      }
      for (const kept of left) {
        expect(await rowsOf(db, kept)).toEqual({
          canary_rollout_events: 2,
          canary_analysis_results: 1,
          canary_webhook_outbox: 1,
        });
      }
      // The active rollouts still work as before.
      expect(
        (await store.activeFor('component:default/old-paused', 'c'))?.id,
      ).toBe('old-paused');
      // A second run finds nothing more.
      expect((await retention.run()).rollouts).toBe(0);
    });

    it('knows every table whose rows belong to a rollout', async () => {
      const db = await databases.init(databaseId);
      await RolloutStore.create(db, migrationsDir);
      const tables: string[] = databaseId.startsWith('SQLITE')
        ? (
            await db('sqlite_master')
              .where({ type: 'table' })
              .andWhere('name', 'like', 'canary_%')
              .select('name')
          ).map((r: { name: string }) => r.name)
        : (
            await db('information_schema.tables')
              .where({ table_schema: 'public' })
              .andWhere('table_name', 'like', 'canary_%')
              .select('table_name')
          ).map((r: { table_name: string }) => r.table_name);
      const withRolloutId: string[] = [];
      for (const table of tables) {
        if ('rollout_id' in (await db(table).columnInfo())) {
          withRolloutId.push(table);
        }
      }
      // A new table with rollout_id must be added to ROLLOUT_CHILD_TABLES,
      // or retention would leave its rows behind (or fail on a foreign key).
      expect(withRolloutId.sort()).toEqual([...ROLLOUT_CHILD_TABLES].sort());
    });

    it('works in batches and leaves the rest for the next run', async () => {
      const db = await databases.init(databaseId);
      const store = await RolloutStore.create(db, migrationsDir);
      for (let i = 0; i < 23; i++) {
        await seed(
          store,
          db,
          `r${String(i).padStart(2, '0')}`,
          'Succeeded',
          100 + i,
        );
      }
      await seed(store, db, 'running', 'Progressing', null);
      const retention = new RolloutRetention({
        db,
        maxAgeMs: MAX_AGE,
        now: () => NOW,
        batchSize: 5,
        maxBatches: 2,
      });
      const first = await retention.run();
      expect(first).toMatchObject({ rollouts: 10, more: true });
      // The oldest go first.
      const left = (await db('canary_rollouts').select('id')).map(r => r.id);
      expect(left).not.toContain('r22');
      expect(left).toContain('r00');
      expect((await retention.run()).rollouts).toBe(10);
      const last = await retention.run();
      expect(last).toMatchObject({ rollouts: 3, more: false });
      expect((await db('canary_rollouts').select('id')).map(r => r.id)).toEqual(
        ['running'],
      );
      expect(await rowsOf(db, 'running')).toEqual({
        canary_rollout_events: 2,
        canary_analysis_results: 1,
        canary_webhook_outbox: 1,
      });
    });

    it('corrects the weight of rollouts promoted before 100 % was recorded', async () => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({
        directory: migrationsDir,
        tableName: 'canary_knex_migrations',
      });
      await db.migrate.down({
        directory: migrationsDir,
        tableName: 'canary_knex_migrations',
        name: '20261202h_live_retention.js',
      });
      const store = new RolloutStore(db);
      await seed(store, db, 'promoted-at-50', 'Succeeded', 1);
      await seed(store, db, 'rolled-back', 'RolledBack', 1);
      await db('canary_rollouts')
        .where({ id: 'promoted-at-50' })
        .update({ weight: 50, actual_weight: 50 });
      await db.migrate.latest({
        directory: migrationsDir,
        tableName: 'canary_knex_migrations',
      });
      expect(await store.get('promoted-at-50')).toMatchObject({
        weight: 100,
        actualWeight: 100,
      });
      expect((await store.get('rolled-back'))!.weight).toBe(0);
    });
  },
);
