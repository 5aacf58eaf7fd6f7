import { RawCounter, seriesSource } from './CounterReader';
import { forEachVectorSelector, selectorShape } from './counterTerms';

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

/** The `le` a selector matches on exactly, if any. @public */
export function leOfSelector(selector: string): string | undefined {
  return selectorShape(selector)?.equals.le;
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

/**
 * Whether two `le` values are the same bound. Bounds are numbers written as
 * label text, and one number has several spellings: a Go client exports
 * `1`, a Python or Java client `1.0`, Prometheus 2 stored what the scrape
 * protocol carried (text `1`, protobuf `1.0`), and Prometheus 3 normalizes
 * every classic bucket to `1.0`. Compared as text, the same bound would be
 * missing from one version (or from every series, with a bound written
 * `500` in the policy).
 *
 * @public
 */
export function sameBound(a: string, b: string): boolean {
  if (a === b) return true;
  // Number('') is 0: an empty label is no bound.
  if (a.trim() === '' || b.trim() === '') return false;
  const x = Number(a);
  return !Number.isNaN(x) && x === Number(b);
}

/** How `bounds` spell the bound `le`, if they have it. @public */
export function spellingOf(le: string, bounds: string[]): string | undefined {
  return bounds.find(b => sameBound(b, le));
}

/**
 * Every label among `labels` that writes the bound `le` (one per spelling):
 * one other than `le` itself when all of an arm's pods write it another way,
 * several when they disagree.
 *
 * @public
 */
export function spellingsOf(le: string, labels: string[]): string[] {
  return [...new Set(labels.filter(l => sameBound(l, le)))];
}

/** Finite bucket bounds in ascending order, one per number (the label values as exported). @public */
export function finiteBounds(les: Array<string | undefined>): string[] {
  const bounds: string[] = [];
  for (const v of les)
    if (
      v !== undefined &&
      v.trim() !== '' &&
      Number.isFinite(Number(v)) &&
      spellingOf(v, bounds) === undefined
    )
      bounds.push(v);
  return bounds.sort((a, b) => Number(a) - Number(b));
}

/** The bounds of `a` that `b` has too (compared as numbers, spelled as in `a`). @public */
export function sharedBounds(a: string[], b: string[]): string[] {
  return a.filter(x => spellingOf(x, b) !== undefined);
}

/**
 * `le: auto`'s bound: the smallest bound at or above the stable's p99 that
 * both versions export (the canary's bounds are unknown until its histogram
 * has a series, then every stable bound is a candidate); failing that, the
 * largest shared bound below the p99 — a test of a lower quantile is still a
 * valid comparison. Both inputs come from layouts and from data before the
 * rollout, never from the canary's latencies, so the test stays valid.
 * Spelled as the stable exports it.
 *
 * @public
 */
export function chooseBound(
  p99: number,
  stable: string[],
  canary: string[] | undefined,
): string | undefined {
  const shared = canary ? sharedBounds(stable, canary) : [...stable];
  return shared.find(b => Number(b) >= p99 - 1e-9) ?? shared[shared.length - 1];
}

const CLASSIC_SUFFIX = /_(bucket|count|sum)$/;

/**
 * The histograms a query reads through classic series (`x_bucket`,
 * `x_count`, `x_sum`), as selectors of the metric's own name with the same
 * matchers less `le` — where Prometheus stores the histogram when it keeps
 * it as a native histogram only. Deduplicated; empty for a query that reads
 * no such series or does not parse.
 *
 * @public
 */
export function classicHistogramBases(query: string): string[] {
  const out = new Set<string>();
  const parsed = forEachVectorSelector(query, node => {
    const name = node.getChild('Identifier');
    const metric = name ? query.slice(name.from, name.to) : '';
    if (!CLASSIC_SUFFIX.test(metric)) return;
    const matchers: string[] = [];
    const list = node.getChild('LabelMatchers');
    for (let m = list?.firstChild; m; m = m.nextSibling) {
      if (
        m.name !== 'UnquotedLabelMatcher' &&
        m.name !== 'QuotedLabelMatcher' &&
        m.name !== 'LabelMatcher'
      )
        continue;
      const label = m.getChild('LabelName') ?? m.getChild('QuotedLabelName');
      const text = label ? query.slice(label.from, label.to) : '';
      if (text === 'le' || text === '"le"') continue;
      matchers.push(query.slice(m.from, m.to));
    }
    out.add(`${metric.replace(CLASSIC_SUFFIX, '')}{${matchers.join(',')}}`);
  });
  if (!parsed) return [];
  // A selector without matchers would read every series of the metric.
  return [...out].filter(s => !s.endsWith('{}'));
}
