import { JsonObject } from '@backstage/types';
import {
  AnalysisContext,
  AnalysisDecision,
  LIST_PODS_TIMEOUT_MS,
  PrometheusQuerier,
} from './Analyzer';
import { AnalysisConfigError, createTemplateRegistry } from './config';
import { createAnalyzer } from './index';
import {
  PrometheusNoDataError,
  PrometheusUnreachableError,
} from './PrometheusClient';

const start = new Date('2026-06-01T10:00:00Z');

/** A Prometheus that answers from a small model of two arms. */
class FakePrometheus implements PrometheusQuerier {
  down = false;
  queries: string[] = [];
  counts = {
    canary: { requests: 0, errors: 0, slow: 0 },
    stable: { requests: 0, errors: 0, slow: 0 },
  };
  /** Share of requests slower than 250 ms. */
  slowShare = { canary: 0.01, stable: 0.01 };
  bucketBounds = ['50', '100', '250', '500', '+Inf'];
  stableP99BeforeRollout = 240;

  async query(promql: string) {
    this.queries.push(promql);
    if (this.down) throw new PrometheusUnreachableError('down');
    if (
      !promql.startsWith(
        'count by (le) (istio_request_duration_milliseconds_bucket{',
      )
    ) {
      throw new Error(`unexpected query ${promql}`);
    }
    return this.bucketBounds.map(le => ({ labels: { le }, time: 0, value: 1 }));
  }
  p99 = { canary: 100, stable: 100 };
  windowRequests = { canary: 1000, stable: 9000 };

  /** Counts as they stood at each query time, for windowed increases. */
  snapshots = new Map<number, FakePrometheus['counts']>();

  /** increase(…[Ns]) at `time`: the counts then less those N s earlier. */
  #windowed(
    promql: string,
    time: Date | undefined,
    arm: 'canary' | 'stable',
    kind: 'requests' | 'errors' | 'slow',
  ): number {
    const at = time?.getTime() ?? Date.now();
    if (!this.snapshots.has(at))
      this.snapshots.set(at, JSON.parse(JSON.stringify(this.counts)));
    const window = /\[(\d+)s\]/.exec(promql);
    const now = this.snapshots.get(at)![arm][kind];
    if (!window) return now;
    const from = at - Number(window[1]) * 1000;
    const earlier = [...this.snapshots.keys()]
      .filter(t => t <= from)
      .sort((a, b) => b - a)[0];
    return (
      now -
      (earlier === undefined ? 0 : this.snapshots.get(earlier)![arm][kind])
    );
  }

  async queryValue(promql: string, options?: { time?: Date }): Promise<number> {
    this.queries.push(promql);
    if (this.down)
      throw new PrometheusUnreachableError(
        'Prometheus at http://prom:9090/ is unreachable: ECONNREFUSED',
      );
    const arm = promql.includes('destination_workload="app-canary"')
      ? 'canary'
      : 'stable';
    if (promql.startsWith('histogram_quantile')) {
      if (
        options?.time?.getTime() === start.getTime() &&
        /\[30m\]/.test(promql)
      ) {
        return this.stableP99BeforeRollout;
      }
      return this.p99[arm];
    }
    if (promql.includes('istio_request_duration_milliseconds_count')) {
      const slowQuery = promql.includes(' - ');
      if (slowQuery !== promql.includes('le="250"')) {
        throw new Error(`unexpected latency query ${promql}`);
      }
      return this.#windowed(
        promql,
        options?.time,
        arm,
        slowQuery ? 'slow' : 'requests',
      );
    }
    if (promql.includes('increase(istio_requests_total')) {
      if (/\[1m\]/.test(promql)) return this.windowRequests[arm];
      const kind = promql.includes('response_code=~"5.."')
        ? 'errors'
        : 'requests';
      // No series before the first event.
      if (this.counts[arm][kind] === 0) throw new PrometheusNoDataError(promql);
      return this.#windowed(promql, options?.time, arm, kind);
    }
    throw new PrometheusNoDataError(promql);
  }

  async queryRange(promql: string, from: Date, end: Date, step: number) {
    this.queries.push(promql);
    if (this.down) throw new PrometheusUnreachableError('down');
    const points: Array<[number, number]> = [];
    for (let t = from.getTime() / 1000; t <= end.getTime() / 1000; t += step)
      points.push([t, 1]);
    return [{ labels: {}, points }];
  }

  /** Traffic for one tick: `rps` requests/s for `seconds`, canary share and error rates. */
  serve(
    seconds: number,
    rps: number,
    canaryShare: number,
    canaryErrorRate: number,
    stableErrorRate: number,
  ) {
    const canary = Math.round(seconds * rps * canaryShare);
    const stable = Math.round(seconds * rps) - canary;
    this.counts.canary.requests += canary;
    this.counts.stable.requests += stable;
    this.counts.canary.errors += Math.round(canary * canaryErrorRate);
    this.counts.stable.errors += Math.round(stable * stableErrorRate);
    this.counts.canary.slow += Math.round(canary * this.slowShare.canary);
    this.counts.stable.slow += Math.round(stable * this.slowShare.stable);
  }
}

type PreviousTick = { state: JsonObject; failedChecks: number };

function context(
  prometheus: FakePrometheus,
  tick: number,
  previous?: { state: JsonObject; failedChecks: number },
): AnalysisContext {
  return {
    namespace: 'shop',
    service: 'app',
    stable: { name: 'app', version: 'v1' },
    canary: { name: 'app-canary', version: 'v2' },
    startedAt: start,
    now: new Date(start.getTime() + (tick + 1) * 30_000),
    state: previous?.state,
    failedChecks: previous?.failedChecks ?? 0,
    prometheus,
  };
}

