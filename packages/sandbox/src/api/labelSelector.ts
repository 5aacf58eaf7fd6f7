/**
 * Label selectors as the API server parses them in `?labelSelector=`:
 * equality (`a=b`, `a==b`, `a!=b`), set-based (`a in (x,y)`, `a notin (x)`),
 * existence (`a`, `!a`), joined by commas.
 */
export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!' };

export type Labels = Record<string, string> | undefined;

export class SelectorParseError extends Error {}

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function validateKey(key: string): void {
  const parts = key.split('/');
  const name = parts.length === 2 ? parts[1] : parts[0];
  if (
    parts.length > 2 ||
    (parts.length === 2 &&
      (!DNS_SUBDOMAIN.test(parts[0]) || parts[0].length > 253))
  ) {
    throw new SelectorParseError(
      `unable to parse requirement: invalid label key "${key}": prefix part must be a DNS subdomain`,
    );
  }
  if (!NAME_PART.test(name) || name.length > 63) {
    throw new SelectorParseError(
      `unable to parse requirement: invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

function validateValue(value: string): void {
  if (value !== '' && (!NAME_PART.test(value) || value.length > 63)) {
    throw new SelectorParseError(
      `unable to parse requirement: invalid label value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    );
  }
}

type Token =
  | { t: 'id'; v: string }
  | { t: 'op'; v: string }
  | { t: '(' | ')' | ',' | '!' };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(' || c === ')' || c === ',') {
      tokens.push({ t: c });
      i++;
    } else if (c === '!' && input[i + 1] === '=') {
      tokens.push({ t: 'op', v: '!=' });
      i += 2;
    } else if (c === '!') {
      tokens.push({ t: '!' });
      i++;
    } else if (c === '=' && input[i + 1] === '=') {
      tokens.push({ t: 'op', v: '==' });
      i += 2;
    } else if (c === '=') {
      tokens.push({ t: 'op', v: '=' });
      i++;
    } else if (c === '<' || c === '>') {
      tokens.push({ t: 'op', v: c });
      i++;
    } else {
      let j = i;
      while (j < input.length && !' \t(),!=<>'.includes(input[j])) j++;
      tokens.push({ t: 'id', v: input.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

function describe(tok: Token | undefined): string {
  if (!tok) return "''";
  if (tok.t === 'id' || tok.t === 'op') return `'${tok.v}'`;
  return `'${tok.t}'`;
}

/** Parse a selector string; throws SelectorParseError like the server's 400. */
export function parseLabelSelector(input: string): Requirement[] {
  const tokens = tokenize(input);
  const reqs: Requirement[] = [];
  let pos = 0;
  const peek = () => tokens[pos];
  const next = () => tokens[pos++];
  const fail = (expected: string): never => {
    throw new SelectorParseError(
      `unable to parse requirement: found ${describe(
        peek(),
      )}, expected: ${expected}`,
    );
  };
  if (tokens.length === 0) return reqs;
  for (;;) {
    let tok = next();
    if (tok?.t === '!') {
      const key = next();
      if (key?.t !== 'id') {
        pos--;
        fail("identifier after '!'");
      }
      validateKey((key as { v: string }).v);
      reqs.push({ key: (key as { v: string }).v, op: '!' });
    } else if (tok?.t === 'id') {
      const key = tok.v;
      validateKey(key);
      const op = peek();
      if (!op || op.t === ',') {
        reqs.push({ key, op: 'exists' });
      } else if (op.t === 'op') {
        next();
        if (op.v === '<' || op.v === '>') {
          throw new SelectorParseError(
            `unable to parse requirement: operator '${op.v}' is not supported in label selectors`,
          );
        }
        const valueTok = peek();
        let value = '';
        if (valueTok?.t === 'id') {
          value = valueTok.v;
          next();
        } else if (valueTok && valueTok.t !== ',') {
          fail('identifier');
        }
        validateValue(value);
        reqs.push({
          key,
          op: op.v === '!=' ? 'notin' : 'in',
          values: [value],
        });
      } else if (op.t === 'id' && (op.v === 'in' || op.v === 'notin')) {
        next();
        if (next()?.t !== '(') {
          pos--;
          fail("'('");
        }
        const values: string[] = [];
        for (;;) {
          tok = next();
          if (tok?.t === 'id') {
            validateValue(tok.v);
            values.push(tok.v);
            tok = next();
          } else {
            values.push('');
          }
          if (tok?.t === ')') break;
          if (tok?.t !== ',') {
            pos--;
            fail("',' or ')'");
          }
        }
        reqs.push({ key, op: op.v, values });
      } else {
        fail("'=', '!=', '==', 'in', 'notin'");
      }
    } else {
      pos--;
      fail('identifier');
    }
    if (pos >= tokens.length) break;
    if (next()?.t !== ',') {
      pos--;
      fail("','");
    }
  }
  return reqs;
}

export function matchesRequirements(
  reqs: Requirement[],
  labels: Labels,
): boolean {
  const l = labels ?? {};
  return reqs.every(r => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key]);
      case 'notin':
        return !has || !r.values.includes(l[r.key]);
      default:
        return false;
    }
  });
}

/** A `metav1.LabelSelector` (matchLabels + matchExpressions) as found in specs. */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{
    key: string;
    operator: string;
    values?: string[];
  }>;
}

export function matchesSelectorObject(
  selector: LabelSelectorObject | undefined,
  labels: Labels,
): boolean {
  if (!selector) return false;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key);
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(l[e.key])))
      return false;
    if (e.operator === 'NotIn' && has && values.includes(l[e.key]))
      return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** `app=x,version=v1`: how Scale.status.selector renders a selector. */
export function selectorObjectToString(
  selector: LabelSelectorObject | undefined,
): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {}))
    parts.push(`${k}=${v}`);
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    if (e.operator === 'Exists') parts.push(e.key);
    if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

/** Service selectors are plain maps; an empty one selects nothing here. */
export function matchesMap(
  selector: Record<string, string> | undefined,
  labels: Labels,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  const l = labels ?? {};
  return Object.entries(selector).every(([k, v]) => l[k] === v);
}
