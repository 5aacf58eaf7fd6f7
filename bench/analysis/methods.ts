import { RelativeToStableJudge } from '../../plugins/canary-backend/src/analysis/judges/RelativeToStableJudge';
import {
  SequentialCountJudge,
  SequentialState,
} from '../../plugins/canary-backend/src/analysis/judges/SequentialCountJudge';
import { mannWhitneyTwoSided } from './mannWhitney';
import { BLOCK_SECONDS, histogramQuantile, slowShare, Stream } from './stream';

/** What a method did with one stream. Times in seconds since the canary got traffic. */
export interface Outcome {
  rollbackAt: number | null;
  promoteAt: number | null;
}

export interface Method {
  id: string;
  label: string;
  /** Healthy canaries are not run (the oracle knows they are healthy). */
  regressionsOnly?: boolean;
  run(stream: Stream): Outcome;
}

/**
 * The rollout every method drives: the canary stays at the scenario's weight
 * and is promoted after 10 minutes of "advance" decisions; a method that
 * holds takes longer, up to the horizon.
 */
export const PROMOTE_AFTER_SECONDS = 600;

function windowCounts(stream: Stream, t: number, seconds: number) {
  stream.ensure(t);
  const from = Math.max(0, t - seconds);
  return {
    canaryRequests: stream.canaryRequests[t] - stream.canaryRequests[from],
    canaryErrors: stream.canaryErrors[t] - stream.canaryErrors[from],
    stableRequests: stream.stableRequests[t] - stream.stableRequests[from],
    stableErrors: stream.stableErrors[t] - stream.stableErrors[from],
  };
}

/**
 * Coalmine's default policy (analysis.interval 10s, see DEFAULT_METRIC_GATES):
 * two sequential gates after every tick — server errors, and requests slower
 * than the stable's p99 bucket (`le: auto`, here the 250 ms bucket) — each
 * sharing the policy's α = 1 % (0.5 % each), tolerance 0, a hard stop, and at least 50 canary requests
 * before it passes. `p99Gate` adds the relative gate "p99 ≤ 1.2 × stable"
 * over 1-minute windows (at least 100 requests per arm, failure limit 3).
 */
