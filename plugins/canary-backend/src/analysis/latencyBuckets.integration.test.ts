import { JsonObject } from '@backstage/types';
import { AnalysisDecision } from './Analyzer';
import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { createAnalyzer } from './index';
import { PrometheusClient } from './PrometheusClient';
import { Random } from './__testUtils__/random';
import {
  pollUntil,
  startScrapedService,
} from './__testUtils__/startPrometheus';

jest.setTimeout(180_000);

/** Each version's bucket labels; with `canarySecondPod`, a second canary pod that writes its bounds so. */
type Layouts = {
  stable: string[];
  canary: string[];
  canarySecondPod?: string[];
};

/**
 * Istio-shaped series from three pods (two stable, one canary), equally
 * fast, each version with its own bucket labels, scraped every second by a
 * real Prometheus. The canary serves once `canaryServing` is set.
 */
function histogramService(layouts: Layouts, seed: number) {
  const pods: Array<{
    pod: string;
    workload: string;
    arm: 'stable' | 'canary';
    layout: string[];
  }> = [
    {
      pod: 'app-v1-7d9f8b6c5-abcde',
      workload: 'app-v1',
      arm: 'stable',
      layout: layouts.stable,
    },
    {
      pod: 'app-v1-7d9f8b6c5-fghij',
      workload: 'app-v1',
      arm: 'stable',
      layout: layouts.stable,
    },
    {
      pod: 'app-v2-5c4b3a2d1-klmno',
      workload: 'app-v2',
      arm: 'canary',
      layout: layouts.canary,
    },
  ];
  if (layouts.canarySecondPod)
    pods.push({
      pod: 'app-v2-5c4b3a2d1-pqrst',
      workload: 'app-v2',
      arm: 'canary',
      layout: layouts.canarySecondPod,
    });
  type Pod = (typeof pods)[number] & {
    requests: Record<string, number>;
    buckets: Record<string, number>;
    count: number;
    sum: number;
  };
  const state: Pod[] = pods.map(p => ({
    ...p,
    requests: {},
    buckets: {},
    count: 0,
    sum: 0,
  }));
  const service = {
    canaryServing: false,
    canaryPods: layouts.canarySecondPod ? 2 : 1,
    serve,
    render,
  };
  const rng = new Random(seed);
  const random = () => rng.next();

  /** 100 ms of traffic: 30 requests on each stable pod, 10 on the canary once it serves; 1 % fail; latency exponential, mean 60 ms. */
  function serve() {
    for (const p of state) {
      if (p.arm === 'canary' && !service.canaryServing) continue;
      const n = p.arm === 'canary' ? 10 : 30;
      for (let i = 0; i < n; i++) {
        const code = random() < 0.01 ? '503' : '200';
        p.requests[code] = (p.requests[code] ?? 0) + 1;
        const ms = -60 * Math.log(1 - random());
        p.count++;
        p.sum += ms;
        for (const le of p.layout)
          if (le === '+Inf' || ms <= Number(le))
            p.buckets[le] = (p.buckets[le] ?? 0) + 1;
      }
    }
  }

  function render(): string {
    const lines = [
      '# TYPE istio_requests_total counter',
      '# TYPE istio_request_duration_milliseconds histogram',
    ];
    for (const p of state) {
      if (p.count === 0) continue; // Istio exports a series at its first request.
      const labels = `reporter="destination",destination_workload_namespace="shop",destination_workload="${p.workload}",pod="${p.pod}"`;
      for (const [code, n] of Object.entries(p.requests))
        lines.push(
          `istio_requests_total{${labels},response_code="${code}"} ${n}`,
        );
      for (const le of p.layout)
        lines.push(
          `istio_request_duration_milliseconds_bucket{${labels},le="${le}"} ${
            p.buckets[le] ?? 0
          }`,
        );
      lines.push(
        `istio_request_duration_milliseconds_sum{${labels}} ${p.sum}`,
        `istio_request_duration_milliseconds_count{${labels}} ${p.count}`,
      );
    }
    return `${lines.join('\n')}\n`;
  }
  return service;
}

/**
 * Ticks the analysis every 2 s (the canary starts serving after the first,
 * or with `canaryFirst` before it, once its histogram is scraped) until the
 * latency check passes or the canary is rolled back, at most `seconds`
 * (two minutes); the latency checks of every tick.
 */
