import {
  escapePromQLString,
  escapeRegex,
  findPromQLError,
  isPromQLDuration,
  positionOf,
  PromQLErrorPosition,
} from './promql';
import { readCounterTerms } from './reading/counterTerms';

/**
 * PromQL templates.
 *
 * A template is PromQL with `{{ name }}` placeholders. Where a placeholder
 * sits decides how its value is inserted, so a value can never change the
 * shape of the query:
 *
 * - inside a double- or single-quoted string (a label matcher value such as
 *   `namespace="{{ namespace }}"`): the value is escaped as a PromQL string;
 *   after `=~` / `!~` it is first escaped as a regular expression, so
 *   `pod=~"{{ workload }}-[a-z0-9]+"` matches the deployment name literally;
 * - anywhere else (a range such as `[{{ interval }}]`): only the duration
 *   variables `interval` and `elapsed` may stand there, and their values must
 *   be PromQL durations;
 * - inside a backtick string: never (raw strings cannot be escaped).
 *
 * Every template is checked when it is compiled (at start-up): placeholders
 * well formed and in an allowed position, and the template, rendered with
 * sample values, parses with Prometheus' lezer grammar. Errors carry the
 * line and column in the template. Every rendered query is parsed again.
 */

/** Variables with a meaning of their own; templates may also use extra ones a metric supplies. @public */
export const TEMPLATE_VARIABLES = {
  namespace: 'namespace of the workloads',
  service: 'Kubernetes service name',
  route: 'routing object (VirtualService, Ingress, HTTPRoute) name',
  canary: 'canary deployment name',
  stable: 'stable deployment name',
  canaryVersion: 'canary version label',
  stableVersion: 'stable version label',
  workload: 'deployment name of the arm being queried',
  version: 'version label of the arm being queried',
  arm: '"canary" or "stable"',
  armService: 'service that routes to the arm being queried',
  interval: 'analysis window (duration)',
  elapsed: 'time since the rollout (or the test) started (duration)',
} as const;

const DURATION_VARIABLES = new Set(['interval', 'elapsed']);

/** Values to render a template with; extra string variables allowed. @public */
export type TemplateValues = Record<string, string | undefined>;

/** A template that failed to compile, with where. @public */
export class TemplateError extends Error {
  readonly template: string;
  readonly position?: PromQLErrorPosition;
  constructor(
    template: string,
    message: string,
    position?: PromQLErrorPosition,
  ) {
    super(
      position
        ? `template "${template}" at line ${position.line}, column ${position.column}: ${message}`
        : `template "${template}": ${message}`,
    );
    this.name = 'TemplateError';
    this.template = template;
    this.position = position;
  }
}

type Segment =
  | { kind: 'text'; text: string; from: number }
  | {
      kind: 'var';
      name: string;
      from: number;
      context: 'string' | 'regex' | 'duration';
      quote?: '"' | "'";
    };

const PLACEHOLDER = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/;

/**
 * One PromQL text with placeholders, compiled: positions checked, parse
 * verified. Use {@link CompiledQuery.render} to fill it in.
 *
 * @public
 */
export class CompiledQuery {
  readonly source: string;
  readonly variables: ReadonlySet<string>;
  /** The query rendered with harmless sample values (as checked at compile time). */
  readonly sample: string;
  readonly #segments: Segment[];

  /** Compiles `source`; throws {@link TemplateError} naming the position of any problem. */
  constructor(name: string, source: string) {
    this.source = source;
    this.#segments = scan(name, source);
    this.variables = new Set(
      this.#segments.flatMap(s => (s.kind === 'var' ? [s.name] : [])),
    );
    // Parse once with harmless sample values and map any error back to the template.
    const sample: TemplateValues = {};
    for (const v of this.variables) {
      sample[v] = DURATION_VARIABLES.has(v) ? '5m' : 'x';
    }
    const { text, offsets } = this.#renderWithMap(sample);
    this.sample = text;
    const errorAt = findPromQLError(text);
    if (errorAt !== undefined) {
      const templateOffset = mapOffset(offsets, errorAt, source.length);
      const near = source
        .slice(templateOffset, templateOffset + 20)
        .replace(/\s+/g, ' ');
      throw new TemplateError(
        name,
        near
          ? `not valid PromQL (near "${near}")`
          : 'not valid PromQL (unexpected end of the query)',
        positionOf(source, templateOffset),
      );
    }
  }

