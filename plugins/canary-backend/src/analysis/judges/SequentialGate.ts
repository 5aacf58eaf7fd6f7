import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import {
  BurstExcess,
  ArmPods,
  CounterBounds,
  CounterName,
  CounterReaderState,
  CounterCut,
  LivePods,
  RawCounter,
  readCounters,
  restoreReaderState,
  StableIncrement,
} from '../reading/CounterReader';
import {
  addStableIncrements,
  canaryDispersion,
  dispersionOf,
  DispersionState,
  initialDispersion,
  restoreDispersion,
} from './Dispersion';
import {
  ArmCounts,
  EndSlack,
  SequentialCountJudge,
  SequentialState,
  windowLogCapOf,
} from './SequentialCountJudge';
import { formatNumber } from './format';

/*
 * One tick of a sequential count gate, from what Prometheus returned to the
 * check: read the counters (raw samples, see CounterReader), cut the slice,
 * judge it, and count the evidence gathered at the current weight.
 *
 * Slices and weight changes. The test conditions each slice on its own
 * canary share of requests, which is only meaningful when one weight held
 * for the whole slice, and on both arms' counts covering the same stretch
 * of time. A weight counts as applied 5 s after it was set (the mesh's
 * delay), at S. Slices are attributed to it by sample time: the first slice
 * at the new weight begins at the first moment every live series has a
 * sample at or after B = S + one scrape interval, so every series is read
 * between samples taken at the new weight, and a common burst of errors
 * that starts with the step and lasts up to one scrape interval (plus the
 * 5 s) has ended before the first of those samples — none of it is smeared
 * by interpolation into one arm's first slice more than the other's. (With
 * B = S, a 20 s burst after a 2 → 50 % step rolled back 1–5 % of healthy
 * canaries at 30 s scrapes.) The last slice at the old weight ends at the
 * latest moment every series is read between samples taken before the
 * change. Which slices are cut depends on times only, never on the counts,
 * so the test stays valid.
 *
 * Bounded slices. What lies between (about two scrape intervals after each
 * step) is judged on bounds instead of interpolation: from the change (or,
 * when the weight went down, from when it applied) to each reading's sample
 * time, the canary's errors counted between samples inside the stretch, the
 * stable's between samples around it, and the canary's share of requests
 * overstated (boundedSlice). However a common burst falls between the
 * samples, these counts can only understate the canary, so the slice's
 * likelihood ratio is at most one whose expectation under H0 is ≤ 1. The
 * stable errors they over-count would cost the small alternatives
 * evidence, so only the alternatives ≥ BOUNDED_FROM × stable take them: an
 * outage at a step is rolled back a scrape interval or two sooner, small
 * regressions are judged on the clean slices as before.
 *
 * Slices across the change. The alternatives from SPAN_FROM (3 ×) up to
 * BOUNDED_FROM judge that time too, from the old weight's last slice end to
 * the cut, in ordinary consecutive slices whose canary share is overstated
 * to the larger weight times the over-share the mesh showed at the step
 * before (spanShare, overShareOf); where that cannot be read (the first
 * step, too few requests), they do not. Through 15 s scrapes with outages, most of the canary errors the
 * judge never weighed on a canary sized by the weight fell in that time
 * (bench/README.md, "Canary pods sized by the weight").
 *
 * Fresh evidence. A step passes only once its own slices hold
 * `minStepRequests` canary requests: a canary whose series froze or
 * vanished after an earlier step cannot ride on old evidence.
 */

/** The counts bracketing a time (each series at its last sample before, and first after it). @public */
export interface Bracket {
  at: number;
  floor: ArmCounts;
  ceil: ArmCounts;
  /** The counts interpolated at `at` (absent in states written before they were kept). */
  counts?: ArmCounts;
}

/**
 * The slice between two bracketed times read so that it can only understate
 * the canary: the canary's errors counted between samples inside it (at most
 * the true number), the stable's between samples around it (at least the
 * true number), and the canary's share of requests overstated. Each
 * slice's likelihood ratio grows with the canary's errors and falls with
 * the stable's errors and with the share, so the ratio of these counts is at
 * most the ratio of the true counts at the true share's upper bound, whose
 * expectation under H0 is at most 1 (SequentialCountJudge).
 *
 * The share: the canary's requests counted between samples around the
 * stretch against the stable's interpolated inside it, and never below the
 * configured weight `weight` (0–100) — after a step up the mesh moves the
 * canary's share toward the new weight, and a mesh that sends the canary
 * more than its weight shows in the canary's own requests. Only errors can
 * come in bursts that interpolation misplaces; requests are steady over a
 * scrape interval. (Counting the stable's requests only between samples
 * inside the stretch, as errors are, left none until every stable series had
 * two samples after the change: an outage at the first step went unjudged
 * for one more tick, 10–20 s, than its evidence needed.) Without
 * interpolated counts (a state written before they were kept), the
 * stable's requests between samples inside the stretch.
 *
 * @public
 */
