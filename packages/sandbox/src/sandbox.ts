import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ObjectStore, K8sObject } from './api/store';
import { ApiServer } from './api/server';
import { FaultInjector, FaultRule } from './api/faults';
import { findResourceTypeByKind } from './api/resourceTypes';
import { kubeconfigYaml } from './kubeconfig';
import { applyManifests } from './manifests';
import { WorkloadController } from './workloads/controller';
import { HorizontalPodAutoscalers } from './controllers/autoscalers';
import { Router } from './traffic/router';
import { createRandom } from './traffic/random';
import {
  LoadGenerator,
  TrafficSpec,
  WorkloadCounters,
} from './traffic/loadGenerator';
import { MeshMetrics } from './metrics/meshMetrics';
import { MetricsServer } from './metrics/metricsServer';
import { PrometheusProcess } from './prometheus/prometheus';
import { ArgoRolloutsSimulator } from './controllers/argoRollouts';
import { FlaggerSimulator } from './controllers/flagger';
import {
  ScaleService,
  ScaleWorld,
  ScaleWorldOptions,
} from './scale/ScaleWorld';

export interface SandboxOptions {
  /** Port of the API server (plain HTTP and TLS on the same port); 0 (default) picks a free one. */
  apiPort?: number;
  /** Port of the `/metrics` endpoint; 0 (default) picks a free one. */
  metricsPort?: number;
  /** Start a real Prometheus scraping the sandbox; default false. */
  prometheus?: boolean;
  /**
   * Prometheus' scrape interval in seconds; default 1 (quick tests). Use 15
   * or 30 wherever a judgment is tested: that is what production Prometheus
   * setups do, and what `increase()` / `rate()` then extrapolate from.
   */
  scrapeIntervalSeconds?: number;
  /** Port for Prometheus; 0 (default) picks a free one. */
  prometheusPort?: number;
  /** Time from pod creation to Ready; default 1000 ms. */
  readinessDelayMs?: number;
  /** Time between restarts of a crash-looping pod; default 2 × readiness delay (≥ 500 ms). */
  crashLoopRestartMs?: number;
  /** Time an OOM-prone pod runs before it is killed; default 3000 ms. */
  oomAfterMs?: number;
  /** How often the HorizontalPodAutoscaler stand-in syncs; default 1000 ms (the real controller: 15 s). */
  autoscalerSyncMs?: number;
  /** Run the Deployment/ReplicaSet/Pod simulation; default true. */
  workloads?: boolean;
  /** Seed for routing and request outcomes, for reproducible traffic. */
  seed?: number;
  /** Bearer token written to the kubeconfig (any non-empty token is accepted); default `sandbox-token`. */
  token?: string;
  /** Accept requests without a bearer token. */
  open?: boolean;
  /**
   * Hold many services cheaply (benchmarks): the services of a
   * {@link ScaleWorld} with instantly ready pods and one exporter for all
   * their traffic, instead of the pod-by-pod workload simulation.
   */
  scale?: ScaleWorldOptions;
  /** Folder for the kubeconfig and Prometheus data; a temp folder (removed on stop) by default. */
  dir?: string;
}

