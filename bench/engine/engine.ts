/*
 * One backend's rollout engine in its own process, for `./dev bench engine`:
 * the production classes (RolloutEngine, KubernetesClusterAccess over
 * @kubernetes/client-node, PrometheusRolloutAnalyzer over the Prometheus
 * HTTP API, RolloutStore on knex) wired as plugin.ts wires them, ticking
 * every BENCH_TICK_MS. It measures itself: CPU share and RSS every second,
 * database statements by kind and table, tick count. The parent (run.ts)
 * asks for figures over IPC.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import knexFactory from 'knex';
import { ConfigReader } from '@backstage/config';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { ClusterClients } from '../../plugins/canary-backend/src/kubernetes/ClusterClients';
import { KubernetesClusterAccess } from '../../plugins/canary-backend/src/engine/KubernetesClusterAccess';
import { PrometheusRolloutAnalyzer } from '../../plugins/canary-backend/src/engine/PrometheusRolloutAnalyzer';
import { RolloutEngine } from '../../plugins/canary-backend/src/engine/RolloutEngine';
import { RolloutStore } from '../../plugins/canary-backend/src/store/RolloutStore';
import { WebhookDispatcher } from '../../plugins/canary-backend/src/webhooks/WebhookDispatcher';
import {
  KubernetesBindingReader,
  WorkloadBinding,
} from '../../plugins/canary-backend/src/binding';
import {
  PrometheusClient,
  TemplateRegistry,
} from '../../plugins/canary-backend/src/analysis';
import { prometheusForEngine } from './prometheusForEngine';

const logger = {
  info: () => {},
  warn: (m: string) => process.stderr.write(`[engine] WARN ${m}\n`),
  error: (m: string) => process.stderr.write(`[engine] ERROR ${m}\n`),
  debug: () => {},
  child: () => logger,
} as any;

interface Sample {
  at: number;
  /** Share of one core over the last second. */
  cpu: number;
  rss: number;
}

/** Time spent per method (BENCH_DEBUG): where a slow pass waits. */
const timings = new Map<string, { n: number; ms: number }>();
function timed<T extends object>(name: string, target: T): T {
  if (!process.env.BENCH_DEBUG) return target;
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const result = value.apply(obj, args);
        if (result && typeof (result as any).then === 'function') {
          return (result as Promise<unknown>).finally(() => {
            const k = `${name}.${String(prop)}`;
            const t = timings.get(k) ?? { n: 0, ms: 0 };
            t.n++;
            t.ms += performance.now() - t0;
            timings.set(k, t);
          });
        }
        return result;
      };
    },
  });
}