export function boundedSlice(
  from: Bracket,
  to: Bracket,
  weight?: number,
): ArmCounts {
  const canaryRequests = Math.max(
    0,
    to.ceil.canaryRequests - from.floor.canaryRequests,
  );
  let stableRequests = Math.max(
    0,
    to.floor.stableRequests - from.ceil.stableRequests,
  );
  if (from.counts && to.counts && canaryRequests > 0) {
    const stable = Math.max(
      0,
      to.counts.stableRequests - from.counts.stableRequests,
    );
    const share = Math.max(
      canaryRequests / (canaryRequests + stable),
      weight === undefined ? 0 : Math.min(1, weight / 100),
    );
    stableRequests = (canaryRequests * (1 - share)) / share;
  }
  return {
    canaryErrors: Math.max(0, to.floor.canaryErrors - from.ceil.canaryErrors),
    stableErrors: Math.max(0, to.ceil.stableErrors - from.floor.stableErrors),
    canaryRequests,
    stableRequests,
  };
}

/**
 * How far counts interpolated at a slice end may overstate the canary
 * because of a burst between samples (see EndSlack and BurstExcess): the
 * canary's errors interpolated after its last samples, and the stable's
 * before their next ones, beyond what the pods' error ratios explain.
 */
function endSlackOf(burst: BurstExcess | undefined): EndSlack | undefined {
  if (!burst) return undefined;
  return {
    canaryErrors: burst.canaryBefore,
    stableErrors: burst.stableAfter,
  };
}

/**
 * Where slices at a new weight begin (and where they go on after a slice
 * left unjudged because a pod went away), read so that a burst between samples
 * can only understate the canary: the canary's errors that interpolation
 * puts before the cut and the stable's it puts after it, beyond what the
 * pods' error ratios explain, are left out of the slices (see BurstExcess).
 * Unlike a slice end, nothing before the cut is judged, so no later slice
 * would cancel an interpolation error here: a common burst that the
 * canary's samples put after the cut and the stable's before it would count
 * for the canary alone (with only the slice ends corrected, 2.5 % of healthy
 * canaries rolled back at 30 s scrapes in one robustness scenario).
 */
function boundedStart(c: ArmCounts, burst: BurstExcess | undefined): ArmCounts {
  if (!burst) return c;
  return {
    ...c,
    canaryErrors: c.canaryErrors + burst.canaryAfter,
    stableErrors: Math.max(0, c.stableErrors - burst.stableBefore),
  };
}

function bracketOf(bounds: CounterBounds | undefined): Bracket | undefined {
  return bounds?.floor && bounds.ceil
    ? {
        at: bounds.at,
        floor: bounds.floor,
        ceil: bounds.ceil,
        ...(bounds.counts ? { counts: bounds.counts } : {}),
      }
    : undefined;
}

/** A slice with the stable's requests read from the configured split `share` (0–1), unless the canary's share of the counted requests is larger. */
function atSplit(share: number): (slice: ArmCounts) => ArmCounts {
  return slice => {
    const canaryShare = Math.max(
      share,
      slice.canaryRequests /
        Math.max(1, slice.canaryRequests + slice.stableRequests),
    );
    return {
      ...slice,
      stableRequests: (slice.canaryRequests * (1 - canaryShare)) / canaryShare,
    };
  };
}

/**
 * The canary's share for a slice across a weight change: the larger of the
 * weights before and after it (0–1) times the mesh's over-share
 * `overShare` (overShareOf), or the canary's counted share of the slice
 * when that is larger (as atSplit). The stable's requests are read from it.
 *
 * Why valid. Within a slice each arm's errors are Poisson with means
 * Σ λ_c(t)·n_c(t) and Σ λ_s(t)·n_s(t), however the rates and the split move
 * during it. Under H0 (λ_c(t) ≤ ρ0·λ_s(t) at every moment) the canary's
 * share of the slice's errors is an average of w(t)·ρ0 / (w(t)·ρ0 + 1 −
 * w(t)), weighted by the errors expected at each moment, with w(t) the
 * canary's share of requests; it is at most p0 at the largest w(t). So
 * with the share taken at least that large (and the errors read as in any
 * slice: interpolated ends, the latest end bounded, see EndSlack), each
 * alternative's likelihood ratio has expectation at most 1 under H0
 * whatever the share did in the slice: a common burst right after a step,
 * at the new and larger share, is not read as the canary's. The largest
 * w(t) is the larger weight only for a mesh that sends what it is told; a
 * mesh that sends the canary 5 × its weight does so across the change too,
 * hence the over-share, an upper bound read from the step before (with
 * the share at the larger weight alone and every alternative below 10 ×
 * taking these slices, healthy canaries behind such a mesh with a burst
 * after each step were rolled back in 11.5 % of 200 runs at 15 s scrapes
 * and 66.5 % at 30 s; none with the over-share). One factor for the whole
 * stretch, not one per slice: consecutive slices with different shares no
 * longer cancel their interpolation errors (scaling each slice's counted
 * share instead rolled back 2.5 % of healthy canaries with a 20 s burst
 * after a 2 → 50 % step at 30 s scrapes).
 */
function spanShare(
  oldShare: number,
  newShare: number,
  overShare: number,
): (slice: ArmCounts) => ArmCounts {
  const largest = largestShare(oldShare, newShare, overShare);
  return slice => {
    const counted =
      slice.canaryRequests /
      Math.max(1, slice.canaryRequests + slice.stableRequests);
    const share = Math.min(1, Math.max(largest, counted));
    return {
      ...slice,
      stableRequests:
        share >= 1 ? 0 : (slice.canaryRequests * (1 - share)) / share,
    };
  };
}