describe('analysis config', () => {
  const templates = createTemplateRegistry({});

  it('names the key of a wrong value', () => {
    const error = (() => {
      try {
        createAnalyzer({
          key: 'canary.policies.default.analysis',
          templates,
          analysis: {
            metrics: [
              { name: 'error-rate', judge: 'sequential' },
              { name: 'request-success-rate', thresholdRange: { min: '99' } },
            ],
          },
        });
        return undefined;
      } catch (e) {
        return e as AnalysisConfigError;
      }
    })();
    expect(error).toBeInstanceOf(AnalysisConfigError);
    expect(error!.message).toBe(
      'canary.policies.default.analysis.metrics[1].thresholdRange.min: expected a number, got string',
    );
  });

  it('checks meaning: templates, bounds, variables, durations', () => {
    const problems = (analysis: unknown) => {
      try {
        createAnalyzer({ key: 'a', templates, analysis });
        return [];
      } catch (e) {
        return (e as AnalysisConfigError).problems.map(
          p => `${p.key}: ${p.message}`,
        );
      }
    };
    expect(problems({ interval: '10 minutes' })).toEqual([
      'a.interval: expected a duration such as 30s, 1m or 1h30m',
    ]);
    expect(
      problems({ metrics: [{ name: 'nope', thresholdRange: { max: 1 } }] })[0],
    ).toMatch(/^a\.metrics\[0\]\.name: unknown template "nope"/);
    expect(problems({ metrics: [{ name: 'request-duration' }] })).toEqual([
      'a.metrics[0]: needs thresholdRange, relative or judge: sequential',
    ]);
    expect(
      problems({
        metrics: [
          { name: 'slow', judge: 'sequential', errors: 'slow-request-count' },
        ],
      }),
    ).toEqual(['a.metrics[0].variables.le: the template needs variable "le"']);
    expect(
      problems({
        metrics: [
          { name: 'x', judge: 'sequential', errors: 'request-duration' },
        ],
      }),
    ).toEqual([
      'a.metrics[0].errors: template "request-duration" is not a count template (kind: count)',
    ]);
    expect(problems({ inconclusive: 'maybe' })[0]).toMatch(
      /^a\.inconclusive: /,
    );
    expect(
      problems({
        metrics: [
          {
            name: 'q',
            query: 'sum(x{a="{{ namespace }}"}',
            thresholdRange: { max: 1 },
          },
        ],
      })[0],
    ).toMatch(
      /^a\.metrics\[0\]\.query: template "q" at line 1, column 27: not valid PromQL \(unexpected end of the query\)/,
    );
    expect(
      problems({
        failureLimit: 3,
        alpha: 0.05,
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 99 } },
        ],
      }),
    ).toEqual([]);
  });

  it('rejects a custom template that does not parse at start-up, with its key and position', () => {
    expect(() =>
      createTemplateRegistry({
        conversion: {
          query:
            'sum(rate(orders_total{version="{{ version }}"}[{{ interval }}])) /',
        },
      }),
    ).toThrow(
      /^canary\.templates\.conversion\.query: template "conversion" at line 1, column \d+/,
    );
  });
});

