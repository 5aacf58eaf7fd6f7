import {
  STABLE_BIN_SECONDS as BIN_SECONDS,
  StableIncrement,
} from '../reading/CounterReader';

/*
 * How clumped are the bad requests? An A/A calibration on the stable arm.
 *
 * The count test assumes bad requests arrive one by one (Poisson). They often
 * come in clumps — a client or mesh retrying a failed call, one bad pod
 * failing a burst — and then every clump of K errors moves the evidence K
 * times as far as one error should, and false rollbacks follow.
 *
 * Estimate. The stable version's pods are compared with each other, an A/A
 * test: in each minute with x bad requests, how they fall on the k pods is,
 * without clumps, Multinomial(x, w_1…w_k) with w_i = pod i's share of the
 * minute's requests — exactly the law the canary test relies on, with no
 * canary in it. The Pearson statistic S = Σ_minutes Σ_i (e_i − x·w_i)² /
 * (x·w_i) has expectation ≈ φ·df with df = Σ (k − 1), where
 * φ = E[K²]/E[K] is the clump index (1 without clumps, K for clumps of K).
 * Conditioning on x removes traffic swings and bursts common to all pods,
 * so they do not inflate φ. With a single stable pod there is no A/A split;
 * the stable arm's minutes are compared with its own mean rate instead
 * (traffic swings then inflate φ: conservative).
 *
 * Use. The count test divides each slice's log-likelihood ratio by φ
 * (a tempered likelihood). For clumps of at most φ requests this keeps the
 * e-process a supermartingale exactly (E[exp(a·ℓ)] ≤ E[exp(ℓ)]^a = 1 for
 * a ≤ 1, Jensen); for clumps of random size it holds to second order. φ is
 * taken as an upper confidence value, S / (df − √V), V the exact variance
 * of S without clumps (a minute with a single error adds k − 1 to S and
 * nothing to V: one error cannot be a clump), from minutes before
 * the slice (predictable), and at least 1. The first reading includes up to
 * three hours of stable history before the rollout, so φ is known before
 * the canary's first clump, and without clumps its upper value is about
 * 6.5 % above 1, not 18 % as with 30 minutes (every test is that much
 * slower).
 *
 * Cost. A canary must show φ times as many bad requests to be rolled back;
 * detection with clumps of 5 is about 5 × slower than the Poisson test on
 * the same data — the price of not mistaking one retry storm for a bad canary.
 */

/** @public */
export interface DispersionState {
  version: 2;
  /** What the A/A compares: the stable pods (raw samples), or consecutive windows of a count template read as written (groupedWindows; set by addStableIncrements from the increments' sources). */
  units?: 'windows';
  /** Why the stable arm's history before the start could not be read (a count template read as written): the estimate then learns from the live windows alone, and its basis says why. */
  historyProblem?: string;
  /** Open minute bins: per pod, [errors, requests]. */
  bins: Record<string, Record<string, [number, number]>>;
  /** A/A Pearson sum, degrees of freedom, and the sum's variance without clumps. */
  aaS: number;
  aaDf: number;
  aaV?: number;
  /**
   * The same three sums with each minute weighted by its bad requests x
   * (Σ x·S, Σ x·df, Σ x²·V): the clump index as a ratio of sums. Absent in
   * a state saved before they were kept, which goes on unweighted.
   */
  aaSx?: number;
  aaDfx?: number;
  aaVx?: number;
  /** Single-arm sums over minutes: Σ e, Σ n, Σ e²/n, minutes. */
  se: number;
  sn: number;
  se2n: number;
  minutes: number;
  /** Latest closed minute. */
  closedUpTo: number;
}

/**
 * A ceiling on φ, only against a runaway estimate. It was 100: pods that
 * each fail for a minute at a time (60 s at 50 % about every 5 minutes a
 * pod; or one stable pod with 2-minute episodes) need several hundred, and
 * at 100 such healthy canaries were rolled back in 7 % (exact) and 3.5 %
 * (15 s scrapes) of runs; 0 % with 1000, which such services reach. At φ
 * in the hundreds only gross regressions are caught, and slowly — the
 * check's details show φ and where it came from.
 */
const MAX_DISPERSION = 1000;

