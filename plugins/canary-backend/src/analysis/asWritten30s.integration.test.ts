import { AnalysisDecision } from './Analyzer';
import { PrometheusClient } from './PrometheusClient';
import { shopCountAnalyzer } from './__testUtils__/readUntilDecided';
import { Random } from './__testUtils__/random';
import {
  RunningPrometheus,
  startPrometheus,
} from './__testUtils__/startPrometheus';

jest.setTimeout(180_000);

/**
 * Count templates read as written, through a real Prometheus whose samples
 * are 30 s apart — the interval where increase()'s extrapolation matters
 * most: each 1m window holds two samples of a series and doubles their
 * difference, so every request Prometheus sees in a window counts twice and
 * the others not at all. The analysis must learn that clumping from the
 * stable arm's windows (three hours of history before the start, then the
 * live windows) and judge with it.
 *
 * A rollout of 20 minutes (10 % for five minutes, then 50 %) of two
 * services, each with four stable pods and one canary pod, 40 requests/s:
 * `app`'s canary fails 1 % of requests like its stable pods, `bad`'s 10 %.
 * The pods' counters are generated second by second (seeded), sampled every
 * 30 s at each pod's own phase, and backfilled into Debian's Prometheus with
 * promtool; the analysis then reads them every 10 s of the rollout, at the
 * rollout's own times (`now`), so the test takes seconds, not 20 minutes.
 */
const SCRAPE_SECONDS = 30;
const HISTORY_SECONDS = 3 * 3600 + 600;
const ROLLOUT_SECONDS = 1200;
const STEP_AT = 300;
const RPS = 40;
const STABLE_PODS = 4;

interface Pod {
  service: 'app' | 'bad';
  name: string;
  arm: 'stable' | 'canary';
  errorRate: number;
}

const PODS: Pod[] = (['app', 'bad'] as const).flatMap(service => [
  ...Array.from(
    { length: STABLE_PODS },
    (_, i): Pod => ({
      service,
      name: `${service}-v1-7d9f8b6c5-pod${i}`,
      arm: 'stable',
      errorRate: 0.01,
    }),
  ),
  {
    service,
    name: `${service}-v2-5c4b3a2d1-pod0`,
    arm: 'canary',
    errorRate: service === 'bad' ? 0.1 : 0.01,
  },
]);

/** The canary's share of requests t seconds after the start. */
function canaryShare(t: number): number {
  if (t < 0) return 0;
  return t < STEP_AT ? 0.1 : 0.5;
}

/** Every pod's `http_requests_total` by code, sampled every 30 s at the pod's own phase, as OpenMetrics with times. */
function backfill(startSec: number, random: Random): string {
  const lines = ['# TYPE http_requests counter'];
  const time = (t: number) => (startSec + t).toFixed(3);
  for (const pod of PODS) {
    const phase = random.next() * SCRAPE_SECONDS;
    const from = pod.arm === 'canary' ? 0 : -HISTORY_SECONDS;
    const counts = { '200': 0, '500': 0 };
    const samples: Record<'200' | '500', string[]> = { '200': [], '500': [] };
    let next = from + phase;
    for (let t = from; t < ROLLOUT_SECONDS + 60; t++) {
      for (; next <= t; next += SCRAPE_SECONDS)
        for (const code of ['200', '500'] as const)
          samples[code].push(
            `http_requests_total{namespace="shop",pod="${
              pod.name
            }",code="${code}"} ${counts[code]} ${time(next)}`,
          );
      const share =
        pod.arm === 'canary'
          ? canaryShare(t)
          : (1 - canaryShare(t)) / STABLE_PODS;
      const requests = random.poisson(RPS * share);
      const errors = random.binomial(requests, pod.errorRate);
      counts['200'] += requests - errors;
      counts['500'] += errors;
    }
    lines.push(...samples['200'], ...samples['500']);
  }
  return `${[...lines, '# EOF'].join('\n')}\n`;
}