export function coalmine(
  options: {
    tickSeconds?: number;
    p99Gate?: boolean;
    tolerance?: number;
    grid?: number[];
    id?: string;
  } = {},
): Method {
  const tick = options.tickSeconds ?? 10;
  const tolerance = options.tolerance ?? 0;
  const errorsJudge = new SequentialCountJudge({
    alpha: 0.005,
    tolerance,
    minCanaryRequests: 50,
    grid: options.grid,
  });
  const slowJudge = new SequentialCountJudge({
    alpha: 0.005,
    tolerance,
    minCanaryRequests: 50,
    grid: options.grid,
  });
  const p99Judge = new RelativeToStableJudge({
    maxRatio: 1.2,
    minRequests: 100,
  });
  const failureLimit = 3;
  let id = 'coalmine';
  let label = 'Coalmine default policy (10s ticks)';
  if (options.p99Gate) {
    id = 'coalmine-p99';
    label = 'Coalmine default + p99 ≤ 1.2 × stable gate';
  } else if (tick !== 10) {
    id = `coalmine-${tick}s`;
    label = `Coalmine default policy, ${tick}s ticks (every scrape)`;
  }
  if (options.id) id = options.id;
  return {
    id,
    label,
    run(stream) {
      let errorsState: SequentialState = errorsJudge.initialState();
      let slowState: SequentialState = slowJudge.initialState();
      let failed = 0;
      let progress = 0;
      let p99Verdict: string | undefined = options.p99Gate ? undefined : 'pass';
      let p99At = -Infinity;
      for (let t = tick; t <= stream.horizon; t += tick) {
        stream.ensure(t);
        errorsState = errorsJudge.update(errorsState, {
          canaryRequests: stream.canaryRequests[t],
          canaryErrors: stream.canaryErrors[t],
          stableRequests: stream.stableRequests[t],
          stableErrors: stream.stableErrors[t],
        });
        if (errorsState.rejected) return { rollbackAt: t, promoteAt: null };
        // Histogram counts arrive per 10-second block.
        slowState = slowJudge.update(
          slowState,
          slowCounts(stream, Math.floor(t / BLOCK_SECONDS)),
        );
        if (slowState.rejected) return { rollbackAt: t, promoteAt: null };
        const sequentialPass =
          errorsState.used.canaryRequests >= errorsJudge.minCanaryRequests &&
          slowState.used.canaryRequests >= slowJudge.minCanaryRequests;
        if (options.p99Gate && t - p99At >= 60 - tick / 2) {
          p99At = t;
          const canary = stream.histogram('canary', t, 60);
          const stable = stream.histogram('stable', t, 60);
          const check = p99Judge.judge({
            metric: 'request-duration',
            canaryValue: nanToNull(histogramQuantile(0.99, canary)),
            stableValue: nanToNull(histogramQuantile(0.99, stable)),
            canaryRequests: sum(canary),
            stableRequests: sum(stable),
          });
          p99Verdict = check.verdict;
          if (check.verdict === 'fail') {
            failed++;
            if (failed >= failureLimit)
              return { rollbackAt: t, promoteAt: null };
            continue;
          }
        }
        if (sequentialPass && p99Verdict === 'pass') {
          progress += tick;
          if (progress >= PROMOTE_AFTER_SECONDS)
            return { rollbackAt: null, promoteAt: t };
        }
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

/** Cumulative requests and slow requests per arm from the histograms, up to the end of `blocks` blocks. */
function slowCounts(stream: Stream, blocks: number) {
  stream.ensure(blocks * BLOCK_SECONDS);
  return {
    canaryRequests: stream.canaryBlockRequests[blocks],
    canaryErrors: stream.canarySlow[blocks],
    stableRequests: stream.stableBlockRequests[blocks],
    stableErrors: stream.stableSlow[blocks],
  };
}

function nanToNull(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/**
 * Flagger's documented analysis: every interval (1m) the canary's request
 * success rate over the last minute must be ≥ 99 % and its p99 ≤ 500 ms; a
 * check without data ("no values found", the canary got no requests) fails
 * too. Each failed check increments failedChecks; at `threshold` (default 1)
 * Flagger rolls back. Every passing check advances one step.
 */
export function flagger(threshold: number): Method {
  return {
    id: `flagger-t${threshold}`,
    label: `Flagger (threshold ${threshold}${
      threshold === 1 ? ', its default' : ''
    })`,
    run(stream) {
      let failedChecks = 0;
      let progress = 0;
      for (let t = 60; t <= stream.horizon; t += 60) {
        const w = windowCounts(stream, t, 60);
        const p99 = histogramQuantile(0.99, stream.histogram('canary', t, 60));
        const ok =
          w.canaryRequests > 0 &&
          100 * (1 - w.canaryErrors / w.canaryRequests) >= 99 &&
          !Number.isNaN(p99) &&
          p99 <= 500;
        if (!ok) {
          failedChecks++;
          if (failedChecks >= threshold)
            return { rollbackAt: t, promoteAt: null };
          continue;
        }
        progress += 60;
        if (progress >= PROMOTE_AFTER_SECONDS)
          return { rollbackAt: null, promoteAt: t };
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

/**
 * Argo Rollouts-style AnalysisRun: every 1m, `count: 10` measurements of
 * success rate (`result[0] >= 0.99`) and p99 (`result[0] <= 500`);
 * `failureLimit: 3` (the run fails on the 4th failed measurement of a
 * metric); an empty result is an Error, and more than 4 consecutive errors
 * (the default consecutiveErrorLimit) fail the run. Success after 10
 * measurements.
 */
export function argo(failureLimit = 3): Method {
  return {
    id: `argo-f${failureLimit}`,
    label: `Argo Rollouts-style (count 10, failureLimit ${failureLimit})`,
    run(stream) {
      const failures = { success: 0, p99: 0 };
      let consecutiveErrors = 0;
      for (let n = 1; n <= 10; n++) {
        const t = n * 60;
        const w = windowCounts(stream, t, 60);
        if (w.canaryRequests === 0) {
          consecutiveErrors++;
          if (consecutiveErrors > 4) return { rollbackAt: t, promoteAt: null };
          continue;
        }
        consecutiveErrors = 0;
        if (1 - w.canaryErrors / w.canaryRequests < 0.99) failures.success++;
        const p99 = histogramQuantile(0.99, stream.histogram('canary', t, 60));
        if (!(p99 <= 500)) failures.p99++;
        if (failures.success > failureLimit || failures.p99 > failureLimit) {
          return { rollbackAt: t, promoteAt: null };
        }
      }
      return { rollbackAt: null, promoteAt: 600 };
    },
  };
}

/**
 * Kayenta-style judge: at 5 and 10 minutes, compare canary with stable on
 * 30-second points since the start (error rate; p99 latency) with a
 * two-sided Mann-Whitney U test at confidence 0.98; a metric is "High" (bad)
 * when the difference is significant and the canary's mean exceeds the
 * stable's by more than the tolerance 0.25. Score = share of classified
 * metrics that pass (a metric with fewer than 3 points per arm is NoData and
 * left out; none left gives 0). Below 75 (marginal) at 5 minutes or below 95
 * (pass) at the end: rollback; else promote at 10 minutes.
 */
export function kayenta(): Method {
  const step = 30;
  return {
    id: 'kayenta',
    label: 'Kayenta-style (Mann-Whitney, 0.98, tolerance 0.25)',
    run(stream) {
      for (const t of [300, 600]) {
        stream.ensure(t);
        const errorPoints = { canary: [] as number[], stable: [] as number[] };
        const p99Points = { canary: [] as number[], stable: [] as number[] };
        for (let s = step; s <= t; s += step) {
          const w = windowCounts(stream, s, step);
          if (w.canaryRequests > 0)
            errorPoints.canary.push(w.canaryErrors / w.canaryRequests);
          if (w.stableRequests > 0)
            errorPoints.stable.push(w.stableErrors / w.stableRequests);
          const c = histogramQuantile(
            0.99,
            stream.histogram('canary', s, step),
          );
          const st = histogramQuantile(
            0.99,
            stream.histogram('stable', s, step),
          );
          if (!Number.isNaN(c)) p99Points.canary.push(c);
          if (!Number.isNaN(st)) p99Points.stable.push(st);
        }
        let classified = 0;
        let passed = 0;
        for (const points of [errorPoints, p99Points]) {
          if (points.canary.length < 3 || points.stable.length < 3) continue;
          classified++;
          const p = mannWhitneyTwoSided(points.canary, points.stable);
          const canaryMean = mean(points.canary);
          const stableMean = mean(points.stable);
          const high =
            p < 0.02 && canaryMean > stableMean * 1.25 && canaryMean > 0;
          if (!high) passed++;
        }
        const score = classified === 0 ? 0 : (100 * passed) / classified;
        if (t < 600 && score < 75) return { rollbackAt: t, promoteAt: null };
        if (t === 600) {
          return score >= 95
            ? { rollbackAt: null, promoteAt: t }
            : { rollbackAt: t, promoteAt: null };
        }
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * The lower bound: Wald's SPRT on the canary's own requests, knowing the
 * stable rate p0 and the canary's true rate p1 (α = β = 1 %), updated every
 * second (every 10 s for latency, where "bad" means slower than the stable
 * p99). Stops at the first crossing.
 */
export function oracle(): Method {
  const upper = Math.log(0.99 / 0.01);
  const lower = Math.log(0.01 / 0.99);
  return {
    id: 'oracle',
    label: "Oracle: Wald's SPRT knowing the true rates",
    regressionsOnly: true,
    run(stream) {
      const sc = stream.scenario;
      const latency = sc.group === 'latency';
      const p0 = latency ? 0.01 : sc.baseline;
      const p1 = latency ? slowShare(sc.latencyFactor) : sc.canaryErrorRate;
      const bad = Math.log(p1 / p0);
      const good = Math.log((1 - p1) / (1 - p0));
      const step = latency ? BLOCK_SECONDS : 1;
      let llr = 0;
      for (let t = step; t <= stream.horizon; t += step) {
        stream.ensure(t);
        let n: number;
        let e: number;
        if (latency) {
          const b = t / BLOCK_SECONDS;
          e = stream.canarySlow[b] - stream.canarySlow[b - 1];
          n = 0;
          const width =
            stream.canaryHist.length /
            Math.ceil(stream.horizon / BLOCK_SECONDS);
          for (let k = 0; k < width; k++)
            n += stream.canaryHist[(b - 1) * width + k];
        } else {
          n = stream.canaryRequests[t] - stream.canaryRequests[t - 1];
          e = stream.canaryErrors[t] - stream.canaryErrors[t - 1];
        }
        llr += e * bad + (n - e) * good;
        if (llr >= upper) return { rollbackAt: t, promoteAt: null };
        if (llr <= lower)
          return {
            rollbackAt: null,
            promoteAt: Math.max(t, PROMOTE_AFTER_SECONDS),
          };
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}