/** The canary's share the slices across a change are read at, at least (0–1): the larger weight times the over-share. */
function largestShare(
  oldShare: number,
  newShare: number,
  overShare: number,
): number {
  return Math.min(1, Math.max(oldShare, newShare) * overShare);
}

/** Canary requests a step must have counted for its over-share to be read (overShareOf). */
const OVER_SHARE_MIN_REQUESTS = 50;
/** A margin over the measured over-share (a mesh's split wanders between steps). */
const OVER_SHARE_SLACK = 1.1;

/**
 * The mesh's over-share (at least 1): an upper confidence bound of the
 * canary's counted share of the requests over the configured weight `weight`
 * (0–100), from the requests a step counted in its clean slices: how much
 * more than its weight the mesh sent the canary. The slices across the
 * next change take their share as the larger weight times this
 * (spanShare). Undefined when it cannot be measured (no weight, too few
 * requests): those slices are then not judged.
 */
export function overShareOf(
  canaryRequests: number,
  stableRequests: number,
  weight: number | undefined,
): number | undefined {
  if (weight === undefined || weight <= 0 || weight >= 100) return undefined;
  if (canaryRequests < OVER_SHARE_MIN_REQUESTS || stableRequests <= 0)
    return undefined;
  // Three standard deviations of Poisson counts, against the canary.
  const c = canaryRequests + 3 * Math.sqrt(canaryRequests) + 3;
  const s = Math.max(0, stableRequests - 3 * Math.sqrt(stableRequests));
  const share = c / (c + s);
  return Math.max(1, (share / (weight / 100)) * OVER_SHARE_SLACK);
}

/**
 * Bounded slices feed only the alternatives at least this many times stable's
 * rate (outages, crash loops): the stable errors they over-count would cost
 * the small alternatives evidence, which the clean slices gather anyway.
 *
 * @public
 */
export const BOUNDED_FROM = 10;

/**
 * The slices across a weight change feed only the alternatives from this
 * many times stable's rate up to BOUNDED_FROM: their share is overstated
 * (spanShare), which for a canary a little worse reads as evidence against
 * the small alternatives (with every alternative below 10 × taking them, a
 * canary 2 × as bad was rolled back in 87 % of the benchmark's runs through
 * 30 s scrapes instead of all).
 */
const SPAN_FROM = 3;

/** Seconds after a weight change before it counts as applied (the mesh's delay). @public */
export const SETTLE_SECONDS = 5;

/**
 * The slices across a weight change (spanShare), judged apart for the
 * alternatives from SPAN_FROM up to BOUNDED_FROM until the cut; what they
 * add is in the judge's log-evidence (spanEvidence).
 *
 * @public
 */
export interface AcrossChange {
  /** Their own judge state. */
  judge: SequentialState;
  /** Sample time (unix s) where they begin: the old weight's last slice end (absent in state persisted before it was kept). */
  from?: number;
  /** Sample time (unix s) where the latest of them ends. */
  at: number;
  /** A pod went away during them: they go no further. */
  stopped?: boolean;
}

/** What the slices across a change add to the judge's log-evidence now (their latest end bounded). */
function spanEvidence(span: AcrossChange | undefined): number[] | undefined {
  return span && (span.judge.bounded ?? span.judge.logEvidence);
}

/** @public */
export interface SequentialGateState {
  version: 2;
  judge: SequentialState;
  reader?: CounterReaderState;
  dispersion: DispersionState;
  /** Sample time (unix s) of the judge's last reading. */
  lastAt: number | null;
  step: {
    startedAt: number;
    /** The weight of this step (0–100), when known. */
    weight?: number;
    /** The weight before this step (0–100; 0 before the first), when known; the largest since the slices across the change began (see span). */
    fromWeight?: number;
    /** Where bracketed slices at this weight begin (unix s). */
    gapStart?: number;
    /** Until the cut: where the bounded stretch after the change begins (see boundedSlice). */
    bracket?: Bracket;
    /** The judge's log-evidence before the bounded stretch was first judged (each tick's reading of it replaces the last). */
    boundedBase?: number[];
    /** Slices at this weight are being judged (its first cut was made). */
    open?: boolean;
    /** Until the cut: the slices across the weight change (see spanShare). */
    span?: AcrossChange;
    /** The mesh's over-share read from the step before (overShareOf): the slices across the change are judged only when it is known. */
    overShare?: number;
    canaryRequests: number;
    stableRequests: number;
    /** log-evidence per grid point that the canary is no worse than (1 + margin) × stable, at this weight (early advance). */
    notWorse?: number[];
    /** The same with the latest slice end read against the canary (see notWorseSlackOf): what early advance decides on. */
    notWorseBounded?: number[];
    /** What the first slice after the cut adds to the canary's errors and takes from the stable's for the "no worse" test (see notWorseSlackOf). */
    notWorseFrom?: EndSlack;
  };
}