async function judgeLatency(
  service: ReturnType<typeof histogramService>,
  prometheusUrl: string,
  analysis: Record<string, unknown>,
  { canaryFirst = false, seconds = 120 } = {},
): Promise<{ actions: string[]; latency: AnalysisCheck[] }> {
  const client = new PrometheusClient({ url: prometheusUrl });
  if (canaryFirst) service.canaryServing = true;
  const scraped = (workload: string, pods: number) =>
    pollUntil(
      async () => {
        const s = await client.querySamples(
          `istio_request_duration_milliseconds_count{destination_workload="${workload}"}`,
          60,
        );
        return s.length === pods && s.every(x => x.points.length >= 3)
          ? true
          : undefined;
      },
      60_000,
      `the ${workload} histograms to be scraped`,
    );
  await scraped('app-v1', 2);
  if (canaryFirst) await scraped('app-v2', service.canaryPods);
  const analyzer = createAnalyzer({
    analysis: { interval: '5s', ...analysis },
  });
  const startedAt = new Date();
  let decision: AnalysisDecision | undefined;
  const actions: string[] = [];
  const latency: AnalysisCheck[] = [];
  const deadline = Date.now() + seconds * 1000;
  for (let tick = 0; Date.now() < deadline; tick++) {
    // The first tick chooses the bound before the canary has a histogram.
    if (tick === 1) service.canaryServing = true;
    decision = await analyzer.evaluate({
      namespace: 'shop',
      service: 'app',
      stable: { name: 'app-v1', version: 'v1' },
      canary: { name: 'app-v2', version: 'v2' },
      provider: 'istio',
      startedAt,
      state: decision?.state as JsonObject | undefined,
      failedChecks: decision?.failedChecks ?? 0,
      prometheus: client,
    });
    actions.push(decision.action);
    const check = decision.checks.find(c => c.metric === 'latency')!;
    latency.push(check);
    if (check.verdict === 'pass' || decision.action === 'rollback') break;
    await new Promise(r => setTimeout(r, 2000));
  }
  return { actions, latency };
}

/**
 * A new version that ships its latency histogram with other buckets — a
 * routine change in an application's code. Both versions are equally fast;
 * the stable exports bounds 50, 100, 250, 500 ms, the canary 25, 50, 100,
 * 200, 400, 800 ms.
 */
