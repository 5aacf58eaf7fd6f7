import type { StableIncrement } from '../reading/CounterReader';

/*
 * How clumped are the bad requests? An A/A calibration on the stable arm.
 *
 * The count test assumes bad requests arrive one by one (Poisson). They often
 * come in clumps — a client or mesh retrying a failed call, one bad pod
 * failing a burst — and then every clump of K errors moves the evidence K
 * times as far as one error should, and false rollbacks follow.
 *
 * Estimate. The stable version's pods are split into two fixed halves A and B
 * (alternately, in the order they are first seen). In each minute with bad
 * requests, the share of half A among them is, without clumps,
 * Binomial(x, w) with w = A's share of the minute's requests — exactly the
 * law the canary test relies on, with no canary in it. The Pearson statistic
 * S = Σ (e_A − x·w)² / (x·w·(1 − w)) has expectation ≈ φ·df, where
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
 * taken as an upper confidence value, S / (df − √(2·df)), from minutes before
 * the slice (predictable), and at least 1. The first reading includes up to
 * 30 minutes of stable history before the rollout, so φ is known before the
 * canary's first clump.
 *
 * Cost. A canary must show φ times as many bad requests to be rolled back;
 * detection with clumps of 5 is about 5 × slower than the Poisson test on
 * the same data — the price of not mistaking one retry storm for a bad canary.
 */

/** @public */
export interface DispersionState {
  version: 1;
  /** Half (0 = A, 1 = B) of every stable pod seen. */
  halves: Record<string, 0 | 1>;
  /** Open minute bins: [eA, eB, nA, nB]. */
  bins: Record<string, [number, number, number, number]>;
  /** A/A Pearson sum and degrees of freedom. */
  aaS: number;
  aaDf: number;
  /** Single-arm sums over minutes: Σ e, Σ n, Σ e²/n, minutes. */
  se: number;
  sn: number;
  se2n: number;
  minutes: number;
  /** Latest closed minute. */
  closedUpTo: number;
}

const BIN_SECONDS = 60;
const MAX_DISPERSION = 100;

/** @public */
export function initialDispersion(): DispersionState {
  return {
    version: 1,
    halves: {},
    bins: {},
    aaS: 0,
    aaDf: 0,
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
  if (!s || s.version !== 1 || typeof s.bins !== 'object')
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
    halves: { ...previous.halves },
    bins: { ...previous.bins },
  };
  for (const inc of increments) {
    const bin = Math.floor(inc.t / BIN_SECONDS);
    if (bin <= state.closedUpTo) continue;
    if (state.halves[inc.src] === undefined) {
      const count = Object.keys(state.halves).length;
      state.halves[inc.src] = (count % 2) as 0 | 1;
    }
    const half = state.halves[inc.src];
    const cell = [...(state.bins[bin] ?? [0, 0, 0, 0])] as [
      number,
      number,
      number,
      number,
    ];
    cell[(inc.kind === 'errors' ? 0 : 2) + half] += inc.inc;
    state.bins[bin] = cell;
  }
  const lastClosable = Math.floor(closeBefore / BIN_SECONDS) - 1;
  for (const key of Object.keys(state.bins)) {
    const bin = Number(key);
    if (bin > lastClosable) continue;
    const [eA, eB, nA, nB] = state.bins[key].map(v => Math.max(0, v));
    delete state.bins[key];
    const x = eA + eB;
    const n = nA + nB;
    if (n > 0) {
      state.se += x;
      state.sn += n;
      state.se2n += (x * x) / n;
      state.minutes += 1;
    }
    if (nA > 0 && nB > 0 && x > 0) {
      const w = nA / n;
      state.aaS += (eA - x * w) ** 2 / (x * w * (1 - w));
      state.aaDf += 1;
    }
  }
  state.closedUpTo = Math.max(state.closedUpTo, lastClosable);
  return state;
}

function upper(s: number, df: number): number {
  return s / Math.max(0.5, df - Math.sqrt(2 * df));
}

/**
 * The clump index φ ≥ 1 to temper the count test with, and how it was found.
 *
 * @public
 */
export function dispersionOf(state: DispersionState): {
  phi: number;
  basis: string;
} {
  if (state.aaDf >= 3) {
    return {
      phi: Math.min(MAX_DISPERSION, Math.max(1, upper(state.aaS, state.aaDf))),
      basis: `A/A split of the stable pods over ${state.aaDf} minutes`,
    };
  }
  if (state.minutes >= 5 && state.se > 0) {
    const rate = state.se / state.sn;
    const pearson = state.se2n / rate - state.se;
    return {
      phi: Math.min(
        MAX_DISPERSION,
        Math.max(1, upper(Math.max(0, pearson), state.minutes - 1)),
      ),
      basis: `stable minute-to-minute variation over ${state.minutes} minutes`,
    };
  }
  return { phi: 1, basis: 'no stable history yet' };
}
