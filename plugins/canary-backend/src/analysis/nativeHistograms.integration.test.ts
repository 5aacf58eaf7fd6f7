import { JsonObject } from '@backstage/types';
import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { AnalysisDecision } from './Analyzer';
import { createAnalyzer } from './index';
import {
  PrometheusClient,
  PrometheusNativeHistogramError,
} from './PrometheusClient';
import { Random } from './__testUtils__/random';
import {
  encodeMetricFamilies,
  ExposedMetric,
  HistogramState,
  PROTOBUF_CONTENT_TYPE,
  renderText,
} from './__testUtils__/protobufExposition';
import {
  pollUntil,
  RunningPrometheus,
  startMetricsServer,
  startPrometheus,
} from './__testUtils__/startPrometheus';

jest.setTimeout(240_000);

/*
 * A latency histogram that Prometheus keeps as a native histogram only — as
 * Prometheus 3 does for a scrape with `scrape_native_histograms` and without
 * `always_scrape_classic_histograms`, and Prometheus 2 with the
 * `native-histograms` feature — has none of the `_bucket` and `_count`
 * series the latency gates read. One service (Istio-shaped series, two
 * stable pods and a canary, equally fast) exports its histogram with native
 * and classic buckets; two real Prometheus servers scrape it every second:
 * one with the feature (it asks for protobuf and stores the native
 * histogram only), one without (it reads the text format: classic buckets).
 */

const NAME = 'istio_request_duration_milliseconds';
const CLASSIC_BOUNDS = [25, 50, 100, 250, 500, 1000];

/** `canarySchema`: the canary's native resolution (another client or setting than the stable's 3). */
function meshService(seed: number, { canarySchema = 3 } = {}) {
  const service = {
    /** The canary's latency: 3 × the stable's once set. */
    canarySlow: false,
    /** The canary serves (and exports its series) once set. */
    canaryServing: true,
    serve,
    families,
  };
  const pods = [
    { pod: 'app-v1-7d9f8b6c5-abcde', workload: 'app-v1', perTick: 30 },
    { pod: 'app-v1-7d9f8b6c5-fghij', workload: 'app-v1', perTick: 30 },
    { pod: 'app-v2-5c4b3a2d1-klmno', workload: 'app-v2', perTick: 10 },
  ].map(p => ({
    ...p,
    requests: {} as Record<string, number>,
    latency: new HistogramState(
      p.workload === 'app-v2' ? canarySchema : 3,
      CLASSIC_BOUNDS,
    ),
  }));
  const rng = new Random(seed);
  /** 100 ms of traffic: 1 % fail; latency exponential, mean 60 ms (180 ms on a slow canary). */
  function serve() {
    for (const p of pods) {
      if (p.workload === 'app-v2' && !service.canaryServing) continue;
      const mean = service.canarySlow && p.workload === 'app-v2' ? 180 : 60;
      for (let i = 0; i < p.perTick; i++) {
        const code = rng.next() < 0.01 ? '503' : '200';
        p.requests[code] = (p.requests[code] ?? 0) + 1;
        p.latency.observe(-mean * Math.log(1 - rng.next()));
      }
    }
  }
  function families(): ExposedMetric[] {
    const labels = (p: (typeof pods)[number]) => ({
      reporter: 'destination',
      destination_workload_namespace: 'shop',
      destination_workload: p.workload,
      pod: p.pod,
    });
    return [
      {
        type: 'counter',
        name: 'istio_requests_total',
        series: pods.flatMap(p =>
          Object.entries(p.requests).map(([code, value]) => ({
            labels: { ...labels(p), response_code: code },
            value,
          })),
        ),
      },
      {
        type: 'histogram',
        name: NAME,
        // Istio exports a series at its first request.
        series: pods
          .filter(p => p.latency.count > 0)
          .map(p => ({ labels: labels(p), value: p.latency })),
      },
    ];
  }
  return service;
}

const target = {
  namespace: 'shop',
  service: 'app',
  stable: { name: 'app-v1', version: 'v1' },
  canary: { name: 'app-v2', version: 'v2' },
  provider: 'istio' as const,
};

/**
 * The default latency gate, the same test at a bound given, a p99 gate
 * against the stable's, and a custom gate that reads the classic buckets
 * itself.
 */
