import type { ArmCounts } from '../judges/SequentialCountJudge';

/*
 * Reading counters as Prometheus stored them.
 *
 * `increase(x[5m])` is not a count: Prometheus extrapolates the first and
 * last sample of the window towards the window's edges, so a count read with
 * it gains phantom requests and errors (and loses them at the next reading,
 * which a cumulative reader sees as a negative delta). This reader instead
 * keeps, per series, the raw sample values Prometheus scraped, and adds up
 * what each series counted:
 *
 * - every increment between two samples of a series counts; a value lower
 *   than the one before is a counter reset (a restarted pod), and the new
 *   value is what the series counted since the reset;
 * - a series seen for the first time after the rollout started counts from
 *   zero (its first sample is everything it counted); on the first reading, a
 *   series with a sample at or before the start is counted from that sample;
 * - canary and stable are read at one common sample time T: the earliest of
 *   the latest samples of the live series, each series interpolated to T
 *   between its two samples around it, so a slice [T₁, T₂] holds the same
 *   stretch of time for both arms;
 * - a series without a sample for 2.5 scrape intervals is stale; an arm that
 *   had series and has no live one is "no data" (the caller makes that
 *   inconclusive, never zero). A stale series still holds T at its last
 *   sample for a while (holdAfter: failed scrapes end at different times for
 *   different series), then is taken to be gone and its count is frozen; if
 *   it returns after all, what it counted before the previous reading is
 *   left out rather than put into one slice.
 *
 * Pure: the caller queries Prometheus for the raw samples and stores the
 * returned state (JSON) until the next reading.
 */

/** The four counters of a count test. @public */
export type CounterName =
  | 'canaryErrors'
  | 'canaryRequests'
  | 'stableErrors'
  | 'stableRequests';

/** @public */
export const COUNTER_NAMES: CounterName[] = [
  'canaryErrors',
  'canaryRequests',
  'stableErrors',
  'stableRequests',
];

/** One series with its raw samples, [unix seconds, value]. @public */
export interface RawSeries {
  labels: Record<string, string>;
  points: Array<[number, number]>;
}

/** What Prometheus returned for one counter: its terms (selectors with a sign) and their series. @public */
export type RawCounter = Array<{ sign: 1 | -1; series: RawSeries[] }>;

interface TrackedSeries {
  /** Latest sample: time (s), raw value, count accumulated up to it. */
  t: number;
  v: number;
  acc: number;
  /** The point before it, for interpolation. */
  pt: number;
  pacc: number;
  /**
   * Points before `pt` still needed, oldest first [t, acc]: back to the last
   * one at or before the reading's common sample time. When some series are
   * scraped less often than others, that time lags behind the last two
   * samples of the others, which must still be read at it.
   */
  older?: Array<[number, number]>;
  /** Spacing of the last two samples in seconds (0 = unknown). */
  dt: number;
  sign: 1 | -1;
  /** The pod (or target) the series comes from. */
  src: string;
  /** `pt` is the zero point of a series born during the rollout. */
  born?: boolean;
  /**
   * Its first sample after its last gap (no sample for staleAfter), or its
   * first sample if it was born during the rollout; absent: scraped without
   * a gap since before the start (see holdAfter).
   */
  since?: number;
  /**
   * An error series' latest scrape intervals, oldest first: [end (unix s),
   * errors, the pod's requests] (see quietRatio).
   */
  quiet?: Array<[number, number, number]>;
}

/** At most this many points before `pt` are kept per series (see TrackedSeries.older). */
const MAX_OLDER_POINTS = 64;

/** How many scrape intervals quietRatio looks back over. */
const QUIET_INTERVALS = 8;

/**
 * A pod's error ratio when no burst is under way, from its latest scrape
 * intervals that ended by `until` (undefined with fewer than two): the
 * interval at the lower quartile of their ratios, its errors raised by one
 * standard deviation of a Poisson count (the lower quartile of a few
 * noisy intervals sits about that far below their mean). The pod's ratio
 * since the rollout started and over the interval before are both
 * inflated when common bursts come often (every minute or two): those
 * land in a good share of the intervals, but seldom in seven of eight; a
 * pod whose errors are steady has about the same ratio in each, which the
 * raise restores.
 */
function quietRatio(series: TrackedSeries, until: number): number | undefined {
  return raised(quietInterval(series.quiet ?? [], until));
}

/** An interval's error ratio with its errors raised by one Poisson standard deviation (see quietRatio). */
function raised(interval: [number, number] | undefined): number | undefined {
  return interval && (interval[0] + Math.sqrt(interval[0])) / interval[1];
}

/** The interval at the lower quartile of the error ratios among those that ended by `until` ([errors, requests]; undefined with fewer than two). */
function quietInterval(
  intervals: Array<[number, number, number]>,
  until: number,
): [number, number] | undefined {
  const sorted = intervals
    .filter(([end]) => end <= until)
    .sort(([, ea, na], [, eb, nb]) => ea / na - eb / nb);
  if (sorted.length < 2) return undefined;
  const [, errors, served] = sorted[Math.floor((sorted.length - 1) / 4)];
  return [errors, served];
}

/** How long every scrape interval of most stable pods must have held a burst before BurstExcess reads against the stable history's quiet ratio (see CounterReaderState.stableQuiet). */
const BURSTS_NORM_SECONDS = 90;

/**
 * How many times the stable history's quiet ratio a stable pod's scrape
 * interval must hold to count as a burst for burstsTheNorm. Measured: at 4,
 * a canary at 5 % errors beside a stable at 1 % with 15 s bursts of 5 %
 * about once a minute (and 60 s of 20 % after each step) was rolled back
 * in 62 of 100 runs at 30 s scrapes instead of 76 (the gate took its steady
 * errors for a burst's); at 10 it lost none, and healthy canaries under
 * bursts of 20 % most of the time stayed at 0 %.
 */
const BURSTS_NORM_FACTOR = 10;

/** The reader's memory between ticks (JSON). @public */
export interface CounterReaderState {
  version: 1;
  series: Record<CounterName, Record<string, TrackedSeries>>;
  /** Counts of series dropped from `series` after an hour without samples. */
  retired: Record<CounterName, number>;
  /** The common sample time of the last reading (unix s), null before the first. */
  at: number | null;
  /**
   * The stable arm's error ratio when no burst is under way, from its
   * pods' history before the rollout (the first reading's; absent without
   * eight minutes of it). When, for most stable pods, every scrape
   * interval of the last 90 s holds ten times the errors it explains, bursts
   * have become the norm since the rollout began: each pod's own ratios
   * (since the start, the interval before, its quiet ratio) are then the
   * burst level itself and explain a misplaced burst away, so BurstExcess
   * reads both arms against this ratio too. (Bursts of 20 % most of the
   * time from the rollout on, none in the history, rolled back 4 % of
   * healthy canaries at 30 s scrapes without it; 0 % with it.)
   */
  stableQuiet?: number;
  /**
   * How far the newest sample of all series lagged behind the reading's
   * time, at each reading of the last STORE_LAG_WINDOW_SECONDS: [reading
   * time, lag] (see storeLagOf).
   */
  storeLags?: Array<[number, number]>;
  /**
   * Samples that arrived late, at each reading of the last
   * STORE_LAG_WINDOW_SECONDS that found some: [reading time, seconds the
   * latest of them was scraped before the previous reading that lacked it].
   * Only explains a check that holds (see lateArrivalOf).
   */
  lateArrivals?: Array<[number, number]>;
}

