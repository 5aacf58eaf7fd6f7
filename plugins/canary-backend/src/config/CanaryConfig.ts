import { Config } from '@backstage/config';
import { z } from 'zod';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import {
  CanaryPolicy,
  WebhookSpec,
  checkSteps,
  policyConfigSchema,
  toPolicy,
  webhookSpecs,
} from './policy';
import {
  OverrideRules,
  overrideRulesSchema,
  toOverrideRules,
} from './overrideRules';
import { parseDurationMs } from '../domain/duration';
import { RetentionConfig, readRetentionConfig } from './retention';
import {
  AnalysisConfigError,
  TemplateRegistry,
  createAnalyzer,
  readTemplates,
} from '../analysis';

function describeAnalysisError(e: unknown): string[] {
  if (e instanceof AnalysisConfigError) {
    return e.problems.map(p => `${p.key}: ${p.message}`);
  }
  return [(e as Error).message];
}

/** How to reach one Prometheus: the config block, read by PrometheusClient.fromConfig. */
export type PrometheusConnection = Config;

/** Everything under `canary:` after validation. */
export interface CanaryConfig {
  loop: {
    frequencyMs: number;
    concurrency: number;
    leaseMs: number;
    watchCache: boolean;
  };
  detection: { frequencyMs: number };
  /** Global Prometheus default, if configured. */
  prometheus?: PrometheusConnection;
  clusters: Record<
    string,
    { prometheus?: PrometheusConnection; namespaces?: NamespaceGrant[] }
  >;
  policies: Record<string, CanaryPolicy>;
  /** The webhooks of each policy as configured, with URLs and secrets; read at call time. */
  webhooks: Record<string, WebhookSpec[]>;
  /** Which `coalmine.io/overrides` keys owners may set, and their bounds. */
  overrides: OverrideRules;
  /**
   * Service principals (static tokens' `subject`) limited to some entities or
   * owners; a subject not listed is limited only by its token's access restrictions.
   */
  servicePrincipals: Record<string, { entities: string[]; owners: string[] }>;
  /** Compiled PromQL templates (built-ins plus canary.templates). */
  templates: TemplateRegistry;
  /** Cluster names from `kubernetes.clusterLocatorMethods`, in config order. */
  kubernetesClusters: string[];
  /** Owners' notifications through the notifications backend. */
  notifications: { enabled: boolean; frequencyMs: number };
  /** Deleting finished rollouts once they are old (config/retention.ts). */
  retention: RetentionConfig;
}

/**
 * A namespace of a cluster the platform lets Coalmine act in. With `owners`,
 * components owned by one of them are bound to every Service there (no
 * `coalmine.io/entity` needed); without, the Service's annotation decides.
 */
export interface NamespaceGrant {
  name: string;
  owners?: string[];
}

/** Thrown at start-up when `canary:` is wrong; the message names the key. */
export class CanaryConfigError extends Error {
  name = 'CanaryConfigError';
}

const durationString = z
  .union([z.number(), z.string()])
  .refine(v => parseDurationMs(v) !== undefined, {
    message: 'must be a duration such as 5s, 1m or a number of seconds',
  })
  .transform(v => parseDurationMs(v)!);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** An entity ref as written in config, normalised to kind:namespace/name. */
const refText = (defaultKind: 'group' | 'component') =>
  z.string().transform((text, ctx) => {
    try {
      return stringifyEntityRef(
        parseEntityRef(text, { defaultKind, defaultNamespace: 'default' }),
      );
    } catch {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `"${text}" is not an entity ref such as ${defaultKind}:default/name`,
      });
      return z.NEVER;
    }
  });
const ownerRefText = refText('group');
const entityRefText = refText('component');

const prometheusSchema = z
  .object({
    url: z.string().url('url must be an absolute http(s) URL'),
    timeout: z.string().optional(),
    auth: z
      .union([
        z.object({ bearerToken: z.string().min(1) }).strict(),
        z
          .object({ username: z.string().min(1), password: z.string() })
          .strict(),
      ])
      .optional(),
  })
  .strict();