const gates = {
  metrics: [
    {
      name: 'latency',
      judge: 'sequential',
      errors: 'slow-request-count',
      requests: 'latency-request-count',
      variables: { le: 'auto' },
    },
    {
      name: 'latency-250',
      judge: 'sequential',
      errors: 'slow-request-count',
      requests: 'latency-request-count',
      variables: { le: '250' },
    },
    {
      name: 'p99',
      template: 'request-duration',
      relative: { maxRatio: 1.5 },
    },
    {
      name: 'custom-p99',
      query: `histogram_quantile(0.99, sum by (le) (rate(${NAME}_bucket{destination_workload="{{ workload }}"}[1m])))`,
      thresholdRange: { max: 1000 },
    },
  ],
};
const BUILT_IN = ['latency', 'latency-250', 'p99'];

/** Evaluates every 2 s until `done` says so, the canary is rolled back or `seconds` pass; the checks of each tick by gate. */
async function evaluate(
  client: PrometheusClient,
  seconds: number,
  done: (checks: Record<string, AnalysisCheck>) => boolean,
  metrics: Array<Record<string, unknown>> = gates.metrics,
  afterFirstTick?: () => void,
) {
  const analyzer = createAnalyzer({ analysis: { interval: '5s', metrics } });
  const startedAt = new Date();
  const ticks: Array<Record<string, AnalysisCheck>> = [];
  const actions: string[] = [];
  let decision: AnalysisDecision | undefined;
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    decision = await analyzer.evaluate({
      ...target,
      startedAt,
      state: decision?.state as JsonObject | undefined,
      failedChecks: decision?.failedChecks ?? 0,
      prometheus: client,
    });
    actions.push(decision.action);
    const checks = Object.fromEntries(decision.checks.map(c => [c.metric, c]));
    ticks.push(checks);
    if (ticks.length === 1) afterFirstTick?.();
    if (done(checks) || decision.action === 'rollback') break;
    await new Promise(r => setTimeout(r, 2000));
  }
  const charts = await analyzer.series(
    {
      ...target,
      startedAt,
      state: decision?.state as JsonObject | undefined,
      failedChecks: decision?.failedChecks ?? 0,
      prometheus: client,
    },
    startedAt,
    new Date(),
  );
  return { ticks, actions, charts };
}

const allPass = (checks: Record<string, AnalysisCheck>) =>
  BUILT_IN.every(g => checks[g].verdict === 'pass');

/** A service exporting its histogram in protobuf only, scraped by a Prometheus that keeps native histograms only. */
async function startNativeService(
  service: ReturnType<typeof meshService>,
  scrapeInterval = '1s',
) {
  const timer = setInterval(() => service.serve(), 100);
  const server = await startMetricsServer(() => ({
    contentType: PROTOBUF_CONTENT_TYPE,
    body: encodeMetricFamilies(service.families()),
  }));
  const prometheus = await startPrometheus([`127.0.0.1:${server.port}`], {
    flags: ['--enable-feature=native-histograms'],
    scrapeInterval,
  }).catch(async error => {
    clearInterval(timer);
    await server.close();
    throw error;
  });
  return {
    url: prometheus.url,
    async stop() {
      clearInterval(timer);
      await prometheus.stop();
      await server.close();
    },
  };
}

