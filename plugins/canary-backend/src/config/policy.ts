import { z } from 'zod';
import type { RolloutStep } from '@coalmine/backstage-plugin-canary-common';
import type { TrafficProviderName } from '../kubernetes/types';
import { formatDurationMs, parseDurationMs } from '../domain/duration';

/** Where a webhook fires. `rollout` is the per-step gate that may veto. */
export type WebhookType =
  | 'pre-rollout'
  | 'rollout'
  | 'confirm-promotion'
  | 'post-rollout'
  | 'event';

/**
 * What a rollout keeps of a webhook: its name and kind. Where it goes and how
 * it authenticates (URL, headers, secret) stay in the config and are looked
 * up at call time, so they never reach the database.
 */
export interface WebhookRef {
  name: string;
  type: WebhookType;
  /** Extra fields passed through in the payload's `metadata`. */
  metadata?: Record<string, string>;
}

/** A webhook after validation, as configured (with its secrets). */
export interface WebhookSpec extends WebhookRef {
  url: string;
  timeoutMs: number;
  retries: number;
  /** Sent as `Authorization: Bearer <secret>`; never logged. */
  secret?: string;
  headers?: Record<string, string>;
}

/** What to do when someone changed the weight in the cluster by hand. */
export type ManualWeightChangeAction =
  | 'restore'
  | 'adopt'
  | 'pause'
  | 'rollback';

/**
 * A rollout policy after validation. JSON-serialisable: every rollout keeps
 * the snapshot it started with, so a config change never alters a running one.
 */
export interface CanaryPolicy {
  name: string;
  trafficProvider: TrafficProviderName;
  steps: RolloutStep[];
  analysis: {
    /** How often the analysis runs, and the default time spent on a step. */
    intervalMs: number;
    /** The policy's `analysis:` block as written, for the Analyzer. */
    config: Record<string, unknown>;
  };
  /** Canary pods must be available within this time, or the rollout rolls back. */
  progressDeadlineMs: number;
  promotion: { retireStable: 'scale-to-zero' | 'keep' };
  stickyHeader?: { name: string; value: string };
  autoStart: boolean;
  /** Canary container restarts (incl. OOMKills) tolerated before rolling back at once. */
  maxCanaryRestarts: number;
  /** Consecutive cluster errors (5xx, timeouts) tolerated before rolling back. */
  clusterErrorLimit: number;
  onManualWeightChange: ManualWeightChangeAction;
  /**
   * The canary's pod template changed during the rollout: start the
   * analysis again from the first step, or roll back. Default restart.
   */
  onTemplateChange?: 'restart' | 'abort';
  /**
   * Traffic routed by a mesh or gateway (not `replicas`): `weight` scales
   * the canary up before each step to the weight's share of the stable's
   * replicas, rounded up (never below its own), so no canary pod takes
   * more than a stable pod did before the rollout; `fixed` keeps the
   * canary's own replica count. Unset in a rollout started by a version
   * without it: `fixed`.
   */
  canaryScale?: 'weight' | 'fixed';
  /** Longest time a rollout may stay Paused or AwaitingApproval before it rolls back; unset: no limit. */
  maxHoldMs?: number;
  /** Name and kind of the policy's webhooks; see {@link WebhookRef}. */
  webhooks: WebhookRef[];
  /**
   * Images a rollout may run: registry/repository prefixes (`registry.example.com/shop/`)
   * or patterns with `*` (`shop/*:v*`). Empty: any image.
   */
  allowedImages: string[];
}

const duration = (what: string) =>
  z
    .union([z.number(), z.string()])
    .refine(v => parseDurationMs(v) !== undefined, {
      message: `${what} must be a duration such as 30s, 5m or a number of seconds`,
    })
    .transform(v => parseDurationMs(v)!);

const weight = z
  .number({ invalid_type_error: 'weight must be a number from 0 to 100' })
  .int('weight must be a whole percent')
  .min(0, 'weight must be at least 0')
  .max(100, 'weight must be at most 100');

const stepSchema = z.union([
  weight.transform(w => ({ weight: w } as RolloutStep)),
  z
    .object({
      weight,
      pause: duration('pause').optional(),
      approval: z.boolean().optional(),
    })
    .strict()
    .transform(s => {
      const step: RolloutStep = { weight: s.weight };
      if (s.pause !== undefined) step.pauseSeconds = s.pause / 1000;
      if (s.approval) step.approval = true;
      return step;
    }),
]);

const webhookSchema = z
  .object({
    name: z.string().min(1),
    type: z.enum([
      'pre-rollout',
      'rollout',
      'confirm-promotion',
      'post-rollout',
      'event',
    ]),
    url: z.string().url('url must be an absolute http(s) URL'),
    timeout: duration('timeout').optional(),
    retries: z.number().int().min(0).max(10).optional(),
    secret: z.string().optional(),
    headers: z.record(z.string()).optional(),
    metadata: z.record(z.string()).optional(),
  })
  .strict()
  .transform(
    (w): WebhookSpec => ({
      name: w.name,
      type: w.type,
      url: w.url,
      timeoutMs: w.timeout ?? 5000,
      retries: w.retries ?? 2,
      secret: w.secret,
      headers: w.headers,
      metadata: w.metadata,
    }),
  );

const stickyHeaderSchema = z.union([
  z
    .string()
    .regex(
      /^[A-Za-z0-9-]+:.+$/,
      'stickyHeader must look like "x-canary-user: true"',
    )
    .transform(s => {
      const i = s.indexOf(':');
      return { name: s.slice(0, i).trim(), value: s.slice(i + 1).trim() };
    }),
  z.object({ name: z.string().min(1), value: z.string().min(1) }).strict(),
]);

