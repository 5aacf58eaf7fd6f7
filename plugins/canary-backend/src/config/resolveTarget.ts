import {
  Entity,
  RELATION_OWNED_BY,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  CANARY_CLUSTER_ANNOTATION,
  CANARY_NAMESPACE_ANNOTATION,
  CANARY_OVERRIDES_ANNOTATION,
  CANARY_POLICY_ANNOTATION,
  CANARY_ROUTE_ANNOTATION,
  CANARY_WORKLOAD_ANNOTATION,
  CanaryConfigProblem,
  CanaryTarget,
  KUBERNETES_ID_ANNOTATION,
  KUBERNETES_NAMESPACE_ANNOTATION,
} from '@coalmine/backstage-plugin-canary-common';
import { CanaryConfig } from './CanaryConfig';
import { CanaryPolicy, toPolicy } from './policy';
import { applyOverrides } from './overrides';

/** A component's canary setup: what the API shows, plus the policy the engine runs. */
export interface ResolvedTarget {
  target: CanaryTarget;
  policy: CanaryPolicy;
  /** The entity's owners (full refs), for the platform side of the binding. */
  owners: string[];
}

/** The owners of an entity: its ownedBy relations, else its spec.owner. */
export function ownersOf(entity: Entity): string[] {
  const related = (entity.relations ?? [])
    .filter(r => r.type === RELATION_OWNED_BY)
    .map(r => r.targetRef);
  if (related.length > 0) return related;
  const owner = (entity.spec as { owner?: unknown } | undefined)?.owner;
  if (typeof owner !== 'string' || !owner) return [];
  try {
    return [
      stringifyEntityRef(
        parseEntityRef(owner, {
          defaultKind: 'group',
          defaultNamespace: entity.metadata.namespace ?? 'default',
        }),
      ),
    ];
  } catch {
    return [];
  }
}

/** The outcome of resolving a component's annotations. */
export type TargetResolution =
  | { ok: true; resolved: ResolvedTarget; problems: [] }
  | { ok: false; problems: CanaryConfigProblem[] };

// A DNS-1123 label: what Kubernetes accepts for namespaces and object names.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/**
 * Turns a component's annotations plus the configured policies into a target,
 * or into problems that each name the annotation or config key to change.
 */
export function resolveTarget(
  entity: Entity,
  config: CanaryConfig,
): TargetResolution {
  const annotations = entity.metadata.annotations ?? {};
  const problems: CanaryConfigProblem[] = [];
  const entityRef = stringifyEntityRef(entity);

  const policyName = annotations[CANARY_POLICY_ANNOTATION]?.trim();
  let basePolicy: CanaryPolicy | undefined;
  if (!policyName) {
    problems.push({
      key: CANARY_POLICY_ANNOTATION,
      message: `Add the annotation ${CANARY_POLICY_ANNOTATION} naming one of the policies under canary.policies${
        Object.keys(config.policies).length
          ? ` (${Object.keys(config.policies).join(', ')})`
          : ''
      }.`,
    });
  } else {
    basePolicy = config.policies[policyName];
    if (!basePolicy) {
      problems.push({
        key: CANARY_POLICY_ANNOTATION,
        message: `No policy "${policyName}" under canary.policies; use one of: ${
          Object.keys(config.policies).join(', ') ||
          '(none configured — add canary.policies to app-config)'
        }.`,
      });
    }
  }

  const clusterText = annotations[CANARY_CLUSTER_ANNOTATION];
  let clusters: string[];
  if (clusterText !== undefined) {
    clusters = clusterText
      .split(',')
      .map(c => c.trim())
      .filter(Boolean);
    const unknown = clusters.filter(
      c => !config.kubernetesClusters.includes(c),
    );
    if (clusters.length === 0) {
      problems.push({
        key: CANARY_CLUSTER_ANNOTATION,
        message: 'The annotation is empty; name a cluster or remove it.',
      });
    } else if (unknown.length > 0) {
      problems.push({
        key: CANARY_CLUSTER_ANNOTATION,
        message: `Unknown cluster${
          unknown.length > 1 ? 's' : ''
        } ${unknown.join(
          ', ',
        )}; clusters in kubernetes.clusterLocatorMethods: ${
          config.kubernetesClusters.join(', ') || '(none)'
        }.`,
      });
    }
  } else if (config.kubernetesClusters.length > 0) {
    clusters = [config.kubernetesClusters[0]];
  } else {
    clusters = [];
    problems.push({
      key: 'kubernetes.clusterLocatorMethods',
      message:
        'No cluster is configured; add one under kubernetes.clusterLocatorMethods (type: config).',
    });
  }

  const namespace =
    annotations[CANARY_NAMESPACE_ANNOTATION]?.trim() ||
    annotations[KUBERNETES_NAMESPACE_ANNOTATION]?.trim() ||
    'default';
  if (!DNS_LABEL.test(namespace)) {
    const key = annotations[CANARY_NAMESPACE_ANNOTATION]
      ? CANARY_NAMESPACE_ANNOTATION
      : KUBERNETES_NAMESPACE_ANNOTATION;
    problems.push({
      key,
      message: `"${namespace}" is not a valid Kubernetes namespace name.`,
    });
  }

  const workload =
    annotations[CANARY_WORKLOAD_ANNOTATION]?.trim() ||
    annotations[KUBERNETES_ID_ANNOTATION]?.trim();
  if (!workload) {
    problems.push({
      key: CANARY_WORKLOAD_ANNOTATION,
      message: `Add ${CANARY_WORKLOAD_ANNOTATION} (or ${KUBERNETES_ID_ANNOTATION}) with the name of the component's Kubernetes Service.`,
    });
  } else if (!DNS_LABEL.test(workload)) {
    const key = annotations[CANARY_WORKLOAD_ANNOTATION]
      ? CANARY_WORKLOAD_ANNOTATION
      : KUBERNETES_ID_ANNOTATION;
    problems.push({
      key,
      message: `"${workload}" is not a valid Kubernetes Service name.`,
    });
  }

  const route = annotations[CANARY_ROUTE_ANNOTATION]?.trim() || undefined;
  if (route !== undefined && !DNS_SUBDOMAIN.test(route)) {
    problems.push({
      key: CANARY_ROUTE_ANNOTATION,
      message: `"${route}" is not a valid Kubernetes object name.`,
    });
  }

  // Overrides are checked even when the policy is unknown, so every problem shows at once.
  const applied = applyOverrides(
    basePolicy ?? toPolicy('(unknown)', { trafficProvider: 'istio' }),
    annotations[CANARY_OVERRIDES_ANNOTATION],
    config.overrides,
  );
  problems.push(...applied.problems);
  const policy = basePolicy ? applied.policy : undefined;

  if (problems.length > 0 || !policy || !workload) {
    return { ok: false, problems };
  }
  return {
    ok: true,
    problems: [],
    resolved: {
      policy,
      owners: ownersOf(entity),
      target: {
        entityRef,
        policy: policy.name,
        clusters,
        namespace,
        workload,
        route,
        trafficProvider: policy.trafficProvider,
        steps: policy.steps,
      },
    },
  };
}
