import { PodHealthJudge } from './PodHealthJudge';
import { RelativeToStableJudge } from './RelativeToStableJudge';
import { ThresholdRangeJudge } from './ThresholdRangeJudge';

describe('ThresholdRangeJudge', () => {
  const judge = new ThresholdRangeJudge({ min: 99 });

  it('passes inside and on the bound, fails outside', () => {
    expect(
      judge.judge({
        metric: 'request-success-rate',
        canaryValue: 99,
        unit: '%',
      }).verdict,
    ).toBe('pass');
    const failed = judge.judge({
      metric: 'request-success-rate',
      canaryValue: 95.9,
      stableValue: 99.7,
      unit: '%',
    });
    expect(failed.verdict).toBe('fail');
    expect(failed.bound).toEqual({ min: 99, max: undefined, text: '≥ 99 %' });
    expect(failed.evidence).toBe(
      'canary request success rate 95.9 % (stable 99.7 %) is below the bound ≥ 99 %',
    );
  });

  it('handles max and both ends', () => {
    const p99 = new ThresholdRangeJudge({ max: 500 });
    expect(
      p99.judge({ metric: 'request-duration', canaryValue: 501, unit: 'ms' })
        .evidence,
    ).toBe('canary request duration 501 ms is above the bound ≤ 500 ms');
    const both = new ThresholdRangeJudge({ min: 1, max: 5 });
    expect(both.judge({ metric: 'x', canaryValue: 3 }).verdict).toBe('pass');
    expect(both.judge({ metric: 'x', canaryValue: 0.5 }).verdict).toBe('fail');
    expect(() => new ThresholdRangeJudge({})).toThrow(/min, max or both/);
    expect(() => new ThresholdRangeJudge({ min: 2, max: 1 })).toThrow(
      /greater/,
    );
  });

  it('is inconclusive without data and says why', () => {
    const check = judge.judge({
      metric: 'request-success-rate',
      canaryValue: null,
      unit: '%',
      noDataReason: 'Prometheus unreachable',
    });
    expect(check.verdict).toBe('inconclusive');
    expect(check.evidence).toBe(
      'canary request success rate: no data (Prometheus unreachable); needs ≥ 99 %',
    );
  });
});

describe('RelativeToStableJudge', () => {
  it('bounds the canary p99 at 1.2 × stable', () => {
    const judge = new RelativeToStableJudge({ maxRatio: 1.2 });
    const pass = judge.judge({
      metric: 'request-duration',
      unit: 'ms',
      canaryValue: 143,
      stableValue: 120,
    });
    expect(pass.verdict).toBe('pass');
    expect(pass.bound).toEqual({
      max: 144,
      min: undefined,
      text: '≤ 1.2 × stable',
    });
    const fail = judge.judge({
      metric: 'request-duration',
      unit: 'ms',
      canaryValue: 240,
      stableValue: 120,
    });
    expect(fail.verdict).toBe('fail');
    expect(fail.evidence).toBe(
      'canary request duration 240 ms vs stable 120 ms (2 × stable) is above the bound ≤ 1.2 × stable = 144 ms',
    );
  });

  it('bounds the error rate at stable + 0.5 points', () => {
    const judge = new RelativeToStableJudge({ maxIncrease: 0.5 });
    expect(
      judge.judge({
        metric: 'error-rate',
        unit: '%',
        canaryValue: 0.8,
        stableValue: 0.3,
      }).verdict,
    ).toBe('pass');
    const fail = judge.judge({
      metric: 'error-rate',
      unit: '%',
      canaryValue: 4.1,
      stableValue: 0.3,
    });
    expect(fail.verdict).toBe('fail');
    expect(fail.evidence).toMatch(/^canary error rate 4\.1 % vs stable 0\.3 %/);
    expect(fail.bound?.max).toBeCloseTo(0.8);
  });

  it('takes the more lenient of ratio and increase, and supports lower bounds', () => {
    const judge = new RelativeToStableJudge({ maxRatio: 1.2, maxIncrease: 5 });
    // 1.2 × 10 = 12, 10 + 5 = 15: 14 passes.
    expect(
      judge.judge({ metric: 'p99', canaryValue: 14, stableValue: 10 }).verdict,
    ).toBe('pass');
    expect(judge.describe('ms')).toBe('≤ max(1.2 × stable, stable + 5 ms)');
    const conversion = new RelativeToStableJudge({ minRatio: 0.98 });
    expect(
      conversion.judge({
        metric: 'conversion',
        canaryValue: 3.0,
        stableValue: 3.2,
      }).verdict,
    ).toBe('fail');
    expect(
      conversion.judge({
        metric: 'conversion',
        canaryValue: 3.15,
        stableValue: 3.2,
      }).verdict,
    ).toBe('pass');
  });

  it('is inconclusive with too little traffic or missing data', () => {
    const judge = new RelativeToStableJudge({
      maxRatio: 1.2,
      minRequests: 100,
    });
    const low = judge.judge({
      metric: 'request-duration',
      canaryValue: 900,
      stableValue: 100,
      canaryRequests: 12,
      stableRequests: 5000,
    });
    expect(low.verdict).toBe('inconclusive');
    expect(low.evidence).toMatch(
      /too little traffic to compare \(canary 12, stable 5000 requests; needs 100 each\)/,
    );
    expect(
      judge.judge({ metric: 'x', canaryValue: 1, stableValue: null }).verdict,
    ).toBe('inconclusive');
    expect(
      judge.judge({
        metric: 'x',
        canaryValue: 900,
        stableValue: 100,
        canaryRequests: 100,
        stableRequests: 100,
      }).verdict,
    ).toBe('fail');
  });
});

describe('PodHealthJudge', () => {
  const judge = new PodHealthJudge({ maxRestarts: 1 });
  const pod = (
    name: string,
    restarts: number,
    reasons: string[] = [],
    ready = true,
  ) => ({
    name,
    ready,
    restarts,
    reasons,
  });

  it('passes healthy pods', () => {
    const check = judge.judge({ pods: [pod('a', 0), pod('b', 1)] });
    expect(check.verdict).toBe('pass');
    expect(check.evidence).toBe('2 of 2 canary pods ready, 1 restart');
  });

  it('fails on restarts beyond the bound', () => {
    const check = judge.judge({ pods: [pod('a', 1), pod('b', 1)] });
    expect(check.verdict).toBe('fail');
    expect(check.evidence).toBe('canary pods restarted 2 times (bound 1)');
  });

  it('fails at once on OOMKilled or CrashLoopBackOff', () => {
    expect(judge.judge({ pods: [pod('a', 0, ['OOMKilled'])] }).evidence).toBe(
      'canary pod a OOMKilled',
    );
    const loop = judge.judge({
      pods: [pod('a', 0, ['CrashLoopBackOff'], false)],
    });
    expect(loop.verdict).toBe('fail');
    expect(judge.judge({ pods: [pod('a', 0, ['Completed'])] }).verdict).toBe(
      'pass',
    );
  });

  it('is inconclusive without a snapshot or pods', () => {
    expect(judge.judge(undefined).verdict).toBe('inconclusive');
    expect(judge.judge({ pods: [] }).verdict).toBe('inconclusive');
  });
});