describe('Analyzer', () => {
  it('advances a healthy canary', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({ analysis: {} });
    // This fake has no raw-sample reads: counts come from increase() over
    // fixed windows of at least the gate's interval (1m) that tile time.
    // At 30 s ticks: nothing to read at 30 s; the first reading (60 s)
    // only marks where the first slice at this weight begins (the counts
    // before it span the weight change); at 90 s the window is too short;
    // at 120 s the first slice is judged.
    let previous: PreviousTick | undefined;
    const verdicts: string[][] = [];
    const actions: string[] = [];
    let decision;
    for (let tick = 0; tick < 4; tick++) {
      prometheus.serve(30, 100, 0.1, 0.01, 0.01);
      decision = await analyzer.evaluate(context(prometheus, tick, previous));
      previous = decision as unknown as PreviousTick;
      verdicts.push(decision.checks.map(c => c.verdict));
      actions.push(decision.action);
    }
    expect(verdicts).toEqual([
      ['inconclusive', 'inconclusive'],
      ['inconclusive', 'inconclusive'],
      ['inconclusive', 'inconclusive'],
      ['pass', 'pass'],
    ]);
    expect(actions).toEqual(['hold', 'hold', 'hold', 'advance']);
    // Windows of increase() tile time, (0, 60 s] and (60 s, 120 s]: none
    // grows with the rollout's age.
    const windows = prometheus.queries
      .filter(q => q.includes('increase(') && !q.includes('[1m]'))
      .map(q => /\[(\w+)\]/.exec(q)?.[1]);
    // (And each gate's stable history, two range queries read once.)
    expect(windows.length).toBe(2 * 8 + 2 * 2);
    expect(new Set(windows)).toEqual(new Set(['60s']));
    decision = decision!;
    expect(decision.checks[1].evidence).toMatch(
      /^canary share of requests slower than 250 ms 1 % \(6 of 600\) vs stable 1 % \(54 of 5400\)/,
    );
    expect(decision.action).toBe('advance');
    // The policy's α = 1 % is shared by the two sequential gates.
    expect(decision.checks.map(c => c.details?.alpha)).toEqual([0.005, 0.005]);
    expect(JSON.parse(JSON.stringify(decision.state))).toEqual(decision.state);
  });

  it('rolls back a canary with 10 % errors at once, naming the failing check', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({ analysis: {} });
    let previous: { state: JsonObject; failedChecks: number } | undefined;
    let decision;
    for (let tick = 0; tick < 10; tick++) {
      prometheus.serve(30, 20, 0.05, 0.1, 0.005);
      decision = await analyzer.evaluate(context(prometheus, tick, previous));
      previous = decision;
      if (decision.action === 'rollback') break;
    }
    expect(decision!.action).toBe('rollback');
    expect(decision!.reason).toMatch(
      /^hard stop — error-rate: canary error rate 10 % /,
    );
    const failing = decision!.checks.find(c => c.verdict === 'fail')!;
    expect(failing.judge).toBe('sequential');
    expect(failing.query).toContain(
      'destination_workload="app-canary",response_code=~"5.."',
    );
  });

  it('records a dry-run gate without acting on it', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({
      analysis: {
        metrics: [
          { name: 'error-rate', judge: 'sequential', dryRun: true },
          {
            name: 'latency',
            judge: 'sequential',
            errors: 'slow-request-count',
            requests: 'latency-request-count',
            variables: { le: '250' },
          },
        ],
      },
    });
    let previous: PreviousTick | undefined;
    const decisions = [];
    for (let tick = 0; tick < 10; tick++) {
      // 10 % canary errors: the error gate fails, but only in dry run.
      prometheus.serve(30, 20, 0.05, 0.1, 0.005);
      const decision = await analyzer.evaluate(
        context(prometheus, tick, previous),
      );
      previous = decision as unknown as PreviousTick;
      decisions.push(decision);
    }
    expect(decisions.every(d => d.action !== 'rollback')).toBe(true);
    const last = decisions[decisions.length - 1];
    const dry = last.checks.find(c => c.metric === 'error-rate')!;
    expect(dry.verdict).toBe('fail');
    expect(dry.details?.dryRun).toBe(true);
    expect(dry.evidence).toMatch(/^\[dry run\] canary error rate 10 % /);
    expect(last.action).toBe('advance');
  });

  it('holds a rollout whose traffic split does not match the weight', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({ analysis: {} });
    let previous: PreviousTick | undefined;
    let decision;
    for (let tick = 0; tick < 5; tick++) {
      // The weight says 5 %, the mesh sends the canary half the requests.
      prometheus.serve(30, 100, 0.5, 0.01, 0.01);
      decision = await analyzer.evaluate({
        ...context(prometheus, tick, previous),
        weight: 5,
      });
      previous = decision as unknown as PreviousTick;
    }
    expect(decision!.action).toBe('hold');
    expect(decision!.reason).toMatch(
      /^traffic split mismatch — the canary got 50 % of .* requests at a configured weight of 5 %/,
    );
    expect(
      decision!.checks.find(c => c.metric === 'traffic-split')?.verdict,
    ).toBe('fail');
  });

  it('rolls back a canary whose slow requests grow, with the bound chosen from before the rollout', async () => {
    const prometheus = new FakePrometheus();
    prometheus.slowShare.canary = 0.08;
    const analyzer = createAnalyzer({ analysis: {} });
    let previous: { state: JsonObject; failedChecks: number } | undefined;
    let decision;
    for (let tick = 0; tick < 20; tick++) {
      prometheus.serve(30, 50, 0.1, 0.01, 0.01);
      decision = await analyzer.evaluate(context(prometheus, tick, previous));
      previous = decision;
      if (decision.action === 'rollback') break;
    }
    expect(decision!.action).toBe('rollback');
    expect(decision!.reason).toMatch(
      /^hard stop — latency: canary share of requests slower than 250 ms 8 % .* the canary is worse than stable/,
    );
    // The bound is chosen once (from both versions' buckets) and kept.
    const boundQueries = prometheus.queries.filter(q =>
      q.startsWith('count by (le)'),
    );
    expect(boundQueries).toHaveLength(2);
    expect(boundQueries.filter(q => q.includes('"app-canary"'))).toHaveLength(
      1,
    );
  });

  it('counts a relative p99 failure toward the failure limit', async () => {
    const prometheus = new FakePrometheus();
    prometheus.p99 = { canary: 200, stable: 100 };
    const analyzer = createAnalyzer({
      analysis: {
        interval: '30s',
        failureLimit: 2,
        metrics: [
          {
            name: 'request-duration',
            interval: '30s',
            relative: { maxRatio: 1.2 },
          },
        ],
      },
    });
    const first = await analyzer.evaluate(context(prometheus, 0));
    expect(first.action).toBe('hold');
    expect(first.failedChecks).toBe(1);
    expect(first.checks[0].evidence).toBe(
      'canary request duration 200 ms vs stable 100 ms (2 × stable) is above the bound ≤ 1.2 × stable = 120 ms',
    );
    const second = await analyzer.evaluate(context(prometheus, 1, first));
    expect(second.action).toBe('rollback');
    expect(second.reason).toMatch(
      /^2 of 2 allowed failed ticks reached — request-duration: /,
    );
  });

  it('evaluates a gate once per its window and reuses the check in between', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({
      analysis: {
        interval: '30s',
        metrics: [
          {
            name: 'request-duration',
            interval: '2m',
            relative: { maxRatio: 1.2 },
          },
        ],
      },
    });
    let previous = await analyzer.evaluate(context(prometheus, 0));
    const queried: boolean[] = [true];
    const reused: boolean[] = [false];
    for (let tick = 1; tick < 8; tick++) {
      prometheus.queries = [];
      previous = await analyzer.evaluate(context(prometheus, tick, previous));
      queried.push(prometheus.queries.length > 0);
      reused.push(previous.checks[0].details?.reused === true);
    }
    // 2m window at 30s ticks: ticks 0 and 4 query, the others reuse the check.
    expect(queried).toEqual([
      true,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
    ]);
    expect(reused).toEqual(queried.map(q => !q));
  });

  it('holds when Prometheus is down, or rolls back after N ticks when told to', async () => {
    const prometheus = new FakePrometheus();
    prometheus.down = true;
    const holding = createAnalyzer({ analysis: {} });
    // (At 60 s: the first window of the count queries has passed.)
    const decision = await holding.evaluate(context(prometheus, 1));
    expect(decision.action).toBe('hold');
    expect(decision.checks.every(c => c.verdict === 'inconclusive')).toBe(true);
    expect(decision.reason).toMatch(
      /^inconclusive — error-rate: error rate counts unavailable \(Prometheus at http:\/\/prom:9090\/ is unreachable: ECONNREFUSED\)/,
    );

    const strict = createAnalyzer({
      analysis: { inconclusive: { policy: 'fail', after: 2 } },
    });
    const one = await strict.evaluate(context(prometheus, 1));
    expect(one.action).toBe('hold');
    const two = await strict.evaluate(context(prometheus, 2, one));
    expect(two.action).toBe('rollback');
    expect(two.reason).toMatch(/^inconclusive for 2 ticks in a row/);

    const counting = createAnalyzer({
      analysis: { inconclusive: 'count', failureLimit: 1 },
    });
    expect((await counting.evaluate(context(prometheus, 1))).action).toBe(
      'rollback',
    );
  });

  it('stops at once on an OOM-killed canary pod', async () => {
    const prometheus = new FakePrometheus();
    prometheus.serve(30, 100, 0.1, 0.01, 0.01);
    const analyzer = createAnalyzer({ analysis: {} });
    const decision = await analyzer.evaluate({
      ...context(prometheus, 0),
      podHealth: {
        pods: [
          {
            name: 'app-canary-5d9f-abcde',
            ready: false,
            restarts: 1,
            reasons: ['OOMKilled'],
          },
        ],
      },
    });
    expect(decision.action).toBe('rollback');
    expect(decision.reason).toBe(
      'hard stop — pod-health: canary pod app-canary-5d9f-abcde OOMKilled',
    );
  });

  it('resets consecutive failures in consecutive mode', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({
      analysis: {
        failureMode: 'consecutive',
        failureLimit: 2,
        metrics: [
          {
            name: 'request-duration',
            interval: '30s',
            relative: { maxRatio: 1.2 },
          },
        ],
      },
    });
    prometheus.p99.canary = 200;
    const a = await analyzer.evaluate(context(prometheus, 0));
    prometheus.p99.canary = 100;
    const b = await analyzer.evaluate(context(prometheus, 1, a));
    prometheus.p99.canary = 200;
    const c = await analyzer.evaluate(context(prometheus, 2, b));
    expect([a.failedChecks, b.failedChecks, c.failedChecks]).toEqual([1, 0, 1]);
    expect(c.action).toBe('hold');
  });

  it('returns a series per gated metric with about 120 points', async () => {
    const prometheus = new FakePrometheus();
    const analyzer = createAnalyzer({
      analysis: {
        metrics: [
          { name: 'error-rate', judge: 'sequential' },
          { name: 'request-success-rate', thresholdRange: { min: 99 } },
          { name: 'request-duration', relative: { maxRatio: 1.2 } },
        ],
      },
    });
    const series = await analyzer.series(
      context(prometheus, 0),
      start,
      new Date(start.getTime() + 3_600_000),
    );
    expect(series.map(s => s.metric)).toEqual([
      'error-rate',
      'request-success-rate',
      'request-duration',
    ]);
    expect(series[1].bound).toEqual({ min: 99, text: '≥ 99 %' });
    expect(series[2].bound).toEqual({ text: '≤ 1.2 × stable' });
    expect(series[0].canary.length).toBe(121);
    expect(prometheus.queries[0]).toMatch(
      /^100 \* \(sum\(increase\(istio_requests_total\{.*\[120s\]\)\)\) \/ \(/,
    );
    expect(series[0].bound).toEqual({
      text: 'sequential test: canary error rate ≤ stable (α = 0.01)',
    });
  });

  it('draws the latency gate with the bound the test chose', async () => {
    const prometheus = new FakePrometheus();
    prometheus.serve(30, 100, 0.1, 0.01, 0.01);
    const analyzer = createAnalyzer({ analysis: {} });
    const decision = await analyzer.evaluate(context(prometheus, 0));
    prometheus.bucketBounds = ['50', '500', '+Inf']; // would give 500 if chosen again
    prometheus.queries = [];
    const series = await analyzer.series(
      { ...context(prometheus, 1), state: decision.state },
      start,
      new Date(start.getTime() + 600_000),
    );
    expect(series.map(s => s.metric)).toEqual(['error-rate', 'latency']);
    expect(series[1].bound?.text).toBe(
      'sequential test: canary share slower than 250 ms ≤ stable (α = 0.005)',
    );
    expect(prometheus.queries.some(q => q.includes('le="250"'))).toBe(true);
    expect(prometheus.queries.some(q => q.startsWith('count by (le)'))).toBe(
      false,
    );
  });
});