/**
 * A minute weighs at most this many times the mean minute's bad requests.
 * A common burst fills a minute with errors on every pod; read through
 * Prometheus each pod's minute ends at its own sample, so the burst falls
 * unevenly on the pods and looks like a clump as large as itself. Weighted
 * without a cap those minutes drove φ from about 3 to 9 where bursts
 * followed every step, and a canary failing 5 × as often as stable under
 * such bursts was rolled back in 46 instead of 57 of 60 runs (15 s
 * scrapes); capped at 3 × in 54, at 1.5 × in 56, and the rare large
 * clumps of one bad pod at a time still count at their size (healthy
 * canaries rolled back: at most 1 of 200 in each of four scenarios, up to
 * 15 without the weights).
 */
const WEIGHT_CAP = 1.5;

/** @public */
export function initialDispersion(): DispersionState {
  return {
    version: 2,
    bins: {},
    aaS: 0,
    aaDf: 0,
    aaSx: 0,
    aaDfx: 0,
    aaVx: 0,
    se: 0,
    sn: 0,
    se2n: 0,
    minutes: 0,
    closedUpTo: -Infinity,
  };
}

/** @public */
export function restoreDispersion(raw: unknown): DispersionState {
  const s = raw as DispersionState | undefined;
  if (!s || s.version !== 2 || typeof s.bins !== 'object')
    return initialDispersion();
  return { ...s, closedUpTo: s.closedUpTo ?? -Infinity };
}

/**
 * Adds stable increments; minutes that end before `closeBefore` (a sample
 * time every live series has passed) are closed and enter the estimate.
 *
 * @public
 */
export function addStableIncrements(
  previous: DispersionState,
  increments: StableIncrement[],
  closeBefore: number,
): DispersionState {
  const state: DispersionState = {
    ...previous,
    bins: { ...previous.bins },
  };
  if (state.units === undefined && increments.some(i => isWindowSource(i.src)))
    state.units = 'windows';
  // Each bin touched is copied once (the previous state stays as it was).
  const copied = new Set<number>();
  for (const inc of increments) {
    const bin = Math.floor(inc.t / BIN_SECONDS);
    if (bin <= state.closedUpTo) continue;
    if (!copied.has(bin)) {
      copied.add(bin);
      state.bins[bin] = Object.fromEntries(
        Object.entries(state.bins[bin] ?? {}).map(([src, [e, n]]) => [
          src,
          [e, n],
        ]),
      );
    }
    const pods = state.bins[bin];
    const cell = (pods[inc.src] ??= [0, 0]);
    cell[inc.kind === 'errors' ? 0 : 1] += inc.inc;
  }
  const lastClosable = Math.floor(closeBefore / BIN_SECONDS) - 1;
  for (const key of Object.keys(state.bins)) {
    const bin = Number(key);
    if (bin > lastClosable) continue;
    const pods = Object.values(state.bins[key])
      .map(([e, n]) => [Math.max(0, e), Math.max(0, n)])
      .filter(([, n]) => n > 0);
    delete state.bins[key];
    const x = pods.reduce((a, [e]) => a + e, 0);
    const n = pods.reduce((a, [, r]) => a + r, 0);
    if (n > 0) {
      state.se += x;
      state.sn += n;
      state.se2n += (x * x) / n;
      state.minutes += 1;
    }
    if (pods.length >= 2 && x > 0) {
      const k = pods.length;
      // A single error cannot be a clump: its term, (1 − w)/w for the pod
      // it fell on, only says how the requests were shared. It counts as
      // its expectation k − 1 whatever the shares, and adds no variance, so
      // few errors do not inflate φ (with the formula's variance below,
      // positive whenever the shares differ, a service at 1 request/s read
      // φ 1.3 instead of 1). So does less than one (a fractional counter).
      let minuteS = k - 1;
      let minuteV = 0;
      if (x > 1) {
        minuteS = 0;
        let inverseShares = 0;
        for (const [e, r] of pods) {
          const expected = (x * r) / n;
          minuteS += (e - expected) ** 2 / expected;
          inverseShares += n / r;
        }
        // The exact variance of the Pearson statistic of Multinomial(x, w):
        // 2(k − 1) + (Σ 1/w_i − k² − 2k + 2)/x.
        minuteV = Math.max(
          0,
          2 * (k - 1) + (inverseShares - k * k - 2 * k + 2) / x,
        );
      }
      state.aaS += minuteS;
      state.aaV = (state.aaV ?? 2 * state.aaDf) + minuteV;
      state.aaDf += k - 1;
      // Weighted by x: a minute's S/(k − 1) estimates Σ K²/Σ K of the
      // clumps K that fell in it, so the x-weighted ratio estimates the
      // clump index of all bad requests, E[K²]/E[K]. Unweighted, minutes
      // with a few single errors outvote the rare minute that held one
      // large clump (a pod failing for twenty seconds), and φ comes out
      // at half the index those clumps need. The weight stops at
      // WEIGHT_CAP times the mean minute's bad requests (this one
      // included).
      if (state.aaSx !== undefined) {
        // Windows of a template read as written weigh by all their bad
        // requests: a group that a burst filled is the clumping there is
        // to learn (common bursts from the rollout on, none in the
        // history, most of the time: healthy canaries rolled back in 8.5 %
        // and 9.5 % of 200 runs at 15 s and 30 s scrapes with the cap, 1 %
        // and 3 % without; regressions caught as often and as soon).
        const wx =
          state.units === 'windows'
            ? x
            : Math.min(x, WEIGHT_CAP * (state.se / state.minutes));
        state.aaSx += wx * minuteS;
        state.aaDfx = (state.aaDfx ?? 0) + wx * (k - 1);
        state.aaVx = (state.aaVx ?? 0) + wx * wx * minuteV;
      }
    }
  }
  state.closedUpTo = Math.max(state.closedUpTo, lastClosable);
  return state;
}