/**
 * Early advance (opt-in): a step may end before its pause once the evidence
 * gathered at its own weight shows the canary is no worse than (1 + margin)
 * × stable. The same construction as the rollback test, mirrored:
 * H0: ρ ≥ ρ0 = 1 + margin against alternatives ρ1 = ρ0 × g, g < 1; each
 * slice's likelihood ratio has expectation ≤ 1 under H0 (it decreases in the
 * canary's share), so the mixture is an e-process and the step may end when
 * it reaches 1/α. It is reset at every weight.
 */
export const NOT_WORSE_GRID = [0.9, 0.75, 0.5, 0.25, 0.1];

function notWorseIncrement(
  slice: ArmCounts,
  margin: number,
  dispersion: number,
): number[] {
  const nc = slice.canaryRequests;
  const ns = slice.stableRequests;
  const ec = Math.max(0, slice.canaryErrors);
  const es = Math.max(0, slice.stableErrors);
  if (nc <= 0 || ns <= 0) return NOT_WORSE_GRID.map(() => 0);
  const w = nc / (nc + ns);
  const rho0 = 1 + margin;
  const p0 = (w * rho0) / (w * rho0 + 1 - w);
  return NOT_WORSE_GRID.map(g => {
    const rho1 = rho0 * g;
    const p1 = (w * rho1) / (w * rho1 + 1 - w);
    return (
      (ec * Math.log(p1 / p0) + es * Math.log((1 - p1) / (1 - p0))) /
      Math.max(1, dispersion)
    );
  });
}

/**
 * The mirror of endSlackOf for the "no worse" test: a burst between samples
 * can make the canary look better than it is as easily as worse — its
 * errors interpolated before their next sample, the stable's after their
 * last one. Early advance decides with the latest slice end read with those
 * errors on the canary's side and without them on the stable's; the next
 * slice, continuing from the interpolated end, cancels the error. At the
 * cut nothing cancels it, so the first slice of a step is read the
 * canary's way at its start as well: canary errors interpolated on either
 * side of the cut are the canary's, stable errors on either side are not
 * the stable's.
 */
function notWorseSlackOf(burst: BurstExcess | undefined): EndSlack {
  return {
    canaryErrors: burst?.canaryAfter ?? 0,
    stableErrors: burst?.stableBefore ?? 0,
  };
}

/** A slice with `slack` more canary errors and fewer stable ones (not below 0). */
function againstCanary(slice: ArmCounts, slack: EndSlack): ArmCounts {
  return {
    ...slice,
    canaryErrors: slice.canaryErrors + slack.canaryErrors,
    stableErrors: Math.max(0, slice.stableErrors - slack.stableErrors),
  };
}

/**
 * How many times a stable pod's requests each canary pod serves: from the
 * configured weight when known, else from the counts since the start; 1
 * when the pods are not known (counts read some other way).
 */
function podShareOf(
  pods: LivePods | undefined,
  weight: number | undefined,
  counts: ArmCounts,
): number {
  if (!pods || pods.canary < 1 || pods.stable < 1) return 1;
  const [canary, stable] =
    weight !== undefined && weight > 0 && weight < 100
      ? [weight, 100 - weight]
      : [counts.canaryRequests, counts.stableRequests];
  if (!(canary > 0) || !(stable > 0)) return 1;
  return canary / pods.canary / (stable / pods.stable);
}

/** What one tick read. @public */
export interface SequentialGateTick {
  nowSec: number;
  startSec: number;
  /** When the current weight was applied (unix s). */
  stepStartSec: number;
  /** The configured canary weight (0–100); at 100 nothing is left to compare, so no fresh evidence is asked for. */
  weight?: number;
  /** Raw samples per counter (the Prometheus path). */
  raw?: Record<CounterName, RawCounter>;
  /** Cumulative counts since the start, read some other way (custom templates); null = no data. */
  counts?: ArmCounts | null;
  noDataReason?: string;
  /** The pods Kubernetes lists for each arm now, when known (reading/CounterReader.ts, ArmPods). */
  pods?: ArmPods;
  /** With `counts`: how far behind the store is, when it is (the counts end that far back). */
  storeLag?: number;
  /**
   * With `counts`: the stable arm's errors and requests in the window read
   * at this tick (at the first, also its history before the start), grouped
   * for the clump index (Dispersion.ts, groupedWindows: consecutive windows
   * compared with each other).
   */
  stableIncrements?: StableIncrement[];
  /** With `stableIncrements` at the first tick: why the history before the start could not be read (the check's dispersion basis says so). */
  stableHistoryProblem?: string;
}

/** @public */
export interface SequentialGateOptions {
  metric: string;
  query?: string;
  what?: string;
  /** Canary requests needed at the current weight before the gate passes. */
  minStepRequests: number;
  /** Opt-in early advance: the margin and the α of the "no worse" test. */
  earlyAdvance?: { margin: number; alpha: number };
}

/** @public */
export function restoreGateState(
  raw: unknown,
  judge: SequentialCountJudge,
): SequentialGateState {
  const s = raw as SequentialGateState | undefined;
  if (!s || s.version !== 2) {
    return {
      version: 2,
      judge: judge.initialState(),
      dispersion: initialDispersion(),
      lastAt: null,
      step: { startedAt: -1, canaryRequests: 0, stableRequests: 0 },
    };
  }
  return {
    ...s,
    step: restoreStep(s.step),
    judge: judge.restore(s.judge),
    reader: restoreReaderState(s.reader),
    dispersion: restoreDispersion(s.dispersion),
  };
}

