import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

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

/**
 * Splits a count query of the shape the built-in count templates have —
 * `sum(increase(A[…])) - sum(increase(B[…])) + …` — into its counter
 * selectors, using Prometheus' own grammar (lezer-promql), so the analysis can
 * read the raw counter samples instead of the extrapolated `increase()`.
 * Returns undefined for anything else (grouping, `or`, arithmetic on
 * numbers, other functions): such a custom template is read as written.
 *
 * @public
 */
export function counterTerms(query: string): CounterTerm[] | undefined {
  const tree = parser.parse(query);
  let broken = false;
  tree.iterate({
    enter(node) {
      if (node.type.isError) broken = true;
      return !broken;
    },
  });
  if (broken) return undefined;
  const root = tree.topNode;
  const [expr] = children(root);
  if (!expr) return undefined;
  const terms: CounterTerm[] = [];
  const walk = (node: SyntaxNode, sign: 1 | -1): boolean => {
    const kids = children(node);
    switch (node.name) {
      case 'ParenExpr':
        return kids.length === 1 && walk(kids[0], sign);
      case 'BinaryExpr': {
        if (kids.length !== 3) return false;
        const op = kids[1].name;
        if (op !== 'Add' && op !== 'Sub') return false;
        return (
          walk(kids[0], sign) && walk(kids[2], op === 'Sub' ? flip(sign) : sign)
        );
      }
      case 'AggregateExpr': {
        // sum(…) without by/without: the sum over series, which we take ourselves.
        const op = kids.find(k => k.name === 'AggregateOp');
        const body = kids.find(k => k.name === 'FunctionCallBody');
        if (!op || op.firstChild?.name !== 'Sum' || !body) return false;
        if (kids.some(k => k.name === 'AggregateModifier')) return false;
        const inner = children(body);
        return inner.length === 1 && walk(inner[0], sign);
      }
      case 'FunctionCall': {
        const id = kids.find(k => k.name === 'FunctionIdentifier');
        const body = kids.find(k => k.name === 'FunctionCallBody');
        if (!id || id.firstChild?.name !== 'Increase' || !body) return false;
        const inner = children(body);
        if (inner.length !== 1 || inner[0].name !== 'MatrixSelector')
          return false;
        const vector = children(inner[0]).find(
          k => k.name === 'VectorSelector',
        );
        if (!vector) return false;
        if (children(inner[0]).some(k => k.name === 'OffsetExpr')) return false;
        terms.push({ sign, selector: query.slice(vector.from, vector.to) });
        return true;
      }
      default:
        return false;
    }
  };
  return walk(expr, 1) && terms.length > 0 ? terms : undefined;
}