describe('a latency histogram Prometheus keeps as a native histogram', () => {
  const service = meshService(21);
  let timer: NodeJS.Timeout | undefined;
  let server: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let nativeOnly: RunningPrometheus | undefined;
  let classic: RunningPrometheus | undefined;

  beforeAll(async () => {
    timer = setInterval(() => service.serve(), 100);
    server = await startMetricsServer(accept =>
      accept.includes('application/vnd.google.protobuf')
        ? {
            contentType: PROTOBUF_CONTENT_TYPE,
            body: encodeMetricFamilies(service.families()),
          }
        : {
            contentType: 'text/plain; version=0.0.4',
            body: renderText(service.families()),
          },
    );
    const targets = [`127.0.0.1:${server.port}`];
    [nativeOnly, classic] = await Promise.all([
      startPrometheus(targets, {
        flags: ['--enable-feature=native-histograms'],
      }),
      startPrometheus(targets),
    ]);
  });

  afterAll(async () => {
    clearInterval(timer);
    await Promise.all([nativeOnly?.stop(), classic?.stop()]);
    await server?.close();
  });

  it('judges a healthy canary on the native buckets, and says what a custom query on classic series misses', async () => {
    const client = new PrometheusClient({ url: nativeOnly!.url });
    // Prometheus stored it native: counted through histogram_count(), and
    // no classic series exist.
    await pollUntil(
      async () => {
        const counts = await client.query(
          `histogram_count(${NAME}{destination_workload="app-v2"})`,
        );
        return counts.length === 1 && counts[0].value > 100 ? true : undefined;
      },
      60_000,
      'the canary histogram to be scraped as a native histogram',
    );
    expect(await client.query(`${NAME}_count`)).toEqual([]);
    expect(await client.query(`${NAME}_bucket`)).toEqual([]);

    // A query that returns the histogram samples themselves gets an error
    // that names them, not a crash on a missing value.
    const sample = client.query(`${NAME}{destination_workload="app-v1"}`);
    await expect(sample).rejects.toBeInstanceOf(PrometheusNativeHistogramError);
    await expect(sample).rejects.toThrow(
      `the query returned native histogram samples (${NAME}), which are not numbers — read them through histogram_count(), histogram_sum() or histogram_quantile()`,
    );
    await expect(
      client.querySamples(`${NAME}{destination_workload="app-v1"}`, 10),
    ).rejects.toBeInstanceOf(PrometheusNativeHistogramError);

    const { ticks, actions, charts } = await evaluate(client, 150, allPass);
    expect(actions).not.toContain('rollback');
    const last = ticks[ticks.length - 1];
    for (const gate of BUILT_IN) expect(last[gate].verdict).toBe('pass');
    // Counted above the bucket boundary (schema 3: 2^(k/8)) at or above
    // the stable's p99 (about 276 ms); 250 read at 256, the next one.
    const at = Number(
      /slower than ([0-9.]+) ms/.exec(last.latency.evidence)?.[1],
    );
    expect(at).toBeGreaterThan(250);
    expect(at).toBeLessThan(400);
    expect(Math.log2(at) * 8).toBeCloseTo(Math.round(Math.log2(at) * 8), 2);
    expect(last['latency-250'].evidence).toContain(
      "slower than 256 ms (the native histogram's bucket boundary at or above 250)",
    );
    expect(last.latency.query).toContain(
      `${NAME}{reporter="destination",destination_workload_namespace="shop",destination_workload="app-v2"}[`,
    );
    // The custom query reads classic series: it says why it has none.
    for (const checks of ticks) {
      expect(checks['custom-p99'].verdict).toBe('inconclusive');
      expect(checks['custom-p99'].evidence).toContain(
        `Prometheus stores ${NAME} as a native histogram, without the ${NAME}_bucket and ${NAME}_count series this gate reads — have it keep the classic buckets as well (scrape config always_scrape_classic_histograms: true in Prometheus 3, scrape_classic_histograms: true from 2.45)`,
      );
    }
    // The chart of the latency test: each version's share of requests
    // slower than the bound, from the native buckets.
    const chart = charts.find(c => c.metric === 'latency')!;
    expect(chart.bound?.text).toContain(`share slower than ${at} ms`);
    for (const arm of ['canary', 'stable'] as const) {
      expect(chart[arm].length).toBeGreaterThan(0);
      for (const [, v] of chart[arm]) expect(v).toBeLessThan(5);
    }
  });

  it('judges the same service where Prometheus keeps the classic buckets, as before', async () => {
    const client = new PrometheusClient({ url: classic!.url });
    await pollUntil(
      async () => {
        const s = await client.querySamples(
          `${NAME}_count{destination_workload="app-v2"}`,
          30,
        );
        return s.length === 1 && s[0].points.length >= 3 ? true : undefined;
      },
      60_000,
      'the canary histogram to be scraped with classic buckets',
    );
    const { ticks, actions } = await evaluate(
      client,
      150,
      checks => allPass(checks) && checks['custom-p99'].verdict === 'pass',
    );
    expect(actions).not.toContain('rollback');
    const last = ticks[ticks.length - 1];
    for (const gate of [...BUILT_IN, 'custom-p99'])
      expect(last[gate].verdict).toBe('pass');
    expect(last.latency.evidence).toContain('slower than 500 ms');
    expect(
      ticks.flatMap(checks =>
        Object.values(checks).filter(c => /native/.test(c.evidence)),
      ),
    ).toEqual([]);
  });

  it('rolls back a canary with 3 × the latency, read from the native buckets', async () => {
    service.canarySlow = true;
    const client = new PrometheusClient({ url: nativeOnly!.url });
    // The latency test alone: the rollback is its own.
    const { ticks, actions } = await evaluate(
      client,
      120,
      () => false,
      gates.metrics.filter(g => g.name === 'latency'),
    );
    expect(actions[actions.length - 1]).toBe('rollback');
    const last = ticks[ticks.length - 1];
    expect(last.latency.verdict).toBe('fail');
    expect(last.latency.evidence).toMatch(/slower than [0-9.]+ ms/);
  });
});

