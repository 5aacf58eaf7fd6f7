import { Random } from '../../plugins/canary-backend/src/analysis/__testUtils__/random';

/**
 * One simulated service during one rollout, second by second, per pod:
 * four stable pods and one canary pod by default (Scenario.stablePods,
 * canaryPodsFrom), and one baseline pod (the stable
 * version at the canary's size, which only Kayenta uses). Requests per pod
 * are Poisson; errors arrive in clumps of `clump` (a Poisson number of clumps,
 * each `clump` errors: retries, one bad connection); "slow" requests (above
 * the stable p99 latency bucket, 250 ms) are Binomial. Time 0 is the
 * rollout start; stable traffic runs from `-HISTORY` so a reader can see the
 * service before the rollout.
 */

/** Three hours, the stable history the reader fetches before the rollout (CounterReader.ts). */
export const HISTORY = 10800;
export const STABLE_PODS = 4;

/** Upper bounds of the latency buckets in ms (the last one is +Inf). */
export const BUCKETS_MS = [
  5,
  10,
  25,
  50,
  100,
  150,
  200,
  250,
  300,
  400,
  500,
  750,
  1000,
  2500,
  5000,
  Infinity,
];
const STABLE_MEDIAN_MS = 50;
const STABLE_P99_MS = 250;
const Z99 = 2.3263478740408408;
const LATENCY_SIGMA = Math.log(STABLE_P99_MS / STABLE_MEDIAN_MS) / Z99;
export const SLOW_BUCKET = BUCKETS_MS.indexOf(STABLE_P99_MS);
export const BLOCK = 10;

export interface Scenario {
  id: string;
  group: 'healthy' | 'errors' | 'latency';
  label: string;
  baseline: number;
  canaryErrorRate: number;
  latencyFactor: number;
  rps: number;
  /** Weights (%) and how long each step lasts. */
  weights: number[];
  stepSeconds: number;
  clump: number;
  /** Both arms fail 20 % of requests for `burstSeconds` (default 20) after every weight change. */
  burstAtSteps: boolean;
  burstSeconds?: number;
  /** Common bursts in the middle of steps: on average one every `every` seconds, `seconds` long, both arms failing (and slow) at `rate`. */
  midStepBursts?: {
    every: number;
    seconds: number;
    rate: number;
    /** Only from the rollout on (none in the stable history the clump index reads). */
    fromRollout?: boolean;
  };
  /**
   * Episodes of one pod at a time, every pod alike (the canary's too): each
   * pod on its own, on average one every `every` seconds, for `seconds`
   * fails (and is slow) at `rate` — a bad node, a noisy neighbour, a pause.
   */
  podEpisodes?: { every: number; seconds: number; rate: number };
  swing: boolean;
  runs: number;
  /** Container restarts: each pod restarts on average once in this many seconds, and its counters start again from 0. */
  restartEverySeconds?: number;
  /** Share of scrapes that fail (no sample stored for that series at that time). */
  missedScrapes?: number;
  /** All series of a pod are scraped at the same instant (one target), as Prometheus does; by default each series has its own phase. */
  phasePerPod?: boolean;
  /** The mesh sends the canary this many times its configured weight (a misrouted split; default 1). */
  shareFactor?: number;
  /** The mesh applies each weight change this many seconds late (default 0; the judge assumes 5). */
  meshDelaySeconds?: number;
  /** Stable pods (default STABLE_PODS). */
  stablePods?: number;
  /** When each canary pod starts serving (s since the start; default [0], one pod): an autoscaler adding pods mid-rollout. */
  canaryPodsFrom?: number[];
  /** When canary pods are deleted (s since the start, by index into canaryPodsFrom): with a later entry in canaryPodsFrom, a pod replaced (an eviction, a node drain). */
  canaryPodsUntil?: number[];
  /** When stable pods are deleted (s since the start, one per entry, the first pods first; a scale-down): they serve nothing more and their series are scraped no more. */
  stablePodsUntil?: number[];
  /** The canary's series are scraped at this interval (s) on the Prometheus path, whatever the stable's (another scrape config). */
  canaryScrapeSeconds?: number;
  /**
   * Outages of scraping on the Prometheus path: on average one every `every`
   * seconds of the rollout, `seconds` long, in which every scrape of the
   * arm's series (of both arms when no arm is named) fails — a scrape job
   * broken by a config push, a network partition, targets unreachable.
   */
  scrapeOutages?: { every: number; seconds: number; arm?: 'canary' | 'stable' };
  /**
   * Every pod is scraped by two jobs on the Prometheus path (a PodMonitor
   * beside a ServiceMonitor, or pod annotations beside either): each series
   * is stored twice, with another `job` label and its own scrape phase, and
   * every sum counts each request twice.
   */
  scrapedTwice?: boolean;
  /**
   * The latency gate reads slow requests as a histogram does on the
   * Prometheus path: `_count − _bucket{le}`, two series per pod scraped
   * together, instead of one counter of slow requests.
   */
  histogramSeries?: boolean;
  /**
   * Samples reach the store late on the Prometheus path (remote write): a
   * sample scraped at t is readable from t + lag, the lag drawn per series
   * and minute in `seconds` (`canarySeconds` for the canary's series), each
   * series' samples readable in order. `batchSeconds`: instead, sent in
   * batches (a remote-write queue that waits to fill them): a sample is
   * readable at the next multiple of it, all series at once.
   */
  visibilityLag?: {
    seconds: [number, number];
    canarySeconds?: [number, number];
    batchSeconds?: number;
  };
}

