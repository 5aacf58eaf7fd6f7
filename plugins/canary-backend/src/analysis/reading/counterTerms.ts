import { parser } from '@prometheus-io/lezer-promql';

/** A node of a parsed query. @public */
export type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

/** One counter selector of a count query, added or subtracted. @public */
export interface CounterTerm {
  sign: 1 | -1;
  /** A vector selector, e.g. `istio_requests_total{reporter="destination",…}`. */
  selector: string;
}

function flip(sign: 1 | -1): 1 | -1 {
  return sign === 1 ? -1 : 1;
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

/** `vector(0)`, after an optional empty `on()`: the right side of `A or vector(0)`. */
function orZero(right: SyntaxNode[], query: string): boolean {
  const [modifier, call] = right.length === 2 ? right : [undefined, right[0]];
  if (right.length < 1 || right.length > 2 || call?.name !== 'FunctionCall')
    return false;
  if (
    modifier &&
    (modifier.name !== 'MatchingModifierClause' ||
      query.slice(modifier.from, modifier.to).replace(/\s+/g, '') !== 'on()')
  )
    return false;
  const id = children(call).find(k => k.name === 'FunctionIdentifier');
  const body = children(call).find(k => k.name === 'FunctionCallBody');
  if (id?.firstChild?.name !== 'Vector' || !body) return false;
  const args = children(body);
  return (
    args.length === 1 &&
    Number(query.slice(args[0].from, args[0].to).trim()) === 0
  );
}

/** The labels of a `by (…)` modifier; undefined for `without (…)` or a quoted name. */
function groupedBy(modifier: SyntaxNode, query: string): string[] | undefined {
  const kids = children(modifier);
  if (!kids.some(k => k.name === 'By')) return undefined;
  const labels = kids.find(k => k.name === 'GroupingLabels');
  const names = labels ? children(labels) : [];
  // A quoted (UTF-8) label name is left to Prometheus.
  if (names.some(k => k.name !== 'LabelName')) return undefined;
  return names.map(k => query.slice(k.from, k.to));
}

/**
 * Splits a count query of the shape the built-in count templates have —
 * `sum(increase(A[…])) - sum(increase(B[…])) + …`, each part perhaps
 * `… or vector(0)`, each sum perhaps `by` labels its selectors fix with
 * `=`, only sums added or subtracted — into its counter
 * selectors, using Prometheus' own grammar (lezer-promql), so the analysis can
 * read the raw counter samples instead of the extrapolated `increase()`.
 * Returns undefined for anything else (other grouping, `or` with anything but
 * `vector(0)`, arithmetic on numbers, other functions): such a custom
 * template is read as written.
 *
 * @public
 */
export function counterTerms(query: string): CounterTerm[] | undefined {
  const read = readCounterTerms(query);
  return 'terms' in read ? read.terms : undefined;
}

/**
 * As {@link counterTerms}, or why the query is not such a sum (what the
 * analysis then reads as written): for telling a template's author.
 *
 * @public
 */
export function readCounterTerms(
  query: string,
): { terms: CounterTerm[] } | { why: string } {
  const tree = parser.parse(query);
  let broken = false;
  tree.iterate({
    enter(node) {
      if (node.type.isError) broken = true;
      return !broken;
    },
  });
  if (broken) return { why: 'it does not parse' };
  const root = tree.topNode;
  const [expr] = children(root);
  if (!expr) return { why: 'it is empty' };
  const text = (node: SyntaxNode) => {
    const t = query.slice(node.from, node.to).replace(/\s+/g, ' ');
    return t.length > 40 ? `${t.slice(0, 40)}…` : t;
  };
  const terms: CounterTerm[] = [];
  // Each term's group: the labels its sum is by, with the values its
  // selector fixes ('' for a plain sum). Sums added or subtracted match on
  // their labels, so all must have the same group to count as one sum.
  const groups: string[] = [];
  let plainOr = false;
  // Why the node is not a sum of increase() of counters; undefined if it
  // is. `operand`: the node is added or subtracted, and no sum lies between
  // it and the + or -.
  const walk = (
    node: SyntaxNode,
    sign: 1 | -1,
    operand = false,
  ): string | undefined => {
    const kids = children(node);
    switch (node.name) {
      case 'ParenExpr':
        return kids.length === 1
          ? walk(kids[0], sign, operand)
          : `"${text(node)}" is not a count`;
      case 'BinaryExpr': {
        // `A or vector(0)` (or `or on() vector(0)`): A's count, 0 without
        // series — as the raw reading counts an arm without series.
        if (kids[1]?.name === 'Or' && orZero(kids.slice(2), query)) {
          // Without `on()`, a grouped left side's labels differ from
          // vector(0)'s, and Prometheus returns both.
          plainOr ||= kids.length === 3;
          return walk(kids[0], sign, operand);
        }
        const op = kids[1]?.name;
        if (op === 'Or')
          return '`or` with something other than `vector(0)` or `on() vector(0)`';
        if (op !== 'Add' && op !== 'Sub')
          return `"${text(
            kids[1] ?? node,
          )}" between parts: only sums are added or subtracted`;
        if (kids.length !== 3)
          return 'a matching modifier (`on`, `ignoring`, `group_left`…) on + or -';
        return (
          walk(kids[0], sign, true) ??
          walk(kids[2], op === 'Sub' ? flip(sign) : sign, true)
        );
      }
      case 'AggregateExpr': {
        // sum(…): the sum over series, which we take ourselves. So is
        // `sum by (L, …) (…)` when every selector inside fixes each L with
        // `=` (e.g. by the namespace it selects): it has one group. Any
        // other grouping may have several (a query error as written).
        const op = kids.find(k => k.name === 'AggregateOp');
        const body = kids.find(k => k.name === 'FunctionCallBody');
        if (!op || op.firstChild?.name !== 'Sum' || !body)
          return `${op ? text(op) : 'an aggregation'}(…) instead of sum(…)`;
        const modifier = kids.find(k => k.name === 'AggregateModifier');
        const by = modifier ? groupedBy(modifier, query) : [];
        if (!by) return '`without (…)`, or a quoted label name in `by (…)`';
        const inner = children(body);
        const first = terms.length;
        if (inner.length !== 1) return `"${text(node)}" is not a count`;
        const why = walk(inner[0], sign);
        if (why) return why;
        for (let i = first; i < terms.length; i++) {
          const equals = selectorShape(terms[i].selector)?.equals ?? {};
          const loose = by.find(label => !equals[label]);
          if (loose)
            return `sum by (${by.join(
              ', ',
            )}) of a selector that does not fix ${loose} with "=": it may have several groups`;
          groups[i] = [...by]
            .sort()
            .map(label => `${label}=${JSON.stringify(equals[label])}`)
            .join(',');
        }
        return undefined;
      }
      case 'FunctionCall': {
        const id = kids.find(k => k.name === 'FunctionIdentifier');
        const body = kids.find(k => k.name === 'FunctionCallBody');
        if (!id || id.firstChild?.name !== 'Increase' || !body)
          return `${id ? text(id) : 'a function'}() instead of increase()`;
        const inner = children(body);
        const vector =
          inner.length === 1 && inner[0].name === 'MatrixSelector'
            ? children(inner[0]).find(k => k.name === 'VectorSelector')
            : undefined;
        if (!vector)
          return 'increase() of anything but a range selector (a subquery, offset or @)';
        // Vectors of many series add only where their labels match
        // (`sum(increase(a[1m]) - increase(b[1m]))` drops every series of
        // a without a twin in b), which is not the sum of the parts: only
        // sums are added or subtracted here.
        if (operand)
          return 'vectors added or subtracted before they are summed: Prometheus keeps only the series with a twin on the other side, not the sum of the parts — sum each part, sum(increase(a[…])) - sum(increase(b[…]))';
        terms.push({ sign, selector: query.slice(vector.from, vector.to) });
        return undefined;
      }
      default:
        return `"${text(node)}" is not a sum of increase() of counters`;
    }
  };
  const why = walk(expr, 1);
  if (why) return { why };
  if (terms.length === 0) return { why: 'it reads no counter' };
  const group = groups[0] ?? '';
  for (let i = 0; i < terms.length; i++)
    if ((groups[i] ?? '') !== group)
      return {
        why: 'sums grouped differently added or subtracted: they would not match',
      };
  if (plainOr && group !== '')
    return {
      why: 'a grouped sum `or vector(0)` without `on()`: Prometheus returns both series',
    };
  return { terms };
}

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
 * Calls `visit` with each vector selector node of a query (Prometheus' own
 * grammar); false, after visiting none or some, if the query does not parse.
 *
 * @public
 */
export function forEachVectorSelector(
  query: string,
  visit: (node: SyntaxNode) => void,
): boolean {
  let broken = false;
  parser.parse(query).iterate({
    enter(node) {
      if (node.type.isError) broken = true;
      if (broken) return false;
      if (node.name !== 'VectorSelector') return true;
      visit(node.node);
      return false;
    },
  });
  return !broken;
}

/**
 * Every vector selector in a query (each once, as written, without range or
 * modifiers); none for a query that does not parse. For asking the store
 * how new its samples of a custom template are.
 *
 * @public
 */
export function vectorSelectors(query: string): string[] {
  const found = new Set<string>();
  const parsed = forEachVectorSelector(query, node =>
    found.add(query.slice(node.from, node.to)),
  );
  return parsed ? [...found] : [];
}
