import express from 'express';
import request from 'supertest';
import {
  TestDatabases,
  mockCredentials,
  mockServices,
} from '@backstage/backend-test-utils';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { ConfigReader } from '@backstage/config';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { RolloutStore } from '../store/RolloutStore';
import { readCanaryConfig } from '../config/CanaryConfig';
import { createRouter } from './router';
import {
  FakeCommands,
  checkout,
  storefront,
} from '../actions/__testUtils__/fixtures';

jest.setTimeout(120_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

const config = readCanaryConfig(
  new ConfigReader({
    kubernetes: {
      clusterLocatorMethods: [
        {
          type: 'config',
          clusters: [{ name: 'sandbox', url: 'http://127.0.0.1:1' }],
        },
      ],
    },
    canary: {
      policies: {
        standard: { trafficProvider: 'istio', steps: [10, 50, 100] },
      },
    },
  }),
);

/** The default user of mockServices.httpAuth: reads everything. */
const JANE = 'user:default/mock';
const MALLORY = 'user:default/mallory';

/**
 * The read routes over a real store: jane may read every component,
 * mallory only her team's `team-*` components (what an owner-only
 * conditional policy resolves to).
 */
async function setUp(databaseId: 'SQLITE_3' | 'POSTGRES_15') {
  const db = await databases.init(databaseId);
  const store = await RolloutStore.create(
    db,
    resolvePackagePath(
      '@coalmine/backstage-plugin-canary-backend',
      'migrations',
    ),
  );
  const permissions = mockServices.permissions.mock();
  const asked: string[] = [];
  permissions.authorize.mockImplementation(async (requests, options) => {
    const who = (options.credentials.principal as any).userEntityRef;
    return requests.map((r: any) => {
      asked.push(`${who} ${r.resourceRef}`);
      const allowed =
        who === JANE ||
        (who === MALLORY && /^component:default\/team-/.test(r.resourceRef));
      return { result: allowed ? AuthorizeResult.ALLOW : AuthorizeResult.DENY };
    });
  });
  const logger = mockServices.logger.mock();
  const router = await createRouter({
    logger,
    httpAuth: mockServices.httpAuth(),
    permissions,
    catalog: catalogServiceMock({ entities: [checkout, storefront] }),
    auditor: mockServices.auditor.mock(),
    store,
    config,
    commands: new FakeCommands(store),
  });
  const app = express();
  app.use('/api/canary', router);
  app.use(
    MiddlewareFactory.create({
      config: new ConfigReader({}),
      logger,
    }).error(),
  );
  return { app, db, store, asked };
}

/** Rows straight into the table: thousands of rollouts in one statement per chunk. */
async function seedRollouts(
  db: Awaited<ReturnType<typeof databases.init>>,
  rows: Array<{ id: string; entityRef: string; createdAt: number }>,
) {
  const full = rows.map(r => ({
    id: r.id,
    entity_ref: r.entityRef,
    cluster: 'sandbox',
    namespace: 'shop',
    workload: r.entityRef.split('/')[1],
    policy: 'standard',
    traffic_provider: 'istio',
    phase: 'Succeeded',
    step_index: 2,
    weight: 100,
    actual_weight: null,
    steps: JSON.stringify([{ weight: 100 }]),
    stable: JSON.stringify({ name: 'v1' }),
    canary: JSON.stringify({ name: 'v2' }),
    message: null,
    spec: JSON.stringify({ policy: { webhooks: [] }, request: {} }),
    state: '{}',
    intent: null,
    started_by: 'user:default/ci',
    created_at: r.createdAt,
    updated_at: r.createdAt,
    finished_at: r.createdAt + 1,
    next_step_at: null,
    next_run_at: null,
    version: 1,
  }));
  for (let i = 0; i < full.length; i += 200) {
    await db('canary_rollouts').insert(full.slice(i, i + 200));
  }
}

describe.each(databases.eachSupportedId())('read routes on %s', databaseId => {
  it('pages a rollout’s events and analysis rows newest first, with cursors', async () => {
    const { app, db, store } = await setUp(databaseId as any);
    const commands = new FakeCommands(store);
    const r = await commands.startFor('component:default/checkout', JANE);
    const t0 = Date.now();
    // 250 more events (251 with "Started") and 130 analysis rows.
    const events = Array.from({ length: 250 }, (_, i) => ({
      rollout_id: r.id,
      time: t0 + i,
      type: 'analysis',
      message: `event ${i + 1}`,
      actor: 'coalmine',
      data: null,
    }));
    const analysis = Array.from({ length: 130 }, (_, i) => ({
      rollout_id: r.id,
      time: t0 + i,
      step_index: 0,
      weight: 10,
      action: 'hold',
      reason: `tick ${i + 1}`,
      failed_checks: 0,
      checks: '[]',
    }));
    for (let i = 0; i < events.length; i += 100) {
      await db('canary_rollout_events').insert(events.slice(i, i + 100));
    }
    await db('canary_analysis_results').insert(analysis);

    const first = await request(app).get(`/api/canary/rollouts/${r.id}`);
    expect(first.status).toBe(200);
    // The newest pages, oldest first within the page.
    expect(first.body.events).toHaveLength(100);
    expect(first.body.events[0].message).toBe('event 151');
    expect(first.body.events[99].message).toBe('event 250');
    expect(first.body.analysis).toHaveLength(30);
    expect(first.body.analysis[29].reason).toBe('tick 130');
    expect(first.body.rollout.lastAnalysis.reason).toBe('tick 130');
    expect(typeof first.body.eventsCursor).toBe('string');
    expect(typeof first.body.analysisCursor).toBe('string');

    // Older events through the details call's parameter ...
    const older = await request(app).get(
      `/api/canary/rollouts/${r.id}?eventsBefore=${first.body.eventsCursor}&limit=100`,
    );
    expect(older.status).toBe(200);
    expect(older.body.events[0].message).toBe('event 51');
    expect(older.body.events[99].message).toBe('event 150');
    // ... where the latest analysis stays the rollout's latest.
    expect(older.body.rollout.lastAnalysis.reason).toBe('tick 130');

    // ... and through the events endpoint, down to the first.
    const oldest = await request(app).get(
      `/api/canary/rollouts/${r.id}/events?before=${older.body.eventsCursor}&limit=100`,
    );
    expect(oldest.status).toBe(200);
    expect(oldest.body.items).toHaveLength(51);
    expect(oldest.body.items[0].message).toBe('Started');
    expect(oldest.body.cursor).toBeNull();

    // Analysis rows through their endpoint, whole pages until the first.
    const seen: string[] = first.body.analysis.map((a: any) => a.reason);
    let cursor = first.body.analysisCursor;
    while (cursor) {
      const page = await request(app).get(
        `/api/canary/rollouts/${r.id}/analysis?before=${cursor}&limit=50`,
      );
      expect(page.status).toBe(200);
      seen.unshift(...page.body.items.map((a: any) => a.reason));
      cursor = page.body.cursor;
    }
    expect(seen).toEqual(analysis.map(a => a.reason));
  });

  it('answers every poll with what changed since the previous one', async () => {
    const { app, store } = await setUp(databaseId as any);
    const r = await new FakeCommands(store).startFor(
      'component:default/checkout',
      JANE,
    );
    const get = async () =>
      (await request(app).get(`/api/canary/rollouts/${r.id}`)).body;
    expect((await get()).events.map((e: any) => e.message)).toEqual([
      'Started',
    ]);
    // An event outside a state change (a webhook delivery).
    await store.addEvents(r.id, [
      { type: 'webhook', message: 'Webhook answered 200', actor: 'coalmine' },
    ]);
    expect((await get()).events.map((e: any) => e.message)).toEqual([
      'Started',
      'Webhook answered 200',
    ]);
    // A state change with an analysis row.
    await store.commit(
      r.id,
      0,
      { phase: 'Progressing', weight: 10 },
      {
        analysis: {
          stepIndex: 0,
          weight: 10,
          action: 'advance',
          reason: 'all gates pass',
          failedChecks: 0,
          checks: [],
        },
      },
    );
    const after = await get();
    expect(after.rollout.phase).toBe('Progressing');
    expect(after.rollout.weight).toBe(10);
    expect(after.analysis.map((a: any) => a.reason)).toEqual([
      'all gates pass',
    ]);
  });

  it('refuses bad cursors and limits with 400 naming the field', async () => {
    const { app, store } = await setUp(databaseId as any);
    const r = await new FakeCommands(store).startFor(
      'component:default/checkout',
      JANE,
    );
    const details = await request(app).get(`/api/canary/rollouts/${r.id}`);
    expect(details.body.eventsCursor).toBeNull();
    const cases: Array<[string, RegExp]> = [
      [`/rollouts/${r.id}?eventsBefore=garbage!`, /eventsBefore.*not a cursor/],
      [
        `/rollouts/${r.id}?eventsBefore=${Buffer.from('events:x').toString(
          'base64url',
        )}`,
        /eventsBefore/,
      ],
      // An analysis cursor is not an events cursor.
      [
        `/rollouts/${r.id}?eventsBefore=${Buffer.from('analysis:5').toString(
          'base64url',
        )}`,
        /eventsBefore/,
      ],
      [
        `/rollouts/${r.id}/analysis?before=${Buffer.from('events:5').toString(
          'base64url',
        )}`,
        /field before/,
      ],
      [`/rollouts/${r.id}?limit=0`, /limit.*between 1 and 500/],
      [`/rollouts/${r.id}/events?limit=501`, /limit.*between 1 and 500/],
      [`/rollouts/${r.id}/events?limit=ten`, /limit.*whole number/],
      [`/rollouts/${r.id}?colour=blue`, /unknown field colour/],
      ['/rollouts?cursor=nope', /field cursor.*not a cursor/],
    ];
    for (const [path, message] of cases) {
      const res = await request(app).get(`/api/canary${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect(res.body.error.message).toMatch(message);
    }
  });

  it('lists all of a reader’s rollouts when thousands of newer ones are others’', async () => {
    const { app, db, asked } = await setUp(databaseId as any);
    const base = 1_700_000_000_000;
    const mine = Array.from({ length: 7 }, (_, i) => ({
      id: `mine-${String(i).padStart(2, '0')}`,
      entityRef: `component:default/team-${i % 3}`,
      createdAt: base + i,
    }));
    const others = Array.from({ length: 2500 }, (_, i) => ({
      id: `other-${String(i).padStart(5, '0')}`,
      entityRef: `component:default/other-${i % 40}`,
      createdAt: base + 1000 + i,
    }));
    await seedRollouts(db, [...mine, ...others]);

    const mallory = mockCredentials.user.header(MALLORY);
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await request(app)
        .get(`/api/canary/rollouts?limit=3${cursor ? `&cursor=${cursor}` : ''}`)
        .set('Authorization', mallory);
      expect(res.status).toBe(200);
      ids.push(...res.body.items.map((r: any) => r.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(ids).toEqual(mine.map(m => m.id).reverse());
    expect(pages).toBe(3);
    // One decision per component, asked once and reused by later pages.
    const mallorysQuestions = asked.filter(a => a.startsWith(MALLORY));
    expect(mallorysQuestions).toHaveLength(43);

    // jane reads everything: newest first, pages that join without gaps.
    const first = await request(app).get('/api/canary/rollouts?limit=500');
    const second = await request(app)
      .get(`/api/canary/rollouts?limit=500&cursor=${first.body.nextCursor}`)
      .set('Authorization', mockCredentials.user.header(JANE));
    const janeIds = [...first.body.items, ...second.body.items].map(
      (r: any) => r.id,
    );
    expect(janeIds[0]).toBe('other-02499');
    expect(janeIds[999]).toBe('other-01500');
    expect(new Set(janeIds).size).toBe(1000);

    // Filters still apply with the permission filter.
    const one = await request(app)
      .get('/api/canary/rollouts?entityRef=component:default/team-1')
      .set('Authorization', mallory);
    expect(one.body.items.map((r: any) => r.id)).toEqual([
      'mine-04',
      'mine-01',
    ]);
    const none = await request(app)
      .get('/api/canary/rollouts?entityRef=component:default/other-1')
      .set('Authorization', mallory);
    expect(none.body).toEqual({ items: [], nextCursor: null });
  });

  it('keeps the status call small: the latest analysis only on the rollout shown', async () => {
    const { app, store } = await setUp(databaseId as any);
    const commands = new FakeCommands(store);
    const old = await commands.startFor('component:default/checkout', JANE);
    await store.commit(
      old.id,
      0,
      { phase: 'Succeeded', finishedAt: Date.now() },
      {
        analysis: {
          stepIndex: 0,
          weight: 10,
          action: 'advance',
          reason: 'old',
          failedChecks: 0,
          checks: [],
        },
      },
    );
    // History is newest first by start time (ties by id): the second start
    // a few ms later, as it always is after the first has finished.
    await new Promise(r => setTimeout(r, 5));
    const current = await commands.startFor('component:default/checkout', JANE);
    await store.commit(
      current.id,
      0,
      { phase: 'Progressing' },
      {
        analysis: {
          stepIndex: 0,
          weight: 10,
          action: 'hold',
          reason: 'now',
          failedChecks: 0,
          checks: [],
        },
      },
    );
    const res = await request(app).get(
      '/api/canary/entities/component/default/checkout',
    );
    expect(res.status).toBe(200);
    expect(res.body.active.id).toBe(current.id);
    expect(res.body.active.lastAnalysis.reason).toBe('now');
    // The analysis travels once, with the active rollout.
    expect(
      res.body.history.map((r: any) => [r.id, r.lastAnalysis?.reason ?? null]),
    ).toEqual([
      [current.id, null],
      [old.id, null],
    ]);
    // A change of a rollout shows at once, shared answer or not.
    await store.commit(current.id, 1, { phase: 'Paused', message: 'held' });
    const after = await request(app).get(
      '/api/canary/entities/component/default/checkout',
    );
    expect(after.body.active).toMatchObject({
      id: current.id,
      phase: 'Paused',
      message: 'held',
    });
    // Someone who may not read checkout's rollouts gets 403, even right after a reader.
    const denied = await request(app)
      .get('/api/canary/entities/component/default/checkout')
      .set('Authorization', mockCredentials.user.header(MALLORY));
    expect(denied.status).toBe(403);
  });
});