describe('Analyzer reading raw samples when a pod goes away', () => {
  /** The pods' IPs, for series labelled only with `instance`. */
  const IPS: Record<string, string> = {
    'app-canary-5c4b3-c1': '10.1.0.7',
    'app-7d9f8-s1': '10.1.0.8',
    'app-7d9f8-s2': '10.1.0.9',
  };

  /**
   * Istio-shaped counters scraped every 15 s: two stable pods (20 requests/s
   * each), one canary pod (5/s), 1 % errors. The stable pod s2 is deleted
   * at start + 120 s (a scale-down): its series are scraped no more.
   * `byInstance`: the series carry no pod label, only `instance` (the pod's
   * IP and port, Kubernetes discovery's default).
   */
  class RawPrometheus implements PrometheusQuerier {
    constructor(
      private readonly startSec: number,
      private readonly byInstance = false,
    ) {}
    async query(): Promise<never> {
      throw new Error('not used');
    }
    async queryValue(): Promise<never> {
      throw new Error('not used');
    }
    async queryRange(): Promise<never> {
      throw new Error('not used');
    }
    async querySamples(
      selector: string,
      windowSeconds: number,
      options?: { time?: Date },
    ) {
      const now = options!.time!.getTime() / 1000;
      const canary = selector.includes('destination_workload="app-canary"');
      const errors = selector.includes('response_code');
      const pods = canary
        ? [{ pod: 'app-canary-5c4b3-c1', rps: 5, until: Infinity }]
        : [
            { pod: 'app-7d9f8-s1', rps: 20, until: Infinity },
            { pod: 'app-7d9f8-s2', rps: 20, until: this.startSec + 120 },
          ];
      // One series per pod and response code, as Istio exports them; the
      // error selector matches only the 503s.
      const codes = errors ? ['503'] : ['200', '503'];
      return pods.flatMap(p =>
        codes.map(code => {
          const points: Array<[number, number]> = [];
          for (
            let t = Math.ceil((now - windowSeconds) / 15) * 15;
            t <= Math.min(now, p.until);
            t += 15
          ) {
            const served = p.rps * (t - this.startSec + 600);
            const failed = Math.floor(served / 100);
            points.push([t, code === '503' ? failed : served - failed]);
          }
          const where: Record<string, string> = this.byInstance
            ? { instance: `${IPS[p.pod]}:15090` }
            : { pod: p.pod };
          return { labels: { ...where, response_code: code }, points };
        }),
      );
    }
  }

  async function run(
    listPods?: AnalysisContext['listPods'],
    byInstance = false,
  ) {
    const startSec = 1_800_000_000;
    const prometheus = new RawPrometheus(startSec, byInstance);
    const analyzer = createAnalyzer({
      analysis: { metrics: [{ name: 'error-rate', judge: 'sequential' }] },
    });
    const counted: Array<[number, number, string?]> = [];
    let previous: AnalysisDecision | undefined;
    for (let t = 10; t <= 220; t += 10) {
      previous = await analyzer.evaluate({
        namespace: 'shop',
        service: 'app',
        stable: { name: 'app', version: 'v1' },
        canary: { name: 'app-canary', version: 'v2' },
        startedAt: new Date(startSec * 1000),
        stepStartedAt: new Date(startSec * 1000),
        weight: 10,
        now: new Date((startSec + t) * 1000),
        state: previous?.state,
        failedChecks: previous?.failedChecks ?? 0,
        prometheus,
        ...(listPods ? { listPods } : {}),
      });
      const skipped = previous.checks[0].details?.skipped;
      const requests = Number(previous.checks[0].details?.canaryRequests ?? 0);
      counted.push(
        typeof skipped === 'string' ? [t, requests, skipped] : [t, requests],
      );
    }
    return counted;
  }

  it('reads as without the pods when the pod list is refused or hangs', async () => {
    const without = await run();
    const refused = await run(async () => {
      throw new Error('connect ECONNREFUSED 10.0.0.1:443');
    });
    expect(refused).toEqual(without);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] });
    try {
      const hanging = run(() => new Promise<string[]>(() => {}));
      // Each tick that asks waits LIST_PODS_TIMEOUT_MS, then reads on.
      for (let i = 0; i < 40; i++) {
        await jest.advanceTimersByTimeAsync(LIST_PODS_TIMEOUT_MS);
      }
      expect(await hanging).toEqual(without);
    } finally {
      jest.useRealTimers();
    }
  });

  it('asks Kubernetes for the pods only once a series went quiet, and reads on without the deleted pod', async () => {
    const listPods = jest.fn(async (arm: 'canary' | 'stable') =>
      arm === 'canary' ? ['app-canary-5c4b3-c1'] : ['app-7d9f8-s1'],
    );
    const withPods = await run(listPods);
    // Only for the stable arm, and only once s2 has no sample for 20 s
    // (its last at start + 120; the engine's list is cached).
    expect(new Set(listPods.mock.calls.map(([arm]) => arm))).toEqual(
      new Set(['stable']),
    );
    expect(listPods.mock.calls.length).toBeGreaterThan(0);
    expect(listPods.mock.calls.length).toBeLessThanOrEqual(10);
    const without = await run();
    const at = (rows: Array<[number, number, string?]>, t: number) =>
      rows.find(([x]) => x === t)![1];
    // The same readings while s2 was alive.
    for (let t = 10; t <= 140; t += 10)
      expect(at(withPods, t)).toBe(at(without, t));
    // Without the pods the reading stays at s2's last sample for two
    // minutes; with them it reads on (5 canary requests/s). The slice that
    // holds what s2 served after its last sample is not judged (it was
    // never scraped); the slices after it are.
    expect(at(without, 220)).toBe(at(without, 120));
    const gone = withPods.filter(([, , skipped]) =>
      skipped?.startsWith('a pod went away'),
    );
    expect(gone).toHaveLength(1);
    const [goneAt] = gone[0];
    expect(at(withPods, 220)).toBeGreaterThanOrEqual(
      at(withPods, goneAt) + 5 * (220 - goneAt - 15),
    );

    // Series with only `instance` read the same, with the pods' IPs listed
    // (as the engine lists them, podIdentities); with names only, the
    // reading holds at s2's last sample as without the pods.
    const withIps = jest.fn(async (arm: 'canary' | 'stable') =>
      (await listPods(arm)).flatMap(name => [name, IPS[name]]),
    );
    expect(await run(withIps, true)).toEqual(withPods);
    expect(await run(listPods, true)).toEqual(without);
  });
});

