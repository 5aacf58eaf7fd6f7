import { RawCounter, seriesSource } from './CounterReader';

/**
 * Histogram bucket bounds of the two versions.
 *
 * The latency count test reads "requests slower than `le`" as
 * `_count − _bucket{le}`. A new version may ship its histogram with other
 * buckets; its `_bucket{le="250"}` then matches nothing, and read as zero
 * every canary request would look slow — a healthy canary rolled back at
 * once. These helpers find that case (a pod with a `_count` series and no
 * bucket at the bound) and choose a bound both versions have.
 */

const LE_MATCHER = /(?:^|[{,\s])le\s*=\s*"((?:[^"\\]|\\.)*)"/;

/** The `le` a selector matches on exactly, if any. @public */
export function leOfSelector(selector: string): string | undefined {
  return LE_MATCHER.exec(selector)?.[1];
}

/**
 * The pods of one arm whose histogram has no bucket at the bound the count
 * subtracts: they have a series in a term without `le` (the `_count`) seen
 * at two scrapes or more — so the bucket read, made within milliseconds of
 * it, would have seen its bucket too — and no series in the `le` term.
 * Undefined when the counter has no `le` term or every pod has its bucket.
 *
 * @public
 */
export function missingBucketBound(
  counter: RawCounter,
  selectors: string[],
): { le: string; pods: string[] } | undefined {
  const leTerms = selectors
    .map((s, i) => ({ le: leOfSelector(s), i }))
    .filter((x): x is { le: string; i: number } => x.le !== undefined);
  if (leTerms.length === 0) return undefined;
  const withBucket = new Set<string>();
  for (const { i } of leTerms)
    for (const series of counter[i]?.series ?? [])
      withBucket.add(seriesSource(series.labels));
  const pods = new Set<string>();
  counter.forEach((term, i) => {
    if (leTerms.some(x => x.i === i)) return;
    for (const series of term.series) {
      const source = seriesSource(series.labels);
      if (series.points.length >= 2 && !withBucket.has(source))
        pods.add(source);
    }
  });
  if (pods.size === 0) return undefined;
  return { le: leTerms[0].le, pods: [...pods].sort() };
}

/** Finite bucket bounds in ascending order (the label values as exported). @public */
export function finiteBounds(les: Array<string | undefined>): string[] {
  return [...new Set(les)]
    .filter((v): v is string => v !== undefined && Number.isFinite(Number(v)))
    .sort((a, b) => Number(a) - Number(b));
}

/**
 * `le: auto`'s bound: the smallest bound at or above the stable's p99 that
 * both versions export (the canary's bounds are unknown until its histogram
 * has a series, then every stable bound is a candidate); failing that, the
 * largest shared bound below the p99 — a test of a lower quantile is still a
 * valid comparison. Both inputs come from layouts and from data before the
 * rollout, never from the canary's latencies, so the test stays valid.
 *
 * @public
 */
export function chooseBound(
  p99: number,
  stable: string[],
  canary: string[] | undefined,
): string | undefined {
  const shared = canary ? stable.filter(b => canary.includes(b)) : [...stable];
  return shared.find(b => Number(b) >= p99 - 1e-9) ?? shared[shared.length - 1];
}
