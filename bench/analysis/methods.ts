import { SequentialCountJudge } from '../../plugins/canary-backend/src/analysis/judges/SequentialCountJudge';
import {
  restoreGateState,
  SequentialGateState,
  SequentialGateTick,
  sequentialGateTick,
} from '../../plugins/canary-backend/src/analysis/judges/SequentialGate';
import {
  CounterName,
  CounterReaderState,
  RawCounter,
  readCounters,
  readingWindowSeconds,
} from '../../plugins/canary-backend/src/analysis/reading/CounterReader';
import { ArmCounts } from '../../plugins/canary-backend/src/analysis/judges/SequentialCountJudge';
import { mannWhitneyInterval } from './mannWhitney';
import { Kind, SimPrometheus } from './prometheusSim';
import { histogramQuantile, slowShare, World } from './world';

/** How a method reads the world: exact counters, or through a simulated Prometheus. */
export type Path =
  | { id: 'exact'; prom: SimPrometheus }
  | { id: `prometheus-${number}s`; prom: SimPrometheus };

/** Times in seconds since the rollout started. */
export interface Outcome {
  rollbackAt: number | null;
  promoteAt: number | null;
}

export interface Method {
  id: string;
  label: string;
  regressionsOnly?: boolean;
  /** Runs only on healthy scenarios with clumped errors (and no common bursts). */
  healthyClumpedOnly?: boolean;
  run(world: World, path: Path): Outcome;
}

/** Coalmine's analysis tick (the default `analysis.interval`). */
export const TICK = 10;

const COUNTERS: Array<[CounterName, 'canary' | 'stable', 'requests' | 'bad']> =
  [
    ['canaryErrors', 'canary', 'bad'],
    ['canaryRequests', 'canary', 'requests'],
    ['stableErrors', 'stable', 'bad'],
    ['stableRequests', 'stable', 'requests'],
  ];

/** The four counters of a count gate as the Prometheus path returns them (raw samples). */
export function rawCounters(
  prom: SimPrometheus,
  bad: Kind,
  from: number,
  to: number,
): Record<CounterName, RawCounter> {
  const out = {} as Record<CounterName, RawCounter>;
  const histogram = bad === 'slow' && prom.world.scenario.histogramSeries;
  for (const [name, arm, what] of COUNTERS) {
    if (histogram && what === 'bad') {
      // As a latency gate reads a histogram: `_count − _bucket{le}`, both
      // series of a pod scraped together (at the request series' times).
      const count = prom
        .select(arm, 'requests')
        .map(s => ({ s, points: prom.samples(s, from, to) }))
        .filter(x => x.points.length > 0);
      out[name] = [
        {
          sign: 1,
          series: count.map(({ s, points }) => ({
            labels: { pod: s.pod.name, job: s.job, __name__: 'h_count' },
            points,
          })),
        },
        {
          sign: -1,
          series: count.map(({ s, points }) => ({
            labels: {
              pod: s.pod.name,
              job: s.job,
              __name__: 'h_bucket',
              le: '250',
            },
            points: points.map(([t, v]): [number, number] => [
              t,
              v - prom.world.reading(s.pod, 'slow', t),
            ]),
          })),
        },
      ];
      continue;
    }
    const kind = what === 'bad' ? bad : 'requests';
    out[name] = [
      {
        sign: 1,
        series: prom
          .select(arm, kind)
          .map(s => ({
            labels: { pod: s.pod.name, job: s.job },
            points: prom.samples(s, from, to),
          }))
          .filter(s => s.points.length > 0),
      },
    ];
  }
  return out;
}

/**
 * Coalmine's default policy: two sequential gates evaluated every 10 s —
 * server errors and requests slower than the stable p99 bucket — sharing the
 * policy's α = 1 % (0.5 % each), both hard stops, at least 50 canary
 * requests overall and 20 at every weight before a step may pass. On the
 * Prometheus path both gates read raw samples (reading/CounterReader.ts) and
 * temper their evidence by the clump index of the stable pods.
 */