describe('count templates read as written through Prometheus at 30 s scrapes', () => {
  let prometheus: RunningPrometheus;
  // Four hours back, so the backfilled blocks end well before the store's head.
  const startSec = Math.floor(Date.now() / 60_000) * 60 - 4 * 3600;

  beforeAll(async () => {
    prometheus = await startPrometheus([], {
      openMetrics: backfill(startSec, new Random(30)),
    });
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  async function rollout(
    service: 'app' | 'bad',
    namespaceMatch: '=~' | '=' = '=~',
  ) {
    const client = new PrometheusClient({ url: prometheus.url });
    const analyzer = shopCountAnalyzer('10s', namespaceMatch);
    const decisions: AnalysisDecision[] = [];
    for (let t = 10; t <= ROLLOUT_SECONDS; t += 10) {
      const previous = decisions[decisions.length - 1];
      const stepAt = t > STEP_AT ? STEP_AT : 0;
      const decision = await analyzer.evaluate({
        namespace: 'shop',
        service,
        stable: { name: `${service}-v1`, version: 'v1' },
        canary: { name: `${service}-v2`, version: 'v2' },
        startedAt: new Date(startSec * 1000),
        stepStartedAt: new Date((startSec + stepAt) * 1000),
        weight: canaryShare(t - 1) * 100,
        now: new Date((startSec + t) * 1000),
        state: previous?.state,
        failedChecks: previous?.failedChecks ?? 0,
        prometheus: client,
      });
      decisions.push(decision);
      if (decision.action === 'rollback') break;
    }
    return decisions;
  }

  it("passes a healthy canary, tempered by the clumping it learnt from the stable arm's windows", async () => {
    const decisions = await rollout('app');
    // Never rolled back (a failure shows the evidence it was rolled back on).
    const rolledBack = decisions.find(d => d.action === 'rollback');
    expect(rolledBack?.checks[0]?.evidence).toBeUndefined();
    expect(decisions).toHaveLength(ROLLOUT_SECONDS / 10);
    const last = decisions[decisions.length - 1].checks[0];
    expect([last.verdict, last.evidence]).toEqual(['pass', expect.any(String)]);
    // Every request counted about twice or not at all: clumps of two, which
    // the A/A of the stable arm's consecutive windows finds (φ = 1 would
    // read each doubled error as two independent ones).
    expect(last.details?.dispersionBasis).toMatch(
      /^A\/A comparison of the stable arm's consecutive windows \(\d+ degrees of freedom, groups weighted by their bad requests\)$/,
    );
    // The check says why it was read as written.
    expect(last.details?.readAsWritten).toBe(
      'sum by (namespace) of a selector that does not fix namespace with "=": it may have several groups',
    );
    expect(Number(last.details?.dispersion)).toBeGreaterThan(1.5);
    expect(Number(last.details?.dispersion)).toBeLessThan(4);
    // What was judged is what the canary served, give or take the
    // extrapolation: about 40 × (0.1 × 300 + 0.5 × 900) requests.
    const served = RPS * (0.1 * STEP_AT + 0.5 * (ROLLOUT_SECONDS - STEP_AT));
    expect(Number(last.details?.canaryRequests)).toBeGreaterThan(0.8 * served);
    expect(Number(last.details?.canaryRequests)).toBeLessThan(1.1 * served);
  });

  it('rolls back a canary failing 10 % of requests beside a stable 1 %', async () => {
    const decisions = await rollout('bad');
    const rolledBack = decisions.find(d => d.action === 'rollback');
    expect(rolledBack?.checks[0].evidence).toMatch(
      /the canary is worse than stable/,
    );
    expect(rolledBack?.checks[0].verdict).toBe('fail');
    // Not on its first window judged: no one window read as written
    // decides (it lifts the e-value at most to √(2/α) = 14.14).
    expect(rolledBack?.checks[0].details?.windowEValueCap).toBe(14.14);
    expect(rolledBack?.checks[0].details?.slices).toBeGreaterThanOrEqual(2);
    // Within the first weight's five minutes.
    expect(decisions.length * 10).toBeLessThanOrEqual(STEP_AT);
  });

  it('reads the same sum from raw samples when its grouping label is fixed with `=`: whole requests, clumping from the pods', async () => {
    // `sum by (namespace)` of series whose namespace is `="shop"` has one
    // group: the plain sum, read from the samples Prometheus stored.
    const decisions = await rollout('app', '=');
    const rolledBack = decisions.find(d => d.action === 'rollback');
    expect(rolledBack?.checks[0]?.evidence).toBeUndefined();
    const last = decisions[decisions.length - 1].checks[0];
    expect(last.verdict).toBe('pass');
    expect(last.query).toMatch(/http_requests_total\{[^}]*\}\[\d+s\]/);
    expect(last.details).not.toHaveProperty('readAsWritten');
    expect(last.details?.dispersionBasis).toMatch(
      /^A\/A comparison of the stable pods/,
    );
    // Counted from raw samples: whole requests, none doubled or lost.
    const judged = Number(last.details?.canaryRequests);
    expect(Number.isInteger(judged)).toBe(true);
    const served = RPS * (0.1 * STEP_AT + 0.5 * (ROLLOUT_SECONDS - STEP_AT));
    expect(judged).toBeGreaterThan(0.9 * served);
    expect(judged).toBeLessThan(1.05 * served);
    const bad = await rollout('bad', '=');
    expect(bad.find(d => d.action === 'rollback')?.checks[0].verdict).toBe(
      'fail',
    );
  });
});