/** Pods (series sources) per arm with live request series. @public */
export type LivePods = { canary: number; stable: number };

/** One increment of a stable series, for the dispersion estimate. @public */
export interface StableIncrement {
  t: number;
  src: string;
  kind: 'errors' | 'requests';
  inc: number;
}

/** @public */
export interface CounterReading {
  /** Counts since the start at time `at`; null when an arm has no live data. */
  counts: ArmCounts | null;
  /** The common sample time (unix s). */
  at: number | null;
  /** Why there are no counts. */
  problem?: string;
  /** Asked for with a weight change B: where slices at the new weight begin, once the samples allow it (see {@link CounterCut}). */
  cut?: CounterCut;
  /** Asked for with the weight change itself: where the last slice at the old weight may end, with only samples taken before the change in it. */
  end?: CounterCut;
  /** Largest scrape spacing seen among live series (s), 0 if unknown. */
  scrapeInterval: number;
  /** Asked for with `boundsAt`: the counts bracketing each of those times, then `at` (see {@link CounterBounds}). */
  bounds?: CounterBounds[];
  /** With counts: what a burst between samples may have put on the wrong side of `at` (see {@link BurstExcess}). */
  burst?: BurstExcess;
  /** New increments of stable series, with their sample time and pod. */
  stableIncrements: StableIncrement[];
  /** With counts: how many pods (series sources) of each arm have live request series. */
  livePods?: LivePods;
  /**
   * With counts, when a series is taken to be gone at this reading (its pod
   * deleted, or stale past the hold) and its last sample is at or after the
   * previous common time: that sample's time. What its pod served after it
   * was never scraped, so over the slice to `at` its arm's counts miss a
   * stretch the other arm's hold (a pod replaced: the canary counted from
   * the new pod's start, the stable over the whole slice). See
   * SequentialGate.ts.
   */
  unseenFrom?: number;
  /** With `unseenFrom`: the arms whose pods went away so. */
  unseenArms?: Array<'canary' | 'stable'>;
  /** With counts, when the store is behind (see storeLagOf): by how many seconds. */
  storeLag?: number;
}

/**
 * Where slices at a new weight may begin. A sample counts everything since
 * the one before it, so the scrape interval of each series that contains the
 * weight change B holds requests of both weights in a proportion nobody knows
 * (a burst of errors right after a step sits wholly after B). The cut is the
 * first time T ≥ B at which every live series has a sample at or after B
 * (and not before some canary series has two samples: until then how far
 * back a new canary series' first sample reaches is unknown):
 * counts interpolated at T (and every later reading) lie between samples
 * taken after B, so a slice from T holds only requests at the new weight,
 * on both arms alike, wherever each series' scrapes fall. A series that
 * appeared during the rollout counts from zero one scrape interval before
 * its first sample.
 *
 * @public
 */
export interface CounterCut {
  /** T, the sample time the cut was made at (unix s). */
  at: number;
  /** Counts since the start at T. */
  counts: ArmCounts;
  /** With `boundsAt`: the counts bracketing T. */
  bounds?: CounterBounds;
}

/**
 * The counts bracketing a time t without interpolation: `floor` adds up each
 * series at its last sample at or before t, `ceil` at its first sample at or
 * after t (a series that appeared later counts 0 in both; a stale one its
 * last value). Whatever the events did between the samples, the true count
 * at t lies between them, so a slice read from them gives bounds: events
 * between two times are at least floor(t₂) − ceil(t₁) and at most
 * ceil(t₂) − floor(t₁). Either is null when some live series has no such
 * sample among the ones kept (no sample after t yet, or none before it).
 *
 * @public
 */
export interface CounterBounds {
  at: number;
  floor: ArmCounts | null;
  ceil: ArmCounts | null;
  /** The counts interpolated at t (as CounterReading.counts). */
  counts?: ArmCounts;
  /** What a burst between samples may have put on the wrong side of t (see {@link BurstExcess}). */
  burst?: BurstExcess;
}

/**
 * Errors that interpolation places between an error series' samples and t
 * beyond what its pod's requests there bring at the pod's error ratio
 * before that scrape interval (the lowest of its ratio since the start,
 * over the interval before, its quiet ratio, and — while bursts are the
 * norm — the stable history's quiet ratio, CounterReaderState.stableQuiet),
 * less Poisson noise (see beyondRate) — for a canary series, or beyond
 * the stable's share of the errors of the same interval on that side,
 * whichever is more (stableProfileExcess: a canary error series that
 * appeared in a burst has no ratio of its own without it) — summed
 * per arm: `before` between the last sample before t and t, `after`
 * between t and the first sample after it. Interpolation spreads a
 * sample's increase evenly over its scrape interval; a burst inside that
 * interval lies wholly on one side of t, and when the arms' series are
 * scraped at different moments, one arm's part of a common burst can be
 * read as before t while the other's is read as after it. Without a burst
 * these are 0 but for rare noise.
 *
 * @public
 */
export interface BurstExcess {
  canaryBefore: number;
  canaryAfter: number;
  stableBefore: number;
  stableAfter: number;
}

/** The stable pods' history is compared minute by minute (Dispersion.ts). @public */
export const STABLE_BIN_SECONDS = 60;

/** The fewest minutes of stable history before the start that give a quiet ratio (see CounterReaderState.stableQuiet). */
const QUIET_HISTORY_MINUTES = 8;

/**
 * The stable arm's quiet ratio before the rollout (see
 * CounterReaderState.stableQuiet), from its pods' increments by minute:
 * the minute at the lower quartile of their error ratios, its errors
 * raised by one standard deviation as in quietRatio.
 */
function historyQuietRatio(
  increments: StableIncrement[],
  until: number,
): number | undefined {
  const minutes = new Map<number, [number, number]>();
  for (const inc of increments) {
    if (inc.t > until) continue;
    const bin = Math.floor(inc.t / STABLE_BIN_SECONDS);
    const m = minutes.get(bin) ?? [0, 0];
    m[inc.kind === 'errors' ? 0 : 1] += inc.inc;
    minutes.set(bin, m);
  }
  const ends = [...minutes.entries()]
    .filter(([, [errors, served]]) => served >= 1 && errors >= 0)
    .map(([bin, [errors, served]]): [number, number, number] => [
      bin,
      errors,
      served,
    ]);
  if (ends.length < QUIET_HISTORY_MINUTES) return undefined;
  return raised(quietInterval(ends, Infinity));
}