export function coalmine(tick: number = TICK): Method {
  return {
    id: 'coalmine',
    label: `Coalmine default policy (${tick} s ticks)`,
    run(world, path) {
      return runPolicy(world, tick, (bad, t, state) => {
        // Exact path: every counter read every second (path.prom is exact).
        const window = readingWindowSeconds(state.reader, t, 0);
        return {
          raw: rawCounters(path.prom, bad, t - window, t),
          // The engine lists the pods of an arm when a series went quiet.
          pods: {
            canary: world.podNames('canary', t),
            stable: world.podNames('stable', t),
          },
        };
      });
    },
  };
}

/**
 * What a gate of the default policy reads at time t: raw samples, or counts
 * read some other way (bench/analysis/asWritten.ts), and any part of the
 * tick to set otherwise (a reading's own time).
 */
export type PolicyRead = (
  bad: Kind,
  t: number,
  state: SequentialGateState,
) => Partial<SequentialGateTick>;

/**
 * Coalmine's default policy run on a world: its two gates ticked every
 * `tick` seconds, each reading as `read` says; rolled back at the first
 * failing check, promoted at the first tick where both pass.
 */
export function runPolicy(
  world: World,
  tick: number,
  read: PolicyRead,
): Outcome {
  const gates = (['errors', 'slow'] as const).map(bad => ({
    bad,
    judge: new SequentialCountJudge({
      alpha: 0.005,
      minCanaryRequests: 50,
    }),
    state: undefined as SequentialGateState | undefined,
  }));
  for (let t = tick; t <= world.horizon; t += tick) {
    let allPass = true;
    for (const gate of gates) {
      const state = gate.state ?? restoreGateState(undefined, gate.judge);
      const result = sequentialGateTick(
        gate.judge,
        state,
        {
          nowSec: t,
          startSec: 0,
          stepStartSec: world.stepStart(t),
          weight: world.weight(t) * 100,
          ...read(gate.bad, t, state),
        },
        { metric: gate.bad, minStepRequests: 20 },
      );
      gate.state = result.state;
      if (result.check.verdict === 'fail')
        return { rollbackAt: t, promoteAt: null };
      if (result.check.verdict !== 'pass') allPass = false;
    }
    // The schedule is the same for every method (fixed in time, so all
    // read the same stream); a step that would hold for fresh evidence is
    // not modelled as a delay: promotion is the first passing tick at or
    // after the schedule's end.
    if (allPass && t >= world.scheduleEnd)
      return { rollbackAt: null, promoteAt: t };
  }
  return { rollbackAt: null, promoteAt: null };
}

/**
 * The lower bound: Wald's SPRT on the canary's requests, one-sided at the
 * gate's α (0.5 %), knowing the stable rate p0, the canary's true rate p1
 * and the clump size, fed the very counts the judge reads on the same path
 * (exact counters, or the raw-sample readings through the simulated
 * Prometheus) at every tick. The naive variant ignores clumps.
 */
