import { z } from 'zod';
import { parseDurationMs } from '../domain/duration';

/** Every key `coalmine.io/overrides` understands. */
export const OVERRIDE_KEYS = [
  'steps',
  'stepWeight',
  'maxWeight',
  'interval',
  'progressDeadline',
  'autoStart',
  'stickyHeader',
  'maxCanaryRestarts',
  'retireStable',
  'onManualWeightChange',
] as const;

/** One key of `coalmine.io/overrides`. */
export type OverrideKey = (typeof OVERRIDE_KEYS)[number];

/**
 * What the platform lets owners change with `coalmine.io/overrides`, and how
 * far. The defaults are safe: a schedule keeps a step below 100 %, restart
 * and deadline limits are never looser than the policy's, and a policy with
 * approval gates keeps its schedule.
 */
export interface OverrideRules {
  /** Keys owners may set; any other key is refused with a problem. */
  allowedKeys: OverrideKey[];
  /** Shortest and longest analysis interval an owner may set (ms). */
  interval: { minMs: number; maxMs: number };
  /** Longest progress deadline (ms); default: the policy's own. */
  progressDeadline: { maxMs?: number };
  /** Most canary restarts tolerated; default: the policy's own. */
  maxCanaryRestarts: { max?: number };
  /** Largest first step (percent); default 50. */
  steps: { maxFirstWeight: number };
}

const durationMs = z
  .union([z.number(), z.string()])
  .refine(v => parseDurationMs(v) !== undefined, {
    message: 'must be a duration such as 30s or 5m',
  })
  .transform(v => parseDurationMs(v)!);

/** The zod schema of `canary.overrides`. */
export const overrideRulesSchema = z
  .object({
    allowedKeys: z.array(z.enum(OVERRIDE_KEYS)).optional(),
    bounds: z
      .object({
        interval: z
          .object({ min: durationMs.optional(), max: durationMs.optional() })
          .strict()
          .optional(),
        progressDeadline: z
          .object({ max: durationMs.optional() })
          .strict()
          .optional(),
        maxCanaryRestarts: z
          .object({ max: z.number().int().min(0).optional() })
          .strict()
          .optional(),
        steps: z
          .object({
            maxFirstWeight: z.number().int().min(1).max(99).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Turns `canary.overrides` (validated) into rules with the safe defaults filled in. */
export function toOverrideRules(
  c: z.output<typeof overrideRulesSchema> | undefined,
): OverrideRules {
  return {
    allowedKeys: c?.allowedKeys ?? [...OVERRIDE_KEYS],
    interval: {
      minMs: c?.bounds?.interval?.min ?? 1000,
      maxMs: c?.bounds?.interval?.max ?? 10 * 60_000,
    },
    progressDeadline: { maxMs: c?.bounds?.progressDeadline?.max },
    maxCanaryRestarts: { max: c?.bounds?.maxCanaryRestarts?.max },
    steps: { maxFirstWeight: c?.bounds?.steps?.maxFirstWeight ?? 50 },
  };
}

/** Rules with every default, for callers without config (tests, tools). */
export const DEFAULT_OVERRIDE_RULES: OverrideRules = toOverrideRules(undefined);