  /** Fills in the placeholders; throws when a value is missing or a duration is not one. */
  render(values: TemplateValues): string {
    const { text } = this.#renderWithMap(values);
    const errorAt = findPromQLError(text);
    if (errorAt !== undefined) {
      // Cannot happen with escaped values; kept as a last line of defence.
      throw new Error(`rendered query does not parse at offset ${errorAt}`);
    }
    return text;
  }

  #renderWithMap(values: TemplateValues): {
    text: string;
    offsets: Array<{ rendered: number; template: number }>;
  } {
    let text = '';
    const offsets: Array<{ rendered: number; template: number }> = [];
    for (const segment of this.#segments) {
      offsets.push({ rendered: text.length, template: segment.from });
      if (segment.kind === 'text') {
        text += segment.text;
        continue;
      }
      const value = values[segment.name];
      if (value === undefined) {
        throw new Error(`no value for template variable "${segment.name}"`);
      }
      if (segment.context === 'duration') {
        if (!isPromQLDuration(value)) {
          throw new Error(
            `variable "${segment.name}" must be a PromQL duration such as 1m, got "${value}"`,
          );
        }
        text += value;
      } else {
        const literal =
          segment.context === 'regex' ? escapeRegex(value) : value;
        text += escapePromQLString(literal, segment.quote);
      }
    }
    return { text, offsets };
  }
}

function mapOffset(
  offsets: Array<{ rendered: number; template: number }>,
  renderedOffset: number,
  templateLength: number,
): number {
  let best = { rendered: 0, template: 0 };
  for (const o of offsets) {
    if (o.rendered <= renderedOffset) best = o;
  }
  return Math.min(
    best.template + (renderedOffset - best.rendered),
    templateLength,
  );
}

/** Splits a template into text and placeholders, deciding each placeholder's context. */
function scan(name: string, source: string): Segment[] {
  const segments: Segment[] = [];
  let quote: '"' | "'" | '`' | undefined;
  let quoteIsRegex = false;
  let textStart = 0;
  let i = 0;
  const fail = (offset: number, message: string): never => {
    throw new TemplateError(name, message, positionOf(source, offset));
  };
  const flushText = (end: number) => {
    if (end > textStart) {
      segments.push({
        kind: 'text',
        text: source.slice(textStart, end),
        from: textStart,
      });
    }
  };

  while (i < source.length) {
    const ch = source[i];
    if (quote && quote !== '`' && ch === '\\') {
      i += 2;
      continue;
    }
    if (source.startsWith('{{', i)) {
      const match = PLACEHOLDER.exec(source.slice(i));
      if (!match) {
        fail(i, 'a placeholder is written {{ name }} with a letter-first name');
      }
      const varName = match![1];
      let context: 'string' | 'regex' | 'duration';
      if (quote === '`') {
        return fail(
          i,
          `placeholder {{ ${varName} }} inside a backtick string cannot be escaped; use double quotes`,
        );
      } else if (quote) {
        context = quoteIsRegex ? 'regex' : 'string';
      } else if (DURATION_VARIABLES.has(varName)) {
        context = 'duration';
      } else {
        return fail(
          i,
          `placeholder {{ ${varName} }} must sit inside a quoted label value (e.g. label="{{ ${varName} }}"); only {{ interval }} and {{ elapsed }} may stand outside quotes`,
        );
      }
      flushText(i);
      segments.push({
        kind: 'var',
        name: varName,
        from: i,
        context,
        quote: quote === '"' || quote === "'" ? quote : undefined,
      });
      i += match![0].length;
      textStart = i;
      continue;
    }
    if (source.startsWith('}}', i) && !quote) {
      fail(i, 'stray "}}" without an opening "{{"');
    }
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      quoteIsRegex = /[=!]~\s*$/.test(source.slice(0, i));
    } else if (ch === '#') {
      // A comment would swallow the rest of the line, placeholders included.
      const end = source.indexOf('\n', i);
      i = end === -1 ? source.length : end;
      continue;
    }
    i++;
  }
  if (quote) {
    fail(source.length, `unterminated ${quote} string`);
  }
  flushText(source.length);
  return segments;
}