/** An upper confidence value of φ: S over its mean less one standard deviation without clumps. */
function upper(s: number, df: number, variance = 2 * df): number {
  return s / Math.max(0.5, df - Math.sqrt(variance));
}

/** A lower confidence value of φ: S over its mean plus one standard deviation (without clumps: below 1 about five times in six). */
function lower(s: number, df: number, variance = 2 * df): number {
  return df > 0 ? s / (df + Math.sqrt(variance)) : 1;
}

/**
 * The clump index φ ≥ 1 to temper the count test with, how it was found,
 * and a lower confidence value (the clumping the A/A is sure of).
 *
 * @public
 */
export interface DispersionEstimate {
  phi: number;
  basis: string;
  lower?: number;
}

/**
 * The clump index of the stable pods' bad requests (see DispersionEstimate).
 *
 * @public
 */
export function dispersionOf(state: DispersionState): DispersionEstimate {
  const estimate = estimateOf(state);
  return state.historyProblem
    ? {
        ...estimate,
        basis: `${estimate.basis}; the stable history before the start could not be read (${state.historyProblem})`,
      }
    : estimate;
}

function estimateOf(state: DispersionState): DispersionEstimate {
  const bounded = (v: number) => Math.min(MAX_DISPERSION, Math.max(1, v));
  if (state.aaDf >= 3) {
    const weighted = state.aaSx !== undefined;
    return {
      phi: bounded(
        weighted
          ? upper(state.aaSx ?? 0, state.aaDfx ?? 0, state.aaVx ?? 0)
          : upper(state.aaS, state.aaDf, state.aaV),
      ),
      lower: bounded(
        weighted
          ? lower(state.aaSx ?? 0, state.aaDfx ?? 0, state.aaVx ?? 0)
          : lower(state.aaS, state.aaDf, state.aaV),
      ),
      basis: `A/A comparison of the stable ${
        state.units === 'windows' ? "arm's consecutive windows" : 'pods'
      } (${state.aaDf} degrees of freedom${
        weighted
          ? `, ${
              state.units === 'windows' ? 'groups' : 'minutes'
            } weighted by their bad requests`
          : ''
      })`,
    };
  }
  if (state.minutes >= 5 && state.se > 0) {
    const rate = state.se / state.sn;
    const pearson = Math.max(0, state.se2n / rate - state.se);
    return {
      phi: bounded(upper(pearson, state.minutes - 1)),
      lower: bounded(lower(pearson, state.minutes - 1)),
      basis: `stable minute-to-minute variation over ${state.minutes} minutes`,
    };
  }
  return { phi: 1, basis: 'no stable history yet' };
}

