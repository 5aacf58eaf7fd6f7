import { Config } from '@backstage/config';
import { z } from 'zod';
import { METRICS_PROVIDERS, TemplateRegistry } from './builtinTemplates';
import { isPromQLDuration } from './promql';
import { MetricTemplateSpec, TemplateError } from './templates';

const duration = z
  .string({ invalid_type_error: 'expected a duration such as 30s or 1m' })
  .refine(isPromQLDuration, {
    message: 'expected a duration such as 30s, 1m or 1h30m',
  });

const thresholdRangeSchema = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .strict()
  .refine(r => r.min !== undefined || r.max !== undefined, {
    message: 'needs min, max or both',
  })
  .refine(r => r.min === undefined || r.max === undefined || r.min <= r.max, {
    message: 'min is greater than max',
  });

const relativeSchema = z
  .object({
    maxRatio: z.number().positive().optional(),
    maxIncrease: z.number().nonnegative().optional(),
    minRatio: z.number().positive().optional(),
    maxDecrease: z.number().nonnegative().optional(),
    minRequests: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine(
    r =>
      [r.maxRatio, r.maxIncrease, r.minRatio, r.maxDecrease].some(
        v => v !== undefined,
      ),
    { message: 'needs maxRatio, maxIncrease, minRatio or maxDecrease' },
  );

/** One gated metric of a policy. @public */
export const metricGateSchema = z
  .object({
    /** Gate name shown in the UI, e.g. `request-success-rate`. */
    name: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, {
        message: 'use letters, digits, ".", "_" and "-"',
      }),
    /** Template name (built-in or from `canary.templates`); defaults to `name`. */
    template: z.string().min(1).optional(),
    /** Inline PromQL template instead of a named one (same placeholders). */
    query: z.string().min(1).optional(),
    /** Window of value queries (`{{ interval }}`) and how often the gate is evaluated. */
    interval: duration.optional(),
    thresholdRange: thresholdRangeSchema.optional(),
    relative: relativeSchema.optional(),
    /** Inferred: `sequential` if set so, else `relative` or `threshold` from the bounds given. */
    judge: z.enum(['threshold', 'relative', 'sequential']).optional(),
    /** Sequential: template counting bad requests per arm (default `error-count`). */
    errors: z.string().min(1).optional(),
    /** Sequential: template counting all requests per arm (default `request-count`). */
    requests: z.string().min(1).optional(),
    /** Sequential: overrides the analysis-wide alpha / tolerance. */
    alpha: z.number().gt(0).lt(1).optional(),
    tolerance: z.number().nonnegative().optional(),
    minRequests: z.number().int().nonnegative().optional(),
    /** Sequential: canary requests needed at each weight before the gate passes there (overrides the analysis-wide value). */
    minStepRequests: z.number().int().nonnegative().optional(),
    /** Record and show this gate's verdicts without acting on them (to try a new metric safely). */
    dryRun: z.boolean().optional(),
    /** Extra template variables, e.g. `le: "500"` for `slow-request-count`. */
    variables: z.record(z.string()).optional(),
    /** A failure rolls back at once (default: true for sequential gates). */
    hardStop: z.boolean().optional(),
    unit: z.string().optional(),
  })
  .strict();

/** @public */
export type MetricGateConfig = z.infer<typeof metricGateSchema>;

const inconclusiveSchema = z.union([
  z.enum(['hold', 'count', 'fail']),
  z
    .object({
      policy: z.enum(['hold', 'count', 'fail']),
      /** For `fail`: consecutive inconclusive ticks before rolling back. */
      after: z.number().int().positive().optional(),
    })
    .strict(),
]);

const podHealthSchema = z.union([
  z.literal(false),
  z
    .object({
      maxRestarts: z.number().int().nonnegative().optional(),
      fatalReasons: z.array(z.string()).optional(),
    })
    .strict(),
]);

/**
 * The `analysis:` block of a policy.
 *
 * @public
 */
export const analysisConfigSchema = z
  .object({
    /** How often the engine runs an analysis tick. */
    interval: duration.default('10s'),
    /** Where request metrics come from; the engine may default it from the traffic provider. */
    provider: z.enum(METRICS_PROVIDERS as [string, ...string[]]).optional(),
    /** Failed ticks that roll back (Flagger's `threshold`). */
    failureLimit: z.number().int().positive().default(3),
    /** Count failed ticks in total (Flagger) or only consecutive ones. */
    failureMode: z.enum(['total', 'consecutive']).default('total'),
    /** What a tick without a verdict does (no data, Prometheus down). */
    inconclusive: inconclusiveSchema.default('hold'),
    /** Bound on the chance that the sequential gates together roll back a healthy canary (split evenly among gates without their own alpha). */
    alpha: z.number().gt(0).lt(1).default(0.01),
    /** Sequential gates: relative worsening tolerated (0.1 = 10 % more errors). Default 0. */
    tolerance: z.number().nonnegative().default(0),
    /** Sequential gates: canary requests needed at each weight, read after the weight applied, before a step may pass (fresh evidence per step). */
    minStepRequests: z.number().int().nonnegative().default(20),
    /** Compare the canary's observed share of requests with its weight; a mismatch beyond chance holds the rollout. false turns it off. */
    trafficSplit: z
      .union([
        z.literal(false),
        z
          .object({
            /** Tolerated factor on the odds of the canary share (default 1.5). */
            oddsFactor: z.number().gt(1).optional(),
            /** Standard errors beyond the tolerated band that make a mismatch (default 5). */
            z: z.number().positive().optional(),
            /** Requests at the weight before the split is judged (default 100). */
            minRequests: z.number().int().positive().optional(),
          })
          .strict(),
      ])
      .default({}),
    /** Opt-in early advance: a step may end before its pause once the evidence at its weight shows the canary no worse than (1 + margin) × stable (anytime-valid, at `alpha`). */
    earlyAdvance: z
      .union([
        z.literal(false),
        z
          .object({
            margin: z.number().nonnegative().default(0.5),
            alpha: z.number().gt(0).lt(1).optional(),
          })
          .strict(),
      ])
      .default(false),
    /** Pod health hard stop, or false to turn it off. */
    podHealth: podHealthSchema.default({}),
    metrics: z.array(metricGateSchema).optional(),
  })
  .strict();

/** The parsed `analysis:` block, defaults applied. @public */
export type AnalysisConfig = z.infer<typeof analysisConfigSchema>;

/** The gates a policy gets when it lists no metrics: comparisons with the stable version only. @public */
export const DEFAULT_METRIC_GATES: MetricGateConfig[] = [
  // More 5xx than stable, by the anytime-valid test, every tick. Hard stop.
  { name: 'error-rate', judge: 'sequential' },
  // More requests slower than the stable's p99 bucket than stable has: the
  // same test on latency. (A p99 ratio gate is available as `relative`, but
  // a p99 from a minute of canary traffic is too noisy to be a default: see
  // bench/README.md.)
  {
    name: 'latency',
    judge: 'sequential',
    errors: 'slow-request-count',
    requests: 'latency-request-count',
    variables: { le: 'auto' },
  },
];

/** Custom templates: `canary.templates.<name>`. @public */
export const templatesConfigSchema = z.record(
  z
    .object({
      query: z.string().min(1).optional(),
      canary: z.string().min(1).optional(),
      stable: z.string().min(1).optional(),
      kind: z.enum(['value', 'count']).optional(),
      unit: z.string().optional(),
      description: z.string().optional(),
    })
    .strict()
    .refine(
      t =>
        t.query !== undefined ||
        (t.canary !== undefined && t.stable !== undefined),
      {
        message: 'needs query, or both canary and stable',
      },
    ),
);

/** A config problem, with the key to change. @public */
export class AnalysisConfigError extends Error {
  readonly problems: Array<{ key: string; message: string }>;
  constructor(problems: Array<{ key: string; message: string }>) {
    super(problems.map(p => `${p.key}: ${p.message}`).join('; '));
    this.name = 'AnalysisConfigError';
    this.problems = problems;
  }
}

function keyOf(base: string, path: Array<string | number>): string {
  let key = base;
  for (const part of path) {
    if (typeof part === 'number') key += `[${part}]`;
    else key += key ? `.${part}` : part;
  }
  return key;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function describeIssue(issue: z.ZodIssue): string {
  if (issue.code === 'invalid_type') {
    if (issue.received === 'undefined') return 'is required';
    return `expected ${article(issue.expected)}, got ${issue.received}`;
  }
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(
      ', ',
    )}`;
  }
  return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
}

/** Turns zod issues into problems whose key is the full config path. @public */
export function zodProblems(
  error: z.ZodError,
  base: string,
): Array<{ key: string; message: string }> {
  return error.issues.map(issue => ({
    key: keyOf(base, issue.path),
    message: describeIssue(issue),
  }));
}

/**
 * Validates an `analysis:` block at start-up: shape (zod), then meaning —
 * templates exist, sequential gates use count templates, value gates have a
 * bound, template variables are supplied. Throws {@link AnalysisConfigError}
 * whose messages name the key, e.g.
 * `canary.policies.default.analysis.metrics[1].thresholdRange.min: expected a number, got string`.
 *
 * @public
 */
export function validateAnalysisConfig(
  raw: unknown,
  options: { key: string; templates: TemplateRegistry },
): AnalysisConfig {
  const parsed = analysisConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new AnalysisConfigError(zodProblems(parsed.error, options.key));
  }
  const config = parsed.data;
  const problems: Array<{ key: string; message: string }> = [];
  const provider = (config.provider ??
    'istio') as (typeof METRICS_PROVIDERS)[number];
  const names = new Set<string>();
  (config.metrics ?? DEFAULT_METRIC_GATES).forEach((gate, index) => {
    const key = `${options.key}.metrics[${index}]`;
    if (names.has(gate.name)) {
      problems.push({
        key: `${key}.name`,
        message: `duplicate gate name "${gate.name}"`,
      });
    }
    names.add(gate.name);
    const judge = gateJudge(gate);
    if (judge === 'sequential') {
      for (const field of ['errors', 'requests'] as const) {
        const name =
          gate[field] ?? (field === 'errors' ? 'error-count' : 'request-count');
        const template = options.templates.find(name, provider);
        if (!template) {
          problems.push({
            key: `${key}.${field}`,
            message: `unknown template "${name}"`,
          });
        } else if (template.kind !== 'count') {
          problems.push({
            key: `${key}.${field}`,
            message: `template "${name}" is not a count template (kind: count)`,
          });
        } else {
          checkVariables(
            template.extraVariables,
            gate,
            `${key}.variables`,
            problems,
          );
        }
      }
      if (gate.thresholdRange || gate.relative) {
        problems.push({
          key,
          message:
            'a sequential gate takes no thresholdRange or relative bound',
        });
      }
      return;
    }
    if (!gate.thresholdRange && !gate.relative) {
      problems.push({
        key,
        message: 'needs thresholdRange, relative or judge: sequential',
      });
    }
    if (judge === 'threshold' && gate.relative) {
      problems.push({
        key: `${key}.judge`,
        message: 'judge threshold with a relative bound',
      });
    }
    if (gate.query) {
      try {
        const template = new TemplateRegistry({
          [gate.name]: { query: gate.query },
        }).get(gate.name, provider);
        checkVariables(
          template.extraVariables,
          gate,
          `${key}.variables`,
          problems,
        );
      } catch (error) {
        problems.push({
          key: `${key}.query`,
          message: (error as Error).message,
        });
      }
    } else {
      const name = gate.template ?? gate.name;
      const template = options.templates.find(name, provider);
      if (!template) {
        problems.push({
          key: `${key}.${gate.template ? 'template' : 'name'}`,
          message: `unknown template "${name}"; built-ins: request-success-rate, request-error-rate, request-duration, pod-restarts…, or define it under canary.templates`,
        });
      } else {
        checkVariables(
          template.extraVariables,
          gate,
          `${key}.variables`,
          problems,
        );
      }
    }
  });
  if (problems.length > 0) {
    throw new AnalysisConfigError(problems);
  }
  return config;
}

function checkVariables(
  needed: string[],
  gate: MetricGateConfig,
  key: string,
  problems: Array<{ key: string; message: string }>,
) {
  for (const variable of needed) {
    if (gate.variables?.[variable] === undefined) {
      problems.push({
        key: `${key}.${variable}`,
        message: `the template needs variable "${variable}"`,
      });
    }
  }
}

/** Which judge a gate uses. @public */
export function gateJudge(
  gate: MetricGateConfig,
): 'threshold' | 'relative' | 'sequential' {
  if (gate.judge) return gate.judge;
  if (gate.relative && !gate.thresholdRange) return 'relative';
  return 'threshold';
}

/**
 * Reads and compiles `canary.templates`; a template that does not parse stops
 * start-up with its key and the line/column of the error.
 *
 * @public
 */
export function readTemplates(
  config: Config,
  key = 'canary.templates',
): TemplateRegistry {
  const raw = config.getOptional('canary.templates');
  return createTemplateRegistry(raw, key);
}

/** Same as {@link readTemplates} for an already extracted object. @public */
export function createTemplateRegistry(
  raw: unknown,
  key = 'canary.templates',
): TemplateRegistry {
  const parsed = templatesConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new AnalysisConfigError(zodProblems(parsed.error, key));
  }
  try {
    return new TemplateRegistry(
      parsed.data as Record<string, MetricTemplateSpec>,
    );
  } catch (error) {
    if (error instanceof TemplateError) {
      const name = error.template.replace(/\.(canary|stable)$/, '');
      const arm = /\.(canary|stable)$/.exec(error.template)?.[1];
      const field = arm ?? 'query';
      throw new AnalysisConfigError([
        { key: `${key}.${name}.${field}`, message: error.message },
      ]);
    }
    throw error;
  }
}