const canarySchema = z
  .object({
    loop: z
      .object({
        frequency: durationString.optional(),
        concurrency: z.number().int().min(1).max(64).optional(),
        lease: durationString.optional(),
        watchCache: z.boolean().optional(),
      })
      .strict()
      .optional(),
    detection: z
      .object({ frequency: durationString.optional() })
      .strict()
      .optional(),
    prometheus: prometheusSchema.optional(),
    clusters: z
      .record(
        z
          .object({
            prometheus: prometheusSchema.optional(),
            namespaces: z
              .array(
                z.union([
                  z.string().regex(DNS_LABEL, 'must be a namespace name'),
                  z
                    .object({
                      name: z
                        .string()
                        .regex(DNS_LABEL, 'must be a namespace name'),
                      owners: z.array(ownerRefText).min(1).optional(),
                    })
                    .strict(),
                ]),
              )
              .optional(),
          })
          .strict(),
      )
      .optional(),
    overrides: overrideRulesSchema.optional(),
    servicePrincipals: z
      .record(
        z
          .object({
            entities: z.array(entityRefText).optional(),
            owners: z.array(ownerRefText).optional(),
          })
          .strict(),
      )
      .optional(),
    policies: z.record(policyConfigSchema).optional(),
    /** Custom PromQL templates; validated by src/analysis. */
    templates: z.record(z.unknown()).optional(),
    notifications: z
      .object({
        enabled: z.boolean().optional(),
        frequency: durationString.optional(),
      })
      .strict()
      .optional(),
    /** Backstage durations; validated by config/retention.ts. */
    retention: z.object({}).passthrough().optional(),
  })
  .strict();

function keyOf(path: Array<string | number>): string {
  return path.reduce<string>(
    (acc, part) =>
      typeof part === 'number' ? `${acc}[${part}]` : `${acc}.${part}`,
    'canary',
  );
}

/** Reads and validates `canary:`; throws {@link CanaryConfigError} naming every wrong key. */
export function readCanaryConfig(config: Config): CanaryConfig {
  const raw = config.getOptional('canary') ?? {};
  const parsed = canarySchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      issue => `${keyOf(issue.path)}: ${issue.message}`,
    );
    throw new CanaryConfigError(
      `Invalid canary configuration:\n  ${lines.join('\n  ')}`,
    );
  }
  const c = parsed.data;
  const problems: string[] = [];
  let templates: TemplateRegistry | undefined;
  try {
    templates = readTemplates(config);
  } catch (e) {
    problems.push(...describeAnalysisError(e));
  }
  const policies: Record<string, CanaryPolicy> = {};
  const webhooks: Record<string, WebhookSpec[]> = {};
  for (const [name, entry] of Object.entries(c.policies ?? {})) {
    const key = `canary.policies.${name}`;
    if (
      entry.steps &&
      (entry.stepWeight !== undefined || entry.maxWeight !== undefined)
    ) {
      problems.push(
        `${key}: give either steps or stepWeight/maxWeight, not both`,
      );
    }
    if (entry.maxWeight !== undefined && entry.stepWeight === undefined) {
      problems.push(`${key}.stepWeight: maxWeight needs stepWeight`);
    }
    if (entry.canaryScale && entry.trafficProvider === 'replicas') {
      problems.push(
        `${key}.canaryScale: the replicas provider sizes both Deployments by the weight itself; remove canaryScale or choose a mesh or gateway provider`,
      );
    }
    const policy = toPolicy(name, entry);
    if (templates) {
      try {
        createAnalyzer({
          analysis: policy.analysis.config,
          templates,
          key: `${key}.analysis`,
        });
      } catch (e) {
        problems.push(...describeAnalysisError(e));
      }
    }
    for (const [path, message] of checkSteps(policy.steps)) {
      problems.push(`${key}.${path}: ${message}`);
    }
    const hookNames = new Set<string>();
    policy.webhooks.forEach((hook, i) => {
      if (hookNames.has(hook.name)) {
        problems.push(
          `${key}.webhooks[${i}].name: "${hook.name}" is used twice`,
        );
      }
      hookNames.add(hook.name);
    });
    policies[name] = policy;
    webhooks[name] = webhookSpecs(entry);
  }
  const retention = readRetentionConfig(config, problems);
  const kubernetesClusters = readKubernetesClusterNames(config);
  for (const name of Object.keys(c.clusters ?? {})) {
    if (kubernetesClusters.length > 0 && !kubernetesClusters.includes(name)) {
      problems.push(
        `canary.clusters.${name}: no cluster "${name}" in kubernetes.clusterLocatorMethods (known: ${kubernetesClusters.join(
          ', ',
        )})`,
      );
    }
  }
  if (problems.length > 0) {
    throw new CanaryConfigError(
      `Invalid canary configuration:\n  ${problems.join('\n  ')}`,
    );
  }
  const prometheus = config.getOptionalConfig('canary.prometheus');
  const clusters: CanaryConfig['clusters'] = {};
  for (const name of Object.keys(c.clusters ?? {})) {
    const namespaces = c.clusters?.[name]?.namespaces?.map(n =>
      typeof n === 'string' ? { name: n } : n,
    );
    clusters[name] = {
      prometheus: config.getOptionalConfig(
        `canary.clusters.${name}.prometheus`,
      ),
      ...(namespaces ? { namespaces } : {}),
    };
  }
  return {
    loop: {
      frequencyMs: c.loop?.frequency ?? 5000,
      concurrency: c.loop?.concurrency ?? 16,
      leaseMs: c.loop?.lease ?? 30_000,
      watchCache: c.loop?.watchCache ?? true,
    },
    detection: { frequencyMs: c.detection?.frequency ?? 30_000 },
    prometheus,
    clusters,
    policies,
    webhooks,
    overrides: toOverrideRules(c.overrides),
    servicePrincipals: Object.fromEntries(
      Object.entries(c.servicePrincipals ?? {}).map(([subject, p]) => [
        subject,
        { entities: p.entities ?? [], owners: p.owners ?? [] },
      ]),
    ),
    templates: templates!,
    kubernetesClusters,
    notifications: {
      enabled: c.notifications?.enabled ?? true,
      frequencyMs: c.notifications?.frequency ?? 5000,
    },
    retention,
  };
}