/**
 * φ for the canary's pods when each serves more requests than a stable pod.
 *
 * The A/A measures the clumps of stable pods. A pod that fails or slows for
 * a while makes a clump as large as the requests it serves meanwhile, so a
 * canary pod serving ρ times a stable pod's requests (one canary pod at
 * 50 % beside four stable pods: ρ = 4) makes clumps ρ times as large, and
 * its errors are that much more clumped than φ says: healthy canaries were
 * rolled back above α (one canary pod at 10 → 50 % beside ten stable pods,
 * each pod slow for 5 s about every 20 minutes: 5.5 % of 200 runs on exact
 * counters; 1 % with this). For clumps that do not grow with a pod's
 * traffic (a client retrying on one pod) the scaling is pure cost: the
 * benchmark's clumps-of-5 regression costs 97 instead of 90 bad requests
 * on exact counters and 434 instead of 281 at 30 s scrapes. Only the
 * clumping the A/A is sure of (its lower confidence value above 1) is
 * scaled, not its confidence margin, so a service without clumps keeps φ;
 * with ρ ≤ 1 (the canary's pods each serve no more than a stable pod: low
 * weights, or as many canary pods as the weight needs) nothing changes.
 *
 * @public
 */
export function canaryDispersion(
  dispersion: DispersionEstimate,
  podShare: number,
): DispersionEstimate {
  const excess = (dispersion.lower ?? 1) - 1;
  if (!(podShare > 1) || !(excess > 0)) return dispersion;
  const phi = Math.min(
    MAX_DISPERSION,
    dispersion.phi + excess * (podShare - 1),
  );
  if (phi <= dispersion.phi) return dispersion;
  return {
    ...dispersion,
    phi,
    basis: `${dispersion.basis}; its clumping × ${
      Math.round(podShare * 10) / 10
    }: a canary pod serves that many times a stable pod's requests`,
  };
}

/** The stable arm's counts in one window of a count template read as written. @public */
export interface StableWindow {
  /** The window's end (unix s). */
  end: number;
  errors: number;
  requests: number;
}

/** Consecutive windows of a count template read as written compared with each other (see groupedWindows). */
const WINDOWS_PER_GROUP = 4;

/** A window's place in its group, the source of its increments (a pod's name or an instance's ip:port has no space). */
const WINDOW_SOURCE = 'window ';

function isWindowSource(src: string): boolean {
  return src.startsWith(WINDOW_SOURCE);
}

/**
 * The stable arm's windows of a count template read as written, grouped for
 * the clump index: four consecutive windows are compared as the A/A
 * compares four pods — how the group's bad requests fall on its windows,
 * given their requests. Without clumps they fall as the requests do; a
 * window that counted each request it saw twice (increase()'s
 * extrapolation), a burst, a retry storm or one pod failing for a minute
 * or two shows as clumps. Neighbours are compared, not every window with
 * the mean of hours, so an error rate that drifts over the afternoon is
 * not taken for clumping. (Pairs of windows missed a pod failing for two
 * minutes, which fills both: healthy canaries rolled back in 3 of 40 runs
 * at 15 s scrapes; 1 of 40 in groups of four, 2 of 40 in groups of six.)
 * A group's increments are given at its end (`src` its window), so it
 * enters the estimate only after its last window, and never before the
 * slice that holds them was judged.
 *
 * @public
 */
export function groupedWindows(
  windows: StableWindow[],
  windowSec: number,
): StableIncrement[] {
  const span = Math.max(1, Math.round(windowSec));
  return windows.flatMap(({ end, errors, requests }): StableIncrement[] => {
    const index = Math.floor((end - 0.5) / span);
    const group = Math.floor(index / WINDOWS_PER_GROUP);
    const t = (group + 1) * WINDOWS_PER_GROUP * span - 0.5;
    const src = `${WINDOW_SOURCE}${index % WINDOWS_PER_GROUP}`;
    return [
      { t, src, kind: 'errors', inc: errors },
      { t, src, kind: 'requests', inc: requests },
    ];
  });
}
