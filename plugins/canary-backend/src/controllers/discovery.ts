import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import {
  CANARY_CLUSTER_ANNOTATION,
  CANARY_CONTROLLER_ANNOTATION,
  CANARY_CONTROLLERS,
  CANARY_NAMESPACE_ANNOTATION,
  CANARY_WORKLOAD_ANNOTATION,
  CanaryConfigProblem,
  ExternalControllerKind,
  KUBERNETES_ID_ANNOTATION,
  KUBERNETES_NAMESPACE_ANNOTATION,
} from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis } from '../kubernetes/ClusterClients';
import { httpStatusOf, toClusterError } from '../kubernetes/errors';
import type { CustomKind } from '../kubernetes/customObjects';
import { ARGO_ROLLOUT, CustomObject, FLAGGER_CANARY } from './kinds';

/** Where a component's workload runs and who the annotations say drives it. */
export interface Placement {
  entityRef: string;
  clusters: string[];
  namespace: string;
  workload: string;
  /** The value of `coalmine.io/controller`, when set. */
  declared?: (typeof CANARY_CONTROLLERS)[number];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The component's clusters, namespace and workload from the same annotations
 * and defaults Coalmine's own rollouts use; problems name the annotation.
 */
export function placementOf(
  entity: Entity,
  knownClusters: string[],
): { placement?: Placement; problems: CanaryConfigProblem[] } {
  const a = entity.metadata.annotations ?? {};
  const problems: CanaryConfigProblem[] = [];
  const declaredText = a[CANARY_CONTROLLER_ANNOTATION]?.trim();
  let declared: Placement['declared'];
  if (declaredText) {
    if ((CANARY_CONTROLLERS as readonly string[]).includes(declaredText)) {
      declared = declaredText as Placement['declared'];
    } else {
      problems.push({
        key: CANARY_CONTROLLER_ANNOTATION,
        message: `"${declaredText}" is not a controller Coalmine knows; use one of ${CANARY_CONTROLLERS.join(
          ', ',
        )}.`,
      });
    }
  }
  const clusters = a[CANARY_CLUSTER_ANNOTATION]
    ? a[CANARY_CLUSTER_ANNOTATION].split(',')
        .map(c => c.trim())
        .filter(c => knownClusters.includes(c))
    : knownClusters.slice(0, 1);
  const namespace =
    a[CANARY_NAMESPACE_ANNOTATION]?.trim() ||
    a[KUBERNETES_NAMESPACE_ANNOTATION]?.trim() ||
    'default';
  const workload =
    a[CANARY_WORKLOAD_ANNOTATION]?.trim() ||
    a[KUBERNETES_ID_ANNOTATION]?.trim();
  if (!workload || !DNS_LABEL.test(workload) || !DNS_LABEL.test(namespace)) {
    // resolveTarget reports these with the key to fix; nothing to find here.
    return { problems };
  }
  return {
    placement: {
      entityRef: stringifyEntityRef(entity),
      clusters,
      namespace,
      workload,
      declared,
    },
    problems,
  };
}

/** A controller object that manages a component's workload. */
export interface ManagingObject {
  kind: ExternalControllerKind;
  cluster: string;
  object: CustomObject;
}

async function listOrNone(
  apis: ClusterApis,
  kind: CustomKind,
  namespace: string,
): Promise<CustomObject[]> {
  try {
    const list = (await apis.custom.listNamespacedCustomObject({
      group: kind.group,
      version: kind.version,
      plural: kind.plural,
      namespace,
    })) as { items?: CustomObject[] };
    return list.items ?? [];
  } catch (error) {
    // The CRD is not installed in this cluster: the controller is not there.
    if (httpStatusOf(error) === 404) return [];
    throw toClusterError(error, { kind: kind.kind, namespace, verb: 'list' });
  }
}

/** Flagger: the Canary whose `spec.targetRef` names the workload. */
export function flaggerManages(
  canary: CustomObject,
  workload: string,
): boolean {
  const ref = canary.spec?.targetRef;
  return (
    Boolean(ref) &&
    ref.name === workload &&
    (ref.kind === undefined || ['Deployment', 'DaemonSet'].includes(ref.kind))
  );
}

/**
 * Argo Rollouts: the Rollout named like the workload, the one whose
 * `spec.workloadRef` names its Deployment, or the one whose selector's
 * `app` / `app.kubernetes.io/name` label is the workload's name.
 */
export function argoManages(rollout: CustomObject, workload: string): boolean {
  if (rollout.metadata.name === workload) return true;
  if (rollout.spec?.workloadRef?.name === workload) return true;
  const labels = rollout.spec?.selector?.matchLabels ?? {};
  return (
    labels.app === workload || labels['app.kubernetes.io/name'] === workload
  );
}

/**
 * The Flagger Canaries and Argo Rollouts managing the component's workload
 * on one cluster. With `coalmine.io/controller: coalmine` none are looked
 * for; with `flagger` or `argo-rollouts` only that controller's kind.
 */
export async function findManagingObjects(
  apis: ClusterApis,
  placement: Placement,
  cluster: string,
): Promise<ManagingObject[]> {
  if (placement.declared === 'coalmine') return [];
  const found: ManagingObject[] = [];
  if (placement.declared !== 'argo-rollouts') {
    for (const c of await listOrNone(
      apis,
      FLAGGER_CANARY,
      placement.namespace,
    )) {
      if (flaggerManages(c, placement.workload)) {
        found.push({ kind: 'flagger', cluster, object: c });
      }
    }
  }
  if (placement.declared !== 'flagger') {
    for (const r of await listOrNone(apis, ARGO_ROLLOUT, placement.namespace)) {
      if (argoManages(r, placement.workload)) {
        found.push({ kind: 'argo-rollouts', cluster, object: r });
      }
    }
  }
  return found;
}
