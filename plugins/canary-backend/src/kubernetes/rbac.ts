import {
  ARGO_ANALYSIS_RUN,
  ARGO_ROLLOUT,
  FLAGGER_CANARY,
} from '../controllers/kinds';

/** A Kubernetes RBAC verb. */
export type KubernetesVerb =
  | 'get'
  | 'list'
  | 'watch'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete';

/** What Coalmine does with one resource (or subresource) of one API group. */
export interface KubernetesAccessRule {
  /** `''` for the core group (Services, Pods, Events). */
  apiGroup: string;
  /** The plural, or `plural/subresource` (`deployments/scale`). */
  resource: string;
  verbs: KubernetesVerb[];
}

/** The traffic providers' route objects (their API version is discovered per cluster). */
export const TRAFFIC_ROUTE_RESOURCES: ReadonlyArray<{
  apiGroup: string;
  resource: string;
}> = [
  { apiGroup: 'networking.istio.io', resource: 'virtualservices' },
  { apiGroup: 'networking.istio.io', resource: 'destinationrules' },
  { apiGroup: 'split.smi-spec.io', resource: 'trafficsplits' },
  { apiGroup: 'gateway.networking.k8s.io', resource: 'httproutes' },
];

/**
 * Every Kubernetes permission the backend's service account needs, from the
 * client calls in this package: reads (`get`), the watch caches' informers
 * (`list`, `watch`) and the listings behind discovery and problems, the
 * canary Deployment (`create`) and the writes (`update` is a replace with
 * the resourceVersion read; `patch` only on Argo Rollouts). Nothing is
 * deleted. README.md shows these as a ClusterRole, and
 * `rbac.test.ts` checks both against the calls in the source.
 */
export const KUBERNETES_ACCESS: readonly KubernetesAccessRule[] = [
  {
    apiGroup: 'apps',
    resource: 'deployments',
    verbs: ['get', 'list', 'watch', 'create', 'update'],
  },
  { apiGroup: 'apps', resource: 'deployments/scale', verbs: ['get', 'update'] },
  { apiGroup: '', resource: 'services', verbs: ['get', 'list', 'watch'] },
  { apiGroup: '', resource: 'pods', verbs: ['list', 'watch'] },
  { apiGroup: '', resource: 'events', verbs: ['list'] },
  {
    apiGroup: 'networking.k8s.io',
    resource: 'ingresses',
    verbs: ['get', 'list', 'watch', 'create', 'update'],
  },
  ...TRAFFIC_ROUTE_RESOURCES.map(route => ({
    ...route,
    verbs: ['get', 'list', 'watch', 'update'] as KubernetesVerb[],
  })),
  {
    apiGroup: FLAGGER_CANARY.group,
    resource: FLAGGER_CANARY.plural,
    verbs: ['get', 'list', 'watch'],
  },
  {
    apiGroup: ARGO_ROLLOUT.group,
    resource: ARGO_ROLLOUT.plural,
    verbs: ['get', 'list', 'watch', 'patch'],
  },
  {
    apiGroup: ARGO_ROLLOUT.group,
    resource: `${ARGO_ROLLOUT.plural}/status`,
    verbs: ['patch'],
  },
  {
    apiGroup: ARGO_ANALYSIS_RUN.group,
    resource: ARGO_ANALYSIS_RUN.plural,
    verbs: ['list'],
  },
];

/**
 * Discovery, not resources: the preferred version of a custom resource's
 * group (`/apis/`) and the API server's health probe (`/version/`). Every
 * authenticated account has them through Kubernetes' default
 * `system:discovery` role; a ClusterRole may grant them too.
 */
export const KUBERNETES_NON_RESOURCE_URLS: readonly string[] = [
  '/apis/',
  '/version/',
];
