import fs from 'fs';
import os from 'os';
import path from 'path';
import knexFactory, { Knex } from 'knex';
import { TestDatabases } from '@backstage/backend-test-utils';
import { startSandbox, Sandbox } from '@coalmine/sandbox';
import { EngineChild } from './__testUtils__/engineChild';
import { resolved } from './__testUtils__/harness';
import { startsOnlyService } from './__testUtils__/startsOnly';
import {
  changes,
  fastAnalysis,
  scaleDeployment,
  virtualServiceWeights,
} from '../__testUtils__/sandboxBackend';
import type { RolloutRecord } from '../domain/types';

jest.setTimeout(400_000);

const steps = (weights: number[]) =>
  weights.map(weight => ({ weight, pause: '1s' }));
const TERMINAL = ['Succeeded', 'RolledBack', 'Aborted', 'Failed'];

/** Moments to kill the engine at, so every phase and the gap between an intent and its commit are hit. */
const KILL_POINTS: Array<[string, (r: RolloutRecord) => boolean]> = [
  ['Pending', r => r.phase === 'Pending'],
  ['RollingBack', r => r.phase === 'RollingBack'],
  [
    'RollingBack with an intent',
    r => r.phase === 'RollingBack' && r.intent !== null,
  ],
  [
    'Progressing with an intent',
    r => r.phase === 'Progressing' && r.intent !== null,
  ],
  [
    'Progressing at step 3 with an intent',
    r => r.phase === 'Progressing' && r.stepIndex >= 2 && r.intent !== null,
  ],
  ['Promoting', r => r.phase === 'Promoting'],
  [
    'Promoting with an intent',
    r => r.phase === 'Promoting' && r.intent !== null,
  ],
];

async function sqliteFile(): Promise<Knex.Config> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-crash-'));
  return {
    client: 'better-sqlite3',
    connection: { filename: path.join(dir, 'canary.sqlite') },
    useNullAsDefault: true,
  };
}

const databases = TestDatabases.create({ ids: ['POSTGRES_15'] });
const cases: Array<[string, () => Promise<Knex.Config>]> = [
  ['SQLite file', sqliteFile],
];
if (process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING) {
  cases.push([
    'PostgreSQL 15',
    async () => {
      // A fresh database from TestDatabases, reached by the child with the
      // server's connection string and that database's name.
      const db = await databases.init('POSTGRES_15');
      const url = new URL(
        process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING!,
      );
      return {
        client: 'pg',
        connection: {
          host: url.hostname,
          port: Number(url.port || 5432),
          user: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          database: (db.client as any).config.connection.database,
        },
      };
    },
  ]);
}

