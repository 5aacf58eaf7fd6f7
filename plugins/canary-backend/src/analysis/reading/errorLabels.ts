import { RawCounter } from './CounterReader';
import { selectorShape } from './counterTerms';

/**
 * The labels an error count needs on the request series.
 *
 * An error gate counts `requests{…, code=~"5.."}` against `requests{…}`. A
 * new version that exports its request counter with another status label
 * (`status` instead of `code`) has no series the error selector can match:
 * read as zero errors, a canary failing every other request would pass.
 * These helpers find that case: the arm has request series, and none of
 * them carries a label the error selector requires.
 */

/**
 * The labels an arm's error selectors require that none of its request
 * series carries (request series seen at two scrapes or more), for each
 * error term whose metric is also a request term's. Undefined when every
 * required label is there.
 *
 * @public
 */
export function missingErrorLabels(
  errors: { selectors: string[] },
  requests: { selectors: string[]; raw: RawCounter },
): { metric: string; labels: string[]; matchers: string[] } | undefined {
  for (const errorSelector of errors.selectors) {
    const e = selectorShape(errorSelector);
    if (!e) continue;
    const index = requests.selectors.findIndex(
      r => selectorShape(r)?.metric === e.metric,
    );
    if (index < 0) continue;
    const r = selectorShape(requests.selectors[index])!;
    const extra = e.required.filter(l => !r.required.includes(l));
    if (extra.length === 0) continue;
    const seen = (requests.raw[index]?.series ?? []).filter(
      s => s.points.length >= 2,
    );
    if (seen.length === 0) continue;
    const labels = extra.filter(
      l => !seen.some(s => s.labels[l] !== undefined),
    );
    if (labels.length > 0)
      return {
        metric: e.metric,
        labels,
        matchers: labels.map(l => e.matchers[l]),
      };
  }
  return undefined;
}