/** What a template measures. @public */
export type TemplateKind =
  /** A number per arm over `{{ interval }}` (a rate, a percentage, a quantile). */
  | 'value'
  /** A cumulative count per arm since `{{ elapsed }}` ago (for the sequential test). */
  | 'count';

/** A metric template as written in config or built in. @public */
export interface MetricTemplateSpec {
  /** One query for both arms, using `{{ workload }}`, `{{ version }}`, `{{ arm }}`… */
  query?: string;
  /** Or a query per arm. */
  canary?: string;
  stable?: string;
  kind?: TemplateKind;
  /** `%`, `ms`, `s`, `count`, `1/s`… shown in the UI. */
  unit?: string;
  description?: string;
}

/** A template ready to render for either arm. @public */
export class MetricTemplate {
  readonly name: string;
  readonly kind: TemplateKind;
  readonly unit?: string;
  readonly description?: string;
  readonly #canary: CompiledQuery;
  readonly #stable: CompiledQuery;

  constructor(name: string, spec: MetricTemplateSpec) {
    this.name = name;
    this.kind = spec.kind ?? 'value';
    this.unit = spec.unit;
    this.description = spec.description;
    const canary = spec.canary ?? spec.query;
    const stable = spec.stable ?? spec.query;
    if (!canary || !stable) {
      throw new TemplateError(
        name,
        'needs `query`, or both `canary` and `stable`',
      );
    }
    this.#canary = new CompiledQuery(
      `${name}${spec.query ? '' : '.canary'}`,
      canary,
    );
    this.#stable =
      stable === canary
        ? this.#canary
        : new CompiledQuery(`${name}.stable`, stable);
  }

  /** Variables outside {@link TEMPLATE_VARIABLES} that a metric must supply. */
  get extraVariables(): string[] {
    const all = new Set([...this.#canary.variables, ...this.#stable.variables]);
    return [...all].filter(v => !(v in TEMPLATE_VARIABLES));
  }

  /**
   * For a count template: why the analysis reads it as written, through
   * increase()'s extrapolation over windows that tile time (less evidence
   * per request, and lumpy), instead of its counters' raw samples — which
   * it reads for sums of `sum(increase(selector[…]))`, see
   * reading/counterTerms.ts. Undefined when it reads raw samples.
   */
  get readAsWrittenBecause(): string | undefined {
    for (const [arm, query] of [
      ['canary', this.#canary],
      ['stable', this.#stable],
    ] as const) {
      const read = readCounterTerms(query.sample);
      if ('why' in read)
        return this.#canary === this.#stable
          ? read.why
          : `its ${arm} query: ${read.why}`;
    }
    return undefined;
  }

  /** The query for one arm. */
  render(arm: 'canary' | 'stable', values: TemplateValues): string {
    return (arm === 'canary' ? this.#canary : this.#stable).render(values);
  }
}

/** The facts a template is rendered from. @public */
export interface TemplateTarget {
  namespace: string;
  service: string;
  route?: string;
  canary: { name: string; version?: string; service?: string };
  stable: { name: string; version?: string; service?: string };
}

/**
 * The values for one arm: arm-specific `workload`, `version`, `armService`
 * plus the shared ones and a metric's extra variables (which cannot override
 * the built-in ones).
 *
 * @public
 */
export function templateValues(
  target: TemplateTarget,
  arm: 'canary' | 'stable',
  durations: { interval: string; elapsed?: string },
  extra?: Record<string, string>,
): TemplateValues {
  const side = arm === 'canary' ? target.canary : target.stable;
  return {
    ...extra,
    namespace: target.namespace,
    service: target.service,
    route: target.route ?? target.service,
    canary: target.canary.name,
    stable: target.stable.name,
    canaryVersion: target.canary.version ?? '',
    stableVersion: target.stable.version ?? '',
    workload: side.name,
    version: side.version ?? '',
    arm,
    armService:
      side.service ??
      (arm === 'canary' ? `${target.service}-canary` : target.service),
    interval: durations.interval,
    elapsed: durations.elapsed ?? durations.interval,
  };
}