describe('a canary whose native histogram has another resolution than the stable', () => {
  // Schema 2: its boundaries are every other one of the stable's schema 3.
  const service = meshService(22, { canarySchema: 2 });
  let running: Awaited<ReturnType<typeof startNativeService>> | undefined;

  beforeAll(async () => {
    // The bound is chosen before the canary serves: from the stable's
    // buckets alone.
    service.canaryServing = false;
    running = await startNativeService(service);
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('counts above a boundary of both, chosen again when the canary’s bucket falls across the first', async () => {
    const client = new PrometheusClient({ url: running!.url });
    await pollUntil(
      async () => {
        const counts = await client.query(
          `histogram_count(${NAME}{destination_workload="app-v1"})`,
        );
        return counts.length === 2 && counts.every(c => c.value > 500)
          ? true
          : undefined;
      },
      60_000,
      'the stable histograms to be scraped',
    );
    const { ticks, actions } = await evaluate(
      client,
      150,
      checks => checks.latency.verdict === 'pass',
      // At 270 ms: the stable's next boundary is 2^(65/8) = 279.2, inside
      // the canary's bucket (256, 304.4].
      [{ ...gates.metrics[0], variables: { le: '270' } }],
      () => {
        service.canaryServing = true;
      },
    );
    // Equally fast versions: never rolled back for their resolutions.
    expect(actions).not.toContain('rollback');
    const boundOf = (evidence: string) =>
      Number(/slower than ([0-9.]+) ms/.exec(evidence)?.[1]);
    const first = boundOf(ticks[0].latency.evidence);
    const last = ticks[ticks.length - 1].latency;
    expect(last.verdict).toBe('pass');
    const at = boundOf(last.evidence);
    // First the stable's boundary, then the next one of both.
    expect(first).toBe(279.2);
    expect(at).toBe(304.4);
    const again = ticks.find(t =>
      /counting above [0-9.]+ from now on, a boundary of both versions \(the test starts over\)/.test(
        t.latency.evidence,
      ),
    );
    expect(again?.latency.verdict).toBe('inconclusive');
    expect(again?.latency.evidence).toContain(
      "the canary's native latency histogram has a bucket (",
    );
  });
});

describe('native latency through a Prometheus scraping every 15 s', () => {
  const service = meshService(23);
  let running: Awaited<ReturnType<typeof startNativeService>> | undefined;

  beforeAll(async () => {
    running = await startNativeService(service, '15s');
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('holds an equally fast canary and rolls back one with 3 × the latency', async () => {
    const client = new PrometheusClient({ url: running!.url });
    await pollUntil(
      async () => {
        const s = await client.queryHistogramSamples(
          `${NAME}{destination_workload=~"app-v1|app-v2"}`,
          60,
        );
        return s.length === 3 && s.every(x => x.points.length >= 2)
          ? true
          : undefined;
      },
      90_000,
      'two scrapes of every pod',
    );
    const latencyOnly = gates.metrics.filter(g => g.name === 'latency');
    // 90 s of an equal canary: read, never rolled back.
    const healthy = await evaluate(client, 90, () => false, latencyOnly);
    expect(healthy.actions).not.toContain('rollback');
    expect(
      healthy.ticks.some(t =>
        /slower than [0-9.]+ ms/.test(t.latency.evidence),
      ),
    ).toBe(true);
    // Then 3 × the latency, in a new rollout.
    service.canarySlow = true;
    const slow = await evaluate(client, 180, () => false, latencyOnly);
    expect(slow.actions[slow.actions.length - 1]).toBe('rollback');
    expect(slow.ticks[slow.ticks.length - 1].latency.verdict).toBe('fail');
  }, 420_000);
});
