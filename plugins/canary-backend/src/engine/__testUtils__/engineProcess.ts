/*
 * A rollout engine in its own process, for crash tests: it opens the store
 * given in COALMINE_DB (knex config as JSON), talks to the cluster given in
 * COALMINE_CLUSTER_URL / COALMINE_CLUSTER_TOKEN (and Prometheus at
 * COALMINE_PROMETHEUS_URL, when set), and ticks every COALMINE_TICK_MS until
 * it is killed. Run with:
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs engineProcess.ts
 */
import knexFactory from 'knex';
import { ConfigReader } from '@backstage/config';
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { ClusterClients } from '../../kubernetes/ClusterClients';
import { KubernetesClusterAccess } from '../KubernetesClusterAccess';
import type { ClusterAccess } from '../../domain/ports';
import { PrometheusRolloutAnalyzer } from '../PrometheusRolloutAnalyzer';
import { RolloutEngine } from '../RolloutEngine';
import { RolloutStore } from '../../store/RolloutStore';
import { WebhookDispatcher } from '../../webhooks/WebhookDispatcher';
import { KubernetesBindingReader, WorkloadBinding } from '../../binding';
import { PrometheusClient, TemplateRegistry } from '../../analysis';

const logger = {
  info: (m: string) => process.stderr.write(`[engine ${process.pid}] ${m}\n`),
  warn: (m: string) =>
    process.stderr.write(`[engine ${process.pid}] WARN ${m}\n`),
  error: (m: string) =>
    process.stderr.write(`[engine ${process.pid}] ERROR ${m}\n`),
  debug: () => {},
  child: () => logger,
} as any;

const WRITES = new Set([
  'setSplit',
  'finalizePromotion',
  'scale',
  'prepareCanary',
  'promoteTemplate',
]);

/**
 * A slower cluster: every write waits `before` ms before it is sent, so a
 * test can kill the process while an intent is recorded but its write not
 * yet answered, and `after` ms once the cluster answered, so it can kill it
 * between a stored write and its record.
 */
function withWriteLatency(
  access: ClusterAccess,
  before: number,
  after: number,
): ClusterAccess {
  if (before <= 0 && after <= 0) return access;
  const sleep = (ms: number) =>
    ms > 0 ? new Promise(r => setTimeout(r, ms)) : Promise.resolve();
  const slow = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        if (!WRITES.has(String(prop))) return value.bind(obj);
        return async (...args: unknown[]) => {
          await sleep(before);
          const result = await value.apply(obj, args);
          await sleep(after);
          return result;
        };
      },
    });
  return {
    trafficProvider: (cluster, name) =>
      slow(access.trafficProvider(cluster, name)),
    workloads: cluster => slow(access.workloads(cluster)),
  };
}

async function main() {
  const db = knexFactory(JSON.parse(process.env.COALMINE_DB!));
  const store = await RolloutStore.create(
    db,
    resolvePackagePath(
      '@coalmine/backstage-plugin-canary-backend',
      'migrations',
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
              url: process.env.COALMINE_CLUSTER_URL!,
              authProvider: 'serviceAccount',
              serviceAccountToken: process.env.COALMINE_CLUSTER_TOKEN!,
              skipTLSVerify: true,
            },
          ],
        },
      ],
    },
  });
  const promUrl = process.env.COALMINE_PROMETHEUS_URL;
  const prometheus = promUrl
    ? new PrometheusClient({ url: promUrl })
    : undefined;
  // Watch caches on, as the plugin runs by default.
  const clusterClients = ClusterClients.fromConfig(config, {
    watchCache: { staleAfterMs: 2000 },
  });
  const engine = new RolloutEngine({
    store,
    binding: new WorkloadBinding(
      {},
      new KubernetesBindingReader(clusterClients),
    ),
    clusters: withWriteLatency(
      new KubernetesClusterAccess(clusterClients),
      Number(process.env.COALMINE_WRITE_LATENCY_MS ?? 0),
      Number(process.env.COALMINE_WRITE_LATENCY_AFTER_MS ?? 0),
    ),
    analyzer: prometheus
      ? new PrometheusRolloutAnalyzer(new TemplateRegistry(), () => prometheus)
      : undefined,
    webhooks: new WebhookDispatcher(logger, () => undefined),
    logger,
    owner: process.env.COALMINE_OWNER ?? `engine-${process.pid}`,
    leaseMs: Number(process.env.COALMINE_LEASE_MS ?? 2000),
    concurrency: Number(process.env.COALMINE_CONCURRENCY ?? 4),
    // Waiting rollouts are looked at on every tick, as the loop's frequency says.
    pollMs: Number(process.env.COALMINE_TICK_MS ?? 100),
  });
  const tickMs = Number(process.env.COALMINE_TICK_MS ?? 100);
  process.stdout.write('ready\n');
  for (;;) {
    const began = Date.now();
    try {
      await engine.tick();
      if (process.env.COALMINE_TRACE)
        logger.info(`tick ${Date.now() - began} ms`);
    } catch (e) {
      logger.error((e as Error).message);
    }
    await new Promise(r => setTimeout(r, tickMs));
  }
}

main().catch(e => {
  process.stderr.write(`engine process failed: ${e.stack}\n`);
  process.exit(1);
});
