/**
 * Pure functions over Deployments: which one a set of labels selects, the
 * canary Deployment derived from the stable one, the stable Deployment with
 * the canary's pod template, and a stable hash of a pod template.
 */
import type { V1Deployment, V1PodTemplateSpec } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { clone } from './objects';
import type { WorkloadRef } from './types';

/** Labels the pods of a Deployment carry. */
export function podLabels(deployment: V1Deployment): Record<string, string> {
  return deployment.spec?.template?.metadata?.labels ?? {};
}

/** Whether the Deployment's pods carry every label in `selector`. */
export function podsMatch(
  deployment: V1Deployment,
  selector: Record<string, string>,
): boolean {
  const labels = podLabels(deployment);
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Image of the first container. */
export function firstImage(deployment: V1Deployment): string | undefined {
  return deployment.spec?.template?.spec?.containers?.[0]?.image;
}

export function workloadRef(
  deployment: V1Deployment,
  version?: string,
): WorkloadRef {
  return {
    name: deployment.metadata!.name!,
    version,
    image: firstImage(deployment),
    replicas: deployment.spec?.replicas ?? 1,
  };
}

/** JSON with object keys sorted, so equal templates give equal strings. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && v !== null)
      .sort(([a], [b]) => a.localeCompare(b, 'en'));
    return `{${entries
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A hash of the pod template that changes when, and only when, the template does. */
export function hashPodTemplate(
  template: V1PodTemplateSpec | undefined,
): string {
  return createHash('sha256')
    .update(canonicalJson(template ?? {}))
    .digest('hex')
    .slice(0, 16);
}

// Annotations that describe one Deployment object's history, not its intent.
const OBJECT_ANNOTATIONS = [
  'deployment.kubernetes.io/revision',
  'kubectl.kubernetes.io/last-applied-configuration',
];

function swapLabel(
  labels: Record<string, string> | undefined,
  key: string,
  from: string | undefined,
  to: string,
): Record<string, string> | undefined {
  if (!labels) return labels;
  if (!(key in labels)) return labels;
  if (from !== undefined && labels[key] !== from) return labels;
  return { ...labels, [key]: to };
}

/**
 * A new canary Deployment made from the stable one: new name, the version
 * label (in metadata, selector and pod template) set to the canary version,
 * the first container's image replaced, zero replicas (the engine scales it
 * as the rollout goes), no status and no server-set metadata.
 */
export function deriveCanaryDeployment(
  stable: V1Deployment,
  options: {
    name: string;
    versionLabel: string;
    stableVersion: string | undefined;
    canaryVersion: string;
    image?: string;
    /** Extra annotations, e.g. who made it. */
    annotations?: Record<string, string>;
  },
): V1Deployment {
  const source = clone(stable);
  const { versionLabel: key, stableVersion: from, canaryVersion: to } = options;
  const annotations = { ...(source.metadata?.annotations ?? {}) };
  for (const a of OBJECT_ANNOTATIONS) delete annotations[a];
  const selector = source.spec!.selector.matchLabels ?? {};
  const template = source.spec!.template;
  let templateLabels = template.metadata?.labels ?? {};
  let matchLabels = selector;
  if (key in templateLabels) {
    templateLabels = swapLabel(templateLabels, key, from, to)!;
    matchLabels = swapLabel(selector, key, from, to)!;
  } else {
    // The stable pods have no version label: add one to the canary's pods and
    // selector so the two Deployments never select each other's pods.
    templateLabels = { ...templateLabels, [key]: to };
    matchLabels = { ...selector, [key]: to };
  }
  const containers = template.spec?.containers ?? [];
  if (options.image && containers.length) {
    containers[0] = { ...containers[0], image: options.image };
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: options.name,
      namespace: source.metadata?.namespace,
      labels: swapLabel(source.metadata?.labels, key, from, to),
      annotations: { ...annotations, ...(options.annotations ?? {}) },
    },
    spec: {
      ...source.spec!,
      replicas: 0,
      selector: { ...source.spec!.selector, matchLabels },
      template: {
        ...template,
        metadata: { ...(template.metadata ?? {}), labels: templateLabels },
        spec: { ...template.spec!, containers },
      },
    },
  };
}

/**
 * Fixed subsets, on success: the stable Deployment runs the canary's pod
 * template. Stable keeps its own pod labels (its selector and the
 * DestinationRule subset depend on them) and everything outside the template.
 */
export function withPromotedTemplate(
  stable: V1Deployment,
  canary: V1Deployment,
): V1Deployment {
  const next = clone(stable);
  const template = clone(canary.spec!.template);
  next.spec!.template = {
    ...template,
    metadata: {
      ...(template.metadata ?? {}),
      labels: { ...(stable.spec?.template?.metadata?.labels ?? {}) },
    },
  };
  return next;
}

/** The Deployment with the first container's image replaced. */
export function withImage(
  deployment: V1Deployment,
  image: string,
): V1Deployment {
  const next = clone(deployment);
  const containers = next.spec?.template?.spec?.containers ?? [];
  if (containers.length) containers[0].image = image;
  return next;
}
