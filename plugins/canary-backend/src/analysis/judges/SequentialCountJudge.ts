import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { formatNumber } from './format';

/*
 * An anytime-valid sequential test that the canary fails requests more often
 * than the stable version.
 *
 * Data. At each tick the engine reads four counters, cumulative since the
 * rollout started: requests and errors ("bad" requests: 5xx, or slower than a
 * latency bound) of each arm. The difference to the previous tick is one time
 * slice t with counts n_c, e_c (canary) and n_s, e_s (stable).
 *
 * Model. Within a slice each arm's errors are Poisson with mean n·λ (λ the
 * arm's error rate; the Poisson limit of Binomial(n, λ) for small λ).
 * Conditioned on the slice's requests and on its total number of errors
 * x = e_c + e_s, the canary's share is
 *
 *     e_c | x ~ Binomial(x, p_t),   p_t = w_t·ρ / (w_t·ρ + 1 − w_t),
 *
 * with w_t = n_c / (n_c + n_s) the canary's share of requests in the slice
 * and ρ = λ_c / λ_s the ratio of error rates. Conditioning on x removes the
 * unknown baseline rate and the traffic level; w_t is re-estimated in every
 * slice, so weight steps and traffic swings are handled slice by slice.
 *
 * Hypotheses. H0: ρ ≤ ρ0 = 1 + δ (the canary is at most δ worse; δ is the
 * policy's `tolerance`), H1: ρ > ρ0.
 *
 * Evidence. For an alternative ρ1 > ρ0 the slice's likelihood ratio is
 *
 *     L_t(ρ1) = (p1/p0)^e_c · ((1 − p1)/(1 − p0))^e_s
 *
 * with p0 = p_t(ρ0), p1 = p_t(ρ1). Given the past and the slice's x, its
 * expectation under p is (p·p1/p0 + (1−p)(1−p1)/(1−p0))^x, which is 1 at
 * p = p0 and increases with p (the derivative is p1/p0 − (1−p1)/(1−p0) > 0),
 * so it is ≤ 1 under all of H0. The product M_T(ρ1) = Π_{t≤T} L_t(ρ1) is a
 * nonnegative supermartingale under H0, and so is any mixture
 * E_T = Σ_k π_k M_T(ρ1_k) with weights π_k ≥ 0, Σ π_k = 1. By Ville's
 * inequality P_H0(sup_T E_T ≥ 1/α) ≤ α: we may look after every scrape,
 * forever, and reject the canary the first time E_T ≥ 1/α, and a healthy
 * canary is rolled back with probability at most α.
 *
 * A single fixed p (constant weight) would allow the closed-form Beta mixture
 * ∫ p^a (1−p)^b dBeta / (p0^a (1−p0)^b) = B(a + α', b + β')/(B(α', β')·p0^a (1−p0)^b);
 * because p_t changes with w_t, we mix over the ratio ρ instead, on a
 * geometric grid of alternatives (ρ1/ρ0 from 1.25 to 1000). Evidence per
 * grid point is additive in log space, so the state is one number per grid
 * point — JSON, small, and updated in O(grid) per tick.
 *
 * Exactness. With Binomial requests and δ = 0, the exact conditional law of
 * e_c is hypergeometric, which is dominated in convex order by the Binomial
 * (Hoeffding 1963); L_t is convex in e_c, so E[L_t] ≤ 1 still holds. For
 * δ > 0 the Poisson model is the usual small-rate approximation.
 *
 * Power. For a small canary share the expected log-evidence per canary request
 * approaches that of Wald's SPRT knowing both rates, so the price of not
 * knowing the baseline is mostly the mixture's log(1/π_k): with the default
 * weights (priorWeights) 0.95 nats at 1.25 ×, 1.6 at 1.5 ×, 2.1–4.2 at the
 * others; 2.2 each with equal weights over nine.
 *
 * References: Wald (1945); Ville (1939); Johari, Pekelis, Walsh, "Always
 * Valid Inference" (2017); Lindon & Malek, "Anytime-Valid Inference for
 * Multinomial Count Data" (NeurIPS 2022).
 */

/** Counters of both arms, cumulative since the rollout (or the test) started. @public */
export interface ArmCounts {
  canaryRequests: number;
  canaryErrors: number;
  stableRequests: number;
  stableErrors: number;
}

