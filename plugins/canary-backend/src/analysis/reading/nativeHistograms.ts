import type { PrometheusHistogramSeries } from '../PrometheusClient';
import type { RawSeries } from './CounterReader';

/*
 * Latency from a native histogram, read as the count test reads a classic
 * one: per series, the requests (the sample's count) and the requests
 * slower than a bound (the buckets wholly above it), each a counter the
 * CounterReader takes like `_count` and `_count − _bucket{le}`.
 *
 * The bound must be a bucket boundary of both versions, or the slow
 * requests of a bucket across it cannot be told. Native buckets are
 * exponential — with schema s, bucket i holds (2^((i−1)/2^s), 2^(i/2^s)] —
 * or custom (Prometheus 3 converting a classic histogram); the versions may
 * differ in resolution. chooseNativeBound takes the smallest boundary at
 * or above the target that falls inside no bucket of either version; a
 * power of two is one for every exponential schema from 0 up.
 */

const EPSILON = 1e-9;

/** Whether a bucket (lower, upper] holds values on both sides of `bound` (float noise aside). */
function across(lower: number, upper: number, bound: number): boolean {
  return lower < bound * (1 - EPSILON) && upper > bound * (1 + EPSILON);
}

/** The smallest power of two at or above `value` (> 0): a bucket boundary of every schema from 0 up. @public */
export function nativeBound(value: number): number {
  if (!(value > 0) || !Number.isFinite(value))
    throw new RangeError(`no native bucket boundary for ${value}`);
  let k = Math.ceil(Math.log2(value));
  // log2 of an exact power of two can come out a hair above the integer.
  if (2 ** (k - 1) >= value) k -= 1;
  return 2 ** k;
}

/**
 * The bound the test counts at, for a latency `target` (the stable's p99,
 * or the `le` a policy gives): the smallest value at or above it that no
 * bucket of any of the series falls across — the bucket boundaries at or
 * above it are the candidates (exponential buckets: the next boundary of
 * the coarser version; custom buckets, as Prometheus 3 converts classic
 * histograms: `le: 250` itself), and the power of two at or above it.
 * Undefined when every candidate falls inside some version's bucket.
 *
 * @public
 */
export function chooseNativeBound(
  target: number,
  series: PrometheusHistogramSeries[],
): number | undefined {
  const buckets = series.flatMap(s => s.points.flatMap(([, h]) => h.buckets));
  const candidates = [
    ...new Set([
      nativeBound(target),
      ...buckets
        .map(([, upper]) => upper)
        .filter(u => Number.isFinite(u) && u >= target * (1 - EPSILON)),
    ]),
  ].sort((a, b) => a - b);
  return candidates.find(
    c => !buckets.some(([lower, upper]) => across(lower, upper, c)),
  );
}

/** A bucket of a series that the bound falls inside: its slow requests cannot be told. @public */
export interface SplitBucket {
  labels: Record<string, string>;
  lower: number;
  upper: number;
}

/**
 * The requests and the requests slower than `bound` of each series, as raw
 * counter series (sample times kept), and the first bucket the bound falls
 * inside, if any (a schema below 0, or a bound that is not a power of two).
 *
 * @public
 */
export function nativeCounters(
  series: PrometheusHistogramSeries[],
  bound: number,
): { requests: RawSeries[]; slow: RawSeries[]; split?: SplitBucket } {
  const splits: SplitBucket[] = [];
  const slowerThan = (
    labels: Record<string, string>,
    buckets: Array<[number, number, number]>,
  ): number => {
    let n = 0;
    for (const [lower, upper, count] of buckets) {
      if (across(lower, upper, bound)) {
        if (count > 0) splits.push({ labels, lower, upper });
      } else if (lower >= bound * (1 - EPSILON)) n += count;
    }
    return n;
  };
  const requests: RawSeries[] = series.map(s => ({
    labels: s.labels,
    points: s.points.map(([t, h]) => [t, h.count]),
  }));
  const slow: RawSeries[] = series.map(s => ({
    labels: s.labels,
    points: s.points.map(([t, h]) => [t, slowerThan(s.labels, h.buckets)]),
  }));
  const split = splits[0];
  return split ? { requests, slow, split } : { requests, slow };
}