export interface Sandbox {
  /** Plain HTTP URL of the API server (send `Authorization: Bearer <token>`). */
  apiUrl: string;
  /** The same server over TLS, as in the kubeconfig (kubectl sends tokens only over TLS). */
  apiTlsUrl: string;
  /** PEM of the API server's self-signed certificate (the kubeconfig carries it as CA). */
  caPem: string;
  token: string;
  kubeconfigPath: string;
  /** `http://127.0.0.1:<port>/metrics`. */
  metricsUrl: string;
  /** Prometheus base URL, when started with `prometheus: true`. */
  prometheusUrl?: string;
  /** The cluster's objects, for direct inspection. */
  store: ObjectStore;
  /** Create or update objects like `kubectl apply` (YAML text or objects). */
  apply(input: string | K8sObject | K8sObject[]): Promise<K8sObject[]>;
  /** Apply `demo/*.yaml` (namespace `demo`). */
  applyDemoWorld(): Promise<K8sObject[]>;
  traffic: {
    start(spec: TrafficSpec): void;
    stop(spec?: { service: string; namespace?: string }): void;
    running(): TrafficSpec[];
    /** Send `count` requests right now (exact numbers for tests). */
    burst(spec: TrafficSpec, count: number): void;
  };
  /** Requests and errors per destination workload so far. */
  counters(filter: {
    namespace: string;
    service?: string;
  }): Record<string, WorkloadCounters>;
  /** The current `/metrics` text. */
  metricsText(): string;
  /** Every stored version of one object, oldest first. */
  writes(ref: {
    group?: string;
    kind: string;
    namespace?: string;
    name: string;
  }): K8sObject[];
  /** The services of the scale world (option `scale`), else empty. */
  scaleServices: ScaleService[];
  /** API requests served so far, by HTTP method. */
  apiRequests(): Record<string, number>;
  /** Make the next matching API requests fail with the given status. */
  failNext(rule: FaultRule): void;
  /** Drop every fault armed with `failNext`. */
  clearFaults(): void;
  /** Instant PromQL query against the sandbox's Prometheus. */
  query(
    promql: string,
    time?: number,
  ): Promise<
    Array<{ metric: Record<string, string>; value: [number, string] }>
  >;
  /** Resolves when the Deployment has all replicas updated and available. */
  waitForDeployment(
    namespace: string,
    name: string,
    timeoutMs?: number,
  ): Promise<K8sObject>;
  stop(): Promise<void>;
}

/** This package's folder (the sandbox always runs from source, in this monorepo). */
export const PACKAGE_DIR = path.dirname(
  require.resolve('@coalmine/sandbox/package.json'),
);

export const DEMO_DIR = path.join(PACKAGE_DIR, 'demo');

/** A Service with this annotation (requests per second) gets generated traffic. */
export const SANDBOX_TRAFFIC_ANNOTATION = 'coalmine.io/sandbox-traffic';