/** The judge's memory between ticks; plain JSON for the engine to store. @public */
export interface SequentialState {
  version: 1;
  /** Counters at the previous tick (rounded). */
  last: ArmCounts | null;
  /** log M_T(ρ1_k) per grid point. */
  logEvidence: number[];
  /**
   * The same with the latest slice's end read without what a burst between
   * samples put on the wrong side of it (see {@link EndSlack}); absent when
   * equal. The decision and the e-value shown use it.
   */
  bounded?: number[];
  /** Counts of the slices that entered the test. */
  used: ArmCounts;
  /**
   * Counts of the bounded stretch around the latest weight change, read
   * anew at every tick (see SequentialGate.ts): in the evidence but not yet
   * in `used`, and shown with it. {@link SequentialCountJudge.foldStretch}
   * moves them into `used` once the stretch is read for the last time.
   */
  stretch?: ArmCounts;
  slices: number;
  /** The largest e-value seen; once ≥ 1/α the verdict stays "fail". */
  maxEValue: number;
  rejected: boolean;
}

/** @public */
export interface SequentialCountOptions {
  /** Bound on the probability of rolling back a canary that is not worse. Default 0.01. */
  alpha?: number;
  /** δ: the canary may have up to (1 + δ) × the stable error rate. Default 0: any worsening counts, and the test is exact (see above). */
  tolerance?: number;
  /** Canary requests needed before the check passes (before that it is inconclusive). Default 50. */
  minCanaryRequests?: number;
  /** Alternatives ρ1/ρ0 mixed over (default DEFAULT_SEQUENTIAL_GRID). */
  grid?: number[];
  /** Their weights in the mixture (normalized). Default: priorWeights for the default grid, equal weights for a grid given. */
  weights?: number[];
}

/**
 * How far an interpolated slice end may overstate the canary because of a
 * burst between samples: canary errors that interpolation counted before
 * the end although a burst may have put them after it, and stable errors
 * it left after the end although a burst may have put them before it —
 * each beyond what the pod's steady error ratio explains (BurstExcess in
 * CounterReader). Both ≥ 0.
 *
 * Why. The slices' ends are read by interpolating each series between its
 * samples, and the series are scraped at different moments. The
 * interpolation error at one end is carried into the next slice with the
 * opposite sign, so it cancels as the test goes on (exactly when the
 * canary's share is the same in both slices); only the latest end's error
 * is uncancelled. A short common burst that one arm's samples already
 * hold and the other's do not yet puts it all on one side: 3 s of 60 %
 * errors on both arms, about once a minute, rolled back 12–14 % of healthy
 * canaries through a 15–30 s scrape Prometheus. So the judge decides on
 * the evidence with the latest end read without those errors on the
 * canary's side and with them on the stable's, and keeps the interpolated one to
 * continue from, where the next slice cancels the error. When a slice end
 * will not be continued from (a weight change), the bounded evidence is
 * kept (`rebase`).
 *
 * @public
 */
export interface EndSlack {
  canaryErrors: number;
  stableErrors: number;
}

function roundCounts(counts: ArmCounts): ArmCounts {
  return {
    canaryRequests: Math.round(counts.canaryRequests),
    canaryErrors: Math.round(counts.canaryErrors),
    stableRequests: Math.round(counts.stableRequests),
    stableErrors: Math.round(counts.stableErrors),
  };
}

/** @public */
export const DEFAULT_SEQUENTIAL_GRID = [1.25, 1.5, 2, 3, 5, 10, 30, 100, 1000];

/**
 * The mixture's weights, chosen to serve the fewest excess bad requests.
 *
 * A regression ρ = λ_c/λ_s gathers evidence at about λ_s·(ρ log ρ − ρ + 1)
 * nats per canary request (the Poisson Kullback-Leibler divergence; for a
 * small canary share the conditional test loses little of it) while it
 * serves (ρ − 1)·λ_s excess bad requests, so every nat of evidence costs
 *
 *     c(ρ) = (ρ − 1) / (ρ log ρ − ρ + 1)
 *
 * excess bad requests, whatever the baseline and the traffic: many for
 * small regressions (8.6 at 1.25 ×, 2.6 at 2 ×), few for large ones (0.6
 * at 10 ×). A canary error can
 * raise the e-value at most 1/w-fold, w the canary's share of requests, so
 * beyond ρ log(1/w) nats per error the evidence is capped: with w = 5 % (a
 * first step) c never falls below (ρ − 1)/(ρ log 20) ≈ 1/3. The mixture
 * pays log(1/π_k) nats at the grid point nearest the truth before it can
 * reject; with regressions of size k arising with frequency f_k, the
 * expected excess bad requests Σ f_k c(ρ_k) log(1/π_k) are smallest
 * (Lagrange, Σ π_k = 1) for
 *
 *     π_k ∝ f_k · c(ρ_k).
 *
 * f: half of all regressions are outages (a crash, a broken dependency:
 * most requests fail; the top grid point, which stands for every ratio
 * beyond the grid), the other half spread evenly over the other points.
 * For the default grid: 1.25 × 0.39, 1.5 × 0.21, 2 × 0.12, 3 × 0.07, 5 ×
 * 0.04, 10 × 0.03, 30 × 0.02, 100 × 0.015, 1000 × 0.12 (equal weights
 * would be 0.11 each). Any fixed weights summing to 1 keep the mixture an
 * e-process; these change only how fast each kind of regression is caught.
 *
 * @public
 */
