/*
 * The fault suite: rollouts against the sandbox's API server through a proxy
 * whose faults the test controls (refuse connections, accept and never
 * answer), and engines frozen between a write and its record.
 *
 * Outages last COALMINE_FAULT_OUTAGE_MS (default two minutes, as a real API
 * server restart or network partition does); the engine's longest back-off is
 * COALMINE_FAULT_MAX_BACKOFF_MS (default 5 s). What happened — faults
 * injected, outcomes, time from recovery to all traffic on stable — is
 * written to COALMINE_FAULTS_RESULTS when set (`./dev bench faults`).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import knexFactory, { Knex } from 'knex';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import {
  FaultProxy,
  startSandbox,
  Sandbox,
  backstageKubernetesConfig,
} from '@coalmine/sandbox';
import { ClusterClients } from '../kubernetes/ClusterClients';
import { RolloutStore } from '../store/RolloutStore';
import { WebhookDispatcher } from '../webhooks/WebhookDispatcher';
import { KubernetesBindingReader, WorkloadBinding } from '../binding';
import { KubernetesClusterAccess } from './KubernetesClusterAccess';
import { RolloutEngine } from './RolloutEngine';
import { RolloutService } from '../service/RolloutService';
import { EngineChild } from './__testUtils__/engineChild';
import { migrationsDir, resolved } from './__testUtils__/harness';
import { virtualServiceWeights } from '../__testUtils__/sandboxBackend';
import type { RolloutRecord } from '../domain/types';

const OUTAGE_MS = Number(process.env.COALMINE_FAULT_OUTAGE_MS ?? 120_000);
const MAX_BACKOFF_MS = Number(
  process.env.COALMINE_FAULT_MAX_BACKOFF_MS ?? 5000,
);
jest.setTimeout(2 * OUTAGE_MS + 240_000);

const TERMINAL = ['Succeeded', 'RolledBack', 'Aborted', 'Failed'];

/** Figures for bench/results/faults.json. */
const figures: Array<Record<string, unknown>> = [];

afterAll(() => {
  const file = process.env.COALMINE_FAULTS_RESULTS;
  if (!file) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `${JSON.stringify(
      {
        generatedAt: new Date().toISOString(),
        outageMs: OUTAGE_MS,
        maxBackoffMs: MAX_BACKOFF_MS,
        scenarios: figures,
        longestRecoveryToStableMs: Math.max(
          0,
          ...figures.map(f => Number(f.recoveryToStableMs ?? 0)),
        ),
      },
      null,
      2,
    )}\n`,
  );
});

async function sqliteFile(): Promise<Knex.Config> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-faults-'));
  return {
    client: 'better-sqlite3',
    connection: { filename: path.join(dir, 'canary.sqlite') },
    useNullAsDefault: true,
  };
}

function clusterConfig(clusters: Array<{ name: string; url: string }>) {
  return new ConfigReader({
    kubernetes: backstageKubernetesConfig(
      clusters.map(c => ({ ...c, token: 'sandbox-token' })),
    ),
  });
}

/** An engine in this process, its loop ticking every 200 ms. */
async function startEngine(
  db: Knex,
  clusters: Array<{ name: string; url: string }>,
  options: { concurrency?: number } = {},
) {
  const store = await RolloutStore.create(db, migrationsDir);
  const logger = mockServices.logger.mock();
  const clusterClients = ClusterClients.fromConfig(clusterConfig(clusters), {
    requestTimeoutMs: 2000,
    // As the plugin runs by default: the outages must still be outages.
    watchCache: { staleAfterMs: 2000 },
  });
  const engine = new RolloutEngine({
    store,
    clusters: new KubernetesClusterAccess(clusterClients),
    binding: new WorkloadBinding(
      {},
      new KubernetesBindingReader(clusterClients),
    ),
    logger,
    webhooks: new WebhookDispatcher(logger, () => undefined),
    leaseMs: 3000,
    clusterBackoffMs: 500,
    maxBackoffMs: MAX_BACKOFF_MS,
    passDeadlineMs: 5000,
    pollMs: 250,
    concurrency: options.concurrency ?? 1,
  });
  const service = new RolloutService(store, engine);
  const loop = setInterval(() => {
    engine.tick({ wait: false }).catch(() => undefined);
  }, 200);
  return {
    store,
    engine,
    service,
    async stop() {
      clearInterval(loop);
      await engine.stop();
      clusterClients.close();
    },
  };
}