const DEFAULT_STALE_SECONDS = 90;
/** The readings whose store lag counts (see storeLagOf). */
export const STORE_LAG_WINDOW_SECONDS = 300;
/**
 * Per-reading entries ([reading time, value]) of the last
 * STORE_LAG_WINDOW_SECONDS before `nowSec`, then `added` if given.
 *
 * @public
 */
export function recentReadings(
  entries: Array<[number, number]> | undefined,
  nowSec: number,
  added?: [number, number],
): Array<[number, number]> {
  return [
    ...(entries ?? []).filter(
      ([t]) => t > nowSec - STORE_LAG_WINDOW_SECONDS && t < nowSec,
    ),
    ...(added ? [added] : []),
  ];
}

/** The longest store lag waited for (see storeLagOf). @public */
export const MAX_STORE_LAG_SECONDS = 90;
const RETIRE_AFTER_SECONDS = 3600;
const HOLD_STALE_SECONDS = 120;
/**
 * How much of the stable pods' history before the rollout the first reading
 * fetches (at most three hours in all, see readingWindowSeconds), for the
 * clump index (Dispersion.ts): three hours give it about 540 degrees of
 * freedom with four stable pods, so without clumps its upper confidence
 * value is about 6.5 % above 1 (18 % with 30 minutes, which slowed every
 * test by as much).
 */
export const HISTORY_BEFORE_START_SECONDS = 10800;

function emptyRecord<T>(make: () => T): Record<CounterName, T> {
  return {
    canaryErrors: make(),
    canaryRequests: make(),
    stableErrors: make(),
    stableRequests: make(),
  };
}

/** The pod a series belongs to (for the A/A split of the stable arm). */
export function seriesSource(labels: Record<string, string>): string {
  const pod =
    labels.pod ??
    labels.kubernetes_pod_name ??
    labels.pod_name ??
    labels.instance;
  if (pod !== undefined) return pod;
  const rest = Object.entries(labels)
    .filter(
      ([k]) =>
        !['__name__', 'le', 'code', 'response_code', 'status'].includes(k),
    )
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify(rest);
}

function labelKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/**
 * The pods Kubernetes lists for each arm at this reading (names and IPs;
 * not those being deleted), when the caller has them. A stale series whose
 * pod is no longer listed is gone for good — deleted pods are not scraped
 * again — so it does not hold the common sample time for holdAfter (an
 * evicted canary pod or a scale-down then costs 2.5 scrape intervals of
 * evidence, not two minutes). A series names its pod by a pod label or,
 * without one, by `instance` (`ip:port`, Kubernetes discovery's default),
 * matched by its IP. Used only for an arm where some series names a listed
 * pod (labels that name no pod, e.g. an `instance` of a service address,
 * leave the hold as it is), and never for a series whose pod is listed: a
 * scrape outage keeps its hold.
 *
 * @public
 */
export type ArmPods = Partial<Record<'canary' | 'stable', string[]>>;

/** Whether a series' source (see seriesSource) names a listed pod: by name, or as `ip:port` (`[ip]:port` for IPv6) by its IP. */
function isListed(listed: Set<string>, src: string): boolean {
  if (listed.has(src)) return true;
  const host =
    /^\[([^\]]+)\]:\d+$/.exec(src)?.[1] ?? /^([^:]+):\d+$/.exec(src)?.[1];
  return host !== undefined && listed.has(host);
}

function listedPods(names: string[] | undefined): Set<string> | undefined {
  return names ? new Set(names) : undefined;
}

/**
 * How many seconds behind the reading's time the store is: the smallest lag
 * of its newest sample over the last STORE_LAG_WINDOW_SECONDS, when that is
 * more than the fastest series' scrape interval and at most
 * MAX_STORE_LAG_SECONDS (else 0: a store further behind is not waited for,
 * its series go stale and the check says why). Staleness is measured from
 * the reading's time less this lag.
 *
 * Why. Through remote write (Mimir, Cortex, Thanos Receive, a managed
 * Prometheus) a sample becomes readable some seconds after it was scraped.
 * Measured from the reading's time, a store 40–50 s behind at 15 s scrapes
 * left every series stale at every reading: each gate stayed inconclusive,
 * healthy canaries were never promoted and a canary failing 10 × as often
 * as the stable was never rolled back (the benchmark's simulated Prometheus
 * with such a lag, 20 runs each). A store that is behind stays behind, so
 * the smallest lag of five minutes follows it; a scrape outage makes the
 * newest sample older by the second, which that smallest lag does not
 * follow, so series still go stale 2.5 scrape intervals into an outage, as
 * before. Without a store lag the newest sample of all is never more than
 * the fastest series' interval old, and nothing changes. Behind a store
 * 40–50 s behind, healthy canaries are promoted again and the 10 × canary is
 * rolled back after 109 s (15 s scrapes) and 139 s (30 s); every decision
 * comes that much later, and a step ends on evidence that old. Up to 80–90 s
 * behind every such regression was rolled back (40 runs each); 100–110 s
 * behind at 30 s scrapes, one of 40 was promoted on a last step judged only
 * that far: hence MAX_STORE_LAG_SECONDS.
 *
 * @public
 */
export function storeLagOf(state: CounterReaderState | undefined): number {
  const lags = state?.storeLags;
  if (!state || !lags || lags.length === 0) return 0;
  const fastest = fastestInterval(state);
  const floor = Math.min(...lags.map(([, lag]) => lag));
  if (!Number.isFinite(fastest) || !(floor > fastest)) return 0;
  return floor <= MAX_STORE_LAG_SECONDS ? floor : 0;
}

/** The fastest series' scrape interval (s), Infinity while none is known. */
function fastestInterval(state: CounterReaderState): number {
  let fastest = Infinity;
  for (const name of COUNTER_NAMES)
    for (const s of Object.values(state.series[name]))
      if (s.dt > 0) fastest = Math.min(fastest, s.dt);
  return fastest;
}

/** Below this, a sample missing from a reading may be one still being scraped. */
const LATE_MARGIN_SECONDS = 5;

/**
 * How late samples have reached the store in the last
 * STORE_LAG_WINDOW_SECONDS, when that explains series as old as `age`
 * (a scrape outage longer than that does not): the most seconds late, or 0.
 * Only said by a check that holds; staleness is unchanged. (Measuring
 * staleness that much earlier instead, so that a check waits out a batch,
 * was tried in session 29: in the benchmark's simulator with 30 s and 60 s
 * batches every decision and its time stayed the same, 9 cases × 3 reading
 * paths × 40 runs, while a canary series that is really gone would pass for
 * fresh for that many seconds more.)
 */
function lateArrivalOf(state: CounterReaderState, age: number): number {
  const fastest = fastestInterval(state);
  const late = Math.max(0, ...(state.lateArrivals ?? []).map(([, d]) => d));
  if (late <= 0 || !Number.isFinite(fastest)) return 0;
  return age <= late + staleAfter(fastest) ? late : 0;
}