export function priorWeights(grid: number[], firstShare = 0.05): number[] {
  const cap = Math.log(1 / firstShare);
  return grid.map((rho, k) => {
    const cost = (rho - 1) / Math.min(rho * Math.log(rho) - rho + 1, rho * cap);
    const frequency =
      k === grid.length - 1 ? 1 / 2 : 1 / (2 * (grid.length - 1));
    return grid.length === 1 ? 1 : frequency * cost;
  });
}

/** @public */
export interface SequentialInput {
  metric: string;
  /** The four rendered queries, for the record. */
  query?: string;
  /** Current cumulative counters, or null when they could not be read. */
  counts: ArmCounts | null;
  noDataReason?: string;
  /** What a counted "error" is, for the evidence sentence (default "error rate"). */
  what?: string;
  /** Evidence gathered at the current weight: canary requests since the step began, and how many are needed. */
  step?: { canaryRequests: number; minRequests: number; weight?: number };
  /** The clump index the evidence was tempered with (see Dispersion.ts). */
  dispersion?: { phi: number; basis: string };
  /** Why this tick's slice was not judged (e.g. it spanned a weight change), or how it was judged when not as read. */
  skipped?: string;
  /** How many seconds behind the reading's time the store's newest samples are, when it is behind (remote write). */
  storeLag?: number;
}

function logSumExp(values: number[], logWeight: number): number {
  const max = Math.max(...values);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum) + logWeight;
}

function addCounts(a: ArmCounts, b: ArmCounts): ArmCounts {
  return {
    canaryRequests: a.canaryRequests + b.canaryRequests,
    canaryErrors: a.canaryErrors + b.canaryErrors,
    stableRequests: a.stableRequests + b.stableRequests,
    stableErrors: a.stableErrors + b.stableErrors,
  };
}

function percent(errors: number, requests: number): string {
  if (requests <= 0) return 'n/a';
  return `${formatNumber((100 * errors) / requests)} %`;
}

/**
 * The most one window of counts read as written may add to a test's
 * log-evidence at level α (see SequentialCountJudge.windowLogCap).
 *
 * @public
 */
export function windowLogCapOf(alpha: number): number {
  return Math.log(2 / alpha) / 2;
}

/**
 * The sequential test on error counts per arm (see the derivation above).
 *
 * @public
 */
export class SequentialCountJudge {
  readonly alpha: number;
  readonly tolerance: number;
  readonly minCanaryRequests: number;
  readonly grid: number[];
  /** The mixture's weights per grid point (summing to 1). */
  readonly weights: number[];
  /**
   * The most one window of counts read as written adds to the
   * log-evidence of any alternative: c = log(2/α) / 2, so that one
   * window lifts the e-value (a mixture, Σ π_k = 1) at most to √(2/α),
   * 20 at α = 0.5 %, and two windows of the strongest evidence to 2/α,
   * past the threshold.
   *
   * Why. A count template read as written is read as Prometheus computes
   * it: increase() over windows that tile time, extrapolated from the
   * samples inside each window. At 30 s scrapes and 1m windows a series
   * counts what came between its two samples in a window twice and what
   * came between windows not at all. A short burst of errors common to
   * both arms then falls whole on the canary's single series, twice or
   * not at all, while the stable's many pods, each on its own phase, see
   * about its size: one window's evidence as large as the burst, however
   * healthy the canary, and the clump index from the stable's windows
   * (Dispersion.ts) cannot know it — the stable's sum of pods is not
   * aliased that way. Common bursts from the rollout on rolled back up to
   * 5.5 % of healthy canaries (30 s scrapes, 200 runs,
   * `./dev bench analysis --as-written`); 1.5 % with the cap, every other
   * healthy scenario at most 1 %.
   *
   * Valid. min(L, e^c) ≤ L for each alternative's likelihood ratio L, so
   * each capped slice still has expectation at most 1 under H0 and the
   * product stays a supermartingale (Ville's inequality holds as before).
   * Cost: a gross regression needs a second window (the benchmark's 50 %
   * outage: 180 s instead of 120 s); a mild one, whose windows stay below
   * the cap, little (2 × errors: 471 s instead of 431 s at 15 s scrapes).
   * Early advance's "no worse" test is capped the same way at its own α
   * (SequentialGate.ts): a window that missed a burst on the canary shows
   * it far better than it is. Counts read from raw samples are not
   * capped: their slices are read between samples, not extrapolated over
   * windows.
   */
  readonly windowLogCap: number;
  readonly #logWeights: number[];

