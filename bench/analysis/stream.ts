import { Random } from '../../plugins/canary-backend/src/analysis/__testUtils__/random';

/**
 * Simulated request streams: per-second request and error counts for both
 * arms (Poisson traffic split Binomially by the canary weight, Binomial
 * errors) and, per 10-second block, latency histograms (multinomial over
 * Istio-like buckets of a log-normal latency). Every method is run on the
 * very same stream.
 */

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
/** Stable latency: log-normal with median 50 ms and p99 exactly 250 ms (a bucket bound). */
export const STABLE_MEDIAN_MS = 50;
export const STABLE_P99_MS = 250;
const Z99 = 2.3263478740408408;
export const LATENCY_SIGMA = Math.log(STABLE_P99_MS / STABLE_MEDIAN_MS) / Z99;
/** Index of the 250 ms bucket: requests above it are "slow" (worse than the stable p99). */
export const SLOW_BUCKET = BUCKETS_MS.indexOf(STABLE_P99_MS);
export const BLOCK_SECONDS = 10;

export interface Scenario {
  id: string;
  group: 'healthy' | 'errors' | 'latency';
  /** Stable error rate. */
  baseline: number;
  /** Canary error rate. */
  canaryErrorRate: number;
  /** Canary latencies are the stable ones times this (1.3 = p99 +30 %). */
  latencyFactor: number;
  /** Mean total requests per second. */
  rps: number;
  /** Canary share of requests. */
  weight: number;
  /** Traffic swings ±80 % over 20 minutes, the same for both arms. */
  swing: boolean;
  runs: number;
  /** Label of the effect: `1×`, `1.5×`, `50 % outage`, `p99 +30 %`. */
  effect: string;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf). */
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

/** Probability of each bucket for latencies scaled by `factor`. */
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

/** P(latency > 250 ms) for a canary with the given factor: the "bad" share in latency scenarios. */
export function slowShare(factor: number): number {
  const p = bucketProbabilities(factor);
  return p.slice(SLOW_BUCKET + 1).reduce((a, b) => a + b, 0);
}

export class Stream {
  readonly horizon: number;
  readonly scenario: Scenario;
  /** Cumulative counts at the end of second t (index t + 1; index 0 is 0). */
  readonly canaryRequests: Float64Array;
  readonly canaryErrors: Float64Array;
  readonly stableRequests: Float64Array;
  readonly stableErrors: Float64Array;
  /** Per block: bucket counts (not cumulative), block-major. */
  readonly canaryHist: Int32Array;
  readonly stableHist: Int32Array;
  /** Cumulative slow canary requests at the end of each block (index b + 1). */
  readonly canarySlow: Float64Array;
  /** The same for stable, and cumulative requests per block of both arms. */
  readonly stableSlow: Float64Array;
  readonly canaryBlockRequests: Float64Array;
  readonly stableBlockRequests: Float64Array;
  #generated = 0;
  readonly #random: Random;
  readonly #canaryProbs: number[];
  readonly #stableProbs: number[];
  #blockCanary = 0;
  #blockStable = 0;

  constructor(scenario: Scenario, seed: number, horizon: number) {
    this.scenario = scenario;
    this.horizon = horizon;
    this.#random = new Random(seed);
    this.canaryRequests = new Float64Array(horizon + 1);
    this.canaryErrors = new Float64Array(horizon + 1);
    this.stableRequests = new Float64Array(horizon + 1);
    this.stableErrors = new Float64Array(horizon + 1);
    const blocks = Math.ceil(horizon / BLOCK_SECONDS);
    this.canaryHist = new Int32Array(blocks * BUCKETS_MS.length);
    this.stableHist = new Int32Array(blocks * BUCKETS_MS.length);
    this.canarySlow = new Float64Array(blocks + 1);
    this.stableSlow = new Float64Array(blocks + 1);
    this.canaryBlockRequests = new Float64Array(blocks + 1);
    this.stableBlockRequests = new Float64Array(blocks + 1);
    this.#canaryProbs = bucketProbabilities(scenario.latencyFactor);
    this.#stableProbs = bucketProbabilities(1);
  }