/** The span across a change as an earlier version kept it: four fields of the step. */
interface EarlierSpanFields {
  span?: SequentialState | AcrossChange;
  spanAt?: number;
  spanShown?: number[];
  spanStopped?: boolean;
}

/** A step as persisted, with a span kept as four fields turned into one (AcrossChange). */
function restoreStep(
  persisted: SequentialGateState['step'],
): SequentialGateState['step'] {
  const { span, spanAt, spanShown, spanStopped, ...step } =
    persisted as SequentialGateState['step'] & EarlierSpanFields;
  if (!span) return step;
  if ('judge' in span) return { ...step, span };
  // spanShown was always what spanEvidence reads from the span.
  return spanAt === undefined
    ? step
    : { ...step, span: { judge: span, at: spanAt, stopped: spanStopped } };
}

/**
 * Runs one tick of a sequential gate (pure).
 *
 * @public
 */
export function sequentialGateTick(
  judge: SequentialCountJudge,
  previous: SequentialGateState,
  tick: SequentialGateTick,
  options: SequentialGateOptions,
): { state: SequentialGateState; check: AnalysisCheck } {
  const state: SequentialGateState = { ...previous };
  let counts: ArmCounts | null;
  let at: number | null;
  let problem = tick.noDataReason;
  let scrapeInterval = 0;
  let increments: StableIncrement[] = [];
  let cut: CounterCut | undefined;
  let end: CounterCut | undefined;
  let bounds: CounterBounds[] | undefined;
  let burst: BurstExcess | undefined;
  let livePods: LivePods | undefined;
  let unseenFrom: number | undefined;
  let unseenArms: Array<'canary' | 'stable'> | undefined;
  let storeLag: number | undefined;
  // The time from which requests are at this step's weight.
  const settledAt = tick.stepStartSec + SETTLE_SECONDS;
  const sameStep = previous.step.startedAt === tick.stepStartSec;
  // Where bracketed slices at this weight begin: at the change when the
  // weight went up (while the mesh settles, the canary's share is below the
  // new weight's, which only understates the canary), else once it applied.
  const previousWeight = previous.step.startedAt < 0 ? 0 : previous.step.weight;
  const wentUp =
    tick.weight !== undefined &&
    previousWeight !== undefined &&
    tick.weight >= previousWeight;
  let gapStart = wentUp ? tick.stepStartSec : settledAt;
  if (sameStep) gapStart = previous.step.gapStart ?? settledAt;
  const sliceStart = previous.lastAt ?? tick.startSec;
  const inGap = sliceStart < settledAt;
  if (tick.raw) {
    const read = readCounters(
      previous.reader,
      tick.raw,
      tick.nowSec,
      tick.startSec,
      interval => (inGap ? settledAt + interval : undefined),
      sliceStart < tick.stepStartSec ? tick.stepStartSec : undefined,
      inGap ? [gapStart] : undefined,
      tick.pods,
    );
    bounds = read.reading.bounds;
    end = read.reading.end;
    cut = read.reading.cut;
    state.reader = read.state;
    counts = read.reading.counts;
    at = read.reading.at;
    problem = read.reading.problem ?? problem;
    scrapeInterval = read.reading.scrapeInterval;
    increments = read.reading.stableIncrements;
    burst = read.reading.burst;
    livePods = read.reading.livePods;
    unseenFrom = read.reading.unseenFrom;
    unseenArms = read.reading.unseenArms;
    storeLag = read.reading.storeLag;
  } else {
    counts = tick.counts ?? null;
    at = counts ? tick.nowSec : null;
    storeLag = counts ? tick.storeLag : undefined;
    increments = tick.stableIncrements ?? [];
    if (tick.stableHistoryProblem)
      state.dispersion = {
        ...state.dispersion,
        historyProblem: tick.stableHistoryProblem,
      };
  }
  if (state.step.startedAt !== tick.stepStartSec) {
    // A step that ends before its cut: the slices across its change go on
    // from where they are (their evidence is in the judge's), at a share
    // bounded by every weight since they began.
    const { span, fromWeight, overShare } = previous.step;
    const carried =
      !previous.step.open && span && previousWeight !== undefined
        ? {
            span,
            fromWeight: Math.max(fromWeight ?? 0, previousWeight),
            ...(overShare !== undefined ? { overShare } : {}),
          }
        : undefined;
    // The mesh's over-share from the step before's clean slices.
    const measured = previous.step.open
      ? overShareOf(
          previous.step.canaryRequests,
          previous.step.stableRequests,
          previousWeight,
        )
      : undefined;
    state.step = {
      startedAt: tick.stepStartSec,
      ...(tick.weight !== undefined ? { weight: tick.weight } : {}),
      ...(previousWeight !== undefined ? { fromWeight: previousWeight } : {}),
      ...(measured !== undefined ? { overShare: measured } : {}),
      ...carried,
      gapStart,
      canaryRequests: 0,
      stableRequests: 0,
    };
  }
  let dispersion = dispersionOf(state.dispersion);
  // Only canary pods gone, at a configured split: see the slice below.
  const canaryGone =
    unseenArms !== undefined &&
    unseenArms.length > 0 &&
    unseenArms.every(arm => arm === 'canary');
  const splitShare =
    tick.weight !== undefined && tick.weight > 0 && tick.weight < 100
      ? tick.weight / 100
      : undefined;
  let skipped: string | undefined;
  let bracketed = false;
  if (counts && at !== null) {
    const sliceFrom = state.lastAt ?? tick.startSec;
    // The clump index from the stable pods' minutes that ended before this
    // slice began (predictable: none of the slice's own counts are in it).
    state.dispersion = addStableIncrements(
      state.dispersion,
      increments,
      Math.min(sliceFrom, at - scrapeInterval),
    );
    dispersion = canaryDispersion(
      dispersionOf(state.dispersion),
      podShareOf(livePods, tick.weight, counts),
    );
    let from = sliceFrom;
    if (
      end &&
      end.at > sliceFrom &&
      previous.step.open &&
      state.judge.last &&
      !state.step.span
    ) {
      // The old weight's last slice, up to the change: judged as the
      // slices before it (it counts for no step's fresh evidence).
      const next = judge.update(
        state.judge,
        end.counts,
        dispersion.phi,
        endSlackOf(end.bounds?.burst),
      );
      if (next.last !== state.judge.last) state.lastAt = end.at;
      state.judge = next;
    }
    // Until the cut, the alternatives from SPAN_FROM to BOUNDED_FROM judge
    // the time from the old weight's last slice end on in slices read as
    // any other, with the canary's share overstated (spanShare).
    let spanDelta: number[] | undefined;
    const spanShownBefore = spanEvidence(state.step.span);
    const oldWeight = state.step.fromWeight;
    const overShare = state.step.overShare;
    if (
      inGap &&
      tick.raw &&
      oldWeight !== undefined &&
      overShare !== undefined &&
      tick.weight !== undefined &&
      tick.weight > 0 &&
      tick.weight < 100
    ) {
      const shown = spanShownBefore ?? state.judge.logEvidence.map(() => 0);
      const begin = state.lastAt ?? tick.startSec;
      let span = state.step.span?.judge ?? {
        ...judge.initialState(),
        last: state.judge.last,
      };
      let spanAt = state.step.span?.at ?? begin;
      // To the cut when it is made (the slices after it take over), else
      // to this reading's time; not over a stretch a pod went away in.
      const to =
        cut && cut.at > spanAt
          ? { at: cut.at, counts: cut.counts, burst: cut.bounds?.burst }
          : { at, counts, burst };
      // A pod went away: what it served after its last sample was never
      // scraped, so the slices across the change end where they are.
      const stopped = state.step.span?.stopped || unseenFrom !== undefined;
      if (!stopped && to.at > spanAt) {
        const phi = Math.max(
          dispersion.phi,
          canaryDispersion(
            dispersionOf(state.dispersion),
            podShareOf(livePods, oldWeight, counts),
          ).phi,
        );
        const next = judge.update(
          span,
          to.counts,
          phi,
          endSlackOf(to.burst),
          spanShare(oldWeight / 100, tick.weight / 100, overShare),
          false,
          [SPAN_FROM, BOUNDED_FROM],
        );
        if (next.last !== span.last) spanAt = to.at;
        span = next;
      }
      const across: AcrossChange = {
        judge: span,
        from: state.step.span ? state.step.span.from : begin,
        at: spanAt,
        ...(stopped ? { stopped: true } : {}),
      };
      spanDelta = spanEvidence(across)!.map((v, k) => v - (shown[k] ?? 0));
      state.step = { ...state.step, span: across };
    }
    if (inGap && bounds) {
      // Until the cut, the stretch from the change on is judged with bounds
      // that can only understate the canary (see boundedSlice), read anew
      // from the change at every tick: its evidence replaces what the
      // previous tick's reading of it added. (Bounded slices laid end to
      // end would each lose the canary errors between the samples around
      // their ends.) For each alternative the evidence of the whole
      // stretch is at most the likelihood ratio of its true counts, a
      // martingale in its end under H0, so the test stays anytime-valid.
      const start = state.step.bracket ?? bracketOf(bounds[0]);
      const to = bracketOf(cut ? cut.bounds : bounds[bounds.length - 1]);
      if (start) state.step = { ...state.step, bracket: start };
      if (start && to && to.at > start.at) {
        const slice = boundedSlice(start, to, tick.weight);
        if (slice.canaryRequests > 0 && slice.stableRequests > 0) {
          // A new stretch: the last one's counts are final.
          const settled = state.step.boundedBase
            ? judge.settle(state.judge)
            : judge.foldStretch(judge.settle(state.judge));
          // The base holds neither the stretch nor the slices across the
          // change (spanShownBefore: what they added until now).
          const base =
            state.step.boundedBase ??
            settled.logEvidence.map((v, k) => v - (spanShownBefore?.[k] ?? 0));
          const spanNow = spanEvidence(state.step.span);
          state.judge = judge.addSlice(
            {
              ...settled,
              logEvidence: base.map((v, k) => v + (spanNow?.[k] ?? 0)),
            },
            slice,
            dispersion.phi,
            BOUNDED_FROM,
          );
          state.step = { ...state.step, boundedBase: base };
          bracketed = true;
        }
      }
    }
    if (spanDelta && !bracketed)
      state.judge = judge.shift(state.judge, spanDelta);
    // Shown (and later kept in `used`) for the stretch: the slices across
    // the change cover its time and more.
    const spanUsed = state.step.span?.judge.used;
    if (spanUsed && spanUsed.canaryRequests > 0)
      state.judge = { ...state.judge, stretch: spanUsed };
    if (sliceFrom < settledAt && cut) {
      // Every series has a sample after the change: slices from the cut on
      // are wholly at this weight. What came before it is not judged.
      const spanEnd = state.step.span?.at;
      const spanLast = state.step.span?.judge.last;
      if (spanLast && spanEnd !== undefined && spanEnd > cut.at) {
        // The slices across the change already reach past the cut: the
        // slices at this weight go on from their end.
        state.judge = judge.rebase(state.judge, spanLast);
        state.lastAt = spanEnd;
      } else {
        state.judge = judge.rebase(
          state.judge,
          boundedStart(cut.counts, cut.bounds?.burst),
        );
        state.lastAt = cut.at;
      }
      const cutBurst = cut.bounds?.burst;
      state.step = {
        ...state.step,
        open: true,
        // boundedStart read the cut the stable's way; the "no worse" test
        // reads it the canary's way.
        ...(options.earlyAdvance && cutBurst
          ? {
              notWorseFrom: {
                canaryErrors: cutBurst.canaryAfter + cutBurst.canaryBefore,
                stableErrors: cutBurst.stableBefore + cutBurst.stableAfter,
              },
            }
          : {}),
      };
      from = state.lastAt;
      skipped = 'the scrape interval around the weight change';
    }
    if (from < settledAt) {
      if (!tick.raw && at > from) {
        // Counts read some other way (no sample times): start afresh.
        state.judge = judge.rebase(state.judge, counts);
        state.lastAt = at;
      }
      skipped = bracketed
        ? 'until every series has a sample one scrape interval after this weight applied, slices are judged on counts that can only understate the canary'
        : 'waiting for a sample of every series after this weight applied';
    } else {
      if (!state.step.open) state.step = { ...state.step, open: true };
      const before = state.judge.last;
      // A pod went away since the last reading: what it served after its
      // last sample was never scraped, so its arm's counts over this slice
      // miss a stretch the other arm's hold. Judged as read, a common burst
      // in the rest would count more for that arm (a canary pod scraped
      // every 60 s replaced mid-step beside common bursts every two
      // minutes: 3 % of 200 healthy canaries rolled back). When only
      // canary pods went away and the weight is known, the stable's
      // requests are read from the configured split instead (as many as
      // the canary's at the weight, unless the canary's share shows more):
      // the canary's errors are then at most those of the whole slice at a
      // share at least the true one, the stable's exact, so the slice can
      // only understate the canary (as boundedSlice). (Not judging it cost
      // a canary at 5 × stable's errors whose pod was replaced at 60 s 20 s
      // before it was rolled back.) Otherwise — a stable pod gone, no
      // weight, or a slice the split cannot judge (an arm without
      // requests, a counter that went back) — it is not judged, and slices
      // go on from a start read as a cut's (boundedStart): the next must
      // not hold the unseen stretch.
      const unseen = unseenFrom !== undefined;
      const split =
        unseen && canaryGone && splitShare !== undefined && before !== null
          ? atSplit(splitShare)
          : undefined;
      let next =
        unseen && !split
          ? state.judge
          : judge.update(
              state.judge,
              counts,
              dispersion.phi,
              endSlackOf(burst),
              split,
              // Windows of a count template read as written: no one
              // window decides (SequentialCountJudge.windowLogCap).
              state.dispersion.units === 'windows',
            );
      if (unseen && next.last === before) {
        next = judge.rebase(next, boundedStart(counts, burst));
        skipped =
          'a pod went away since the last reading: what it served after its last sample was never scraped';
      } else if (split)
        skipped =
          "a canary pod went away since the last reading: what it served after its last sample was never scraped, so this slice is judged with the stable's requests at the configured weight";
      if (next.last !== before) {
        if (before && next.slices > state.judge.slices) {
          const slice: ArmCounts = {
            canaryRequests: next.last!.canaryRequests - before.canaryRequests,
            canaryErrors: next.last!.canaryErrors - before.canaryErrors,
            stableRequests: next.last!.stableRequests - before.stableRequests,
            stableErrors: next.last!.stableErrors - before.stableErrors,
          };
          let notWorse: number[] | undefined;
          let notWorseBounded: number[] | undefined;
          const { notWorseFrom, ...step } = state.step;
          if (options.earlyAdvance && split) {
            // The canary's errors of part of the slice say nothing of it
            // being no worse: this slice adds nothing to that test.
            notWorse = step.notWorse;
            notWorseBounded = step.notWorseBounded;
          } else if (options.earlyAdvance) {
            const { margin, alpha } = options.earlyAdvance;
            const adjusted = againstCanary(
              slice,
              notWorseFrom ?? { canaryErrors: 0, stableErrors: 0 },
            );
            // A window read as written that missed a common burst on the
            // canary's series shows it far better than it is: no one window
            // ends a step either (SequentialCountJudge.windowLogCap).
            const cap =
              state.dispersion.units === 'windows'
                ? windowLogCapOf(alpha)
                : Infinity;
            const sum = (part: ArmCounts) =>
              notWorseIncrement(part, margin, dispersion.phi).map(
                (v, k) => Math.min(cap, v) + (step.notWorse?.[k] ?? 0),
              );
            notWorse = sum(adjusted);
            notWorseBounded = sum(
              againstCanary(adjusted, notWorseSlackOf(burst)),
            );
          }
          state.step = {
            ...step,
            notWorse,
            notWorseBounded,
            canaryRequests:
              state.step.canaryRequests +
              (next.last!.canaryRequests - before.canaryRequests),
            stableRequests:
              state.step.stableRequests +
              (next.last!.stableRequests - before.stableRequests),
          };
        }
        state.lastAt = at;
      }
      state.judge = next;
    }
  } else if (increments.length > 0) {
    // Nothing to judge, but the stable pods' history still counts.
    state.dispersion = addStableIncrements(
      state.dispersion,
      increments,
      state.lastAt ?? -Infinity,
    );
  }
  let early: Record<string, number | boolean> = {};
  if (options.earlyAdvance && state.step.notWorse) {
    const logs = state.step.notWorseBounded ?? state.step.notWorse;
    const max = Math.max(...logs);
    const logE =
      max +
      Math.log(logs.reduce((a, v) => a + Math.exp(v - max), 0)) -
      Math.log(logs.length);
    const e = Math.min(Math.exp(logE), Number.MAX_VALUE);
    early = {
      notWorseEValue: Number(e.toPrecision(4)),
      earlyAdvance: e >= 1 / options.earlyAdvance.alpha,
    };
  }
  const described = judge.describe(state.judge, {
    metric: options.metric,
    query: options.query,
    what: options.what,
    counts,
    noDataReason: problem,
    step: {
      canaryRequests: state.step.canaryRequests,
      // At 100 % the stable version serves nothing: the step stands on the
      // evidence gathered before it.
      minRequests:
        tick.weight !== undefined && tick.weight >= 100
          ? 0
          : options.minStepRequests,
    },
    dispersion,
    skipped,
    storeLag,
  });
  const across = describeAcrossChange(
    judge,
    state,
    tick.weight,
    tick.raw !== undefined,
  );
  // Said with the check of a count template read as written.
  const extra = {
    ...(state.dispersion.units === 'windows'
      ? {
          windowEValueCap: Number(Math.exp(judge.windowLogCap).toPrecision(4)),
        }
      : {}),
    ...early,
    ...across?.details,
  };
  const check = Object.keys(extra).length
    ? { ...described, details: { ...described.details, ...extra } }
    : described;
  // A rollback decided now, with the time across the change weighed in,
  // says so.
  return !previous.judge.rejected && state.judge.rejected && across?.evidence
    ? {
        state,
        check: { ...check, evidence: `${check.evidence}${across.evidence}` },
      }
    : { state, check };
}