function target(
  entity: string,
  workload: string,
  input: Record<string, unknown>,
  cluster = 'sandbox',
) {
  const t = resolved(`component:default/${entity}`, input, workload);
  t.target.namespace = 'demo';
  t.target.clusters = [cluster];
  return t;
}

async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for ${what}: ${JSON.stringify(value)}`,
      );
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

const vsWeights = (sb: Sandbox, name: string, subset: string) =>
  virtualServiceWeights(
    sb.writes({
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'demo',
      name,
    }),
    subset,
  );

/** Applies a change to a Deployment's pod template directly on the sandbox (as CI would). */
async function changeTemplate(sb: Sandbox, name: string, note: string) {
  const history = sb.writes({
    group: 'apps',
    kind: 'Deployment',
    namespace: 'demo',
    name,
  });
  const current = JSON.parse(JSON.stringify(history[history.length - 1]));
  delete current.metadata.resourceVersion;
  current.spec.template.metadata.annotations = {
    ...(current.spec.template.metadata.annotations ?? {}),
    'example.com/changed': note,
  };
  await sb.apply(current);
}

describe('rollouts under cluster faults', () => {
  let sb: Sandbox;
  let proxy: FaultProxy;
  let db: Knex;

  beforeAll(async () => {
    sb = await startSandbox({ readinessDelayMs: 300 });
    await sb.applyDemoWorld();
    proxy = await FaultProxy.start({ target: sb.apiUrl });
    db = knexFactory(await sqliteFile());
  });

  afterAll(async () => {
    await proxy?.close();
    await db?.destroy();
    await sb?.stop();
  });

  afterEach(async () => {
    await proxy.mode('pass');
    sb.clearFaults();
  });

  it('rolls back with all traffic on stable after the API refused connections in Progressing and again in RollingBack', async () => {
    const { store, service, stop } = await startEngine(db, [
      { name: 'sandbox', url: proxy.url },
    ]);
    try {
      const started = await service.start({
        resolved: target('checkout', 'checkout', {
          trafficProvider: 'istio',
          steps: [
            { weight: 10, pause: '1h' },
            { weight: 100, pause: '1s' },
          ],
          clusterErrorLimit: 1000,
          onTemplateChange: 'abort',
        }),
        cluster: 'sandbox',
        image: 'shop/checkout:v2',
        version: 'v2',
        startedBy: 'test',
      });
      const get = () => store.get(started.id) as Promise<RolloutRecord>;
      await waitFor(
        '10 % on the canary',
        get,
        r => r.weight === 10 && !r.intent,
      );
      expect(vsWeights(sb, 'checkout', 'v2').pop()).toBe(10);

      // Outage 1, while Progressing: the weight holds, nothing is decided blind.
      await proxy.mode('refuse');
      const outage1 = Date.now();
      await new Promise(r => setTimeout(r, OUTAGE_MS));
      const during1 = await get();
      expect(during1.phase).toBe('Progressing');
      expect(during1.state.clusterErrors).toBeGreaterThan(0);
      await proxy.mode('pass');
      await waitFor(
        'the cluster to answer again',
        get,
        r => !r.state.clusterErrors,
      );
      const recovered1 = Date.now();

      // The canary's template changes (policy: abort) while writes of the
      // route fail: the rollback starts and cannot write yet.
      sb.failNext({
        verb: 'update',
        resource: 'virtualservices',
        status: 503,
        count: 1_000_000,
      });
      await changeTemplate(sb, (await get()).canary.name, 'hotfix');
      await waitFor('RollingBack', get, r => r.phase === 'RollingBack', 30_000);

      // Outage 2, while RollingBack: the rollback retries for as long as it takes.
      await proxy.mode('refuse');
      const outage2 = Date.now();
      await new Promise(r => setTimeout(r, OUTAGE_MS));
      const during2 = await get();
      expect(during2.phase).toBe('RollingBack');
      expect(during2.message).toMatch(
        /^Rolling back — cluster unreachable since \d\d:\d\d UTC, retrying/,
      );
      expect(vsWeights(sb, 'checkout', 'v2').pop()).toBe(10);
      sb.clearFaults();
      await proxy.mode('pass');
      const recovered2 = Date.now();
      const done = await waitFor(
        'the end',
        get,
        r => TERMINAL.includes(r.phase),
        60_000,
      );
      const stableAt = Date.now();
      expect(done.phase).toBe('RolledBack');
      expect(done.message).toMatch(/pod template changed/);
      expect(vsWeights(sb, 'checkout', 'v2').pop()).toBe(0);
      const events = await store.events(started.id);
      expect(events.some(e => e.type === 'cluster-recovered')).toBe(true);
      figures.push({
        scenario: 'refused connections in Progressing, then in RollingBack',
        faults: [
          { kind: 'refuse', phase: 'Progressing', ms: recovered1 - outage1 },
          { kind: 'http 503 on VirtualService writes', phase: 'RollingBack' },
          { kind: 'refuse', phase: 'RollingBack', ms: recovered2 - outage2 },
        ],
        outcome: done.phase,
        finalCanaryWeight: vsWeights(sb, 'checkout', 'v2').pop(),
        rollbackAttempts: during2.state.rollbackRetry?.attempts,
        recoveryToStableMs: stableAt - recovered2,
      });
    } finally {
      await stop();
    }
  });

  it('restarts the judgement when the canary template changes mid-rollout', async () => {
    const { store, service, stop } = await startEngine(db, [
      { name: 'sandbox', url: proxy.url },
    ]);
    try {
      const started = await service.start({
        resolved: target('checkout', 'checkout', {
          trafficProvider: 'istio',
          steps: [
            { weight: 20, pause: '1s' },
            { weight: 60, pause: '3s' },
            { weight: 100, pause: '1s' },
          ],
        }),
        cluster: 'sandbox',
        image: 'shop/checkout:v3',
        version: 'v3',
        startedBy: 'test',
      });
      const get = () => store.get(started.id) as Promise<RolloutRecord>;
      await waitFor('60 %', get, r => r.weight === 60 && !r.intent);
      await changeTemplate(sb, (await get()).canary.name, 'second build');
      const done = await waitFor('the end', get, r =>
        TERMINAL.includes(r.phase),
      );
      expect(done.phase).toBe('Succeeded');
      const weights = vsWeights(sb, 'checkout', 'v3');
      // 20 → 60, template changed → 20 again → 60 → 100, then the route on v3 alone.
      expect(weights.slice(weights.indexOf(20))).toEqual([
        20, 60, 20, 60, 100, 100,
      ]);
      const events = await store.events(started.id);
      expect(events.filter(e => e.type === 'template')).toHaveLength(1);
      figures.push({
        scenario: 'canary template changed at 60 %',
        faults: [{ kind: 'template change', phase: 'Progressing' }],
        outcome: done.phase,
        weights,
      });
    } finally {
      await stop();
    }
  });

  it('ends truthfully when the cluster refuses promote-template (422)', async () => {
    const { store, service, stop } = await startEngine(db, [
      { name: 'sandbox', url: proxy.url },
    ]);
    try {
      const started = await service.start({
        resolved: target('payments', 'payments', {
          trafficProvider: 'istio',
          steps: [
            { weight: 50, pause: '1s' },
            { weight: 100, pause: '1s' },
          ],
        }),
        cluster: 'sandbox',
        image: 'shop/payments:1.6.0',
        startedBy: 'test',
      });
      const get = () => store.get(started.id) as Promise<RolloutRecord>;
      sb.failNext({
        verb: 'update',
        resource: 'deployments',
        name: 'payments-stable',
        status: 422,
        count: 1_000_000,
      });
      const done = await waitFor('the end', get, r =>
        TERMINAL.includes(r.phase),
      );
      expect(done.phase).toBe('RolledBack');
      expect(done.message).toMatch(/promotion could not finish.*422/);
      const stable = sb.writes({
        group: 'apps',
        kind: 'Deployment',
        namespace: 'demo',
        name: 'payments-stable',
      }) as any[];
      expect(
        stable[stable.length - 1].spec.template.spec.containers[0].image,
      ).not.toBe('shop/payments:1.6.0');
      expect(vsWeights(sb, 'payments', 'canary').pop()).toBe(0);
      figures.push({
        scenario: '422 on promote-template',
        faults: [
          { kind: 'http 422 on stable Deployment updates', phase: 'Promoting' },
        ],
        outcome: done.phase,
        finalCanaryWeight: vsWeights(sb, 'payments', 'canary').pop(),
        stableImage:
          stable[stable.length - 1].spec.template.spec.containers[0].image,
      });
    } finally {
      await stop();
    }
  });

  it('lets a rollout on a healthy cluster keep its pace while another cluster hangs', async () => {
    const other = await startSandbox({ readinessDelayMs: 300 });
    const hanging = await FaultProxy.start({ target: other.apiUrl });
    try {
      await other.applyDemoWorld();
      const { store, service, stop } = await startEngine(db, [
        { name: 'healthy', url: proxy.url },
        { name: 'hanging', url: hanging.url },
      ]);
      try {
        const policy = {
          trafficProvider: 'istio',
          steps: [20, 40, 60, 80, 100].map(weight => ({ weight, pause: '1s' })),
          clusterErrorLimit: 1000,
        };
        const stuck = await service.start({
          resolved: target('checkout', 'checkout', policy, 'hanging'),
          cluster: 'hanging',
          image: 'shop/checkout:v5',
          version: 'v5',
          startedBy: 'test',
        });
        await hanging.mode('hang');
        const hangStarted = Date.now();
        const moving = await service.start({
          resolved: target('checkout', 'checkout', policy, 'healthy'),
          cluster: 'healthy',
          image: 'shop/checkout:v5',
          version: 'v5',
          startedBy: 'test',
        });
        const done = await waitFor(
          'the healthy cluster’s rollout',
          () => store.get(moving.id) as Promise<RolloutRecord>,
          r => TERMINAL.includes(r.phase),
          120_000,
        );
        const healthyMs = Date.now() - hangStarted;
        expect(done.phase).toBe('Succeeded');
        // All that time the other cluster did not answer, and its rollout waited.
        expect(hanging.currentMode).toBe('hang');
        const meanwhile = (await store.get(stuck.id))!;
        expect(TERMINAL).not.toContain(meanwhile.phase);
        await hanging.mode('pass');
        const recovered = Date.now();
        const after = await waitFor(
          'the hanging cluster’s rollout',
          () => store.get(stuck.id) as Promise<RolloutRecord>,
          r => TERMINAL.includes(r.phase),
          120_000,
        );
        expect(after.phase).toBe('Succeeded');
        figures.push({
          scenario: 'one of two clusters accepts connections and never answers',
          faults: [
            { kind: 'hang', cluster: 'hanging', ms: recovered - hangStarted },
          ],
          outcome: { healthy: done.phase, hanging: after.phase },
          healthyRolloutMs: healthyMs,
          hangingRolloutAfterRecoveryMs: Date.now() - recovered,
        });
      } finally {
        await stop();
      }
    } finally {
      await hanging.close();
      await other.stop();
    }
  });

  it('never lets a frozen engine’s write land after an abort through another engine', async () => {
    const dbConfig = await sqliteFile();
    const childDb = knexFactory(dbConfig);
    const store = await RolloutStore.create(childDb, migrationsDir);
    const logger = mockServices.logger.mock();
    // This engine only takes commands; child processes run the rollouts.
    const other = new RolloutService(
      store,
      new RolloutEngine({
        store,
        clusters: new KubernetesClusterAccess(
          ClusterClients.fromConfig(
            clusterConfig([{ name: 'sandbox', url: sb.apiUrl }]),
          ),
        ),
        binding: new WorkloadBinding(
          {},
          new KubernetesBindingReader(
            ClusterClients.fromConfig(
              clusterConfig([{ name: 'sandbox', url: sb.apiUrl }]),
            ),
          ),
        ),
        logger,
        webhooks: new WebhookDispatcher(logger, () => undefined),
        leaseMs: 1000,
        advanceOnCommand: false,
      }),
    );
    const env = {
      COALMINE_DB: JSON.stringify(dbConfig),
      COALMINE_CLUSTER_URL: sb.apiUrl,
      COALMINE_CLUSTER_TOKEN: sb.token,
      COALMINE_LEASE_MS: '1000',
      COALMINE_TICK_MS: '100',
      // Every write waits longer than a lease lasts.
      COALMINE_WRITE_LATENCY_MS: '2500',
    };
    const frozen = await EngineChild.start({
      ...env,
      COALMINE_OWNER: 'frozen',
    });
    let rescuer: EngineChild | undefined;
    try {
      const started = await other.start({
        resolved: target('checkout', 'checkout', {
          trafficProvider: 'istio',
          steps: [10, 50, 100].map(weight => ({ weight, pause: '1s' })),
        }),
        cluster: 'sandbox',
        image: 'shop/checkout:v6',
        version: 'v6',
        startedBy: 'test',
      });
      const get = () => store.get(started.id) as Promise<RolloutRecord>;
      // Freeze the engine between recording "50 %" and writing it.
      await waitFor(
        'the 50 % intent',
        get,
        r => r.intent?.op === 'set-weight' && (r.intent as any).weight === 50,
        60_000,
      );
      frozen.pause();
      const frozenAt = Date.now();
      await new Promise(r => setTimeout(r, 1500)); // its lease expires
      const aborted = await other.control(
        started.id,
        'abort',
        'user:default/jane',
      );
      expect(aborted.phase).toBe('RollingBack');
      rescuer = await EngineChild.start({
        ...env,
        COALMINE_OWNER: 'rescuer',
        COALMINE_WRITE_LATENCY_MS: '0',
      });
      const done = await waitFor('Aborted', get, r =>
        TERMINAL.includes(r.phase),
      );
      expect(done.phase).toBe('Aborted');
      // The frozen engine wakes up with its write still pending.
      frozen.resume();
      await new Promise(r => setTimeout(r, 4000));
      const weights = vsWeights(sb, 'checkout', 'v6');
      expect(weights[weights.length - 1]).toBe(0);
      expect(weights.slice(weights.lastIndexOf(0))).toEqual([0]);
      expect(weights).not.toContain(50);
      figures.push({
        scenario:
          'engine frozen (SIGSTOP) between an intent and its write; abort through another engine',
        faults: [
          {
            kind: 'SIGSTOP',
            leaseMs: 1000,
            writeLatencyMs: 2500,
            frozenMs: Date.now() - frozenAt,
          },
        ],
        outcome: done.phase,
        weights,
      });
    } finally {
      frozen.resume();
      await frozen.kill();
      await rescuer?.kill();
      await childDb.destroy();
    }
  });
});