  constructor(options: SequentialCountOptions = {}) {
    this.alpha = options.alpha ?? 0.01;
    this.tolerance = options.tolerance ?? 0;
    this.minCanaryRequests = options.minCanaryRequests ?? 50;
    this.grid = options.grid ?? DEFAULT_SEQUENTIAL_GRID;
    const weights =
      options.weights ??
      (options.grid
        ? this.grid.map(() => 1)
        : priorWeights(DEFAULT_SEQUENTIAL_GRID));
    if (!(this.alpha > 0 && this.alpha < 1)) {
      throw new TypeError('alpha must be between 0 and 1');
    }
    if (!(this.tolerance >= 0)) {
      throw new TypeError('tolerance must be 0 or more');
    }
    if (this.grid.length === 0 || this.grid.some(r => !(r > 1))) {
      throw new TypeError('every grid ratio must be greater than 1');
    }
    if (
      weights.length !== this.grid.length ||
      weights.some(v => !(v > 0 && Number.isFinite(v)))
    ) {
      throw new TypeError('one positive weight per grid ratio');
    }
    const total = weights.reduce((a, b) => a + b, 0);
    this.weights = weights.map(v => v / total);
    this.#logWeights = this.weights.map(v => Math.log(v));
    this.windowLogCap = windowLogCapOf(this.alpha);
  }

  initialState(): SequentialState {
    return {
      version: 1,
      last: null,
      logEvidence: this.grid.map(() => 0),
      used: {
        canaryRequests: 0,
        canaryErrors: 0,
        stableRequests: 0,
        stableErrors: 0,
      },
      slices: 0,
      maxEValue: 1,
      rejected: false,
    };
  }

  /** Accepts a stored state, or starts afresh if it is missing or from another grid. */
  restore(state: unknown): SequentialState {
    const s = state as SequentialState | undefined;
    if (
      !s ||
      s.version !== 1 ||
      !Array.isArray(s.logEvidence) ||
      s.logEvidence.length !== this.grid.length ||
      (s.bounded !== undefined &&
        (!Array.isArray(s.bounded) || s.bounded.length !== this.grid.length))
    ) {
      return this.initialState();
    }
    return s;
  }