/**
 * How this step's change was judged across (spanShare), for the check's
 * details: the weights, the time, the canary share the slices were read
 * at and how many times the e-value is what it would be without them; or
 * why that time was not judged. Nothing for a first step or a weight with
 * no split.
 */
function describeAcrossChange(
  judge: SequentialCountJudge,
  state: SequentialGateState,
  weight: number | undefined,
  rawSamples: boolean,
): { details: Record<string, string | number>; evidence?: string } | undefined {
  const { fromWeight, overShare, span } = state.step;
  if (
    !rawSamples ||
    fromWeight === undefined ||
    fromWeight <= 0 ||
    weight === undefined ||
    weight <= 0 ||
    weight >= 100
  )
    return undefined;
  const change = `${formatNumber(fromWeight)} % → ${formatNumber(weight)} %`;
  if (overShare === undefined) {
    return {
      details: {
        acrossChange: `${change}: not judged — the step before has no clean slices with ${OVER_SHARE_MIN_REQUESTS} canary requests to read how much more than its weight the mesh sends the canary`,
      },
    };
  }
  if (!span) return undefined;
  const share = `${formatNumber(
    largestShare(fromWeight / 100, weight / 100, overShare) * 100,
  )} %`;
  // What they add is in the judge's log-evidence: the e-value without it.
  const without = judge.shift(
    state.judge,
    spanEvidence(span)!.map(v => -v),
  );
  const factor = Math.min(
    Math.exp(judge.logEValue(state.judge) - judge.logEValue(without)),
    Number.MAX_VALUE,
  );
  const times = `the e-value is ×${formatNumber(
    factor,
  )} what it would be without them`;
  const seconds =
    span.from !== undefined ? `${formatNumber(span.at - span.from)} s ` : '';
  return {
    details: {
      acrossChange: `${change}: ${seconds}judged for canaries ${SPAN_FROM}–${BOUNDED_FROM} × as bad as stable, at a canary share of at least ${share} (the larger weight × the mesh's over-share from the step before); ${times}${
        span.stopped ? '; stopped where a pod went away' : ''
      }`,
      acrossChangeOverShare: Number(overShare.toPrecision(4)),
    },
    ...(factor > 1
      ? {
          evidence: `; ${
            seconds ? `the ${seconds}` : 'the time '
          }across the change ${change} weighed in: ${times} (read at a canary share of at least ${share})`,
        }
      : {}),
  };
}
