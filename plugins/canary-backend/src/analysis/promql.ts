import { parser } from '@prometheus-io/lezer-promql';
import { parseDurationMs } from '../domain/duration';

/** Where a PromQL syntax error sits: 0-based offset, 1-based line and column. @public */
export interface PromQLErrorPosition {
  offset: number;
  line: number;
  column: number;
}

/** A query lezer-promql could not parse, with where it stopped making sense. @public */
export class PromQLSyntaxError extends Error {
  readonly position: PromQLErrorPosition;
  readonly query: string;
  constructor(query: string, position: PromQLErrorPosition, what = 'query') {
    super(
      `invalid PromQL ${what} at line ${position.line}, column ${
        position.column
      } (offset ${position.offset}): ${describeAround(query, position.offset)}`,
    );
    this.name = 'PromQLSyntaxError';
    this.query = query;
    this.position = position;
  }
}

function describeAround(query: string, offset: number): string {
  if (offset >= query.length) {
    return 'unexpected end of query';
  }
  const snippet = query.slice(offset, offset + 20).replace(/\s+/g, ' ');
  return `unexpected input near "${snippet}"`;
}

/** Turns an offset into a 1-based line and column. @internal */
export function positionOf(text: string, offset: number): PromQLErrorPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

/**
 * Queries that parsed cleanly, so the same rendered query (a rollout's
 * analysis renders the same text every interval) is parsed once; cleared
 * when it grows past {@link PARSED_CLEAN_MAX}.
 */
const parsedClean = new Set<string>();
const PARSED_CLEAN_MAX = 20_000;

/**
 * Parses PromQL with Prometheus' own lezer grammar and returns the offset of
 * the first error node, or undefined when the query parses cleanly.
 *
 * @internal
 */
export function findPromQLError(query: string): number | undefined {
  if (parsedClean.has(query)) return undefined;
  const errorAt = parseForError(query);
  if (errorAt === undefined) {
    if (parsedClean.size >= PARSED_CLEAN_MAX) parsedClean.clear();
    parsedClean.add(query);
  }
  return errorAt;
}

function parseForError(query: string): number | undefined {
  if (query.trim() === '') {
    return 0;
  }
  const tree = parser.parse(query);
  let errorAt: number | undefined;
  tree.iterate({
    enter(node) {
      if (errorAt !== undefined) {
        return false;
      }
      if (node.type.isError) {
        errorAt = node.from;
        return false;
      }
      return undefined;
    },
  });
  return errorAt;
}

/** Throws {@link PromQLSyntaxError} when the query does not parse. @public */
export function assertValidPromQL(query: string): void {
  const errorAt = findPromQLError(query);
  if (errorAt !== undefined) {
    throw new PromQLSyntaxError(query, positionOf(query, errorAt));
  }
}

/**
 * Escapes a value for use inside a quoted PromQL string literal.
 * PromQL strings follow Go's quoting rules, so backslash, quote and control
 * characters get escape sequences; everything else passes through.
 *
 * @public
 */
export function escapePromQLString(
  value: string,
  quote: '"' | "'" = '"',
): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f)
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out;
}

/**
 * Escapes a value so that a RE2 regular expression (PromQL `=~` / `!~`)
 * matches it literally. The result still needs {@link escapePromQLString}.
 *
 * @public
 */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, ch => `\\${ch}`);
}

const DURATION_PATTERN = /^(?:\d+(?:ms|[smhdwy]))+$/;

/** True for a PromQL duration such as `30s`, `1m`, `1h30m`. @public */
export function isPromQLDuration(value: string): boolean {
  return DURATION_PATTERN.test(value) && promQLDurationMs(value) > 0;
}

/**
 * Milliseconds in a PromQL duration (`1h30m` → 5400000): whole amounts of
 * ms, s, m, h, d, w, y, read by the one duration parser (domain/duration).
 * Throws on anything that is not one.
 *
 * @public
 */
export function promQLDurationMs(value: string): number {
  const ms = DURATION_PATTERN.test(value) ? parseDurationMs(value) : undefined;
  if (ms === undefined) {
    throw new Error(`"${value}" is not a PromQL duration such as 30s, 5m, 1h`);
  }
  return ms;
}

/** Formats milliseconds as a PromQL duration in whole seconds (at least 1s). @public */
export function formatDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}