  /**
   * Adds one slice of counts to the evidence (pure: returns a new state).
   * With `onlyFrom`, only the alternatives ρ1/ρ0 ≥ onlyFrom take it (each
   * grid point's product is an e-process on its own, and which slices it
   * multiplies in may be chosen by any rule fixed before the slice is
   * seen), and the slice replaces `stretch` instead of adding to `used`:
   * the bounded stretch around a weight change, read anew at every tick
   * (SequentialGate.ts). With
   * `endSlack`, the decision reads the slice's end with that slack (see
   * {@link EndSlack}). With `capped`, a window of counts read as written,
   * each alternative's evidence from the slice is at most
   * `windowLogCap` (see {@link SequentialCountJudge.windowLogCap}).
   * With `within` = [a, b], only the alternatives a ≤ ρ1/ρ0 < b take it
   * (the slices across a weight change, SequentialGate.ts).
   */
  addSlice(
    previous: SequentialState,
    slice: ArmCounts,
    dispersion = 1,
    onlyFrom?: number,
    endSlack?: EndSlack,
    capped = false,
    within?: readonly [number, number],
  ): SequentialState {
    // A slice that does not continue from the latest end (a bounded slice
    // around a weight change) leaves that end for good: keep its bounded
    // reading.
    const state = onlyFrom !== undefined ? this.settle(previous) : previous;
    const nc = Math.max(0, slice.canaryRequests);
    const ns = Math.max(0, slice.stableRequests);
    const ec = Math.min(nc, Math.max(0, slice.canaryErrors));
    const es = Math.min(ns, Math.max(0, slice.stableErrors));
    // Without requests in both arms the slice says nothing about the split.
    if (nc <= 0 || ns <= 0) {
      return state;
    }
    // This slice continues from the latest end and so cancels its error:
    // the bounded reading of that end is dropped.
    const { bounded: _previousEnd, ...rest } = state;
    const counted: ArmCounts = {
      canaryRequests: nc,
      canaryErrors: ec,
      stableRequests: ns,
      stableErrors: es,
    };
    const next: SequentialState = {
      ...rest,
      logEvidence: [...state.logEvidence],
      ...(onlyFrom === undefined
        ? { used: addCounts(state.used, counted) }
        : { stretch: counted }),
      slices: state.slices + 1,
    };
    const slackC = Math.min(ec, Math.max(0, endSlack?.canaryErrors ?? 0));
    const slackS = Math.max(0, endSlack?.stableErrors ?? 0);
    const bounded = slackC + slackS > 0 ? [...state.logEvidence] : undefined;
    if (ec + es + slackS > 0) {
      const w = nc / (nc + ns);
      const rho0 = 1 + this.tolerance;
      const p0 = (w * rho0) / (w * rho0 + 1 - w);
      for (let k = 0; k < this.grid.length; k++) {
        if (onlyFrom !== undefined && this.grid[k] < onlyFrom) continue;
        if (within && (this.grid[k] < within[0] || this.grid[k] >= within[1]))
          continue;
        const rho1 = rho0 * this.grid[k];
        const p1 = (w * rho1) / (w * rho1 + 1 - w);
        const up = Math.log(p1 / p0);
        const down = Math.log((1 - p1) / (1 - p0));
        // Tempered by the clump index (see Dispersion.ts): a clump of φ
        // errors moves the evidence as far as one error.
        const phi = Math.max(1, dispersion);
        const cap = capped ? this.windowLogCap : Infinity;
        next.logEvidence[k] += Math.min(cap, (ec * up + es * down) / phi);
        if (bounded) {
          bounded[k] += Math.min(
            cap,
            ((ec - slackC) * up + (es + slackS) * down) / phi,
          );
        }
      }
    }
    if (bounded) next.bounded = bounded;
    const e = Math.min(Math.exp(this.logEValue(next)), Number.MAX_VALUE);
    next.maxEValue = Math.max(state.maxEValue, e);
    next.rejected = state.rejected || e >= 1 / this.alpha;
    return next;
  }

  /**
   * Feeds cumulative counters: the difference to the last ones is the new
   * slice (judged as `judged(slice)` when given, e.g. with one arm's
   * requests read from the configured split; `capped` for counts read as
   * written, see {@link SequentialCountJudge.windowLogCap}; `within` as
   * in {@link SequentialCountJudge.addSlice}).
   */
  update(
    state: SequentialState,
    counts: ArmCounts,
    dispersion = 1,
    endSlack?: EndSlack,
    judged: (slice: ArmCounts) => ArmCounts = slice => slice,
    capped = false,
    within?: readonly [number, number],
  ): SequentialState {
    const current = roundCounts(counts);
    const last = state.last;
    if (!last) {
      // The first reading is everything since the start: one slice.
      if (current.canaryRequests <= 0 || current.stableRequests <= 0) {
        return state;
      }
      return {
        ...this.addSlice(
          state,
          judged(current),
          dispersion,
          undefined,
          endSlack,
          capped,
          within,
        ),
        last: current,
      };
    }
    const slice: ArmCounts = {
      canaryRequests: current.canaryRequests - last.canaryRequests,
      canaryErrors: current.canaryErrors - last.canaryErrors,
      stableRequests: current.stableRequests - last.stableRequests,
      stableErrors: current.stableErrors - last.stableErrors,
    };
    if (Object.values(slice).some(v => v < 0)) {
      // A counter went back (extrapolation noise of increase(), a series
      // that left the window): keep the last good reading, so the next
      // slice corrects what the earlier one over-counted instead of
      // keeping the phantom and dropping the correction.
      return state;
    }
    if (slice.canaryRequests <= 0 || slice.stableRequests <= 0) {
      // One arm saw no requests: the slice cannot be split yet. Keep the old
      // reading so these counts join the next slice (the choice depends on
      // request counts only, which the test conditions on, so it stays valid).
      return state;
    }
    return {
      ...this.addSlice(
        state,
        judged(slice),
        dispersion,
        undefined,
        endSlack,
        capped,
        within,
      ),
      last: current,
    };
  }

