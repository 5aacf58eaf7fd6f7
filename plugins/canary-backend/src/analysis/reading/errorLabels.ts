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

/** See selectorShape. @public */
export type SelectorShape = Readonly<{
  metric: string;
  required: readonly string[];
  matchers: Readonly<Record<string, string>>;
  equals: Readonly<Record<string, string>>;
}>;

const SHAPES_KEPT = 1000;
const shapes = new Map<string, SelectorShape | undefined>();

/**
 * A vector selector's metric name, the labels it requires to be present
 * (with each one's matcher as written), and the values its `=` matchers
 * ask for.
 *
 * @public
 */
export function selectorShape(selector: string): SelectorShape | undefined {
  if (shapes.has(selector)) return shapes.get(selector);
  const shape = parseShape(selector);
  // A rollout renders the same few selectors at every reading.
  if (shapes.size >= SHAPES_KEPT) shapes.clear();
  shapes.set(selector, shape);
  return shape;
}

function parseShape(selector: string): SelectorShape | undefined {
  const tree = parser.parse(selector);
  let metric: string | undefined;
  const required: string[] = [];
  const matchers: Record<string, string> = {};
  const equals: Record<string, string> = {};
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
        const label = selector.slice(name.from, name.to);
        if (value !== undefined && op === 'EqlSingle') equals[label] = value;
        if (value !== undefined && !matchesEmpty(op, value)) {
          required.push(label);
          matchers[label] = selector.slice(node.from, node.to);
        }
        return false;
      }
      return true;
    },
  });
  if (broken || metric === undefined) return undefined;
  return { metric, required, matchers, equals };
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