/** The zod schema of one entry under `canary.policies`. */
export const policyConfigSchema = z
  .object({
    trafficProvider: z.enum([
      'istio',
      'replicas',
      'gateway-api',
      'smi',
      'nginx',
    ]),
    steps: z.array(stepSchema).min(1).optional(),
    stepWeight: weight.optional(),
    maxWeight: weight.optional(),
    analysis: z
      .object({ interval: duration('interval').optional() })
      .passthrough()
      .optional(),
    progressDeadline: duration('progressDeadline').optional(),
    promotion: z
      .object({ retireStable: z.enum(['scale-to-zero', 'keep']).optional() })
      .strict()
      .optional(),
    stickyHeader: stickyHeaderSchema.optional(),
    autoStart: z.boolean().optional(),
    maxCanaryRestarts: z.number().int().min(0).optional(),
    clusterErrorLimit: z.number().int().min(1).optional(),
    onManualWeightChange: z
      .enum(['restore', 'adopt', 'pause', 'rollback'])
      .optional(),
    onTemplateChange: z.enum(['restart', 'abort']).optional(),
    canaryScale: z.enum(['weight', 'fixed']).optional(),
    maxHold: duration('maxHold').optional(),
    webhooks: z.array(webhookSchema).optional(),
    allowedImages: z
      .array(
        z
          .string()
          .min(1)
          .regex(/^[^\s]+$/, 'allowedImages entries must not contain spaces'),
      )
      .optional(),
  })
  .strict();

export type PolicyConfig = z.infer<typeof policyConfigSchema>;

/** Default schedule (seed 000): 5 → 25 → 50 → 75 → 100. */
export const DEFAULT_STEPS: RolloutStep[] = [5, 25, 50, 75, 100].map(w => ({
  weight: w,
}));

/** Flagger-style schedule: stepWeight, 2×stepWeight, … up to maxWeight. */
export function stepsFromStepWeight(
  stepWeight: number,
  maxWeight: number,
): RolloutStep[] {
  const steps: RolloutStep[] = [];
  for (let w = stepWeight; w < maxWeight; w += stepWeight) {
    steps.push({ weight: w });
  }
  steps.push({ weight: maxWeight });
  return steps;
}

/** Problems with a schedule, as [path, message] pairs; empty when fine. */
export function checkSteps(steps: RolloutStep[]): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  steps.forEach((step, i) => {
    if (i > 0 && step.weight <= steps[i - 1].weight) {
      problems.push([
        `steps[${i}]`,
        `weights must increase from step to step (${steps[i - 1].weight} then ${
          step.weight
        })`,
      ]);
    }
    if (step.weight === 0) {
      problems.push([
        `steps[${i}]`,
        'a step must send some traffic (weight > 0)',
      ]);
    }
  });
  return problems;
}

/** Builds the validated policy from its config entry (already parsed by zod). */
export function toPolicy(name: string, c: PolicyConfig): CanaryPolicy {
  let steps = c.steps;
  if (!steps) {
    steps =
      c.stepWeight !== undefined
        ? stepsFromStepWeight(c.stepWeight, c.maxWeight ?? 100)
        : DEFAULT_STEPS;
  }
  const { interval, ...analysisRest } = c.analysis ?? {};
  return {
    name,
    trafficProvider: c.trafficProvider,
    steps,
    analysis: {
      intervalMs: interval ?? 30_000,
      config: {
        ...analysisRest,
        ...(interval !== undefined
          ? { interval: formatDurationMs(interval) }
          : {}),
      },
    },
    progressDeadlineMs: c.progressDeadline ?? 600_000,
    promotion: { retireStable: c.promotion?.retireStable ?? 'scale-to-zero' },
    stickyHeader: c.stickyHeader,
    autoStart: c.autoStart ?? false,
    maxCanaryRestarts: c.maxCanaryRestarts ?? 2,
    clusterErrorLimit: c.clusterErrorLimit ?? 5,
    onManualWeightChange: c.onManualWeightChange ?? 'restore',
    onTemplateChange: c.onTemplateChange ?? 'restart',
    ...(c.trafficProvider !== 'replicas'
      ? { canaryScale: c.canaryScale ?? 'weight' }
      : {}),
    ...(c.maxHold !== undefined ? { maxHoldMs: c.maxHold } : {}),
    webhooks: (c.webhooks ?? []).map(w => ({
      name: w.name,
      type: w.type,
      ...(w.metadata ? { metadata: w.metadata } : {}),
    })),
    allowedImages: c.allowedImages ?? [],
  };
}

/** The configured webhooks of a policy entry, with URLs and secrets (never stored). */
export function webhookSpecs(c: PolicyConfig): WebhookSpec[] {
  return c.webhooks ?? [];
}

/**
 * Whether an image is allowed by a policy's `allowedImages`: an entry with
 * `*` is a pattern over the whole reference (`*` matches any run of
 * characters), any other entry a prefix that ends at a path, tag or digest
 * boundary (`registry.example.com/shop` allows `registry.example.com/shop/x:1`
 * but not `registry.example.com/shopping/x:1`).
 */
export function imageAllowed(image: string, allowed: string[]): boolean {
  if (allowed.length === 0) return true;
  return allowed.some(entry => {
    if (entry.includes('*')) {
      const pattern = entry
        .split('*')
        .map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*');
      return new RegExp(`^${pattern}$`).test(image);
    }
    if (!image.startsWith(entry)) return false;
    if (image.length === entry.length) return true;
    if (/[/:@]$/.test(entry)) return true;
    return ['/', ':', '@'].includes(image[entry.length]);
  });
}