export function oracle(knowsClumps = true, testedRatio?: number): Method {
  const threshold = Math.log(1 / 0.005);
  const suffix = testedRatio ? `-${testedRatio}x` : '';
  return {
    id: `${knowsClumps ? 'oracle' : 'oracle-naive'}${suffix}`,
    label: `${
      knowsClumps
        ? 'Oracle: one-sided SPRT knowing the true rates and clump size, same counts'
        : 'Naive oracle: as the oracle, but counting clumped errors as independent'
    }${
      testedRatio
        ? ` (on healthy clumped canaries, testing ${testedRatio} × the baseline: its false rollbacks)`
        : ''
    }`,
    // With a tested ratio it runs on healthy clumped canaries (how often
    // it rolls them back), otherwise on regressions (knowing the truth).
    regressionsOnly: !testedRatio,
    healthyClumpedOnly: !!testedRatio,
    run(world, path) {
      const sc = world.scenario;
      const latency = sc.group === 'latency';
      const bad: Kind = latency ? 'slow' : 'errors';
      const p0 = latency ? slowShare(1) : sc.baseline;
      const trueRate = latency
        ? slowShare(sc.latencyFactor)
        : sc.canaryErrorRate;
      const p1 = testedRatio ? testedRatio * p0 : trueRate;
      // Errors come in clumps of K (a Poisson number of clumps): the valid
      // SPRT counts clumps, each worth log(p1/p0), and K times fewer
      // "successes". K = 1 is Wald's SPRT on requests. The naive oracle
      // takes K = 1 always, which is not an α-level test on clumped errors.
      const clump = knowsClumps && !latency ? sc.clump : 1;
      const up = Math.log(p1 / p0) / clump;
      const down = Math.log((1 - p1) / (1 - p0)) / clump;
      let reader: CounterReaderState | undefined;
      let last = { n: 0, e: 0 };
      let llr = 0;
      for (let t = TICK; t <= world.horizon; t += TICK) {
        const window = readingWindowSeconds(reader, t, 0);
        const read = readCounters(
          reader,
          rawCounters(path.prom, bad, t - window, t),
          t,
          0,
        );
        reader = read.state;
        const counts: ArmCounts | null = read.reading.counts;
        if (!counts) continue;
        const n = Math.round(counts.canaryRequests);
        const e = Math.round(counts.canaryErrors);
        const dn = n - last.n;
        const de = e - last.e;
        if (dn < 0 || de < 0) continue; // keep the last good reading
        llr += de * up + (dn - de) * down;
        last = { n, e };
        if (llr >= threshold) return { rollbackAt: t, promoteAt: null };
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

/** Canary success rate over a window ending at t, as each path reads it. */
function successRate(
  world: World,
  path: Path,
  t: number,
  window: number,
  irate = false,
): number {
  if (path.id === 'exact') {
    const n =
      world.armValue('canary', 'requests', t) -
      world.armValue('canary', 'requests', t - window);
    const e =
      world.armValue('canary', 'errors', t) -
      world.armValue('canary', 'errors', t - window);
    return n > 0 ? 1 - e / n : NaN;
  }
  const read = (kind: Kind) =>
    irate
      ? path.prom.irate('canary', kind, t, window)
      : path.prom.increase('canary', kind, t, window);
  const n = read('requests');
  const eRaw = read('errors');
  const e = Number.isNaN(eRaw) ? 0 : eRaw; // no 5xx series yet: `or vector(0)`-like
  if (!(n > 0)) return NaN;
  return Math.min(1, Math.max(0, 1 - e / n));
}

/**
 * Flagger as its docs set it up: interval 1m, request-success-rate ≥ 99 %
 * and request-duration p99 ≤ 500 ms over the last minute (Prometheus
 * `rate(...[1m])` on the Prometheus path); a check without data fails.
 * Failed checks add up; the scheduler rolls back at the start of the tick
 * after the count reached `threshold` (1 is the code default, 5 the docs').
 */
export function flagger(threshold: number): Method {
  return {
    id: `flagger-t${threshold}`,
    label: `Flagger (threshold ${threshold}${
      threshold === 1 ? ', code default' : ', docs'
    })`,
    run(world, path) {
      let failed = 0;
      for (let t = 60; t <= world.horizon; t += 60) {
        if (failed >= threshold) return { rollbackAt: t, promoteAt: null };
        const success = successRate(world, path, t, 60);
        const p99 = histogramQuantile(0.99, world.histogram('canary', t, 60));
        const ok = success >= 0.99 && p99 <= 500;
        if (!ok) failed++;
        else if (t >= world.scheduleEnd)
          return { rollbackAt: null, promoteAt: t };
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

/**
 * Argo Rollouts with its documented success-rate AnalysisTemplate: every
 * minute `successCondition: result[0] >= 0.95` on
 * sum(irate(non-5xx[5m])) / sum(irate(all[5m])) (exact path: the last five
 * minutes' counts), `failureLimit: 3`: the run fails — and the rollout
 * aborts — on the 4th failed measurement; an empty or NaN result fails the
 * measurement too. The run succeeds when the schedule ends.
 */
export function argo(): Method {
  return {
    id: 'argo',
    label: 'Argo Rollouts (success ≥ 0.95, failureLimit 3)',
    run(world, path) {
      let failed = 0;
      for (let t = 60; t <= world.horizon; t += 60) {
        const success = successRate(world, path, t, 300, true);
        if (!(success >= 0.95)) {
          failed++;
          if (failed > 3) return { rollbackAt: t, promoteAt: null };
        }
        if (t >= world.scheduleEnd) return { rollbackAt: null, promoteAt: t };
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

/**
 * Kayenta's NetflixACAJudge with its Mann-Whitney classifier: the canary
 * against a baseline of equal size (a fresh pod of the stable version given
 * the canary's share), per-minute points of error rate and p99 since the
 * start; a metric is High when the 98 % confidence interval of the location
 * shift lies above tolerance (0.25) × |Hodges-Lehmann estimate| and the mean
 * ratio is ≥ 1 (effect size); NaN points are removed, a metric without data
 * is not scored. Score = share of scored metrics that pass. Judged at half
 * and at the end of the schedule: below 75 (marginal) at half, or below 95
 * (pass) at the end, rolls back.
 */
export function kayenta(): Method {
  return {
    id: 'kayenta',
    label: 'Kayenta (Mann-Whitney classifier, equal baseline)',
    run(world, path) {
      const end = world.scheduleEnd;
      for (const t of [Math.round(end / 2 / 60) * 60, end]) {
        const points = {
          errors: { canary: [] as number[], baseline: [] as number[] },
          p99: { canary: [] as number[], baseline: [] as number[] },
        };
        for (let s = 60; s <= t; s += 60) {
          for (const arm of ['canary', 'baseline'] as const) {
            let n: number;
            let e: number;
            if (path.id === 'exact') {
              n =
                world.armValue(arm, 'requests', s) -
                world.armValue(arm, 'requests', s - 60);
              e =
                world.armValue(arm, 'errors', s) -
                world.armValue(arm, 'errors', s - 60);
            } else {
              n = path.prom.increase(arm, 'requests', s, 60);
              e = path.prom.increase(arm, 'errors', s, 60);
              if (Number.isNaN(e)) e = 0;
            }
            if (n > 0) points.errors[arm].push(e / n);
            const p99 = histogramQuantile(0.99, world.histogram(arm, s, 60));
            if (!Number.isNaN(p99)) points.p99[arm].push(p99);
          }
        }
        let scored = 0;
        let passed = 0;
        for (const metric of [points.errors, points.p99]) {
          if (metric.canary.length === 0 || metric.baseline.length === 0)
            continue;
          scored++;
          if (!kayentaHigh(metric.canary, metric.baseline)) passed++;
        }
        const score = scored === 0 ? 0 : (100 * passed) / scored;
        if (t < end && score < 75) return { rollbackAt: t, promoteAt: null };
        if (t === end) {
          return score >= 95
            ? { rollbackAt: null, promoteAt: t }
            : { rollbackAt: t, promoteAt: null };
        }
      }
      return { rollbackAt: null, promoteAt: null };
    },
  };
}

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/** Kayenta's classification "High" for a metric whose bad direction is an increase. */
export function kayentaHigh(experiment: number[], control: number[]): boolean {
  const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
  const a = sorted(experiment);
  const b = sorted(control);
  if (a.length === b.length && a.every((v, i) => v === b[i])) return false;
  if (new Set([...a, ...b]).size === 1) return false;
  const { lower, estimate } = mannWhitneyInterval(experiment, control, 0.98);
  const effect = mean(control) === 0 ? 1 : mean(experiment) / mean(control);
  return lower > 0.25 * Math.abs(estimate) && effect >= 1;
}