describe('Analyzer reading count queries as written behind a store that lags', () => {
  /**
   * A store without raw-sample reads whose samples become readable `lag`
   * seconds after their time (remote write): `increase(…[Ns])` at T counts
   * what it has of (T − N, T], `max(timestamp(…))` is its newest sample.
   * The canary serves 10 requests/s and the stable 90, 1 % failing.
   */
  class LaggingStore implements PrometheusQuerier {
    now = start.getTime() / 1000;
    queries: Array<{ promql: string; time: number; now: number }> = [];
    /** `canaryLag`: the canary's samples that far behind instead (another remote-write queue). */
    constructor(readonly lag: number, readonly canaryLag = lag) {}
    #lagOf(arm: 'canary' | 'stable'): number {
      return arm === 'canary' ? this.canaryLag : this.lag;
    }
    #count(arm: 'canary' | 'stable', errors: boolean, t: number): number {
      const rps = arm === 'canary' ? 10 : 90;
      const seconds = Math.max(0, t - start.getTime() / 1000);
      return Math.floor(seconds * rps * (errors ? 0.01 : 1));
    }
    /** The requests of an arm the store has from the first `seconds` of the rollout. */
    served(arm: 'canary' | 'stable', seconds: number): number {
      const t = start.getTime() / 1000 + seconds;
      return this.#count(arm, false, Math.min(t, this.now - this.#lagOf(arm)));
    }
    async queryValue(promql: string, options?: { time?: Date }) {
      const time = (options?.time?.getTime() ?? this.now * 1000) / 1000;
      this.queries.push({ promql, time, now: this.now });
      const arms = (['canary', 'stable'] as const).filter(
        a =>
          promql.includes('destination_workload="app-canary"') ===
          (a === 'canary'),
      );
      if (promql.startsWith('max(timestamp('))
        return Math.max(...arms.map(a => this.now - this.#lagOf(a)));
      const window = /\[(\d+)s\]/.exec(promql);
      if (!promql.includes('increase(istio_requests_total') || !window)
        throw new PrometheusNoDataError(promql);
      const arm = arms[0];
      const from = time - Number(window[1]);
      const end = Math.min(time, this.now - this.#lagOf(arm));
      if (end <= from) throw new PrometheusNoDataError(promql);
      const errors = promql.includes('response_code=~"5.."');
      return this.#count(arm, errors, end) - this.#count(arm, errors, from);
    }
    async query(promql: string): Promise<never> {
      throw new PrometheusNoDataError(promql);
    }
    async queryRange() {
      return [];
    }
  }

  it('ends each window at the newest sample the store has, so no request is lost between windows', async () => {
    const run = async (store: LaggingStore) => {
      const analyzer = createAnalyzer({
        analysis: {
          interval: '30s',
          trafficSplit: false,
          metrics: [{ name: 'error-rate', judge: 'sequential' }],
        },
      });
      let previous: PreviousTick | undefined;
      let decision: AnalysisDecision | undefined;
      for (let tick = 1; tick <= 20; tick++) {
        store.now = start.getTime() / 1000 + tick * 30;
        decision = await analyzer.evaluate({
          ...context(new FakePrometheus(), tick - 1, previous),
          prometheus: store,
        });
        previous = decision;
      }
      return decision!.checks[0];
    };
    const behind = new LaggingStore(45);
    const check = await run(behind);
    // Ten minutes in, the store has the first 555 s. The first window (to
    // 75 s, the first at least a minute long) spans the start of the weight
    // and is not judged; from there to 555 s every request is counted, as
    // the windows tile what the store has: 4,800 canary requests, 43,200
    // stable ones. (Windows ending at the reading's time would have counted
    // only the 15 s of each minute the store had then.)
    expect(check.details?.canaryRequests).toBe(
      behind.served('canary', 555) - behind.served('canary', 75),
    );
    expect(check.details?.canaryRequests).toBe(4800);
    expect(check.details?.stableRequests).toBe(
      behind.served('stable', 555) - behind.served('stable', 75),
    );
    expect(check.verdict).toBe('pass');
    // The windows' ends: 45 s before each reading.
    const ends = behind.queries
      .filter(q => q.promql.includes('increase('))
      .map(q => q.now - q.time);
    expect(new Set(ends)).toEqual(new Set([45]));
    // It says how far behind the store is.
    expect(check.details?.storeLagSeconds).toBe(45);
    expect(check.evidence).toContain(
      "Prometheus's newest samples are about 45 s old (remote write), so this reads that far back",
    );

    // A store that is current reads to the reading's time, as before, and
    // says nothing of a lag.
    const store = new LaggingStore(0);
    const current = await run(store);
    expect(current.details?.canaryRequests).toBe(6000 - 600);
    // It asks for the store's newest sample only when a window may be due:
    // at every other reading (30 s readings, 1m windows), once an arm.
    expect(
      store.queries.filter(q => q.promql.startsWith('max(timestamp(')),
    ).toHaveLength(2 * 10);
    expect(current.details?.storeLagSeconds).toBeUndefined();
    expect(current.evidence).not.toContain('remote write');

    // The canary's samples 40 s behind, the stable's 10 s (another
    // remote-write queue): each window ends at the canary's newest sample,
    // the earlier arm's, so its requests are all counted. (Ended at the
    // stable's, the canary's last 30 s of every window were never read.)
    const split = new LaggingStore(10, 40);
    const both = await run(split);
    expect(both.details?.canaryRequests).toBe(
      split.served('canary', 560) - split.served('canary', 80),
    );
    expect(both.details?.canaryRequests).toBe(4800);
    expect(both.details?.stableRequests).toBe(43_200);
    expect(both.details?.storeLagSeconds).toBe(40);
  });
});

describe('Analyzer reading count queries as written through a Prometheus that extrapolates', () => {
  /**
   * A store without raw-sample reads. `increase(…[Ns])` at T gives each
   * arm's counts in the minute-long windows (T − N, T] as `windows` says,
   * the way Prometheus' extrapolation gives them at 30 s scrapes: one
   * window sees a burst twice, the next none of it. Before the start,
   * `query_range` gives the stable arm's windows of the same shape.
   */
  class WindowStore implements PrometheusQuerier {
    ranges: Array<{
      promql: string;
      start: number;
      end: number;
      step: number;
    }> = [];
    constructor(
      readonly windows: (
        arm: 'canary' | 'stable',
        minute: number,
      ) => { errors: number; requests: number },
      /** Why range queries are refused, if they are. */
      readonly refuseRanges?: string,
    ) {}
    #value(promql: string, time: number) {
      const arm = promql.includes('destination_workload="app-canary"')
        ? 'canary'
        : 'stable';
      const errors = promql.includes('response_code=~"5.."');
      const minute = Math.round((time - start.getTime() / 1000) / 60);
      const w = this.windows(arm, minute);
      return errors ? w.errors : w.requests;
    }
    async queryValue(promql: string, options?: { time?: Date }) {
      if (promql.startsWith('max(timestamp('))
        throw new PrometheusNoDataError(promql);
      return this.#value(promql, options!.time!.getTime() / 1000);
    }
    async query(promql: string): Promise<never> {
      throw new PrometheusNoDataError(promql);
    }
    async queryRange(promql: string, from: Date, to: Date, step: number) {
      const [s, e] = [from.getTime() / 1000, to.getTime() / 1000];
      this.ranges.push({ promql, start: s, end: e, step });
      if (this.refuseRanges) throw new Error(this.refuseRanges);
      const points: Array<[number, number]> = [];
      for (let t = s; t <= e; t += step)
        points.push([t, this.#value(promql, t)]);
      return [{ labels: {}, points }];
    }
  }

  async function run(
    store: WindowStore,
    options: {
      minutes: number;
      tickSeconds?: number;
      stepAtSeconds?: number;
    } = {
      minutes: 20,
    },
  ) {
    const analyzer = createAnalyzer({
      analysis: {
        interval: '1m',
        trafficSplit: false,
        metrics: [{ name: 'error-rate', judge: 'sequential' }],
      },
    });
    const tickSeconds = options.tickSeconds ?? 60;
    const startSec = start.getTime() / 1000;
    let previous: AnalysisDecision | undefined;
    const checks: Array<{ t: number; check: AnalysisDecision['checks'][0] }> =
      [];
    for (let t = tickSeconds; t <= options.minutes * 60; t += tickSeconds) {
      const stepAt =
        options.stepAtSeconds !== undefined && t > options.stepAtSeconds
          ? options.stepAtSeconds
          : 0;
      previous = await analyzer.evaluate({
        namespace: 'shop',
        service: 'app',
        stable: { name: 'app', version: 'v1' },
        canary: { name: 'app-canary', version: 'v2' },
        startedAt: start,
        stepStartedAt: new Date((startSec + stepAt) * 1000),
        weight: stepAt ? 50 : 10,
        now: new Date((startSec + t) * 1000),
        state: previous?.state,
        failedChecks: previous?.failedChecks ?? 0,
        prometheus: store,
      });
      checks.push({ t, check: previous.checks[0] });
      if (previous.checks[0].verdict === 'fail') break;
    }
    return checks;
  }

  it("tempers the evidence by the clumping of the stable arm's windows, from its history on", async () => {
    // Every other minute a window sees its errors twice and the next none:
    // the stable's 1 % as 0, 18, 0, 18 … of 900 requests, the canary's as
    // 0, 4, 0, 4 … of 100 (2 %, but as clumped as the stable's errors).
    const store = new WindowStore((arm, minute) => {
      const odd = Math.abs(minute) % 2 === 1;
      return arm === 'stable'
        ? { requests: 900, errors: odd ? 18 : 0 }
        : { requests: 100, errors: odd ? 4 : 0 };
    });
    const checks = await run(store);
    const last = checks[checks.length - 1].check;
    expect(last.verdict).toBe('pass');
    expect(Number(last.details?.dispersion)).toBeGreaterThan(5);
    expect(last.details?.dispersionBasis).toMatch(
      /^A\/A comparison of the stable arm's consecutive windows \(\d+ degrees of freedom/,
    );
    // Its history: the stable's two templates over the three hours before
    // the start, one window a step, read once.
    const startSec = start.getTime() / 1000;
    expect(store.ranges).toHaveLength(2);
    for (const range of store.ranges) {
      expect(range.promql).not.toContain('app-canary');
      expect(range.promql).toContain('[60s]');
      expect(range.step).toBe(60);
      expect(range.end).toBe(startSec);
      expect(range.start).toBe(startSec - 3 * 3600 + 60);
    }
    // The same 2 % beside a stable arm whose windows do not clump (9 of
    // 900 every minute, before the start too) is rolled back.
    const poisson = await run(
      new WindowStore(arm =>
        arm === 'stable'
          ? { requests: 900, errors: 9 }
          : { requests: 100, errors: 2 },
      ),
    );
    expect(poisson[poisson.length - 1].check.verdict).toBe('fail');
  });

  it("says why the stable arm's history could not be read, and learns its clumping from the live windows", async () => {
    const refusal =
      'Prometheus answered 422: query processing would load too many samples into memory';
    const store = new WindowStore((arm, minute) => {
      const odd = Math.abs(minute) % 2 === 1;
      return arm === 'stable'
        ? { requests: 900, errors: odd ? 18 : 0 }
        : { requests: 100, errors: odd ? 4 : 0 };
    }, refusal);
    const checks = await run(store);
    expect(store.ranges).toHaveLength(2);
    const first = checks[0].check;
    expect(first.details?.dispersionBasis).toBe(
      `no stable history yet; the stable history before the start could not be read (${refusal})`,
    );
    // The live windows' clumping is learnt all the same, and the basis
    // still says the history is missing.
    const last = checks[checks.length - 1].check;
    expect(last.verdict).not.toBe('fail');
    expect(Number(last.details?.dispersion)).toBeGreaterThan(2);
    expect(last.details?.dispersionBasis).toMatch(
      /^A\/A comparison of the stable arm's consecutive windows \(\d+ degrees of freedom, groups weighted by their bad requests\); the stable history before the start could not be read \(Prometheus answered 422/,
    );
  });

  it('lets no one window decide: a burst counted on the canary alone passes, a canary failing in every window is rolled back at the second', async () => {
    // A stable arm at 1 % with steady windows, before the start too. In
    // the fifth minute a common burst falls between the canary series'
    // two samples (counted twice: 50 of its 100 requests) and mostly
    // between windows on the stable's pods (30 of 900).
    const burst = await run(
      new WindowStore((arm, minute) => {
        if (minute === 5)
          return arm === 'stable'
            ? { requests: 900, errors: 30 }
            : { requests: 100, errors: 50 };
        return arm === 'stable'
          ? { requests: 900, errors: 9 }
          : { requests: 100, errors: 1 };
      }),
      { minutes: 10 },
    );
    expect(burst.map(c => c.check.verdict)).not.toContain('fail');
    const at5 = burst.find(c => c.t === 300)!.check;
    // One window lifts the e-value at most to √(2/α): 14.14 at α = 1 %.
    expect(at5.details?.alpha).toBe(0.01);
    expect(at5.details?.windowEValueCap).toBe(14.14);
    expect(Number(at5.details?.eValue)).toBeLessThanOrEqual(14.14);
    expect(Number(at5.details?.eValue)).toBeGreaterThan(5);
    // A canary failing 50 % of its requests in every window: rolled back
    // at the second window judged, not the first.
    const failing = await run(
      new WindowStore((arm, minute) =>
        arm === 'stable' || minute <= 0
          ? { requests: 900, errors: 9 }
          : { requests: 100, errors: 50 },
      ),
    );
    const judged = failing.filter(c => Number(c.check.details?.slices) > 0);
    expect(judged.map(c => c.check.verdict)).toEqual(['pass', 'fail']);
    expect(Number(judged[0].check.details?.eValue)).toBeCloseTo(14.14, 2);
  });

  it('does not judge a window that spans a weight change, with readings more often than windows', async () => {
    // Readings every 10 s, windows of a minute, the weight raised at 150 s;
    // the window (120 s, 180 s] holds a common burst right after the change
    // that the canary, at its new share, serves half of.
    const store = new WindowStore((arm, minute) => {
      if (minute === 3)
        return arm === 'stable'
          ? { requests: 600, errors: 150 }
          : { requests: 400, errors: 200 };
      if (minute <= 0) return { requests: 900, errors: 9 };
      const after = minute > 3;
      return arm === 'stable'
        ? { requests: after ? 500 : 900, errors: after ? 5 : 9 }
        : { requests: after ? 500 : 100, errors: after ? 5 : 1 };
    });
    const checks = await run(store, {
      minutes: 6,
      tickSeconds: 10,
      stepAtSeconds: 150,
    });
    const at = (t: number) => checks.find(c => c.t === t)!.check;
    expect(checks.every(c => c.check.verdict !== 'fail')).toBe(true);
    // The window read at 180 s began before the change: not judged.
    expect(at(180).details?.skipped).toBe(
      'waiting for a sample of every series after this weight applied',
    );
    // The step's evidence is the windows after it: 500 canary requests a
    // minute from 180 s on.
    expect(at(360).verdict).toBe('pass');
    expect(at(360).details?.stepCanaryRequests).toBe(3 * 500);
  });
});