  rps(t: number): number {
    const { rps, swing } = this.scenario;
    return swing ? rps * (1 + 0.8 * Math.sin((2 * Math.PI * t) / 1200)) : rps;
  }

  /** Generates seconds up to `t` (exclusive) on first use. */
  ensure(t: number): void {
    const end = Math.min(t, this.horizon);
    const r = this.#random;
    const { weight, baseline, canaryErrorRate } = this.scenario;
    while (this.#generated < end) {
      const s = this.#generated;
      const total = r.poisson(this.rps(s));
      const canary = r.binomial(total, weight);
      const stable = total - canary;
      this.canaryRequests[s + 1] = this.canaryRequests[s] + canary;
      this.stableRequests[s + 1] = this.stableRequests[s] + stable;
      this.canaryErrors[s + 1] =
        this.canaryErrors[s] + r.binomial(canary, canaryErrorRate);
      this.stableErrors[s + 1] =
        this.stableErrors[s] + r.binomial(stable, baseline);
      this.#blockCanary += canary;
      this.#blockStable += stable;
      this.#generated = s + 1;
      if (this.#generated % BLOCK_SECONDS === 0) {
        const block = this.#generated / BLOCK_SECONDS - 1;
        const slow = this.#multinomial(
          this.#blockCanary,
          this.#canaryProbs,
          this.canaryHist,
          block,
        );
        const stableSlow = this.#multinomial(
          this.#blockStable,
          this.#stableProbs,
          this.stableHist,
          block,
        );
        this.canarySlow[block + 1] = this.canarySlow[block] + slow;
        this.stableSlow[block + 1] = this.stableSlow[block] + stableSlow;
        this.canaryBlockRequests[block + 1] =
          this.canaryBlockRequests[block] + this.#blockCanary;
        this.stableBlockRequests[block + 1] =
          this.stableBlockRequests[block] + this.#blockStable;
        this.#blockCanary = 0;
        this.#blockStable = 0;
      }
    }
  }

  /** Fills one block's buckets; returns the count above the slow bucket. */
  #multinomial(
    n: number,
    probs: number[],
    into: Int32Array,
    block: number,
  ): number {
    let left = n;
    let mass = 1;
    let slow = 0;
    const offset = block * probs.length;
    for (let b = 0; b < probs.length; b++) {
      const count =
        b === probs.length - 1
          ? left
          : this.#random.binomial(left, Math.min(1, probs[b] / mass));
      into[offset + b] = count;
      if (b > SLOW_BUCKET) slow += count;
      left -= count;
      mass -= probs[b];
      if (left <= 0 || mass <= 0) {
        for (let rest = b + 1; rest < probs.length; rest++)
          into[offset + rest] = 0;
        break;
      }
    }
    return slow;
  }

  /** Bad requests the canary served in [0, t): errors, or slow requests in latency scenarios. */
  badRequests(t: number): number {
    this.ensure(t);
    if (this.scenario.group === 'latency') {
      return this.canarySlow[
        Math.floor(Math.min(t, this.horizon) / BLOCK_SECONDS)
      ];
    }
    return this.canaryErrors[Math.min(t, this.horizon)];
  }

  /** Sum of bucket counts over the blocks ending in (t − window, t]; t and window multiples of 10 s. */
  histogram(
    arm: 'canary' | 'stable',
    t: number,
    windowSeconds: number,
  ): number[] {
    this.ensure(t);
    const hist = arm === 'canary' ? this.canaryHist : this.stableHist;
    const to = Math.floor(t / BLOCK_SECONDS);
    const from = Math.max(0, to - Math.round(windowSeconds / BLOCK_SECONDS));
    const sums = new Array(BUCKETS_MS.length).fill(0);
    for (let b = from; b < to; b++) {
      for (let k = 0; k < BUCKETS_MS.length; k++)
        sums[k] += hist[b * BUCKETS_MS.length + k];
    }
    return sums;
  }
}

/**
 * Prometheus' histogram_quantile on non-cumulative bucket counts: linear
 * interpolation inside the bucket, the last finite bound for +Inf, NaN
 * without observations.
 */
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