async function main() {
  const db = knexFactory(JSON.parse(process.env.BENCH_DB!));
  const statements: Record<string, number> = {};
  db.on('query', (q: { sql: string }) => {
    const sql = q.sql.trim();
    const verb = sql.split(/\s+/, 1)[0].toLowerCase();
    if (!['insert', 'update', 'delete'].includes(verb)) return;
    const table =
      /^(?:insert\s+into|update|delete\s+from)\s+["`]?([a-z_]+)/i.exec(
        sql,
      )?.[1] ?? '?';
    const k = `${verb} ${table}`;
    statements[k] = (statements[k] ?? 0) + 1;
  });
  const store = timed(
    'store',
    await RolloutStore.create(
      db,
      resolvePackagePath(
        '@coalmine/backstage-plugin-canary-backend',
        'migrations',
      ),
    ),
  );
  const config = new ConfigReader({
    kubernetes: {
      clusterLocatorMethods: [
        {
          type: 'config',
          clusters: [
            {
              name: 'sandbox',
              url: process.env.BENCH_CLUSTER_URL!,
              authProvider: 'serviceAccount',
              serviceAccountToken: process.env.BENCH_CLUSTER_TOKEN!,
              skipTLSVerify: true,
            },
          ],
        },
      ],
    },
  });
  const client = new PrometheusClient({
    url: process.env.BENCH_PROMETHEUS_URL!,
  });
  if (process.env.BENCH_DEBUG) {
    // Every query Prometheus gets, and why: its evaluation time, window and how many workloads it covers.
    const inner = client.querySamples.bind(client);
    client.querySamples = (selector, windowSeconds, options) => {
      const metric = selector.split('{', 1)[0];
      const workloads = /destination_workload=~"([^"]*)"/.exec(selector)?.[1];
      process.stderr.write(
        `[engine] query ${metric} at ${
          options?.time
            ? new Date(options.time).toISOString().slice(11, 23)
            : 'now'
        } window ${windowSeconds}s workloads ${
          workloads ? workloads.split('|').length : 1
        } (wall ${new Date().toISOString().slice(11, 23)})\n`,
      );
      return inner(selector, windowSeconds, options);
    };
  }
  const prometheus = prometheusForEngine(client);
  const tickMs = Number(process.env.BENCH_TICK_MS ?? 10_000);
  // As plugin.ts wires it (canary.loop.watchCache, default on);
  // BENCH_WATCH_CACHE=false measures the engine reading with GETs.
  const clusterClients = ClusterClients.fromConfig(config, {
    watchCache: process.env.BENCH_WATCH_CACHE !== 'false' && {
      staleAfterMs: 2 * tickMs,
    },
  });
  const engine = new RolloutEngine({
    store,
    binding: new WorkloadBinding(
      {},
      new KubernetesBindingReader(clusterClients),
    ),
    clusters: (() => {
      const access = new KubernetesClusterAccess(clusterClients);
      return {
        trafficProvider: (c: string, n: any) =>
          timed('traffic', access.trafficProvider(c, n)),
        workloads: (c: string) => timed('workloads', access.workloads(c)),
      };
    })(),
    analyzer: new PrometheusRolloutAnalyzer(
      new TemplateRegistry(),
      () => prometheus,
    ),
    webhooks: new WebhookDispatcher(logger, () => undefined),
    logger,
    owner: 'bench-engine',
    concurrency: Number(process.env.BENCH_CONCURRENCY ?? 16),
    // As plugin.ts sets them from canary.loop.frequency.
    pollMs: tickMs,
    lookaheadMs: tickMs,
    watchMs: Math.max(5000, tickMs),
    analysisSlotMs: tickMs,
    analysisSampleMs: 60_000,
    bindingRecheckMs: 60_000,
    advanceOnCommand: false,
  });

  const samples: Sample[] = [];
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  setInterval(() => {
    const cpu = process.cpuUsage();
    const at = performance.now();
    const used = cpu.user - lastCpu.user + (cpu.system - lastCpu.system);
    samples.push({
      at: Date.now(),
      cpu: used / 1000 / (at - lastAt),
      rss: process.memoryUsage().rss,
    });
    lastCpu = cpu;
    lastAt = at;
  }, 1000);

  if (process.env.BENCH_DEBUG) {
    // The engine's queues, for a look at a run that stalls.
    setInterval(() => {
      const e = engine as any;
      const limiters = [...e.limiters.values()].map((l: any) => l.size);
      process.stderr.write(
        `[engine] queued ${e.queued.size} running ${e.running.size} timers ${e.timers.size} runners ${limiters}\n`,
      );
      const top = [...timings.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, 8)
        .map(([k, t]) => `${k} ${t.n}× ${(t.ms / t.n).toFixed(0)}ms`);
      process.stderr.write(`[engine] ${top.join(', ')}\n`);
      timings.clear();
      const t0 = performance.now();
      fetch(`${process.env.BENCH_CLUSTER_URL}/api/v1/namespaces`, {
        headers: { Authorization: `Bearer ${process.env.BENCH_CLUSTER_TOKEN}` },
      }).then(
        () =>
          process.stderr.write(
            `[engine] plain GET ${(performance.now() - t0).toFixed(0)} ms\n`,
          ),
        () => undefined,
      );
      const lag = performance.now();
      setImmediate(() =>
        process.stderr.write(
          `[engine] event loop lag ${(performance.now() - lag).toFixed(
            0,
          )} ms\n`,
        ),
      );
    }, 5000);
  }
  let ticks = 0;
  let running = false;
  const tick = () => {
    ticks++;
    engine.tick({ wait: false }).catch(e => logger.error(String(e)));
  };
  // A CPU profile of the measured window (BENCH_CPU_PROFILE=<file>): started and written on the parent's word.
  let profiler: Session | undefined;
  process.on('message', (m: any) => {
    if (m?.type === 'profile-start' && process.env.BENCH_CPU_PROFILE) {
      profiler = new Session();
      profiler.connect();
      profiler
        .post('Profiler.enable')
        .then(() => profiler!.post('Profiler.start'))
        .then(() => process.send!({ type: 'profiling' }));
    }
    if (m?.type === 'profile-stop' && profiler) {
      profiler.post('Profiler.stop').then(({ profile }) => {
        fs.writeFileSync(
          process.env.BENCH_CPU_PROFILE!,
          JSON.stringify(profile),
        );
        profiler!.disconnect();
        profiler = undefined;
        process.send!({ type: 'profiling' });
      });
    }
    if (m?.type === 'start' && !running) {
      running = true;
      tick();
      setInterval(tick, tickMs);
    }
    if (m?.type === 'figures') {
      process.send!({
        type: 'figures',
        at: Date.now(),
        ticks,
        statements: { ...statements },
        samples: samples.filter(s => s.at >= (m.since ?? 0)),
        cpuTotalMs: (() => {
          const c = process.cpuUsage();
          return (c.user + c.system) / 1000;
        })(),
        rss: process.memoryUsage().rss,
        heapUsed: process.memoryUsage().heapUsed,
      });
    }
  });
  process.send!({ type: 'ready' });
}

main().catch(e => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
