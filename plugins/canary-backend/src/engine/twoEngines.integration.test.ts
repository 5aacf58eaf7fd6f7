import fs from 'fs';
import os from 'os';
import path from 'path';
import knexFactory, { Knex } from 'knex';
import { TestDatabases } from '@backstage/backend-test-utils';
import { startSandbox, Sandbox } from '@coalmine/sandbox';
import { EngineChild } from './__testUtils__/engineChild';
import { resolved } from './__testUtils__/harness';
import { startsOnlyService } from './__testUtils__/startsOnly';
import { virtualServiceWeights } from '../__testUtils__/sandboxBackend';
import type { RolloutRecord } from '../domain/types';

jest.setTimeout(300_000);

const COUNT = 10;
const TERMINAL = ['Succeeded', 'RolledBack', 'Aborted', 'Failed'];

/** A versioned-subsets service like seed 000: Service, v1 Deployment, DestinationRule, VirtualService. */
function world(name: string) {
  const labels = (v: string) => ({ app: name, version: v });
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace: 'demo',
        annotations: { 'coalmine.io/entity': `component:default/${name}` },
      },
      spec: {
        selector: { app: name },
        ports: [{ port: 80, targetPort: 8080 }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `${name}-v1`, namespace: 'demo', labels: labels('v1') },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels('v1') },
        template: {
          metadata: { labels: labels('v1') },
          spec: { containers: [{ name: 'app', image: `shop/${name}:v1` }] },
        },
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'DestinationRule',
      metadata: { name, namespace: 'demo' },
      spec: {
        host: name,
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name, namespace: 'demo' },
      spec: {
        hosts: [name],
        http: [
          {
            route: [{ destination: { host: name, subset: 'v1' }, weight: 100 }],
          },
        ],
      },
    },
  ];
}

const databases = TestDatabases.create({ ids: ['POSTGRES_15'] });
// The point is PostgreSQL (several backend replicas on one database); a
// SQLite file shared by two processes stands in when PostgreSQL is not set up.
const cases: Array<[string, () => Promise<Knex.Config>]> = process.env
  .BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING
  ? [
      [
        'PostgreSQL 15',
        async () => {
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
      ],
    ]
  : [
      [
        'SQLite file',
        async () => {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-two-'));
          return {
            client: 'better-sqlite3',
            connection: { filename: path.join(dir, 'canary.sqlite') },
            useNullAsDefault: true,
          };
        },
      ],
    ];

describe.each(cases)(
  'two engine processes on one database (%s)',
  (_name, makeDb) => {
    let sb: Sandbox;
    let db: Knex;
    let dbConfig: Knex.Config;
    const children: EngineChild[] = [];

    beforeAll(async () => {
      // A slower pod simulation leaves the CPU to the API server.
      sb = await startSandbox({ readinessDelayMs: 500 });
      // Only the test's own services: the demo world's traffic would take
      // the CPU the two engines need.
      await sb.apply({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'demo' },
      } as any);
      for (let i = 0; i < COUNT; i++) await sb.apply(world(`svc${i}`) as any);
      dbConfig = await makeDb();
      db = knexFactory(dbConfig);
    });

    afterAll(async () => {
      await Promise.all(children.map(c => c.kill()));
      await db?.destroy();
      await sb?.stop();
    });

    it(`drive ${COUNT} rollouts together and apply each weight exactly once`, async () => {
      const { store, commands } = await startsOnlyService(db, sb);
      const ids: string[] = [];
      for (let i = 0; i < COUNT; i++) {
        const t = resolved(
          `component:default/svc${i}`,
          {
            trafficProvider: 'istio',
            steps: [25, 50, 100].map(weight => ({ weight, pause: '200ms' })),
          },
          `svc${i}`,
        );
        t.target.namespace = 'demo';
        const r = await commands.start({
          resolved: t,
          cluster: 'sandbox',
          image: `shop/svc${i}:v2`,
          version: 'v2',
          startedBy: 'test',
        });
        ids.push(r.id);
      }
      const env = {
        COALMINE_DB: JSON.stringify(dbConfig),
        COALMINE_CLUSTER_URL: sb.apiUrl,
        COALMINE_CLUSTER_TOKEN: sb.token,
        COALMINE_LEASE_MS: '10000',
        COALMINE_TICK_MS: '50',
      };
      children.push(
        ...(await Promise.all([
          EngineChild.start({ ...env, COALMINE_OWNER: 'replica-a' }),
          EngineChild.start({ ...env, COALMINE_OWNER: 'replica-b' }),
        ])),
      );

      const deadline = Date.now() + 180_000;
      let rollouts: RolloutRecord[] = [];
      while (Date.now() < deadline) {
        rollouts = (await Promise.all(
          ids.map(id => store.get(id)),
        )) as RolloutRecord[];
        if (rollouts.every(r => TERMINAL.includes(r.phase))) break;
        await new Promise(r => setTimeout(r, 200));
      }
      expect(rollouts.map(r => r.phase)).toEqual(
        Array(COUNT).fill('Succeeded'),
      );

      const engines = new Set<string>();
      for (let i = 0; i < COUNT; i++) {
        const writes = sb.writes({
          group: 'networking.istio.io',
          kind: 'VirtualService',
          namespace: 'demo',
          name: `svc${i}`,
        });
        expect({
          svc: i,
          weights: virtualServiceWeights(writes, 'v2').slice(1),
        }).toEqual({ svc: i, weights: [25, 50, 100, 100] });
        const steps = (await store.events(ids[i])).filter(
          e => e.type === 'step',
        );
        expect(steps.map(e => e.data?.weight)).toEqual([25, 50, 100]);
        steps.forEach(e => engines.add(String(e.data?.engine)));
      }
      // Both replicas took part.
      expect([...engines].sort()).toEqual(['replica-a', 'replica-b']);
    });
  },
);