function staleAfter(dt: number): number {
  return dt > 0 ? Math.max(2.5 * dt, dt + 20) : DEFAULT_STALE_SECONDS;
}

/**
 * How long a stale series still holds the common sample time at its last
 * sample: scrapes that fail for a while (a scrape job broken, targets
 * unreachable) end at different times for different series, and until a
 * series is back its count at a later time is unknown, not frozen — read as
 * frozen, a stale error series makes its arm look healthier than it is, and
 * its return brings the whole gap's count into one slice. It is taken to be
 * gone (a deleted pod) and counted as frozen once another series of its arm
 * has been scraped without a gap for this long after its last sample (so
 * after an outage of the whole arm, this long after the arm is back); should
 * it return after all, what it counted before the previous reading is left
 * out (see readCounters).
 */
function holdAfter(dt: number): number {
  // Always longer than staleAfter(dt).
  return Math.max(HOLD_STALE_SECONDS, 4 * dt);
}

/** How far back the next query must reach (seconds before `nowSec`). @public */
export function readingWindowSeconds(
  state: CounterReaderState | undefined,
  nowSec: number,
  startSec: number,
): number {
  if (!state || state.at === null) {
    return Math.min(
      3 * 3600,
      Math.max(60, nowSec - startSec + HISTORY_BEFORE_START_SECONDS),
    );
  }
  let earliest = state.at;
  const freshAt = nowSec - storeLagOf(state);
  for (const name of COUNTER_NAMES) {
    for (const s of Object.values(state.series[name])) {
      if (freshAt - s.t <= staleAfter(s.dt)) earliest = Math.min(earliest, s.t);
    }
  }
  return Math.min(3600, Math.max(60, nowSec - earliest + 1));
}

/** A fresh state (for a new rollout). @public */
export function initialReaderState(): CounterReaderState {
  return {
    version: 1,
    series: emptyRecord(() => ({})),
    retired: emptyRecord(() => 0),
    at: null,
  };
}

/** Accepts a stored state, or undefined when it is not one of ours. @public */
export function restoreReaderState(
  raw: unknown,
): CounterReaderState | undefined {
  const s = raw as CounterReaderState | undefined;
  if (!s || s.version !== 1 || typeof s.series !== 'object' || !s.series)
    return undefined;
  return s;
}

interface Point {
  t: number;
  acc: number;
}

/** A series first seen during the rollout: its first sample counts everything since it appeared. */
interface Born {
  born?: boolean;
}

/**
 * Errors beyond what a steady rate explains: `count` over its expectation
 * `expected` by more than Poisson noise (three standard deviations, plus
 * one), else 0 — so a burst is taken out and steady traffic costs nothing.
 */
function beyondRate(count: number, expected: number): number {
  return Math.max(0, count - expected - 3 * Math.sqrt(expected) - 1);
}

/**
 * A counter at t, interpolated between its samples and, outside them, at
 * the rate of the nearest two (a pod's requests are read over an error
 * series' scrape interval, which with its own scrape phase may begin before
 * the request samples kept or end after the latest).
 */
function requestsAt(points: Point[], t: number): number {
  const n = points.length;
  if (n >= 2 && t < points[0].t) {
    const [a, b] = points;
    const rate = b.t > a.t ? (b.acc - a.acc) / (b.t - a.t) : 0;
    return Math.max(0, a.acc - rate * (a.t - t));
  }
  if (n >= 2 && t > points[n - 1].t) {
    const a = points[n - 2];
    const b = points[n - 1];
    const rate = b.t > a.t ? (b.acc - a.acc) / (b.t - a.t) : 0;
    return b.acc + rate * (t - b.t);
  }
  return accAt(points, t);
}

function accAt(points: Point[], t: number): number {
  if (points.length === 0) return 0;
  if (t >= points[points.length - 1].t) return points[points.length - 1].acc;
  if (t <= points[0].t) return points[0].acc;
  for (let i = 1; i < points.length; i++) {
    const b = points[i];
    if (t <= b.t) {
      const a = points[i - 1];
      if (b.t === a.t) return b.acc;
      return a.acc + ((b.acc - a.acc) * (t - a.t)) / (b.t - a.t);
    }
  }
  return points[points.length - 1].acc;
}

/**
 * The series a count subtracts, paired with the one it is subtracted from.
 * A latency count is `_count − _bucket{le}`: per pod, a positive series and
 * a negative one whose labels differ only in `le` (and the metric name).
 * Their bad requests are the difference, and a burst is looked for in it: on
 * its own, the `_count` series is all requests, and read as errors at any
 * ratio below 1 it showed a "burst" at every scrape (ten and more slow
 * canary requests that never were, left out of every step's first slice).
 * Returns, for each positive series key, the keys subtracted from it; the
 * subtracted keys are in `folded`.
 */
function subtractedPairs(keys: Array<[string, TrackedSeries]>): {
  of: Map<string, string[]>;
  folded: Set<string>;
} {
  const pairKey = (key: string) => {
    const labels = Object.fromEntries(
      JSON.parse(key.slice(key.indexOf('|') + 1)) as Array<[string, string]>,
    );
    delete labels.le;
    delete labels.__name__;
    return labelKey(labels);
  };
  const positive = new Map<string, string>();
  for (const [key, s] of keys)
    if (s.sign > 0) {
      const pk = pairKey(key);
      if (!positive.has(pk)) positive.set(pk, key);
    }
  const of = new Map<string, string[]>();
  const folded = new Set<string>();
  for (const [key, s] of keys) {
    if (s.sign >= 0) continue;
    const to = positive.get(pairKey(key));
    if (to === undefined) continue;
    of.set(to, [...(of.get(to) ?? []), key]);
    folded.add(key);
  }
  return { of, folded };
}

/**
 * A positive series' points less those of the series subtracted from it, at
 * the sample times they share (a pod's series are scraped together, so they
 * share every one; a time one of them lacks is left out, not interpolated).
 */
function lessSubtracted(points: Point[], subtracted: Point[][]): Point[] {
  if (subtracted.length === 0) return points;
  const at = subtracted.map(q => new Map(q.map(p => [p.t, p.acc])));
  const out: Point[] = [];
  for (const p of points) {
    let acc = p.acc;
    for (const m of at) {
      const v = m.get(p.t);
      if (v === undefined) {
        acc = NaN;
        break;
      }
      acc -= v;
    }
    if (Number.isFinite(acc)) out.push({ t: p.t, acc: Math.max(0, acc) });
  }
  return out;
}

/**
 * Adds what Prometheus returned to the state and reads all four counters at
 * a common sample time. See the comment at the top of this file.
 *
 * @public
 */
