import { TestDatabases } from '@backstage/backend-test-utils';
import { RolloutStore } from './RolloutStore';
import { migrationsDir } from '../engine/__testUtils__/harness';
import type { RolloutRecord } from '../domain/types';
import { storedRollout } from './__testUtils__/storedRollout';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

function record(
  id: string,
  entityRef = 'component:default/app',
  cluster = 'c',
): RolloutRecord {
  // Each component its own Service, unless a test says otherwise.
  return storedRollout(id, entityRef.split('/').pop()!, {
    entityRef,
    cluster,
    stable: { name: 'app-v1' },
    canary: { name: 'app-v2', image: 'reg/app:v2' },
  });
}

describe.each(databases.eachSupportedId())('RolloutStore on %s', databaseId => {
  it('migrates up and down', async () => {
    const db = await databases.init(databaseId);
    await RolloutStore.create(db, migrationsDir);
    expect(await db.schema.hasTable('canary_rollouts')).toBe(true);
    await db.migrate.rollback(
      { directory: migrationsDir, tableName: 'canary_knex_migrations' },
      true,
    );
    expect(await db.schema.hasTable('canary_rollouts')).toBe(false);
  });

  it('keeps one active rollout per component and cluster', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a'), [
      { type: 'phase', message: 'started', actor: 'u' },
    ]);
    await expect(store.insert(record('b'))).rejects.toMatchObject({
      name: 'ConflictError',
    });
    await store.insert(record('c', 'component:default/app', 'other'));
    const done = await store.commit('a', 0, {
      phase: 'Succeeded',
      finishedAt: 1,
    });
    expect(done?.phase).toBe('Succeeded');
    await store.insert(record('b'));
    expect((await store.activeFor('component:default/app', 'c'))?.id).toBe('b');
    expect((await store.list({ active: false })).map(r => r.id)).toEqual(['a']);
    expect(
      (await store.list({ phases: ['Pending'], cluster: 'other' })).map(
        r => r.id,
      ),
    ).toEqual(['c']);
  });

  it('commits only on the expected row version, with events and analysis', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a'));
    const first = await store.commit(
      'a',
      0,
      {
        weight: 5,
        intent: { op: 'promote-template' },
        state: { appliedWeight: 5 },
      },
      {
        events: [
          {
            type: 'step',
            message: 'w 5',
            actor: 'coalmine',
            data: { weight: 5 },
          },
        ],
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
    expect(first).toMatchObject({
      version: 1,
      weight: 5,
      intent: { op: 'promote-template' },
      state: { appliedWeight: 5 },
    });
    expect(await store.commit('a', 0, { weight: 25 })).toBeUndefined();
    expect((await store.get('a'))!.weight).toBe(5);
    expect((await store.events('a'))[0]).toMatchObject({
      type: 'step',
      data: { weight: 5 },
    });
    expect((await store.lastAnalysis(['a'])).get('a')).toMatchObject({
      action: 'advance',
      weight: 5,
    });
  });

  it('hands a lease to one holder until it expires', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a'));
    expect(await store.acquireLease('a', 'x', 1000, 10_000)).toBe(true);
    expect(await store.acquireLease('a', 'y', 1000, 10_500)).toBe(false);
    expect(await store.acquireLease('a', 'x', 1000, 10_500)).toBe(true);
    expect(await store.acquireLease('a', 'y', 1000, 12_000)).toBe(true);
    await store.releaseLease('a', 'y');
    expect(await store.acquireLease('a', 'x', 1000, 12_001)).toBe(true);
  });

  it('answers the version and next-due time with the lease taken, and a commit from a base equals the stored row', async () => {
    const db = await databases.init(databaseId);
    const store = await RolloutStore.create(db, migrationsDir);
    await store.insert(record('a'));
    await store.commit('a', 0, { nextRunAt: 5000 });
    expect(await store.acquireLeaseStamp('a', 'x', 1000, 10_000)).toEqual({
      version: 1,
      nextRunAt: 5000,
    });
    expect(
      await store.acquireLeaseStamp('a', 'y', 1000, 10_500),
    ).toBeUndefined();
    await store.releaseLeases([['a', 7000]], 'x');
    const stamp = await store.acquireLeaseStamp('a', 'y', 1000, 10_600);
    expect(stamp).toEqual({ version: 1, nextRunAt: 7000 });

    const base = (await store.get('a'))!;
    const patch = {
      weight: 10,
      stepIndex: 1,
      message: 'Canary at 10 %',
      state: { appliedWeight: 10, waitingSince: undefined, passedAtStep: 0 },
      intent: null,
      nextStepAt: 40_000,
    };
    const analysis = {
      stepIndex: 1,
      weight: 10,
      action: 'hold' as const,
      reason: 'r',
      failedChecks: 0,
      checks: [],
    };
    const fromBase = await store.commit('a', base.version, patch, {
      base,
      analysis: { ...analysis, keep: false },
    });
    // What the commit returns without reading the row back is the row.
    expect(fromBase).toEqual(await store.get('a'));
    expect(fromBase!.state).toEqual({ appliedWeight: 10, passedAtStep: 0 });
    // A base at another version is not trusted: the row is read.
    const stale = await store.commit(
      'a',
      fromBase!.version,
      { weight: 15 },
      { base, analysis: { ...analysis, reason: 'kept' } },
    );
    expect(stale).toEqual(await store.get('a'));
    expect(stale!.stepIndex).toBe(1);
    // The provisional row was replaced by the kept one: one row.
    expect((await store.analysis('a')).map(a => a.reason)).toEqual(['kept']);
    await store.commit('a', stale!.version, {}, { analysis });
    expect((await store.analysis('a')).map(a => a.reason)).toEqual([
      'kept',
      'r',
    ]);
  });

  it('lists due rollouts and remembers watched templates', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a'));
    await store.insert({
      ...record('b', 'component:default/b'),
      nextRunAt: 5000,
    });
    expect((await store.dueIds(4000, 10)).sort()).toEqual(['a']);
    expect((await store.dueIds(6000, 10)).sort()).toEqual(['a', 'b']);
    expect(
      await store.getWatchedHash('component:default/a', 'c'),
    ).toBeUndefined();
    await store.setWatchedHash('component:default/a', 'c', 'app-v2@1');
    await store.setWatchedHash('component:default/a', 'c', 'app-v2@2');
    expect(await store.getWatchedHash('component:default/a', 'c')).toEqual({
      hash: 'app-v2@2',
    });
  });

  it('keeps one active rollout per workload, whichever component started it', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a', 'component:default/app'));
    const other = {
      ...record('b', 'component:default/other'),
      workload: 'app',
    };
    await expect(store.insert(other)).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(
        /Service default\/app on cluster c is already in a rollout of component:default\/app \(a, Pending\)/,
      ),
    });
    expect((await store.activeForWorkload('c', 'default', 'app'))?.id).toBe(
      'a',
    );
    await store.commit('a', 0, { phase: 'RolledBack', finishedAt: 1 });
    await store.insert(other);
    expect((await store.activeForWorkload('c', 'default', 'app'))?.id).toBe(
      'b',
    );
  });

  it('runs rolling-back rollouts first and backed-off ones last, on every database', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('plain', 'component:default/plain'));
    await store.insert({
      ...record('backedoff', 'component:default/backedoff'),
      nextRunAt: 100,
    });
    await store.commit('backedoff', 0, { state: { clusterErrors: 2 } });
    await store.insert({
      ...record('rollingback', 'component:default/rollingback'),
      phase: 'RollingBack',
      nextRunAt: 200,
    });
    expect(await store.dueIds(1000, 10)).toEqual([
      'rollingback',
      'plain',
      'backedoff',
    ]);
  });

  it('keeps leases on the database clock unless a clock is given', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(record('a'));
    expect(await store.acquireLease('a', 'x', 60_000)).toBe(true);
    expect(await store.acquireLease('a', 'y', 60_000)).toBe(false);
    expect(await store.renewLease('a', 'x', 60_000)).toBe(true);
    expect(await store.renewLease('a', 'y', 60_000)).toBe(false);
    // A fence: renewed only while the rollout has the version the holder read.
    expect(await store.renewLease('a', 'x', 60_000, { version: 1 })).toBe(
      false,
    );
    expect(await store.renewLease('a', 'x', 60_000, { version: 0 })).toBe(true);
    await store.releaseLease('a', 'x');
    expect(await store.acquireLease('a', 'y', 1)).toBe(true);
    await new Promise(r => setTimeout(r, 20));
    expect(await store.acquireLease('a', 'x', 60_000)).toBe(true);
  });

  it('renews and releases many leases in one statement, each with its own next-due time, and only its own', async () => {
    const db = await databases.init(databaseId);
    const store = await RolloutStore.create(db, migrationsDir);
    const ids = Array.from({ length: 310 }, (_, i) => `r${i}`);
    for (const id of ids) {
      await store.insert(record(id, `component:default/c${id}`));
    }
    for (const id of ids) {
      expect(await store.acquireLease(id, 'x', 60_000, 1000)).toBe(true);
    }
    // Another replica took r1 over after x's lease ran out.
    expect(await store.acquireLease('r1', 'y', 60_000, 100_000)).toBe(true);
    const statements: string[] = [];
    const count = (q: { sql: string }) => statements.push(q.sql);
    db.on('query', count);
    const held = await store.renewLeases(ids, 'x', 60_000, { now: 2000 });
    expect(held.size).toBe(309);
    expect(held.has('r1')).toBe(false);
    // 310 rollouts: two updates of up to 300, and one look at which were lost.
    expect(statements.filter(q => /^update/i.test(q))).toHaveLength(2);

    statements.length = 0;
    await store.releaseLeases(
      ids.map((id, i): [string, number | undefined] => [
        id,
        i % 2 === 0 ? 50_000 + i : undefined,
      ]),
      'x',
    );
    db.off('query', count);
    expect(statements.filter(q => /^update/i.test(q))).toHaveLength(2);
    const rows = await db('canary_rollouts').select(
      'id',
      'lease_owner',
      'next_run_at',
    );
    const byId = new Map(rows.map(r => [r.id, r]));
    expect(byId.get('r0')).toMatchObject({ lease_owner: null });
    expect(Number(byId.get('r0')!.next_run_at)).toBe(50_000);
    expect(Number(byId.get('r308')!.next_run_at)).toBe(50_308);
    // Without a next-due time it stays as it was.
    expect(byId.get('r3')!.next_run_at).toBe(record('r3').nextRunAt);
    // y's lease is y's: neither released nor rescheduled by x.
    expect(byId.get('r1')!.lease_owner).toBe('y');
    expect(await store.acquireLease('r2', 'y', 60_000, 2000)).toBe(true);
  });

  it('pages the list by position and filters by readable components, however many', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    // Same creation time for all: the id breaks the tie.
    for (const id of ['a', 'b', 'c', 'd']) {
      await store.insert({
        ...record(id, `component:default/${id}`),
        phase: 'Succeeded',
        finishedAt: 1,
      });
    }
    const first = await store.list({ limit: 2 });
    expect(first.map(r => r.id)).toEqual(['d', 'c']);
    const rest = await store.list({
      limit: 2,
      before: { createdAt: first[1].createdAt, id: first[1].id },
    });
    expect(rest.map(r => r.id)).toEqual(['b', 'a']);
    // More readable components than one IN list holds.
    const many = Array.from(
      { length: 1200 },
      (_, i) => `component:default/x${i}`,
    );
    expect(
      (
        await store.list({ readableRefs: [...many, 'component:default/b'] })
      ).map(r => r.id),
    ).toEqual(['b']);
    expect(await store.list({ readableRefs: [] })).toEqual([]);
    expect((await store.entityRefsWithRollouts()).sort()).toEqual(
      ['a', 'b', 'c', 'd'].map(id => `component:default/${id}`),
    );
  });

  it('pages events newest first and knows the newest event', async () => {
    const store = await RolloutStore.create(
      await databases.init(databaseId),
      migrationsDir,
    );
    await store.insert(
      record('a'),
      Array.from({ length: 5 }, (_, i) => ({
        type: 'step',
        message: `e${i + 1}`,
        actor: 'coalmine',
      })),
    );
    const newest = await store.eventsPage('a', { limit: 2 });
    expect(newest.items.map(e => e.message)).toEqual(['e4', 'e5']);
    expect(await store.newestEventId('a')).toBe(newest.items[1].id);
    const older = await store.eventsPage('a', {
      limit: 2,
      beforeId: newest.olderBeforeId!,
    });
    expect(older.items.map(e => e.message)).toEqual(['e2', 'e3']);
    const oldest = await store.eventsPage('a', {
      limit: 2,
      beforeId: older.olderBeforeId!,
    });
    expect(oldest.items.map(e => e.message)).toEqual(['e1']);
    expect(oldest.olderBeforeId).toBeNull();
    expect(await store.newestEventId('nope')).toBe(0);
  });
});
