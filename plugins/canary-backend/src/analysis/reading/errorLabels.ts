import { parser } from '@prometheus-io/lezer-promql';
import { RawCounter } from './CounterReader';

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

/** A vector selector's metric name and the labels it requires to be present. @public */
export function selectorShape(
  selector: string,
):
  | { metric: string; required: string[]; matchers: Record<string, string> }
  | undefined {
  const tree = parser.parse(selector);
  let metric: string | undefined;
  const required: string[] = [];
  const matchers: Record<string, string> = {};
  let broken = false;
  tree.iterate({
    enter(node) {
      if (node.type.isError) broken = true;
      if (node.name === 'Identifier' && metric === undefined)
        metric = selector.slice(node.from, node.to);
      if (
        node.name === 'UnquotedLabelMatcher' ||
        node.name === 'LabelMatcher'
      ) {
        const name = node.node.getChild('LabelName');
        const op = node.node.getChild('MatchOp')?.firstChild?.name;
        const literal = node.node.getChild('StringLiteral');
        if (!name || !op || !literal) return false;
        const value = unquote(selector.slice(literal.from, literal.to));
        if (value !== undefined && !matchesEmpty(op, value)) {
          const label = selector.slice(name.from, name.to);
          required.push(label);
          matchers[label] = selector.slice(node.from, node.to);
        }
        return false;
      }
      return true;
    },
  });
  if (broken || metric === undefined) return undefined;
  return { metric, required, matchers };
}

function unquote(literal: string): string | undefined {
  if (literal.startsWith('"')) {
    try {
      return JSON.parse(literal);
    } catch {
      return undefined;
    }
  }
  if (literal.startsWith("'") || literal.startsWith('`'))
    return literal.slice(1, -1);
  return undefined;
}

/** Whether a matcher also selects series without the label (value ""): then it requires nothing. */
function matchesEmpty(op: string, value: string): boolean {
  switch (op) {
    case 'EqlSingle':
      return value === '';
    case 'EqlRegex':
      try {
        return new RegExp(`^(?:${value})$`).test('');
      } catch {
        return true; // Not a JavaScript regular expression: assume nothing.
      }
    default:
      return true; // != and !~ select series without the label too.
  }
}

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