export function readCounters(
  previous: CounterReaderState | undefined,
  raw: Record<CounterName, RawCounter>,
  nowSec: number,
  startSec: number,
  /** A weight change B (given the scrape interval seen): also find where slices after it may begin. */
  cutAt?: (scrapeInterval: number) => number | undefined,
  /** The weight change itself: also find where the last slice at the old weight may end (see {@link CounterReading.end}). */
  changeAt?: number,
  /** Times to read bracketing counts at (see {@link CounterBounds}). */
  boundsAt?: number[],
  /** The pods Kubernetes lists for each arm now, when known (see {@link ArmPods}). */
  pods?: ArmPods,
): { state: CounterReaderState; reading: CounterReading } {
  const firstReading = !previous || previous.at === null;
  const state: CounterReaderState = previous
    ? {
        version: 1,
        series: emptyRecord(() => ({})),
        retired: { ...previous.retired },
        at: previous.at,
        ...(previous.stableQuiet !== undefined
          ? { stableQuiet: previous.stableQuiet }
          : {}),
        ...(previous.storeLags ? { storeLags: previous.storeLags } : {}),
        ...(previous.lateArrivals
          ? { lateArrivals: previous.lateArrivals }
          : {}),
      }
    : initialReaderState();
  const pointsOf = emptyRecord(() => new Map<string, Point[] & Born>());
  const increments: StableIncrement[] = [];
  // The first reading's stable history: each pod's first sample (the
  // earliest among its series), and the minutes holding a series' first.
  const podFirst = new Map<string, number>();
  const firstMinutes = new Set<number>();

  for (const name of COUNTER_NAMES) {
    const old = previous?.series[name] ?? {};
    const next: Record<string, TrackedSeries> = {};
    const seenKeys = new Set<string>();
    raw[name].forEach((term, termIndex) => {
      for (const series of term.series) {
        const key = `${termIndex}|${labelKey(series.labels)}`;
        if (seenKeys.has(key)) continue;
        seenKeys.add(key);
        const samples = series.points
          .filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v))
          .sort((a, b) => a[0] - b[0]);
        const prior = old[key];
        const src = prior?.src ?? seriesSource(series.labels);
        let t: number;
        let v: number;
        let acc: number;
        let dt = prior?.dt ?? 0;
        let since = prior?.since;
        const points: Point[] & Born = [];
        if (prior?.born) points.born = true;
        if (prior) {
          for (const [ot, oacc] of prior.older ?? [])
            points.push({ t: ot, acc: oacc });
          points.push({ t: prior.pt, acc: prior.pacc });
          // (Both, also when they share a time: a series' first sample
          // after its zero point.)
          if (prior.t > prior.pt || prior.acc !== prior.pacc)
            points.push({ t: prior.t, acc: prior.acc });
          ({ t, v, acc } = prior);
        } else {
          const base = firstReading
            ? [...samples].reverse().find(([st]) => st <= startSec)
            : undefined;
          if (base) {
            // History before the start is not counted, but tells the
            // dispersion estimate how the stable pods behave.
            if (name.startsWith('stable')) {
              const first = samples[0][0];
              podFirst.set(src, Math.min(podFirst.get(src) ?? first, first));
              firstMinutes.add(Math.floor(first / STABLE_BIN_SECONDS));
              let before = samples[0][1];
              for (const [st, sv] of samples) {
                if (st > base[0]) break;
                const inc = sv >= before ? sv - before : sv;
                before = sv;
                if (inc > 0) {
                  increments.push({
                    t: st,
                    src,
                    kind: name === 'stableErrors' ? 'errors' : 'requests',
                    inc: term.sign * inc,
                  });
                }
              }
            }
            [t, v] = base;
            acc = 0;
            points.push({ t, acc: 0 });
          } else {
            // Born during the rollout: everything it counted is new.
            points.born = true;
            t = -Infinity;
            v = 0;
            acc = 0;
          }
        }
        for (const [st, sv] of samples) {
          if (st <= t) continue;
          const inc = sv >= v ? sv - v : sv;
          if (!Number.isFinite(t)) {
            points.push({ t: st, acc: 0 });
            since = st;
          } else if (dt > 0 && st - t > staleAfter(dt)) {
            since = st; // back after a gap: its spacing is the one before
          } else dt = st - t;
          acc += inc;
          t = st;
          v = sv;
          points.push({ t, acc });
          if (inc > 0 && name.startsWith('stable')) {
            increments.push({
              t: st,
              src,
              kind: name === 'stableErrors' ? 'errors' : 'requests',
              inc: term.sign * inc,
            });
          }
        }
        if (!Number.isFinite(t)) continue; // no sample at all
        if (
          prior &&
          previous?.at !== null &&
          previous?.at !== undefined &&
          prior.t < previous.at &&
          t > prior.t
        ) {
          // Back after the common time passed it (stale past holdAfter): the
          // readings since counted it frozen at prior.acc, so what it counted
          // up to the previous reading's time (interpolated) is left out,
          // not put into the next slice.
          const i = points.findIndex(p => p.t > prior.t);
          const back = points[i];
          const lost =
            ((back.acc - prior.acc) * (previous.at - prior.t)) /
            (back.t - prior.t);
          const drop = Math.max(0, Math.min(back.acc - prior.acc, lost));
          for (let j = i; j < points.length; j++) points[j].acc -= drop;
        }
        const last = points[points.length - 1];
        const before = points.length > 1 ? points[points.length - 2] : last;
        next[key] = {
          t: last.t,
          v,
          acc: last.acc,
          pt: before.t,
          pacc: before.acc,
          dt,
          sign: term.sign,
          src,
          // Remembered until its first sample leaves the points kept.
          ...(points.born && points[0].t === before.t ? { born: true } : {}),
          ...(prior?.quiet ? { quiet: prior.quiet } : {}),
          ...(since !== undefined ? { since } : {}),
        };
        pointsOf[name].set(key, points);
      }
    });
    // Series that returned nothing this time keep their count (frozen).
    for (const [key, s] of Object.entries(old)) {
      if (next[key]) continue;
      if (nowSec - s.t > RETIRE_AFTER_SECONDS) {
        state.retired[name] += s.sign * s.acc;
        continue;
      }
      next[key] = s;
      const kept: Point[] & Born = [
        ...(s.older ?? []).map(([ot, oacc]) => ({ t: ot, acc: oacc })),
        { t: s.pt, acc: s.pacc },
        { t: s.t, acc: s.acc },
      ];
      if (s.born) kept.born = true;
      pointsOf[name].set(key, kept);
    }
    state.series[name] = next;
  }
  // How far behind the store is (see storeLagOf): staleness is measured
  // from freshAt.
  let newestOfAll = -Infinity;
  for (const name of COUNTER_NAMES)
    for (const s of Object.values(state.series[name]))
      newestOfAll = Math.max(newestOfAll, s.t);
  // Samples the previous reading lacked though they were scraped well
  // before it: the store shows samples late (remote write in batches), not
  // a scrape outage (which leaves no samples for that time at all).
  const lastLag = (state.storeLags ?? []).filter(([t]) => t < nowSec).pop();
  if (lastLag) {
    const [previousAt, previousLag] = lastLag;
    const previousNewest = previousAt - previousLag;
    let late = 0;
    for (const name of COUNTER_NAMES)
      for (const points of pointsOf[name].values())
        for (const p of points)
          if (p.t > previousNewest && p.t <= previousAt - LATE_MARGIN_SECONDS)
            late = Math.max(late, previousAt - p.t);
    state.lateArrivals = recentReadings(
      state.lateArrivals,
      nowSec,
      late > 0 ? [nowSec, late] : undefined,
    );
    if (state.lateArrivals.length === 0) delete state.lateArrivals;
  }
  if (Number.isFinite(newestOfAll)) {
    state.storeLags = recentReadings(state.storeLags, nowSec, [
      nowSec,
      Math.max(0, nowSec - newestOfAll),
    ]);
  }
  const storeLag = storeLagOf(state);
  const freshAt = nowSec - storeLag;

  /** Each pod's requests, to weigh its errors against. */
  const requestsBySource = (arm: 'canary' | 'stable') => {
    const requestsName: CounterName = `${arm}Requests`;
    const requestsOf = new Map<string, Point[]>();
    for (const [key, r] of Object.entries(state.series[requestsName])) {
      if (!requestsOf.has(r.src))
        requestsOf.set(r.src, pointsOf[requestsName].get(key) ?? []);
    }
    return requestsOf;
  };
  const requestsOfArm = {
    canary: requestsBySource('canary'),
    stable: requestsBySource('stable'),
  };
  /**
   * Each error series' points to look for bursts in, once per reading: a
   * series paired with ones it subtracts (`_count − _bucket{le}`) as their
   * difference at the sample times they share; the subtracted ones folded
   * into it are left out.
   */
  const errorPointsOf = (arm: 'canary' | 'stable') => {
    const errorsName: CounterName = `${arm}Errors`;
    const pairs = subtractedPairs(Object.entries(state.series[errorsName]));
    const combined = new Map<string, Point[]>();
    for (const key of Object.keys(state.series[errorsName])) {
      if (pairs.folded.has(key)) continue;
      combined.set(
        key,
        lessSubtracted(
          pointsOf[errorsName].get(key) ?? [],
          (pairs.of.get(key) ?? []).map(k => pointsOf[errorsName].get(k) ?? []),
        ),
      );
    }
    return combined;
  };
  const errorPointsOfArm = {
    canary: errorPointsOf('canary'),
    stable: errorPointsOf('stable'),
  };

  // Each error series' latest scrape intervals, for quietRatio.
  for (const arm of ['canary', 'stable'] as const) {
    const errorsName: CounterName = `${arm}Errors`;
    const requestsOf = requestsOfArm[arm];
    for (const [key, s] of Object.entries(state.series[errorsName])) {
      const requests = requestsOf.get(s.src);
      if (s.sign < 0 || !requests?.length) continue;
      const since = previous?.series[errorsName][key]?.t ?? -Infinity;
      const quiet = [...(s.quiet ?? [])];
      const points = errorPointsOfArm[arm].get(key) ?? [];
      // Only the latest intervals are kept (after the backend was down, a
      // reading may hold up to an hour of samples).
      const first = Math.max(1, points.length - QUIET_INTERVALS);
      for (let j = first; j < points.length; j++) {
        const a = points[j - 1];
        const b = points[j];
        if (b.t <= since || b.t <= a.t) continue;
        const served = requestsAt(requests, b.t) - requestsAt(requests, a.t);
        if (served >= 1 && b.acc >= a.acc)
          quiet.push([b.t, b.acc - a.acc, served]);
      }
      if (quiet.length > 0)
        state.series[errorsName][key] = {
          ...s,
          quiet: quiet.slice(-QUIET_INTERVALS),
        };
    }
  }

  let stableIncrements = increments;
  if (podFirst.size > 0) {
    // The history is the stable pods' of today: it begins with the minute
    // after the latest pod's first sample (before it, another set of pods,
    // perhaps another version, served). A minute holding a series' first
    // sample is not comparable across the pods: that series counts from its
    // first sample, the others from their samples before, so one pod's
    // errors and requests cover different stretches of it, and a busy
    // service shows "clumps" that are only this mismatch. Other minutes
    // are: a series that begins later than its pod's (an error series
    // appears at the pod's first error) counted nothing before. (Keeping
    // only the minutes after the latest series' first sample threw away,
    // on a quiet service, hours of history whenever a pod's first error
    // came shortly before the rollout.)
    const from = Math.max(...podFirst.values());
    const completeFrom =
      Math.ceil(from / STABLE_BIN_SECONDS) * STABLE_BIN_SECONDS;
    stableIncrements = increments.filter(
      inc =>
        inc.t >= completeFrom &&
        !firstMinutes.has(Math.floor(inc.t / STABLE_BIN_SECONDS)),
    );
    if (firstReading) {
      const quiet = historyQuietRatio(stableIncrements, startSec);
      if (quiet !== undefined) state.stableQuiet = quiet;
    }
  }

  // The common sample time: the earliest latest sample among live series.
  let at = Infinity;
  let scrapeInterval = 0;
  const live = { canary: 0, stable: 0 };
  const known = { canary: 0, stable: 0 };
  let newestCanary = -Infinity;
  let newestStable = -Infinity;
  let canarySpaced = false;
  const liveOf = {
    canary: [] as TrackedSeries[],
    stable: [] as TrackedSeries[],
  };
  const livePodsOf = { canary: new Set<string>(), stable: new Set<string>() };
  for (const name of COUNTER_NAMES) {
    const arm = name.startsWith('canary') ? 'canary' : 'stable';
    for (const s of Object.values(state.series[name])) {
      known[arm]++;
      if (arm === 'canary') newestCanary = Math.max(newestCanary, s.t);
      else newestStable = Math.max(newestStable, s.t);
      if (freshAt - s.t <= staleAfter(s.dt)) {
        live[arm]++;
        liveOf[arm].push(s);
        if (name.endsWith('Requests')) livePodsOf[arm].add(s.src);
        if (arm === 'canary' && s.dt > 0) canarySpaced = true;
        at = Math.min(at, s.t);
        scrapeInterval = Math.max(scrapeInterval, s.dt);
      }
    }
  }
  let unseenFrom: number | undefined;
  const unseenArms = new Set<'canary' | 'stable'>();
  // A stale series holds T until it is taken to be gone (see holdAfter),
  // or at once when Kubernetes no longer lists its pod (see ArmPods).
  const listed = {
    canary: listedPods(pods?.canary),
    stable: listedPods(pods?.stable),
  };
  for (const arm of ['canary', 'stable'] as const) {
    const names = listed[arm];
    // Trusted only when the series' labels name Kubernetes pods: some
    // series of the arm belongs to a listed pod (by name or IP).
    if (
      names &&
      !COUNTER_NAMES.filter(n => n.startsWith(arm)).some(n =>
        Object.values(state.series[n]).some(s => isListed(names, s.src)),
      )
    )
      listed[arm] = undefined;
  }
  for (const name of COUNTER_NAMES) {
    const arm = name.startsWith('canary') ? 'canary' : 'stable';
    for (const s of Object.values(state.series[name])) {
      if (freshAt - s.t <= staleAfter(s.dt) || s.t < startSec) continue;
      const gone =
        (listed[arm] && !isListed(listed[arm]!, s.src)) || // its pod is gone
        liveOf[arm].some(
          y => y.t - Math.max(y.since ?? -Infinity, s.t) > holdAfter(s.dt),
        );
      if (!gone) at = Math.min(at, s.t);
      else if (
        previous?.at !== null &&
        previous?.at !== undefined &&
        s.t >= previous.at
      ) {
        unseenFrom = Math.min(unseenFrom ?? Infinity, s.t);
        unseenArms.add(arm);
      }
    }
  }
  // A series that appeared during the rollout counted its first sample's
  // events within the scrape interval before it, like every other sample:
  // its zero point is one interval earlier, so interpolation spreads them
  // over that interval as it does for the other series.
  const shifted = new Set<Point[]>();
  if (scrapeInterval > 0) {
    for (const name of COUNTER_NAMES) {
      for (const points of pointsOf[name].values()) {
        if (points.born && points.length > 1 && points[0].t === points[1].t) {
          points[0] = { t: points[0].t - scrapeInterval, acc: points[0].acc };
          shifted.add(points);
        }
      }
    }
  }
  /** Keeps each series' points back to the last one at or before `until` (see TrackedSeries.older). */
  const keepOlder = (until: number) => {
    for (const name of COUNTER_NAMES) {
      for (const [key, s] of Object.entries(state.series[name])) {
        const points = pointsOf[name].get(key) ?? [];
        const n = points.length;
        if (n < 3) continue;
        let from = 0;
        for (let i = 0; i < n; i++) if (points[i].t <= until) from = i;
        from = Math.max(from, n - 2 - MAX_OLDER_POINTS);
        if (from >= n - 2) {
          if (s.older) {
            const { older: _, ...rest } = s;
            state.series[name][key] = rest;
          }
          continue;
        }
        const older = points
          .slice(from, n - 2)
          .map((p, i): [number, number] => [
            // A born series' zero point is kept as its first sample's time
            // (the next reading places it again).
            from + i === 0 && shifted.has(points) ? points[1].t : p.t,
            p.acc,
          ]);
        state.series[name][key] = {
          ...s,
          older,
          ...(from === 0 && points.born ? { born: true } : {}),
        };
      }
    }
  };
  const fail = (problem: string) => {
    // The next reading may still be read at the previous common time.
    keepOlder(previous?.at ?? -Infinity);
    return {
      state: { ...state, at: previous?.at ?? null },
      reading: {
        counts: null,
        at: null,
        problem,
        scrapeInterval,
        stableIncrements,
      },
    };
  };
  for (const arm of ['canary', 'stable'] as const) {
    if (known[arm] > 0 && live[arm] === 0) {
      const newest = arm === 'canary' ? newestCanary : newestStable;
      const late = lateArrivalOf(state, nowSec - newest);
      return fail(
        `no fresh ${arm} samples in Prometheus (the last is ${Math.round(
          nowSec - newest,
        )} s old): the ${arm}'s series are stale or gone${
          late
            ? `, or their samples come late: samples have reached Prometheus up to ${Math.round(
                late,
              )} s after they were scraped in the last ${
                STORE_LAG_WINDOW_SECONDS / 60
              } minutes (remote write in batches?); the check holds until they come`
            : ''
        }${
          nowSec - newestOfAll > MAX_STORE_LAG_SECONDS
            ? `; no series of either version has a sample from the last ${MAX_STORE_LAG_SECONDS} s: Prometheus is not scraping them, or its samples arrive later than the analysis waits for (remote write more than ${MAX_STORE_LAG_SECONDS} s behind)`
            : ''
        }`,
      );
    }
  }
  if (known.stable === 0) {
    return fail('Prometheus has no series for the stable version');
  }
  if (previous?.at !== null && previous?.at !== undefined) {
    // Never go back in time (a lagging series can only hold the reading).
    at = Math.max(at, previous.at);
  }
  const countsAt = (time: number) => {
    const counts = emptyRecord(() => 0);
    for (const name of COUNTER_NAMES) {
      let total = state.retired[name];
      for (const [key, s] of Object.entries(state.series[name])) {
        total += s.sign * accAt(pointsOf[name].get(key) ?? [], time);
      }
      counts[name] = Math.max(0, total);
    }
    return counts;
  };
  const counts = countsAt(at);
  /** The first time at or after `b` when every live series has a sample at or after `b` (see CounterCut). */
  const cleanFrom = (b: number): number | undefined => {
    if (!canarySpaced) return undefined;
    let from = b;
    for (const name of COUNTER_NAMES) {
      for (const [key, s] of Object.entries(state.series[name])) {
        if (freshAt - s.t > staleAfter(s.dt)) continue;
        const points = pointsOf[name].get(key) ?? [];
        const first = points.find(p => p.t >= b);
        if (!first) return undefined;
        from = Math.max(from, first.t);
      }
    }
    return from;
  };
  /**
   * The latest time at or before `change` at which every live series is
   * read between samples taken at or before `change`: the earliest of their
   * last samples at or before it (a series that appeared after it counts
   * nothing there).
   */
  const cleanUntil = (change: number): number => {
    let until = Math.min(at, change);
    for (const name of COUNTER_NAMES) {
      for (const [key, s] of Object.entries(state.series[name])) {
        if (freshAt - s.t > staleAfter(s.dt)) continue;
        const points = pointsOf[name].get(key) ?? [];
        let last: number | undefined;
        for (const p of points) if (p.t <= change) last = p.t;
        if (last !== undefined) until = Math.min(until, last);
      }
    }
    return until;
  };
  /** Counts at each series' last sample at or before t ('floor') or first at or after it ('ceil'). */
  const boundAt = (time: number, side: 'floor' | 'ceil'): ArmCounts | null => {
    const bound = emptyRecord(() => 0);
    for (const name of COUNTER_NAMES) {
      let total = state.retired[name];
      for (const [key, s] of Object.entries(state.series[name])) {
        const points = pointsOf[name].get(key) ?? [];
        const stale = freshAt - s.t > staleAfter(s.dt);
        let value: number | undefined;
        if (points.born && time <= startSec) {
          // Born during the rollout: nothing counted before it started.
          value = 0;
        } else if (stale && time >= s.t) {
          value = s.acc;
        } else if (side === 'floor') {
          for (const p of points) if (p.t <= time) value = p.acc;
          // A series born during the rollout counted nothing before its zero point.
          if (value === undefined && points.born && points[0]?.t >= time)
            value = 0;
        } else {
          value = points.find(p => p.t >= time)?.acc;
        }
        if (value === undefined) return null;
        total += s.sign * value;
      }
      bound[name] = Math.max(0, total);
    }
    return bound;
  };
  // Bursts the norm since the rollout began (see
  // CounterReaderState.stableQuiet): for most stable pods, every scrape
  // interval of the last BURSTS_NORM_SECONDS holds more errors than the
  // stable history's quiet ratio explains.
  const burstsTheNorm = (() => {
    const quiet = state.stableQuiet;
    if (quiet === undefined) return false;
    let counted = 0;
    let above = 0;
    for (const s of Object.values(state.series.stableErrors)) {
      if (s.sign < 0 || !s.quiet?.length) continue;
      counted++;
      const ended = s.quiet.filter(([end]) => end <= at);
      const recent = ended.filter(([end]) => end > at - BURSTS_NORM_SECONDS);
      if (
        recent.length > 0 &&
        recent.length < ended.length &&
        recent.every(
          ([, errors, served]) =>
            beyondRate(errors, BURSTS_NORM_FACTOR * quiet * served) > 0,
        )
      )
        above++;
    }
    return counted > 0 && 2 * above >= counted;
  })();
  const stableErrorsMemo = new Map<number, number>();
  const stableErrorsAt = (time: number) => {
    let value = stableErrorsMemo.get(time);
    if (value === undefined) {
      value = countsAt(time).stableErrors;
      stableErrorsMemo.set(time, value);
    }
    return value;
  };
  /**
   * A canary error series' increase between its samples `a` and `b`,
   * interpolated at `time` to `mid`, against where the stable's errors fell
   * in the same interval: the part interpolation puts on either side of
   * `time` beyond the stable's share of the interval's errors on that side
   * (an upper bound, three standard deviations of a Poisson count). A
   * common burst in a canary scrape interval longer than the stable's lies
   * on one side of `time`, and the stable's samples show which; when
   * bursts fill the canary's own history, its ratios cannot tell (a canary
   * scraped every 60 s beside stable pods scraped every 15 s, bursts of
   * 60 % errors for 45 s about every five minutes: 3 % of 200 healthy
   * canaries rolled back, the burst read after a cut). Without a burst the
   * stable's errors follow its requests and the bound is above the
   * interpolated part: nothing is moved.
   */
  const stableProfileExcess = (
    a: Point,
    b: Point,
    mid: number,
    time: number,
  ): { before: number; after: number } => {
    const atA = stableErrorsAt(a.t);
    const atTime = stableErrorsAt(time);
    const total = stableErrorsAt(b.t) - atA;
    if (!(total > 0)) return { before: 0, after: 0 };
    const share = (part: number) => {
      const p = Math.max(0, part);
      return Math.min(1, (p + 3 * Math.sqrt(p) + 3) / total);
    };
    const increase = b.acc - a.acc;
    return {
      before: Math.max(0, mid - a.acc - increase * share(atTime - atA)),
      after: Math.max(0, b.acc - mid - increase * share(atA + total - atTime)),
    };
  };
  const burstAt = (time: number): BurstExcess => {
    const excess = {
      canaryBefore: 0,
      canaryAfter: 0,
      stableBefore: 0,
      stableAfter: 0,
    };
    for (const arm of ['canary', 'stable'] as const) {
      const errorsName: CounterName = `${arm}Errors`;
      const requestsOf = requestsOfArm[arm];
      for (const [key, points] of errorPointsOfArm[arm]) {
        const s = state.series[errorsName][key];
        const i = points.findIndex(p => p.t > time);
        if (i <= 0) continue;
        const a = points[i - 1];
        const b = points[i];
        const mid = accAt(points, time);
        // The pod's error ratio before the interval holding t (a burst in
        // it is what is being looked for): since the start, over the
        // interval before, or its quiet ratio, whichever is lowest (bursts
        // there inflate the first two).
        const requests = requestsOf.get(s.src) ?? [];
        const served = (from: number, to: number) =>
          Math.max(0, requestsAt(requests, to) - requestsAt(requests, from));
        const ratios = [a.acc / Math.max(1, requestsAt(requests, a.t))];
        if (i >= 2) {
          const p = points[i - 2];
          const n = served(p.t, a.t);
          if (n > 0) ratios.push((a.acc - p.acc) / n);
        }
        const quiet = quietRatio(s, a.t);
        if (quiet !== undefined) ratios.push(quiet);
        if (burstsTheNorm) ratios.push(state.stableQuiet!);
        const ratio = requests.length ? Math.min(...ratios) : 0;
        let before = beyondRate(mid - a.acc, ratio * served(a.t, time));
        let after = beyondRate(b.acc - mid, ratio * served(time, b.t));
        if (arm === 'canary' && s.sign > 0) {
          // Where the stable's errors fell in the same interval: a common
          // burst the canary's own ratios hide (bursts all through them).
          const profile = stableProfileExcess(a, b, mid, time);
          before = Math.max(before, profile.before);
          after = Math.max(after, profile.after);
        }
        excess[`${arm}Before`] += s.sign * before;
        excess[`${arm}After`] += s.sign * after;
      }
    }
    return {
      canaryBefore: Math.max(0, excess.canaryBefore),
      canaryAfter: Math.max(0, excess.canaryAfter),
      stableBefore: Math.max(0, excess.stableBefore),
      stableAfter: Math.max(0, excess.stableAfter),
    };
  };
  const boundsOf = (time: number): CounterBounds => ({
    at: time,
    floor: boundAt(time, 'floor'),
    ceil: boundAt(time, 'ceil'),
    counts: countsAt(time),
    burst: burstAt(time),
  });
  const bounds = boundsAt ? [...boundsAt, at].map(boundsOf) : undefined;
  const endTime = changeAt === undefined ? undefined : cleanUntil(changeAt);
  const end =
    endTime !== undefined && Number.isFinite(endTime)
      ? {
          at: endTime,
          counts: countsAt(endTime),
          ...(boundsAt ? { bounds: boundsOf(endTime) } : {}),
        }
      : undefined;
  const cutFrom = cutAt?.(scrapeInterval);
  const cutTime = cutFrom === undefined ? undefined : cleanFrom(cutFrom);
  const cut =
    cutTime !== undefined && cutTime <= at
      ? {
          at: cutTime,
          counts: countsAt(cutTime),
          ...(boundsAt ? { bounds: boundsOf(cutTime) } : {}),
        }
      : undefined;
  keepOlder(at);
  state.at = at;
  return {
    state,
    reading: {
      counts,
      at,
      livePods: {
        canary: livePodsOf.canary.size,
        stable: livePodsOf.stable.size,
      },
      cut,
      end,
      scrapeInterval,
      stableIncrements,
      ...(bounds ? { bounds } : {}),
      burst: burstAt(at),
      ...(unseenFrom !== undefined && unseenFrom < at
        ? { unseenFrom, unseenArms: [...unseenArms] }
        : {}),
      ...(storeLag > 0 ? { storeLag } : {}),
    },
  };
}