  /**
   * Adds `delta` to each alternative's log-evidence (and to the bounded
   * reading of the latest end, when there is one), then decides again:
   * the evidence of the slices across a weight change as read at this tick
   * in place of what the previous tick's reading of them added
   * (SequentialGate.ts).
   */
  shift(state: SequentialState, delta: number[]): SequentialState {
    if (delta.every(v => v === 0)) return state;
    const next: SequentialState = {
      ...state,
      logEvidence: state.logEvidence.map((v, k) => v + (delta[k] ?? 0)),
      ...(state.bounded
        ? { bounded: state.bounded.map((v, k) => v + (delta[k] ?? 0)) }
        : {}),
    };
    const e = Math.min(Math.exp(this.logEValue(next)), Number.MAX_VALUE);
    next.maxEValue = Math.max(state.maxEValue, e);
    next.rejected = state.rejected || e >= 1 / this.alpha;
    return next;
  }

  /**
   * Judges a slice read some other way than as the difference of two
   * readings (the bracketed first slice after a weight change), then takes
   * `counts` as the start of the next slice. A slice without requests in
   * both arms leaves the state as it was.
   */
  addSliceThen(
    state: SequentialState,
    slice: ArmCounts,
    counts: ArmCounts,
    dispersion = 1,
  ): SequentialState {
    const rounded = roundCounts(slice);
    if (rounded.canaryRequests <= 0 || rounded.stableRequests <= 0) {
      return state;
    }
    return {
      ...this.addSlice(this.settle(state), rounded, dispersion),
      last: roundCounts(counts),
    };
  }

  /** Takes `counts` as the start of the next slice without judging what came before (a weight change inside the slice). */
  rebase(state: SequentialState, counts: ArmCounts): SequentialState {
    return { ...this.settle(state), last: roundCounts(counts) };
  }

  /** Moves the counts of the bounded stretch into `used`: it will not be read again. */
  foldStretch(state: SequentialState): SequentialState {
    if (!state.stretch) return state;
    const { stretch, ...rest } = state;
    return { ...rest, used: addCounts(state.used, stretch) };
  }

  /** Keeps the bounded reading of the latest end: no slice will continue from it to cancel its error (see {@link EndSlack}). */
  settle(state: SequentialState): SequentialState {
    if (!state.bounded) return state;
    const { bounded, ...rest } = state;
    return { ...rest, logEvidence: bounded };
  }

  /** log E_T, the mixture over the grid with the judge's weights, the latest end bounded (what is decided on). */
  logEValue(state: SequentialState): number {
    return logSumExp(
      (state.bounded ?? state.logEvidence).map(
        (v, k) => v + this.#logWeights[k],
      ),
      0,
    );
  }

  /** Runs one tick: updates the state with the counters and judges. */
  judge(
    input: SequentialInput,
    previous: SequentialState | undefined,
  ): { check: AnalysisCheck; state: SequentialState } {
    let state = previous ?? this.initialState();
    if (input.counts) {
      state = this.update(state, input.counts);
    }
    return { state, check: this.describe(state, input) };
  }