export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x / Math.SQRT2));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) *
      t +
      0.254829592) *
      t *
      Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

export function bucketProbabilities(factor: number): number[] {
  const mu = Math.log(STABLE_MEDIAN_MS * factor);
  let previous = 0;
  return BUCKETS_MS.map(bound => {
    const cdf =
      bound === Infinity
        ? 1
        : normalCdf((Math.log(bound) - mu) / LATENCY_SIGMA);
    const p = Math.max(0, cdf - previous);
    previous = cdf;
    return p;
  });
}

export function slowShare(factor: number): number {
  return bucketProbabilities(factor)
    .slice(SLOW_BUCKET + 1)
    .reduce((a, b) => a + b, 0);
}

/** Cumulative counters of one pod, index t + HISTORY + 1 = end of second t. */
export interface Pod {
  name: string;
  arm: 'stable' | 'canary' | 'baseline';
  /** Seconds at whose end the pod's container restarted (counters back to 0), ascending. */
  restarts: number[];
  /** The pod is deleted at this time (Scenario.stablePodsUntil, canaryPodsUntil). */
  until?: number;
  requests: Float64Array;
  errors: Float64Array;
  slow: Float64Array;
}

export class World {
  readonly scenario: Scenario;
  readonly horizon: number;
  readonly pods: Pod[];
  /** Per arm, per 10 s block: latency bucket counts (block index from t = 0). */
  readonly hist: Record<'stable' | 'canary' | 'baseline', Int32Array>;
  readonly #random: Random;