describe('a canary whose latency histogram has other buckets', () => {
  const service = histogramService(
    {
      stable: ['50', '100', '250', '500', '+Inf'],
      canary: ['25', '50', '100', '200', '400', '800', '+Inf'],
    },
    11,
  );
  let prometheus: { url: string; stop(): Promise<void> };

  beforeAll(async () => {
    prometheus = await startScrapedService(service.render, service.serve);
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('never reads the missing bucket as slow requests: says so, chooses a bound both have, and judges with it', async () => {
    const { actions, latency } = await judgeLatency(
      service,
      prometheus.url,
      {},
    );

    // A healthy canary is never rolled back for its buckets.
    expect(actions).not.toContain('rollback');
    // The bound chosen before the canary served was the stable's (500 ms
    // for a p99 near 280 ms); the canary has no such bucket, and the check
    // says so and what happens next.
    const mismatch = latency.find(c =>
      /has no bucket le="500"/.test(c.evidence),
    );
    expect(mismatch).toBeDefined();
    expect(mismatch!.verdict).toBe('inconclusive');
    expect(mismatch!.evidence).toMatch(
      /the canary's latency histogram has no bucket le="500" \(pod app-v2-5c4b3a2d1-klmno; its bounds: 25, 50, 100, 200, 400, 800; bounds both versions have: 50, 100\) — choosing the bound again/,
    );
    // Then the largest shared bound below the p99, and a verdict with it.
    const last = latency[latency.length - 1];
    expect(last.verdict).toBe('pass');
    expect(last.evidence).toMatch(/slower than 100 ms/);
  });
});

/**
 * The same bounds written another way. Bucket labels are text: a Go client
 * exports `250`, a Python or Java client `250.0`, and Prometheus 3 stores
 * every classic bucket as `250.0` whatever the exporter wrote — so a policy
 * with `le: 250` (or a stable Go service whose new version is built with
 * another client) asks for a bucket no series has.
 */
/** The same bounds as a Go client writes them, and as Python and Java clients (and Prometheus 3) do. */
const written = ['50', '100', '250', '500', '+Inf'];
const decimal = ['50.0', '100.0', '250.0', '500.0', '+Inf'];

const explicitLe = {
  metrics: [
    {
      name: 'latency',
      judge: 'sequential',
      errors: 'slow-request-count',
      requests: 'latency-request-count',
      variables: { le: '250' },
    },
  ],
};

describe.each([
  {
    what: 'le: 250, the canary writing the bounds as 250.0 (another client library)',
    layouts: { stable: written, canary: decimal },
    analysis: explicitLe,
    arm: 'canary',
    bound: '250',
  },
  {
    what: "le: 250, both versions' bounds reading 250.0 (as Prometheus 3 stores them)",
    layouts: { stable: decimal, canary: decimal },
    analysis: explicitLe,
    arm: 'stable',
    bound: '250',
  },
  {
    // Chosen from the stable's bounds before the canary served (p99 near
    // 280 ms: 500), then found under the canary's spelling.
    what: 'le: auto, the canary writing the bounds as 500.0',
    layouts: { stable: written, canary: decimal },
    analysis: {},
    arm: 'canary',
    bound: '500',
  },
  {
    // The canary already serves when the bound is chosen: its spelling is
    // known then, and its own bucket is asked for from the first reading.
    what: 'le: auto, the canary writing the bounds as 500.0 and serving when the bound is chosen',
    layouts: { stable: written, canary: decimal },
    analysis: {},
    arm: 'canary',
    bound: '500',
    canaryFirst: true,
  },
])(
  'a latency gate with $what',
  ({ layouts, analysis, arm, bound, canaryFirst }) => {
    const service = histogramService(layouts, 12);
    let prometheus: { url: string; stop(): Promise<void> };

    beforeAll(async () => {
      prometheus = await startScrapedService(service.render, service.serve);
    });

    afterAll(async () => {
      await prometheus?.stop();
    });

    it('reads the bucket as the version writes it and judges at the same bound', async () => {
      const { actions, latency } = await judgeLatency(
        service,
        prometheus.url,
        analysis,
        { canaryFirst },
      );

      expect(actions).not.toContain('rollback');
      const respelled = latency.find(c =>
        c.evidence.includes(
          `the ${arm}'s latency histogram writes the bound ${bound} as le="${bound}.0"`,
        ),
      );
      // With the canary serving when the bound is chosen, nothing starts
      // over: the first reading asked for le="500.0".
      expect(respelled?.verdict).toBe(canaryFirst ? undefined : 'inconclusive');
      // Never stuck on the missing spelling: a verdict at the bound asked for.
      expect(latency.filter(c => /has no bucket/.test(c.evidence))).toEqual([]);
      const last = latency[latency.length - 1];
      expect(last.verdict).toBe('pass');
      expect(last.evidence).toMatch(new RegExp(`slower than ${bound} ms`));
    });
  },
);

/**
 * Two canary pods built with different client libraries: one writes its
 * bounds 250, the other 250.0. Neither spelling reads the whole version,
 * so the gate waits and says what to fix.
 */
describe('a canary whose pods write the bound two ways', () => {
  const service = histogramService(
    { stable: written, canary: written, canarySecondPod: decimal },
    13,
  );
  let prometheus: { url: string; stop(): Promise<void> };

  beforeAll(async () => {
    prometheus = await startScrapedService(service.render, service.serve);
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('stays inconclusive, naming both spellings and how to make them one', async () => {
    const { actions, latency } = await judgeLatency(
      service,
      prometheus.url,
      explicitLe,
      { canaryFirst: true, seconds: 20 },
    );

    expect(actions).not.toContain('rollback');
    expect(latency.map(c => c.verdict)).not.toContain('pass');
    const last = latency[latency.length - 1];
    expect(last.verdict).toBe('inconclusive');
    expect(last.evidence).toContain(
      `the canary's latency histogram has no bucket le="250" (pod app-v2-5c4b3a2d1-pqrst;`,
    );
    expect(last.evidence).toContain(
      'its pods write this bound as le="250" and le="250.0"',
    );
    expect(last.evidence).toContain('metric_relabel_configs');
  });
});