/** Start the API server, workloads, traffic and metrics (and optionally Prometheus). */
export async function startSandbox(
  options: SandboxOptions = {},
): Promise<Sandbox> {
  const store = new ObjectStore();
  const faults = new FaultInjector();
  const random = createRandom(options.seed);
  const api = new ApiServer({
    store,
    faults,
    port: options.apiPort ?? 0,
    requireToken: !options.open,
  });
  const controller = new WorkloadController(store, {
    readinessDelayMs: options.readinessDelayMs,
    crashLoopRestartMs: options.crashLoopRestartMs,
    oomAfterMs: options.oomAfterMs,
  });
  const router = new Router(store, random);
  const metrics = new MeshMetrics(store);
  const load = new LoadGenerator(router, metrics, random);
  const metricsServer = new MetricsServer(
    () => metrics.render(),
    options.metricsPort ?? 0,
  );
  const ownDir = !options.dir;
  const dir =
    options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-sandbox-'));
  let prometheus: PrometheusProcess | undefined;
  // Argo Rollouts and Flagger stand-ins read Prometheus through this.
  const promQuery = async (promql: string) => {
    if (!prometheus) throw new Error('the sandbox runs without Prometheus');
    return prometheus.query(promql);
  };
  const argoRollouts = new ArgoRolloutsSimulator(store, { query: promQuery });
  // Any Service that asks for traffic with the annotation gets it, so a
  // user can try their own manifests: `coalmine.io/sandbox-traffic: "50"` (rps).
  const unsubscribeTraffic = store.subscribe(e => {
    if (e.rt.kind !== 'Service') return;
    const { name, namespace, annotations } = e.object.metadata;
    const rps = Number(annotations?.[SANDBOX_TRAFFIC_ANNOTATION]);
    if (e.type !== 'DELETED' && rps > 0 && Number.isFinite(rps)) {
      const current = load
        .running()
        .find(t => t.service === name && t.namespace === namespace);
      if (current?.rps !== rps) load.start({ service: name, namespace, rps });
    } else if (
      e.type === 'DELETED' ||
      e.old?.metadata.annotations?.[SANDBOX_TRAFFIC_ANNOTATION]
    ) {
      load.stop({ service: name, namespace });
    }
  });
  const flagger = new FlaggerSimulator(store, { query: promQuery });
  const autoscalers = new HorizontalPodAutoscalers(
    store,
    options.autoscalerSyncMs,
  );
  const scale = options.scale
    ? new ScaleWorld(store, metrics, random, options.scale)
    : undefined;

  const stop = async () => {
    unsubscribeTraffic();
    load.stop();
    scale?.stop();
    argoRollouts.stop();
    flagger.stop();
    autoscalers.stop();
    controller.stop();
    router.close();
    metrics.close();
    await prometheus?.stop();
    await metricsServer.stop();
    await api.stop();
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    await api.start();
    if (scale) {
      scale.start();
    } else if (options.workloads !== false) {
      controller.start();
      argoRollouts.start();
      flagger.start();
      autoscalers.start();
    }
    await metricsServer.start();
    fs.mkdirSync(dir, { recursive: true });
    if (options.prometheus) {
      prometheus = new PrometheusProcess({
        metricsTarget: new URL(metricsServer.url).host,
        dir: path.join(dir, 'prometheus'),
        port: options.prometheusPort ?? 0,
        scrapeIntervalSeconds: options.scrapeIntervalSeconds,
        // The first scrape may come a whole interval after the start.
        startTimeoutMs: 60_000 + 2000 * (options.scrapeIntervalSeconds ?? 1),
      });
      await prometheus.start();
    }
  } catch (e) {
    await stop();
    throw e;
  }

  const token = options.token ?? 'sandbox-token';
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  fs.writeFileSync(
    kubeconfigPath,
    kubeconfigYaml({ server: api.tlsUrl, token, caPem: api.caPem }),
    {
      mode: 0o600,
    },
  );

  return {
    apiUrl: api.url,
    apiTlsUrl: api.tlsUrl,
    caPem: api.caPem,
    token,
    kubeconfigPath,
    metricsUrl: metricsServer.url,
    prometheusUrl: prometheus?.url,
    store,
    async apply(input) {
      const applied = applyManifests(store, input);
      if (options.workloads !== false && !scale) controller.reconcile();
      return applied;
    },
    async applyDemoWorld() {
      const files = fs
        .readdirSync(DEMO_DIR)
        .filter(f => f.endsWith('.yaml'))
        .sort();
      const applied: K8sObject[] = [];
      for (const f of files) {
        applied.push(
          ...applyManifests(
            store,
            fs.readFileSync(path.join(DEMO_DIR, f), 'utf8'),
          ),
        );
      }
      if (options.workloads !== false && !scale) controller.reconcile();
      return applied;
    },
    traffic: {
      start: spec => load.start(spec),
      stop: spec => load.stop(spec),
      running: () => load.running(),
      burst: (spec, count) => load.burst(spec, count),
    },
    counters: filter => load.counters(filter),
    metricsText: () => metrics.render(),
    writes({ group, kind, namespace, name }) {
      const rt = findResourceTypeByKind(kind, group);
      if (!rt) throw new Error(`unknown kind ${kind}`);
      return store.writes(rt, namespace, name);
    },
    scaleServices: scale?.services ?? [],
    apiRequests: () => ({ ...api.requestCounts }),
    failNext(rule) {
      faults.add(rule);
    },
    clearFaults() {
      faults.clear();
    },
    async query(promql, time) {
      if (!prometheus)
        throw new Error('this sandbox was started without prometheus: true');
      return prometheus.query(promql, time);
    },
    async waitForDeployment(namespace, name, timeoutMs = 30_000) {
      const rt = findResourceTypeByKind('Deployment', 'apps')!;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const d = store.get(rt, namespace, name);
        const want = d?.spec?.replicas ?? 1;
        if (
          d &&
          d.status?.observedGeneration === d.metadata.generation &&
          d.status?.updatedReplicas === want &&
          d.status?.availableReplicas === want &&
          d.status?.replicas === want
        ) {
          return d;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `deployment ${namespace}/${name} not available in time: ${JSON.stringify(
              d?.status,
            )}`,
          );
        }
        await new Promise(r => setTimeout(r, 25));
      }
    },
    stop,
  };
}

/** The API server alone: objects are stored, but no controller acts on them. */
export async function startApiSandbox(options: SandboxOptions = {}) {
  return startSandbox({ ...options, prometheus: false, workloads: false });
}