describe.each(cases)(
  'an engine killed with SIGKILL in every phase (%s)',
  (_name, makeDb) => {
    let sb: Sandbox;
    let db: Knex;
    let dbConfig: Knex.Config;

    beforeAll(async () => {
      sb = await startSandbox({ prometheus: true, readinessDelayMs: 400 });
      await sb.applyDemoWorld();
      for (const service of ['checkout', 'payments', 'search']) {
        sb.traffic.start({ service, namespace: 'demo', rps: 100 });
      }
      dbConfig = await makeDb();
      db = knexFactory(dbConfig);
    });

    afterAll(async () => {
      await db?.destroy();
      await sb?.stop();
    });

    /** What an engine child process is started with: this database, the sandbox, a quick loop. */
    const childEnv = () => ({
      COALMINE_DB: JSON.stringify(dbConfig),
      COALMINE_CLUSTER_URL: sb.apiUrl,
      COALMINE_CLUSTER_TOKEN: sb.token,
      COALMINE_PROMETHEUS_URL: sb.prometheusUrl!,
      COALMINE_LEASE_MS: '1500',
      COALMINE_TICK_MS: '100',
    });

    it('finishes every rollout without a repeated or skipped step', async () => {
      // This engine only accepts starts; the child processes run the rollouts.
      const { store, commands } = await startsOnlyService(db, sb);
      const target = (name: string, input: Record<string, unknown>) => {
        const t = resolved(`component:default/${name}`, input, name);
        t.target.namespace = 'demo';
        return t;
      };
      const checkout = await commands.start({
        resolved: target('checkout', {
          trafficProvider: 'istio',
          steps: steps([5, 25, 50, 75, 100]),
          analysis: fastAnalysis,
        }),
        cluster: 'sandbox',
        image: 'shop/checkout:v2',
        version: 'v2',
        startedBy: 'test',
      });
      const payments = await commands.start({
        resolved: target('payments', {
          trafficProvider: 'istio',
          steps: steps([10, 50, 100]),
          stickyHeader: 'x-canary-user: true',
          analysis: fastAnalysis,
        }),
        cluster: 'sandbox',
        image: 'shop/payments:1.5.0',
        startedBy: 'test',
      });
      const search = await commands.start({
        resolved: target('search', {
          trafficProvider: 'replicas',
          steps: steps([10, 50, 100]),
          analysis: fastAnalysis,
          maxCanaryRestarts: 1,
        }),
        cluster: 'sandbox',
        image: 'shop/search:2.1.0-crash',
        startedBy: 'test',
      });
      const ids = [checkout.id, payments.id, search.id];
      const env = { ...childEnv(), COALMINE_WRITE_LATENCY_MS: '300' };
      const all = async () =>
        (await Promise.all(ids.map(id => store.get(id)))) as RolloutRecord[];
      const killedIn: string[] = [];

      for (const [label, when] of KILL_POINTS) {
        const child = await EngineChild.start(env);
        const deadline = Date.now() + 60_000;
        let hit: RolloutRecord | undefined;
        while (Date.now() < deadline) {
          const rollouts = await all();
          hit = rollouts.find(when);
          if (hit || rollouts.every(r => TERMINAL.includes(r.phase))) break;
          await new Promise(r => setTimeout(r, 5));
        }
        await child.kill();
        if (hit) killedIn.push(`${label} (${hit.workload})`);
      }

      const last = await EngineChild.start(env);
      const deadline = Date.now() + 120_000;
      while (
        Date.now() < deadline &&
        !(await all()).every(r => TERMINAL.includes(r.phase))
      ) {
        await new Promise(r => setTimeout(r, 200));
      }
      await last.kill();

      const [c, p, s] = await all();
      expect([c.phase, p.phase, s.phase]).toEqual([
        'Succeeded',
        'Succeeded',
        'RolledBack',
      ]);
      // Every labelled kill point was hit, each by its own label.
      expect(killedIn.map(k => k.replace(/ \([^)]*\)$/, ''))).toEqual(
        KILL_POINTS.map(([label]) => label),
      );

      // Every stored version of the routing objects, in order: no step twice, none missing.
      const vs = (name: string) =>
        sb.writes({
          group: 'networking.istio.io',
          kind: 'VirtualService',
          namespace: 'demo',
          name,
        });
      expect(virtualServiceWeights(vs('checkout'), 'v2').slice(1)).toEqual([
        5, 25, 50, 75, 100, 100,
      ]);
      expect(virtualServiceWeights(vs('payments'), 'canary').slice(1)).toEqual([
        10, 50, 100, 0,
      ]);
      const searchCanary = sb.writes({
        group: 'apps',
        kind: 'Deployment',
        namespace: 'demo',
        name: 'search-canary',
      }) as any[];
      expect(changes(searchCanary.map(d => d.spec.replicas))).toEqual([
        0, 1, 0,
      ]);
      const stepEvents = (await store.events(c.id))
        .filter(e => e.type === 'step')
        .map(e => e.data?.weight);
      expect(stepEvents).toEqual([5, 25, 50, 75, 100]);
    });

    it('resumes a canary scale whose write the cluster stored before the engine died', async () => {
      const { store, commands } = await startsOnlyService(db, sb);
      // A one-pod canary beside 3 stable pods: 50 % needs 2 canary pods
      // (canaryScale: weight, the default under a mesh).
      await scaleDeployment(sb, 'demo', 'payments-canary', 1);
      const t = resolved(
        'component:default/payments',
        {
          trafficProvider: 'istio',
          steps: steps([10, 50, 100]),
          stickyHeader: 'x-canary-user: true',
          analysis: fastAnalysis,
        },
        'payments',
      );
      t.target.namespace = 'demo';
      const version = (o: any) => Number(o.metadata.resourceVersion);
      const routeVersions = () =>
        sb.writes({
          group: 'networking.istio.io',
          kind: 'VirtualService',
          namespace: 'demo',
          name: 'payments',
        }) as any[];
      const startedAfter = version(routeVersions().pop());
      const { id } = await commands.start({
        resolved: t,
        cluster: 'sandbox',
        image: 'shop/payments:1.6.0',
        startedBy: 'test',
      });
      const canaryVersions = () =>
        sb.writes({
          group: 'apps',
          kind: 'Deployment',
          namespace: 'demo',
          name: 'payments-canary',
        }) as any[];
      const env = childEnv();
      // Each cluster write is answered a second late: the engine is killed
      // once the cluster stored the canary's 2 pods and the scale is still
      // recorded as an intent, not done.
      const first = await EngineChild.start({
        ...env,
        COALMINE_WRITE_LATENCY_AFTER_MS: '1000',
      });
      const deadline = Date.now() + 90_000;
      let killedAt: RolloutRecord | undefined;
      while (Date.now() < deadline) {
        const r = (await store.get(id))!;
        if (TERMINAL.includes(r.phase)) break;
        const stored = canaryVersions().pop()?.spec.replicas;
        if (r.intent?.op === 'scale' && stored === 2) {
          killedAt = r;
          break;
        }
        await new Promise(wake => setTimeout(wake, 5));
      }
      await first.kill();
      expect(killedAt?.intent).toMatchObject({
        op: 'scale',
        replicas: 2,
        why: 'size-canary',
      });
      expect(killedAt?.weight).toBe(10);

      const second = await EngineChild.start(env);
      const end = Date.now() + 120_000;
      let done = (await store.get(id))!;
      while (Date.now() < end && !TERMINAL.includes(done.phase)) {
        await new Promise(r => setTimeout(r, 200));
        done = (await store.get(id))!;
      }
      await second.kill();
      expect({ phase: done.phase, message: done.message }).toMatchObject({
        phase: 'Succeeded',
      });
      const events = await store.events(id);
      expect(
        events.filter(e => e.type === 'step').map(e => e.data?.weight),
      ).toEqual([10, 50, 100]);
      // The resumed engine recorded the scale once and moved on: the canary
      // had its 2 pods when 50 % was written.
      expect(
        events.filter(e => e.message === 'Scaled payments-canary to 2'),
      ).toHaveLength(1);
      const canary = canaryVersions();
      const fifty = routeVersions()
        .filter(vs => version(vs) > startedAfter)
        .filter(vs => virtualServiceWeights([vs], 'canary')[0] === 50);
      expect(fifty.length).toBeGreaterThan(0);
      expect(
        canary.filter(d => version(d) < version(fifty[0])).pop()?.spec.replicas,
      ).toBe(2);
    });
  },
);