  constructor(scenario: Scenario, seed: number, horizon: number) {
    this.scenario = scenario;
    this.horizon = horizon;
    this.#random = new Random(seed);
    const size = horizon + HISTORY + 1;
    const pod = (name: string, arm: Pod['arm']): Pod => ({
      name,
      arm,
      restarts: [],
      requests: new Float64Array(size),
      errors: new Float64Array(size),
      slow: new Float64Array(size),
    });
    const until = scenario.stablePodsUntil ?? [];
    this.pods = [
      ...Array.from({ length: this.stablePods }, (_, i) => ({
        ...pod(`app-stable-7d9f-${i}`, 'stable'),
        ...(i < until.length ? { until: until[i] } : {}),
      })),
      ...this.canaryPodsFrom.map((_, i) => ({
        ...pod(`app-canary-5c4b-${i}`, 'canary'),
        ...(scenario.canaryPodsUntil?.[i] !== undefined
          ? { until: scenario.canaryPodsUntil[i] }
          : {}),
      })),
      pod('app-baseline-6a2e-0', 'baseline'),
    ];
    const blocks = Math.ceil(horizon / BLOCK);
    this.hist = {
      stable: new Int32Array(blocks * BUCKETS_MS.length),
      canary: new Int32Array(blocks * BUCKETS_MS.length),
      baseline: new Int32Array(blocks * BUCKETS_MS.length),
    };
    this.#generate();
    const every = scenario.restartEverySeconds;
    if (every) {
      for (const p of this.pods) {
        for (let t = -HISTORY; t < horizon; t++) {
          if (this.#random.next() < 1 / every) p.restarts.push(t);
        }
      }
    }
  }

  get stablePods(): number {
    return this.scenario.stablePods ?? STABLE_PODS;
  }

  get canaryPodsFrom(): number[] {
    return this.scenario.canaryPodsFrom ?? [0];
  }

  /** The names of an arm's pods Kubernetes lists at second t: started (canaryPodsFrom) and not deleted. */
  podNames(arm: 'canary' | 'stable', t: number): string[] {
    let canaryIndex = 0;
    const out: string[] = [];
    for (const pod of this.pods) {
      if (pod.arm !== arm) {
        if (pod.arm === 'canary') canaryIndex++;
        continue;
      }
      const from =
        arm === 'canary' ? this.canaryPodsFrom[canaryIndex++] : -Infinity;
      if (t >= from && t < (pod.until ?? Infinity)) out.push(pod.name);
    }
    return out;
  }

  /** Canary weight (0–1) in effect during second t. */
  weight(t: number): number {
    if (t < 0) return 0;
    const { weights, stepSeconds } = this.scenario;
    const i = Math.min(weights.length - 1, Math.floor(t / stepSeconds));
    return weights[i] / 100;
  }

  /** Start of the step in effect at time t. */
  stepStart(t: number): number {
    const { weights, stepSeconds } = this.scenario;
    const i = Math.min(weights.length - 1, Math.floor(t / stepSeconds));
    return Math.max(0, i * stepSeconds);
  }

  get scheduleEnd(): number {
    return this.scenario.weights.length * this.scenario.stepSeconds;
  }

  rps(t: number): number {
    const { rps, swing } = this.scenario;
    return swing ? rps * (1 + 0.8 * Math.sin((2 * Math.PI * t) / 1200)) : rps;
  }

  #generate() {
    const r = this.#random;
    const sc = this.scenario;
    const canaryProbs = bucketProbabilities(sc.latencyFactor);
    const stableProbs = bucketProbabilities(1);
    const stableSlow = slowShare(1);
    const canarySlow = slowShare(sc.latencyFactor);
    const blockCounts = { stable: 0, canary: 0, baseline: 0 };
    let midBurstUntil = -Infinity;
    const episodeUntil = this.pods.map(() => -Infinity);
    for (let t = -HISTORY; t < this.horizon; t++) {
      const i = t + HISTORY;
      // The share the mesh actually sends the canary.
      const w = Math.min(
        1,
        this.weight(t - (sc.meshDelaySeconds ?? 0)) * (sc.shareFactor ?? 1),
      );
      const total = this.rps(t);
      const sinceStep = t - this.stepStart(t);
      const burst =
        sc.burstAtSteps && t >= 0 && sinceStep < (sc.burstSeconds ?? 20);
      const mid = sc.midStepBursts;
      if (
        mid &&
        t >= (mid.fromRollout ? 0 : -Infinity) &&
        t >= midBurstUntil &&
        r.next() < 1 / mid.every
      )
        midBurstUntil = t + mid.seconds;
      const midBurst = mid !== undefined && t < midBurstUntil;
      const canaryUntil = sc.canaryPodsUntil ?? [];
      const canaryUp = this.canaryPodsFrom.filter(
        (from, i) => t >= from && t < (canaryUntil[i] ?? Infinity),
      ).length;
      const stableUp =
        this.stablePods -
        (sc.stablePodsUntil ?? []).filter(until => t >= until).length;
      let canaryIndex = 0;
      let podIndex = 0;
      for (const pod of this.pods) {
        const episodes = sc.podEpisodes;
        let episode = false;
        if (episodes) {
          if (t >= episodeUntil[podIndex] && r.next() < 1 / episodes.every)
            episodeUntil[podIndex] = t + episodes.seconds;
          episode = t < episodeUntil[podIndex];
        }
        podIndex++;
        let mean: number;
        let rate: number;
        let slow: number;
        if (pod.arm === 'stable') {
          mean =
            t >= (pod.until ?? Infinity)
              ? 0
              : (total * (1 - w)) / Math.max(1, stableUp);
          rate = sc.baseline;
          slow = stableSlow;
        } else if (pod.arm === 'canary') {
          const up =
            t >= this.canaryPodsFrom[canaryIndex++] &&
            t < (pod.until ?? Infinity);
          mean = up ? (total * w) / Math.max(1, canaryUp) : 0;
          rate = sc.canaryErrorRate;
          slow = canarySlow;
        } else {
          mean = total * w;
          rate = sc.baseline;
          slow = stableSlow;
        }
        if (burst) rate = Math.max(rate, 0.2);
        if (midBurst) {
          rate = Math.max(rate, mid.rate);
          slow = Math.max(slow, mid.rate);
        }
        if (episode && episodes) {
          rate = Math.max(rate, episodes.rate);
          slow = Math.max(slow, episodes.rate);
        }
        const n = r.poisson(mean);
        let e = 0;
        if (n > 0) {
          e =
            sc.clump > 1
              ? Math.min(n, sc.clump * r.poisson((n * rate) / sc.clump))
              : r.binomial(n, rate);
        }
        const s = n > 0 ? r.binomial(n, slow) : 0;
        pod.requests[i + 1] = pod.requests[i] + n;
        pod.errors[i + 1] = pod.errors[i] + e;
        pod.slow[i + 1] = pod.slow[i] + s;
        if (t >= 0) blockCounts[pod.arm] += n;
      }
      if (t >= 0 && (t + 1) % BLOCK === 0) {
        const block = (t + 1) / BLOCK - 1;
        for (const arm of ['stable', 'canary', 'baseline'] as const) {
          this.#multinomial(
            blockCounts[arm],
            arm === 'canary' ? canaryProbs : stableProbs,
            this.hist[arm],
            block,
          );
          blockCounts[arm] = 0;
        }
      }
    }
  }

  #multinomial(n: number, probs: number[], into: Int32Array, block: number) {
    let left = n;
    let mass = 1;
    const offset = block * probs.length;
    for (let b = 0; b < probs.length && left > 0; b++) {
      const count =
        b === probs.length - 1
          ? left
          : this.#random.binomial(left, Math.min(1, probs[b] / mass));
      into[offset + b] = count;
      left -= count;
      mass -= probs[b];
    }
  }

  /** Cumulative value of a pod counter at the end of second t (t may be fractional: floor). */
  value(pod: Pod, kind: 'requests' | 'errors' | 'slow', t: number): number {
    const i = Math.max(
      0,
      Math.min(this.horizon + HISTORY, Math.floor(t) + HISTORY),
    );
    return pod[kind][i];
  }

  /**
   * What the pod's counter reads at the end of second t: its count since the
   * container last restarted (what Prometheus scrapes; `value` is the truth).
   */
  reading(pod: Pod, kind: 'requests' | 'errors' | 'slow', t: number): number {
    let since = -Infinity;
    for (const r of pod.restarts) {
      if (r > Math.floor(t)) break;
      since = r;
    }
    const v = this.value(pod, kind, t);
    return since === -Infinity ? v : v - this.value(pod, kind, since);
  }

  /** Exact sum over an arm's pods at time t. */
  armValue(
    arm: Pod['arm'],
    kind: 'requests' | 'errors' | 'slow',
    t: number,
  ): number {
    let sum = 0;
    for (const pod of this.pods)
      if (pod.arm === arm) sum += this.value(pod, kind, t);
    return sum;
  }

  /** Latency bucket counts of an arm over (t − window, t]; multiples of 10 s. */
  histogram(arm: Pod['arm'], t: number, window: number): number[] {
    const to = Math.floor(t / BLOCK);
    const from = Math.max(0, to - Math.round(window / BLOCK));
    const sums = new Array(BUCKETS_MS.length).fill(0);
    const h = this.hist[arm];
    for (let b = from; b < to; b++)
      for (let k = 0; k < BUCKETS_MS.length; k++)
        sums[k] += h[b * BUCKETS_MS.length + k];
    return sums;
  }

  /** Bad canary requests in [0, t): errors, or slow requests in latency scenarios. */
  badRequests(t: number): number {
    const kind = this.scenario.group === 'latency' ? 'slow' : 'errors';
    return this.armValue('canary', kind, t) - this.armValue('canary', kind, 0);
  }
}

/** Prometheus' histogram_quantile on non-cumulative bucket counts. */
export function histogramQuantile(q: number, counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let cumulative = 0;
  for (let b = 0; b < counts.length; b++) {
    const before = cumulative;
    cumulative += counts[b];
    if (cumulative >= rank) {
      if (BUCKETS_MS[b] === Infinity) return BUCKETS_MS[b - 1];
      const lower = b === 0 ? 0 : BUCKETS_MS[b - 1];
      const upper = BUCKETS_MS[b];
      return (
        lower + ((upper - lower) * (rank - before)) / Math.max(1e-12, counts[b])
      );
    }
  }
  return BUCKETS_MS[BUCKETS_MS.length - 2];
}
