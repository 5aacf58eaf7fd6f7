/**
 * Annotations a catalog component carries to opt in to Coalmine.
 *
 * Only {@link CANARY_POLICY_ANNOTATION} is required; everything else has a
 * default taken from the annotations the Backstage Kubernetes plugin already
 * uses, so a component that shows up in the Kubernetes tab needs one line more.
 *
 * @public
 */
export const CANARY_POLICY_ANNOTATION = 'coalmine.io/policy';

/**
 * Cluster name(s) from `kubernetes.clusterLocatorMethods`, comma-separated.
 * Defaults to the first configured cluster.
 * @public
 */
export const CANARY_CLUSTER_ANNOTATION = 'coalmine.io/cluster';

/**
 * Namespace of the workload. Defaults to `backstage.io/kubernetes-namespace`,
 * then `default`.
 * @public
 */
export const CANARY_NAMESPACE_ANNOTATION = 'coalmine.io/namespace';

/**
 * The Kubernetes Service (and base name of the Deployments) of the component.
 * Defaults to `backstage.io/kubernetes-id`.
 * @public
 */
export const CANARY_WORKLOAD_ANNOTATION = 'coalmine.io/workload';

/**
 * Name of the routing object (VirtualService, HTTPRoute, TrafficSplit or
 * Ingress). Defaults to the one that routes to the workload's Service.
 * @public
 */
export const CANARY_ROUTE_ANNOTATION = 'coalmine.io/route';

/**
 * Per-component overrides of the policy, as `key=value` pairs separated by
 * `;`, for example `steps=10,50,100; interval=30s; maxWeight=50`.
 * @public
 */
export const CANARY_OVERRIDES_ANNOTATION = 'coalmine.io/overrides';

/**
 * Who drives the component's canaries: `flagger`, `argo-rollouts` or
 * `coalmine`. Without it Coalmine looks for a Flagger Canary or an Argo
 * Rollout managing the workload, and drives it itself only when there is none.
 * @public
 */
export const CANARY_CONTROLLER_ANNOTATION = 'coalmine.io/controller';

/** The values {@link CANARY_CONTROLLER_ANNOTATION} accepts. @public */
export const CANARY_CONTROLLERS = [
  'flagger',
  'argo-rollouts',
  'coalmine',
] as const;

/** The Kubernetes plugin's annotations Coalmine falls back to. @public */
export const KUBERNETES_ID_ANNOTATION = 'backstage.io/kubernetes-id';
/** @public */
export const KUBERNETES_NAMESPACE_ANNOTATION =
  'backstage.io/kubernetes-namespace';

/**
 * True when the entity asks for the Canary tab.
 * @public
 */
export function isCanaryAvailable(entity: {
  metadata: { annotations?: Record<string, string> };
}): boolean {
  const annotations = entity.metadata.annotations;
  return Boolean(
    annotations?.[CANARY_POLICY_ANNOTATION] ||
      annotations?.[CANARY_CONTROLLER_ANNOTATION],
  );
}

/**
 * On a Kubernetes Service: the catalog entities (comma-separated refs such as
 * `component:default/checkout`) allowed to run canaries on it. The cluster's
 * side of the binding: a component's own annotations never authorize a write.
 * @public
 */
export const CANARY_ENTITY_ANNOTATION = 'coalmine.io/entity';