/** Cluster names of `type: config` locators, the way the Kubernetes plugin reads them. */
export function readKubernetesClusterNames(config: Config): string[] {
  const names: string[] = [];
  const methods =
    config.getOptionalConfigArray('kubernetes.clusterLocatorMethods') ?? [];
  for (const method of methods) {
    if (method.getOptionalString('type') !== 'config') continue;
    for (const cluster of method.getOptionalConfigArray('clusters') ?? []) {
      const name = cluster.getOptionalString('name');
      if (name) names.push(name);
    }
  }
  return names;
}

/** The Prometheus for a cluster: its own, else the global default. */
export function prometheusFor(
  config: CanaryConfig,
  cluster: string,
): PrometheusConnection | undefined {
  return config.clusters[cluster]?.prometheus ?? config.prometheus;
}

/**
 * What a platform team should know at start-up, though nothing stops it: a
 * cluster without a Prometheus, a custom count template the analysis must
 * read as written.
 */
export function startupWarnings(config: CanaryConfig): string[] {
  const warnings = config.kubernetesClusters
    .filter(cluster => !prometheusFor(config, cluster))
    .map(
      cluster =>
        `No Prometheus for cluster ${cluster}: rollouts there hold at their first step until canary.prometheus or canary.clusters.${cluster}.prometheus is set`,
    );
  for (const { name, why } of config.templates.countsReadAsWritten()) {
    warnings.push(
      `canary.templates.${name}: this count template is read as written (${why}), through increase()'s extrapolation over windows of at least 1m, which judges on less evidence and more slowly than raw samples and rolls back more healthy canaries when errors come in bursts; write it as sums of sum(increase(selector[{{ elapsed }}])) — perhaps ending in "or vector(0)", perhaps "by" labels every selector fixes with "=" — to have its counters' raw samples read (backend README, "How the analysis judges")`,
    );
  }
  return warnings;
}
