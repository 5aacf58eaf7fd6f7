/*
 * Engine at scale: N concurrent rollouts driven by ONE engine process (the
 * production classes, bench/engine/engine.ts) against the sandbox's
 * Kubernetes API over HTTP and its real Prometheus scraping every 15 s, the
 * loop ticking every 10 s. Writes bench/results/engine.json.
 *
 *   ./dev bench engine                 # N = 100, 300, 1000 (about 13 minutes)
 *   ./dev bench engine --n 5 --window 30 --no-write   # a quick look
 *
 * Options: --n a,b,c   --window <seconds measured per N>   --warmup <seconds>
 *          --pg (PostgreSQL from BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING
 *          instead of a SQLite file; writes bench/results/engine-pg.json)   --no-write
 * Env: BENCH_DEBUG=1 (the engine's queues, where passes wait, every
 *      Prometheus query it sends), BENCH_CPU_PROFILE=<file> (a CPU profile
 *      of the engine over the measured window of the last N)
 */
import { fork, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { ConfigReader } from '@backstage/config';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import {
  startSandbox,
  Sandbox,
  backstageKubernetesConfig,
} from '@coalmine/sandbox';
import { ClusterClients } from '../../plugins/canary-backend/src/kubernetes/ClusterClients';
import { KubernetesClusterAccess } from '../../plugins/canary-backend/src/engine/KubernetesClusterAccess';
import { RolloutEngine } from '../../plugins/canary-backend/src/engine/RolloutEngine';
import { RolloutStore } from '../../plugins/canary-backend/src/store/RolloutStore';
import { RolloutService } from '../../plugins/canary-backend/src/service/RolloutService';
import { WebhookDispatcher } from '../../plugins/canary-backend/src/webhooks/WebhookDispatcher';
import {
  KubernetesBindingReader,
  WorkloadBinding,
} from '../../plugins/canary-backend/src/binding';
import {
  policyConfigSchema,
  toPolicy,
  PolicyConfig,
} from '../../plugins/canary-backend/src/config/policy';
import type { ResolvedTarget } from '../../plugins/canary-backend/src/config/resolveTarget';

const root = path.resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
function arg(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
const SIZES = (arg('n') ?? '100,300,1000').split(',').map(Number);
const WINDOW_S = Number(arg('window') ?? 0);
/** Seconds at least before measuring; then until no rollout is Pending (at most --warmup-max). */
const WARMUP_S = Number(arg('warmup') ?? 30);
const WARMUP_MAX_S = Number(arg('warmup-max') ?? 300);
const TICK_MS = 10_000;
const SCRAPE_S = 15;
const RPS = 100;
/** canary.loop.concurrency's default. */
const CONCURRENCY = 16;
const usePg = args.includes('--pg');
const write = !args.includes('--no-write');

/** The policy every benchmark rollout runs: seed 000's shape, ten steps. */
const POLICY_INPUT = {
  trafficProvider: 'istio',
  // Twenty steps of 30 s: every rollout is still under way when the window ends.
  steps: Array.from({ length: 20 }, (_, i) => ({
    weight: 5 * (i + 1),
    pause: '30s',
  })),
  analysis: {
    interval: '10s',
    failureLimit: 3,
    metrics: [{ name: 'error-rate', judge: 'sequential', minRequests: 10 }],
  },
};

/** Measured seconds per N: long enough for several steps of every rollout. */
function windowSeconds(n: number): number {
  if (WINDOW_S > 0) return WINDOW_S;
  return n >= 1000 ? 180 : n >= 300 ? 120 : 90;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function log(m: string) {
  process.stderr.write(`[bench engine] ${m}\n`);
}

async function database(n: number): Promise<Knex.Config> {
  if (usePg) {
    const url = new URL(
      process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING ??
        'postgresql://postgres:postgres@127.0.0.1:5432',
    );
    const name = `coalmine_bench_engine_${n}_${process.pid}`;
    const conn = {
      host: url.hostname,
      port: Number(url.port || 5432),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    };
    const admin = knexFactory({
      client: 'pg',
      connection: { ...conn, database: 'postgres' },
    });
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.raw(`CREATE DATABASE ${name}`);
    await admin.destroy();
    return { client: 'pg', connection: { ...conn, database: name } };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-bench-engine-'));
  return {
    client: 'better-sqlite3',
    connection: { filename: path.join(dir, 'canary.sqlite') },
    useNullAsDefault: true,
  };
}

interface Figures {
  at: number;
  ticks: number;
  statements: Record<string, number>;
  samples: Array<{ at: number; cpu: number; rss: number }>;
  cpuTotalMs: number;
  rss: number;
  heapUsed: number;
}

class EngineProcess {
  private waiters: Array<(m: any) => void> = [];
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: any) => {
      // nodeTransform.cjs sends messages of its own over the channel.
      if (!['ready', 'figures', 'profiling'].includes(m?.type)) return;
      const w = this.waiters.shift();
      w?.(m);
    });
  }

  static async start(env: Record<string, string>): Promise<EngineProcess> {
    const child = fork(path.join(__dirname, 'engine.ts'), [], {
      execArgv: [
        '-r',
        require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      ],
      env: { ...process.env, ...env, NODE_ENV: 'production' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const p = new EngineProcess(child);
    const ready = await Promise.race([
      p.next(),
      new Promise((_, reject) =>
        child.once('exit', code =>
          reject(new Error(`the engine process exited with ${code}`)),
        ),
      ),
    ]);
    if ((ready as any)?.type !== 'ready') throw new Error('engine not ready');
    return p;
  }

  private next(): Promise<any> {
    return new Promise(resolve => this.waiters.push(resolve));
  }

  startTicking() {
    this.child.send({ type: 'start' });
  }

  async figures(since = 0): Promise<Figures> {
    const answer = this.next();
    this.child.send({ type: 'figures', since });
    return answer;
  }

  /** Starts or stops (and writes) the CPU profile, when BENCH_CPU_PROFILE names a file. */
  async profile(action: 'start' | 'stop') {
    if (!process.env.BENCH_CPU_PROFILE) return;
    const answer = this.next();
    this.child.send({ type: `profile-${action}` });
    await answer;
  }

  async stop() {
    this.child.kill('SIGKILL');
    await new Promise(r => this.child.once('exit', r));
  }
}

async function prometheusQueries(url: string): Promise<number> {
  const text = await (await fetch(new URL('metrics', url))).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('prometheus_http_requests_total{') &&
      (line.includes('handler="/api/v1/query"') ||
        line.includes('handler="/api/v1/query_range"'))
    ) {
      total += Number(line.split(' ').at(-1));
    }
  }
  return total;
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

function diff(a: Record<string, number>, b: Record<string, number>) {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

async function countRows(db: Knex, table: string): Promise<number> {
  const [row] = await db(table).count({ n: '*' });
  return Number(row.n);
}

function resolvedFor(s: {
  namespace: string;
  service: string;
  entityRef: string;
}): ResolvedTarget {
  const parsed = policyConfigSchema.parse(POLICY_INPUT) as PolicyConfig;
  const policy = toPolicy('bench', parsed);
  return {
    policy,
    owners: ['group:default/team'],
    target: {
      entityRef: s.entityRef,
      policy: policy.name,
      clusters: ['sandbox'],
      namespace: s.namespace,
      workload: s.service,
      trafficProvider: policy.trafficProvider,
      steps: policy.steps,
    },
  } as ResolvedTarget;
}

async function forEachLimited<T>(
  items: T[],
  limit: number,
  fn: (t: T, i: number) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

async function idleBackend(): Promise<number> {
  const sb = await startSandbox({
    scale: { services: 0 },
    prometheus: true,
    scrapeIntervalSeconds: SCRAPE_S,
  });
  const dbConfig = await database(0);
  const db = knexFactory(dbConfig);
  await RolloutStore.create(
    db,
    resolvePackagePath(
      '@coalmine/backstage-plugin-canary-backend',
      'migrations',
    ),
  );
  await db.destroy();
  const engine = await EngineProcess.start(env(sb, dbConfig));
  try {
    engine.startTicking();
    await sleep(15_000);
    const f = await engine.figures(Date.now() - 8_000);
    return Math.max(...f.samples.map(s => s.rss));
  } finally {
    await engine.stop();
    await sb.stop();
  }
}

function env(sb: Sandbox, dbConfig: Knex.Config): Record<string, string> {
  return {
    BENCH_DB: JSON.stringify(dbConfig),
    BENCH_CLUSTER_URL: sb.apiUrl,
    BENCH_CLUSTER_TOKEN: sb.token,
    BENCH_PROMETHEUS_URL: sb.prometheusUrl!,
    BENCH_TICK_MS: String(TICK_MS),
    BENCH_CONCURRENCY: String(CONCURRENCY),
  };
}

async function runOne(n: number, idleRss: number) {
  log(
    `N=${n}: starting the sandbox (${n} services) and Prometheus (scrape ${SCRAPE_S} s) ...`,
  );
  const sb = await startSandbox({
    scale: { services: n, rps: RPS },
    prometheus: true,
    scrapeIntervalSeconds: SCRAPE_S,
  });
  const dbConfig = await database(n);
  const db = knexFactory(dbConfig);
  let engine: EngineProcess | undefined;
  try {
    const store = await RolloutStore.create(
      db,
      resolvePackagePath(
        '@coalmine/backstage-plugin-canary-backend',
        'migrations',
      ),
    );
    const clusterClients = ClusterClients.fromConfig(
      new ConfigReader({
        kubernetes: backstageKubernetesConfig([
          { url: sb.apiUrl, token: sb.token },
        ]),
      }),
    );
    const silent = {
      info() {},
      warn() {},
      error() {},
      debug() {},
      child: () => silent,
    } as any;
    const commands = new RolloutService(
      store,
      new RolloutEngine({
        store,
        clusters: new KubernetesClusterAccess(clusterClients),
        logger: silent,
        webhooks: new WebhookDispatcher(silent, () => undefined),
        binding: new WorkloadBinding(
          {},
          new KubernetesBindingReader(clusterClients),
        ),
        advanceOnCommand: false,
      }),
    );
    engine = await EngineProcess.start(env(sb, dbConfig));
    // Traffic history before the rollouts, as a real service has.
    await sleep(SCRAPE_S * 1000 + 2000);
    log(`N=${n}: starting ${n} rollouts ...`);
    const startedAt = Date.now();
    const ids: string[] = [];
    await forEachLimited(sb.scaleServices, 8, async s => {
      const r = await commands.start({
        resolved: resolvedFor(s),
        cluster: 'sandbox',
        image: `shop/${s.service}:v2`,
        version: 'v2',
        startedBy: 'bench',
      });
      ids.push(r.id);
    });
    log(
      `N=${n}: ${n} rollouts started in ${(
        (Date.now() - startedAt) /
        1000
      ).toFixed(1)} s; the engine ticks every ${TICK_MS / 1000} s`,
    );
    engine.startTicking();
    // Measured: rollouts under way, not the ramp of 1,000 canaries being created.
    const ramp = Date.now();
    await sleep(WARMUP_S * 1000);
    for (;;) {
      const [row] = await db('canary_rollouts')
        .where('phase', 'Pending')
        .count({ n: '*' });
      // A gate's first reading looks back half an hour: the start of 1,000
      // rollouts at once, not the loop they then run in.
      const [unread] = await db('canary_rollouts as r')
        .whereNotExists(
          db('canary_analysis_results as a')
            .select('a.id')
            .whereRaw('a.rollout_id = r.id'),
        )
        .count({ n: '*' });
      if (
        (Number(row.n) === 0 && Number(unread.n) === 0) ||
        Date.now() - ramp > WARMUP_MAX_S * 1000
      ) {
        log(
          `N=${n}: ${Number(row.n)} rollouts still Pending, ${Number(
            unread.n,
          )} without a first analysis after ${Math.round(
            (Date.now() - ramp) / 1000,
          )} s`,
        );
        break;
      }
      await sleep(2000);
    }
    // One more loop, so every rollout has had a pass at its first step.
    await sleep(TICK_MS);
    const rampSeconds = Math.round((Date.now() - ramp) / 1000);

    const seconds = windowSeconds(n);
    log(`N=${n}: measuring for ${seconds} s ...`);
    await engine.profile('start');
    const from = await engine.figures();
    const api0 = sb.apiRequests();
    const prom0 = await prometheusQueries(sb.prometheusUrl!);
    const analysis0 = await countRows(db, 'canary_analysis_results');
    const events0 = await countRows(db, 'canary_rollout_events');
    await sleep(seconds * 1000);
    const to = await engine.figures(from.at);
    await engine.profile('stop');
    const api1 = sb.apiRequests();
    const prom1 = await prometheusQueries(sb.prometheusUrl!);
    const analysis1 = await countRows(db, 'canary_analysis_results');
    const events1 = await countRows(db, 'canary_rollout_events');

    const wallMs = to.at - from.at;
    const ticks = to.ticks - from.ticks;
    const perHour = (x: number) => Math.round((x * 3_600_000) / wallMs);
    const api = diff(api0, api1);
    const reads = api.GET ?? 0;
    const writes = Object.entries(api)
      .filter(([m]) => m !== 'GET')
      .reduce((a, [, v]) => a + v, 0);
    const statements = diff(from.statements, to.statements);

    // Delay from a step falling due (the end of the previous step's dwell) to its weight written.
    const stepEvents = await db('canary_rollout_events')
      .where('type', 'step')
      .select('data');
    const delays: number[] = [];
    for (const row of stepEvents) {
      const data =
        typeof row.data === 'string' ? JSON.parse(row.data) : row.data;
      if (
        typeof data?.dueAt === 'number' &&
        typeof data?.writtenAt === 'number' &&
        data.writtenAt >= from.at &&
        data.writtenAt <= to.at
      ) {
        delays.push(Math.max(0, data.writtenAt - data.dueAt));
      }
    }
    // Steps due in the window but not written by its end count too (at least
    // that late): a loop that falls behind must not look punctual.
    let overdue = 0;
    const active = await db('canary_rollouts')
      .where('phase', 'Progressing')
      .select('next_step_at', 'state');
    for (const row of active) {
      const state =
        typeof row.state === 'string' ? JSON.parse(row.state) : row.state;
      if (row.next_step_at === null || typeof state?.passedAt !== 'number') {
        continue;
      }
      const due = Math.max(Number(row.next_step_at), state.passedAt);
      if (due >= from.at && due < to.at) {
        delays.push(to.at - due);
        overdue++;
      }
    }
    delays.sort((a, b) => a - b);
    const phases = await db('canary_rollouts')
      .select('phase')
      .count({ n: '*' })
      .groupBy('phase');

    const cpuSamples = to.samples.map(s => s.cpu);
    const rssSamples = to.samples.map(s => s.rss);
    const result = {
      n,
      windowSeconds: Math.round(wallMs / 1000),
      rampSeconds,
      loadAverage: os.loadavg().map(x => round(x, 2)),
      ticks,
      cpu: {
        averageShareOfOneCore: round(
          (to.cpuTotalMs - from.cpuTotalMs) / wallMs,
          3,
        ),
        peakShareOfOneCore1s: round(Math.max(...cpuSamples), 3),
      },
      rssMB: {
        average: mb(rssSamples.reduce((a, b) => a + b, 0) / rssSamples.length),
        peak: mb(Math.max(...rssSamples)),
        idleBackend: mb(idleRss),
        peakAboveIdle: mb(Math.max(...rssSamples) - idleRss),
      },
      stepDelayMs: {
        steps: delays.length,
        /** Of those, due but not yet written when the window ended (counted as end − due). */
        overdueAtEnd: overdue,
        p50: quantile(delays, 0.5),
        p99: quantile(delays, 0.99),
        max: delays.at(-1) ?? null,
      },
      prometheusQueriesPerTick: round((prom1 - prom0) / ticks, 1),
      kubernetesRequestsPerTick: {
        reads: round(reads / ticks, 1),
        writes: round(writes / ticks, 1),
        byMethod: Object.fromEntries(
          Object.entries(api).map(([k, v]) => [k, round(v / ticks, 1)]),
        ),
      },
      database: {
        analysisRowsPerHour: perHour(analysis1 - analysis0),
        eventRowsPerHour: perHour(events1 - events0),
        rowWritesPerHour: perHour(
          Object.values(statements).reduce((a, b) => a + b, 0),
        ),
        statementsPerHour: Object.fromEntries(
          Object.entries(statements).map(([k, v]) => [k, perHour(v)]),
        ),
      },
      phasesAtEnd: Object.fromEntries(
        phases.map((p: any) => [p.phase, Number(p.n)]),
      ),
    };
    log(`N=${n}: ${JSON.stringify(result)}`);
    return result;
  } finally {
    await engine?.stop();
    await db.destroy();
    await sb.stop();
  }
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

async function main() {
  const began = Date.now();
  log('measuring an idle engine (no rollouts) ...');
  const idleRss = await idleBackend();
  log(`idle engine: ${mb(idleRss)} MB RSS`);
  const runs = [];
  for (const n of SIZES) runs.push(await runOne(n, idleRss));
  const biggest = runs.at(-1)!;
  const out = {
    generatedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
    },
    settings: {
      loopEverySeconds: TICK_MS / 1000,
      prometheusScrapeSeconds: SCRAPE_S,
      requestsPerSecondPerService: RPS,
      concurrencyPerCluster: CONCURRENCY,
      database: usePg ? 'PostgreSQL 15' : 'SQLite file (better-sqlite3)',
      policy: POLICY_INPUT,
      warmupSeconds: `${WARMUP_S} s, then until no rollout is Pending (at most ${WARMUP_MAX_S} s), then one loop`,
    },
    targetsAtLargestN: {
      n: biggest.n,
      averageCpuAtMost25Percent: biggest.cpu.averageShareOfOneCore <= 0.25,
      rssAboveIdleAtMost500MB: biggest.rssMB.peakAboveIdle <= 500,
      p99StepDelayAtMost2s:
        biggest.stepDelayMs.p99 !== null && biggest.stepDelayMs.p99 <= 2000,
      prometheusQueriesPerTickFlat:
        runs.length > 1 &&
        biggest.prometheusQueriesPerTick <=
          1.5 * runs[0].prometheusQueriesPerTick,
    },
    runs,
    totalSeconds: Math.round((Date.now() - began) / 1000),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  if (write) {
    // A PostgreSQL run keeps its own file beside the SQLite curve.
    const file = path.join(
      root,
      'bench',
      'results',
      usePg ? 'engine-pg.json' : 'engine.json',
    );
    fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${path.relative(root, file)}`);
  }
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