  /** The check for a state already updated with this tick's counts. */
  describe(state: SequentialState, input: SequentialInput): AnalysisCheck {
    // Clamped so that JSON never turns it into null.
    const eValue = Math.min(Math.exp(this.logEValue(state)), Number.MAX_VALUE);
    const threshold = 1 / this.alpha;
    // The counts the e-value rests on: the slices judged, and the bounded
    // stretch around the latest weight change (which can reject on its own).
    const used = state.stretch
      ? addCounts(state.used, state.stretch)
      : state.used;
    const what = input.what ?? 'error rate';
    const canaryRate =
      used.canaryRequests > 0 ? used.canaryErrors / used.canaryRequests : null;
    const stableRate =
      used.stableRequests > 0 ? used.stableErrors / used.stableRequests : null;
    const rates = `canary ${what} ${percent(
      used.canaryErrors,
      used.canaryRequests,
    )} (${formatNumber(used.canaryErrors)} of ${formatNumber(
      used.canaryRequests,
    )}) vs stable ${percent(
      used.stableErrors,
      used.stableRequests,
    )} (${formatNumber(used.stableErrors)} of ${formatNumber(
      used.stableRequests,
    )})`;
    const toleranceText =
      this.tolerance > 0
        ? `${formatNumber(1 + this.tolerance)} × stable`
        : 'stable';
    const bound = {
      max: threshold,
      text: `e-value < ${formatNumber(
        threshold,
      )} (canary ${what} ≤ ${toleranceText}, α = ${formatNumber(this.alpha)})`,
    };
    const details = {
      eValue: Number(eValue.toPrecision(4)),
      maxEValue: Number(state.maxEValue.toPrecision(4)),
      threshold,
      alpha: this.alpha,
      tolerance: this.tolerance,
      slices: state.slices,
      canaryRequests: used.canaryRequests,
      canaryErrors: used.canaryErrors,
      stableRequests: used.stableRequests,
      stableErrors: used.stableErrors,
      ...(input.dispersion
        ? {
            dispersion: Number(input.dispersion.phi.toPrecision(3)),
            dispersionBasis: input.dispersion.basis,
          }
        : {}),
      ...(input.step
        ? {
            stepCanaryRequests: input.step.canaryRequests,
            minStepRequests: input.step.minRequests,
          }
        : {}),
      ...(input.skipped ? { skipped: input.skipped } : {}),
      ...(input.storeLag
        ? { storeLagSeconds: Math.round(input.storeLag) }
        : {}),
    };
    const base = {
      metric: input.metric,
      judge: 'sequential' as const,
      query: input.query,
      canaryValue: canaryRate === null ? null : canaryRate * 100,
      stableValue: stableRate === null ? null : stableRate * 100,
      unit: '%',
      bound,
      details,
    };
    const { verdict, evidence } = this.#verdict(state, input, {
      eValue,
      threshold,
      rates,
      what,
      toleranceText,
    });
    // Behind a store that lags, every decision comes that much later: said.
    const behind = input.storeLag
      ? `; Prometheus's newest samples are about ${Math.round(
          input.storeLag,
        )} s old (remote write), so this reads that far back`
      : '';
    return { ...base, verdict, evidence: `${evidence}${behind}` };
  }

  /** The verdict and its evidence (without the store-lag sentence). */
  #verdict(
    state: SequentialState,
    input: SequentialInput,
    text: {
      eValue: number;
      threshold: number;
      rates: string;
      what: string;
      toleranceText: string;
    },
  ): Pick<AnalysisCheck, 'verdict' | 'evidence'> {
    const { eValue, threshold, rates, what, toleranceText } = text;
    if (state.rejected) {
      return {
        verdict: 'fail',
        evidence: `${rates}: the canary is worse than ${toleranceText} (e-value ${formatNumber(
          state.maxEValue,
        )} ≥ ${formatNumber(threshold)}, false-alarm risk ≤ ${formatNumber(
          this.alpha * 100,
        )} %)`,
      };
    }
    if (!input.counts) {
      return {
        verdict: 'inconclusive',
        evidence: `${what} counts unavailable${
          input.noDataReason ? ` (${input.noDataReason})` : ''
        }; so far ${rates}`,
      };
    }
    // Counted on the judged slices only: the bounded stretch speaks for
    // large regressions alone.
    if (state.used.canaryRequests < this.minCanaryRequests) {
      return {
        verdict: 'inconclusive',
        evidence: `${rates}: too little canary traffic yet (${formatNumber(
          state.used.canaryRequests,
        )} of ${this.minCanaryRequests} requests judged)`,
      };
    }
    if (input.step && input.step.canaryRequests < input.step.minRequests) {
      return {
        verdict: 'inconclusive',
        evidence: `${rates}: waiting for fresh evidence at this weight (${formatNumber(
          input.step.canaryRequests,
        )} of ${input.step.minRequests} canary requests since the step began)`,
      };
    }
    const clumps =
      input.dispersion && input.dispersion.phi > 1.05
        ? `, errors clumped ×${formatNumber(input.dispersion.phi)}`
        : '';
    return {
      verdict: 'pass',
      evidence: `${rates}: no evidence the canary is worse (e-value ${formatNumber(
        eValue,
      )}, rollback at ${formatNumber(threshold)}${clumps})`,
    };
  }
}
