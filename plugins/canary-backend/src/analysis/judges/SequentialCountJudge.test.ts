import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { Random } from '../__testUtils__/random';
import {
  ArmCounts,
  DEFAULT_SEQUENTIAL_GRID,
  priorWeights,
  SequentialCountJudge,
  SequentialState,
} from './SequentialCountJudge';

function slice(
  canaryRequests: number,
  canaryErrors: number,
  stableRequests: number,
  stableErrors: number,
): ArmCounts {
  return { canaryRequests, canaryErrors, stableRequests, stableErrors };
}

describe('SequentialCountJudge by hand', () => {
  it('computes the likelihood ratio of one slice', () => {
    // w = 0.5, δ = 0: p0 = 1/2; ρ1 = 2: p1 = 2/3.
    const judge = new SequentialCountJudge({ tolerance: 0, grid: [2] });
    let state = judge.addSlice(judge.initialState(), slice(100, 3, 100, 0));
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(64 / 27, 10); // (4/3)^3
    state = judge.addSlice(state, slice(100, 0, 100, 1));
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(128 / 81, 10); // × (1/3)/(1/2)
  });

  it('feeds a slice to the large alternatives only, without showing its counts (onlyFrom)', () => {
    // w = 0.5: p0 = 1/2; ρ1 = 2: p1 = 2/3; ρ1 = 20: p1 = 20/21.
    const judge = new SequentialCountJudge({ grid: [2, 20] });
    const state = judge.addSlice(
      judge.initialState(),
      slice(100, 1, 100, 0),
      1,
      10,
    );
    expect(state.logEvidence[0]).toBe(0);
    expect(state.logEvidence[1]).toBeCloseTo(Math.log(40 / 21), 12);
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo((1 + 40 / 21) / 2, 12);
    expect(state.used).toEqual(judge.initialState().used);
    expect(state.slices).toBe(1);
  });

  it('decides on the latest slice end read with its burst slack, continues from the interpolated one, keeps the bounded one at a rebase (EndSlack)', () => {
    // w = 0.5: p0 = 1/2; ρ1 = 2: p1 = 2/3; α = 0.01.
    const judge = new SequentialCountJudge({ alpha: 0.01, grid: [2] });
    // 20 canary errors against none, but all 20 may lie after the slice's
    // end: decided on 0 of them (e-value 1), not (4/3)^20 ≈ 315 ≥ 100.
    const first = judge.update(
      judge.initialState(),
      {
        canaryRequests: 100,
        canaryErrors: 20,
        stableRequests: 100,
        stableErrors: 0,
      },
      1,
      { canaryErrors: 20, stableErrors: 0 },
    );
    expect(first.logEvidence[0]).toBeCloseTo(20 * Math.log(4 / 3), 12);
    expect(Math.exp(judge.logEValue(first))).toBeCloseTo(1, 12);
    expect(first.rejected).toBe(false);
    expect(first.maxEValue).toBe(1);
    // The stable's 20 of the same burst arrive in the next slice, which
    // continues from the interpolated end: together, (4/3)^20 (2/3)^20.
    const next = judge.update(first, {
      canaryRequests: 200,
      canaryErrors: 20,
      stableRequests: 200,
      stableErrors: 20,
    });
    expect(next.bounded).toBeUndefined();
    expect(Math.exp(judge.logEValue(next))).toBeCloseTo((8 / 9) ** 20, 10);
    // A stable slack counts as stable errors (each × (1/3)/(1/2)).
    const stable = judge.update(
      judge.initialState(),
      {
        canaryRequests: 100,
        canaryErrors: 3,
        stableRequests: 100,
        stableErrors: 0,
      },
      1,
      { canaryErrors: 0, stableErrors: 2 },
    );
    expect(Math.exp(judge.logEValue(stable))).toBeCloseTo(
      (64 / 27) * (4 / 9),
      10,
    );
    // Nothing continues from an end before a weight change: the bounded
    // reading is kept.
    const rebased = judge.rebase(first, first.last!);
    expect(rebased.logEvidence[0]).toBeCloseTo(0, 12);
    expect(rebased.bounded).toBeUndefined();
  });

  it('uses the tolerance and the canary share of the slice', () => {
    // w = 0.2, δ = 0.5: ρ0 = 1.5, p0 = 0.3/1.1 = 3/11; ρ1 = 3: p1 = 0.6/1.4 = 3/7.
    // LR = (p1/p0)^2 ((1−p1)/(1−p0))^5 = (11/7)^2 (11/14)^5
    const judge = new SequentialCountJudge({ tolerance: 0.5, grid: [2] });
    const state = judge.addSlice(judge.initialState(), slice(20, 2, 80, 5));
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(
      (11 / 7) ** 2 * (11 / 14) ** 5,
      10,
    );
  });

  it('mixes the grid with equal weights', () => {
    const judge = new SequentialCountJudge({ tolerance: 0, grid: [2, 4] });
    const state = judge.addSlice(judge.initialState(), slice(50, 2, 50, 1));
    // ρ1 = 2: p1 = 2/3 → (4/3)^2 (2/3); ρ1 = 4: p1 = 4/5 → (8/5)^2 (2/5)
    const expected = ((4 / 3) ** 2 * (2 / 3) + (8 / 5) ** 2 * (2 / 5)) / 2;
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(expected, 10);
  });

  it('mixes with the weights given (normalized)', () => {
    const judge = new SequentialCountJudge({ grid: [2, 4], weights: [3, 1] });
    expect(judge.weights).toEqual([0.75, 0.25]);
    const state = judge.addSlice(judge.initialState(), slice(50, 2, 50, 1));
    const expected =
      0.75 * (4 / 3) ** 2 * (2 / 3) + 0.25 * (8 / 5) ** 2 * (2 / 5);
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(expected, 10);
    expect(
      () => new SequentialCountJudge({ grid: [2, 4], weights: [1] }),
    ).toThrow(TypeError);
    expect(
      () => new SequentialCountJudge({ grid: [2, 4], weights: [1, 0] }),
    ).toThrow(TypeError);
  });

  it('weights the default grid by excess bad requests per nat (priorWeights), by hand', () => {
    // c(ρ) = (ρ − 1)/min(ρ log ρ − ρ + 1, ρ log 20); the top point gets
    // frequency 1/2, the others 1/16 each.
    const c = (rho: number) =>
      (rho - 1) / Math.min(rho * Math.log(rho) - rho + 1, rho * Math.log(20));
    expect(c(2)).toBeCloseTo(1 / (2 * Math.log(2) - 1), 12); // 2.589
    expect(c(1000)).toBeCloseTo(999 / (1000 * Math.log(20)), 12); // capped
    const raw = priorWeights([1.25, 2, 1000]);
    expect(raw).toEqual([c(1.25) / 4, c(2) / 4, c(1000) / 2]);
    const judge = new SequentialCountJudge();
    const total = DEFAULT_SEQUENTIAL_GRID.reduce(
      (sum, rho, k) =>
        sum + c(rho) / (k === DEFAULT_SEQUENTIAL_GRID.length - 1 ? 2 : 16),
      0,
    );
    expect(judge.weights[0]).toBeCloseTo(c(1.25) / 16 / total, 12);
    expect(judge.weights.map(v => Number(v.toFixed(3)))).toEqual([
      0.385, 0.206, 0.115, 0.069, 0.044, 0.029, 0.018, 0.015, 0.119,
    ]);
    expect(judge.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // A grid given without weights is mixed with equal weights.
    expect(new SequentialCountJudge({ grid: [2, 4] }).weights).toEqual([
      0.5, 0.5,
    ]);
  });

  it('turns cumulative counters into slices; a negative delta keeps the last good reading', () => {
    const judge = new SequentialCountJudge({ tolerance: 0, grid: [2] });
    let state = judge.update(judge.initialState(), slice(100, 3, 100, 0));
    state = judge.update(state, slice(200, 3, 200, 1)); // slice (100, 0, 100, 1)
    expect(Math.exp(judge.logEValue(state))).toBeCloseTo(128 / 81, 10);
    // A phantom: extrapolation over-counted the canary, the next reading is lower.
    const back = judge.update(state, slice(190, 3, 210, 1));
    expect(back).toBe(state);
    // A slice without stable requests cannot be split: its counts wait for
    // the next slice instead of being lost.
    const noStable = judge.update(back, slice(220, 5, 200, 1));
    expect(noStable).toBe(back);
    const joined = judge.update(noStable, slice(230, 5, 210, 1)); // slice (30, 2, 10, 0) from the last good reading
    expect(joined.used).toEqual({
      canaryRequests: 200 + 30,
      canaryErrors: 3 + 2,
      stableRequests: 200 + 10,
      stableErrors: 1,
    });
    // rebase: the next slice starts here, nothing judged.
    const rebased = judge.rebase(joined, slice(500, 9, 900, 9));
    expect(rebased.logEvidence).toEqual(joined.logEvidence);
    expect(rebased.last).toEqual(slice(500, 9, 900, 9));
  });

  it('tempers the evidence by the clump index', () => {
    const judge = new SequentialCountJudge({ tolerance: 0, grid: [2] });
    const plain = judge.addSlice(judge.initialState(), slice(50, 5, 50, 0));
    const tempered = judge.addSlice(
      judge.initialState(),
      slice(50, 5, 50, 0),
      5,
    );
    // ρ1 = 2 at w = 1/2: p1 = 2/3, five canary errors → (4/3)^5, tempered → (4/3)^1
    expect(Math.exp(judge.logEValue(plain))).toBeCloseTo((4 / 3) ** 5, 10);
    expect(Math.exp(judge.logEValue(tempered))).toBeCloseTo(4 / 3, 10);
  });

  it('lets no single window read as written decide: two of the strongest evidence do (windowLogCap)', () => {
    // α = 0.5 %: each alternative's evidence from one window is at most
    // log(2/α) / 2 = log 20.
    const judge = new SequentialCountJudge({ alpha: 0.005 });
    expect(Math.exp(judge.windowLogCap)).toBeCloseTo(20, 10);
    // A burst counted on the canary's series alone: 160 of its 320
    // requests failed beside 2 of the stable's 5,600.
    const burst = slice(320, 160, 5600, 2);
    const plain = judge.addSlice(judge.initialState(), burst);
    expect(plain.rejected).toBe(true);
    const once = judge.addSlice(
      judge.initialState(),
      burst,
      1,
      undefined,
      undefined,
      true,
    );
    // Every alternative capped at 20: the mixture is 20, below 1/α = 200.
    expect(Math.exp(judge.logEValue(once))).toBeCloseTo(20, 8);
    expect(once.rejected).toBe(false);
    const twice = judge.addSlice(once, burst, 1, undefined, undefined, true);
    expect(Math.exp(judge.logEValue(twice))).toBeCloseTo(400, 6);
    expect(twice.rejected).toBe(true);
    // Evidence below the cap, and evidence against the canary, as before.
    for (const mild of [slice(1000, 18, 1000, 10), slice(1000, 2, 1000, 10)]) {
      const capped = judge.addSlice(
        judge.initialState(),
        mild,
        1,
        undefined,
        undefined,
        true,
      );
      expect(capped.logEvidence).toEqual(
        judge.addSlice(judge.initialState(), mild).logEvidence,
      );
    }
    // Cumulative counters: `update` caps each slice the same way.
    const fed = [1, 2].reduce(
      (state, n) =>
        judge.update(
          state,
          slice(320 * n, 160 * n, 5600 * n, 2 * n),
          1,
          undefined,
          undefined,
          true,
        ),
      judge.initialState(),
    );
    expect(Math.exp(judge.logEValue(fed))).toBeCloseTo(400, 6);
  });

  it('fails once the e-value reaches 1/α and stays failed; state survives JSON', () => {
    const judge = new SequentialCountJudge({ alpha: 0.01, tolerance: 0 });
    let state: SequentialState | undefined;
    const verdicts: string[] = [];
    let last: AnalysisCheck | undefined;
    let counts = slice(0, 0, 0, 0);
    for (let tick = 0; tick < 6; tick++) {
      // Canary (10 % of traffic) takes all the errors.
      counts = slice(
        counts.canaryRequests + 100,
        counts.canaryErrors + (tick < 3 ? 1 : 0),
        counts.stableRequests + 900,
        counts.stableErrors,
      );
      const result = judge.judge({ metric: 'errors', counts }, state);
      state = JSON.parse(JSON.stringify(result.state));
      verdicts.push(result.check.verdict);
      last = result.check;
    }
    expect(last!.evidence).toMatch(
      /^canary error rate 0\.5 % \(3 of 600\) vs stable 0 % \(0 of 5400\): the canary is worse than stable \(e-value .* ≥ 100, false-alarm risk ≤ 1 %\)$/,
    );
    expect(last!.details?.maxEValue).toBeGreaterThanOrEqual(100);
    // Three errors, all in the canary with 10 % of the traffic: e-value ≈ 270.
    expect(verdicts).toEqual(['pass', 'pass', 'fail', 'fail', 'fail', 'fail']);
  });

  it('is inconclusive below the minimum canary traffic and without counts', () => {
    const judge = new SequentialCountJudge({ minCanaryRequests: 50 });
    const low = judge.judge(
      { metric: 'errors', counts: slice(10, 0, 1000, 3) },
      undefined,
    );
    expect(low.check.verdict).toBe('inconclusive');
    expect(low.check.evidence).toMatch(
      /too little canary traffic yet \(10 of 50 requests judged\)/,
    );
    const none = judge.judge(
      {
        metric: 'errors',
        counts: null,
        noDataReason: 'Prometheus unreachable',
      },
      low.state,
    );
    expect(none.check.verdict).toBe('inconclusive');
    expect(none.state).toEqual(low.state);
  });
});

function steppedWeight(tick: number): number {
  if (tick < 60) return 0.05;
  if (tick < 120) return 0.25;
  return 0.5;
}

/**
 * Simulates one rollout at 10 s ticks: canary weight steps 5 → 25 → 50 %, and
 * total traffic that swings between 5 and 200 requests/s the same way for both
 * arms. Returns the tick of the first "fail", or -1.
 */
function simulate(
  random: Random,
  judge: SequentialCountJudge,
  options: {
    baseline: number;
    ratio: number;
    ticks: number;
    rps?: (t: number) => number;
    weight?: (t: number) => number;
  },
): { failedAt: number; canaryErrorsBefore: number } {
  const rps =
    options.rps ??
    ((t: number) => 102.5 + 97.5 * Math.sin((2 * Math.PI * t) / 60));
  const weight = options.weight ?? steppedWeight;
  let state: SequentialState | undefined;
  const counts = slice(0, 0, 0, 0);
  for (let t = 0; t < options.ticks; t++) {
    const requests = random.poisson(rps(t) * 10);
    const canary = random.binomial(requests, weight(t));
    counts.canaryRequests += canary;
    counts.stableRequests += requests - canary;
    counts.canaryErrors += random.binomial(
      canary,
      Math.min(1, options.baseline * options.ratio),
    );
    counts.stableErrors += random.binomial(requests - canary, options.baseline);
    const result = judge.judge(
      { metric: 'errors', counts: { ...counts } },
      state,
    );
    state = result.state;
    if (result.check.verdict === 'fail') {
      return { failedAt: t, canaryErrorsBefore: counts.canaryErrors };
    }
  }
  return { failedAt: -1, canaryErrorsBefore: counts.canaryErrors };
}

describe('SequentialCountJudge under continuous monitoring', () => {
  it('keeps false rollbacks of healthy canaries under α with swinging traffic and weights', () => {
    const alpha = 0.05;
    const judge = new SequentialCountJudge({ alpha, tolerance: 0 });
    const random = new Random(20260601);
    const runs = 1000;
    let falseAlarms = 0;
    for (let run = 0; run < runs; run++) {
      const baseline = [0.001, 0.005, 0.01, 0.05][run % 4];
      if (
        simulate(random, judge, { baseline, ratio: 1, ticks: 180 }).failedAt >=
        0
      ) {
        falseAlarms++;
      }
    }
    // Ville's inequality bounds the rate by α; sampling noise on 1000 runs is ±0.7 %.
    expect(falseAlarms / runs).toBeLessThanOrEqual(alpha);
  });

  it('detects a 5 × canary quickly', () => {
    const judge = new SequentialCountJudge({ alpha: 0.01 });
    const random = new Random(7);
    const outcomes = Array.from({ length: 200 }, () =>
      simulate(random, judge, {
        baseline: 0.01,
        ratio: 5,
        ticks: 180,
        rps: () => 100,
        weight: () => 0.05,
      }),
    );
    expect(outcomes.every(o => o.failedAt >= 0)).toBe(true);
    const errors = outcomes
      .map(o => o.canaryErrorsBefore)
      .sort((a, b) => a - b);
    const ticks = outcomes.map(o => o.failedAt).sort((a, b) => a - b);
    // 5 canary requests/s at 5 % errors: a quarter of a bad request per second.
    expect(errors[Math.floor(errors.length / 2)]).toBeLessThanOrEqual(15);
    expect(ticks[Math.floor(ticks.length * 0.95)]).toBeLessThanOrEqual(12); // two minutes
  });

  it('has power against a 1.5 × canary given enough traffic', () => {
    const judge = new SequentialCountJudge({ alpha: 0.01 });
    const random = new Random(11);
    const detected = Array.from({ length: 50 }, () =>
      simulate(random, judge, {
        baseline: 0.01,
        ratio: 1.5,
        ticks: 180,
        rps: () => 500,
        weight: () => 0.1,
      }),
    ).filter(o => o.failedAt >= 0).length;
    expect(detected).toBeGreaterThanOrEqual(45);
  });
});
