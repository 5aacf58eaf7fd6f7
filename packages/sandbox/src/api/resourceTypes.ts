/**
 * The kinds the sandbox API server serves, with what discovery says about them.
 */
export interface ResourceType {
  /** API group, '' for the core group. */
  group: string;
  /** Served versions; the first one is preferred and used for storage. */
  versions: string[];
  kind: string;
  /** Plural resource name, the URL segment. */
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Subresources beyond the object itself. */
  subresources: Array<'status' | 'scale'>;
  /** Built-in kinds accept strategic merge patches; custom resources do not. */
  builtIn: boolean;
  /** Path to the replicas of the scale subresource (spec.replicas for all we serve). */
  scaleSelectorPath?: string;
}

const VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];

function type(
  t: Omit<ResourceType, 'categories' | 'subresources' | 'shortNames'> &
    Partial<Pick<ResourceType, 'categories' | 'subresources' | 'shortNames'>>,
): ResourceType {
  return {
    categories: [],
    subresources: [],
    shortNames: [],
    ...t,
  };
}

const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];

export const RESOURCE_TYPES: ResourceType[] = [
  type({
    group: '',
    versions: ['v1'],
    kind: 'Namespace',
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    builtIn: true,
  }),
  type({
    group: '',
    versions: ['v1'],
    kind: 'Service',
    plural: 'services',
    singular: 'service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    subresources: ['status'],
    builtIn: true,
  }),
  type({
    group: '',
    versions: ['v1'],
    kind: 'Pod',
    plural: 'pods',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status'],
    builtIn: true,
  }),
  type({
    group: '',
    versions: ['v1'],
    kind: 'ConfigMap',
    plural: 'configmaps',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    builtIn: true,
  }),
  type({
    group: 'apps',
    versions: ['v1'],
    kind: 'Deployment',
    plural: 'deployments',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    builtIn: true,
  }),
  type({
    group: 'autoscaling',
    versions: ['v2'],
    kind: 'HorizontalPodAutoscaler',
    plural: 'horizontalpodautoscalers',
    singular: 'horizontalpodautoscaler',
    namespaced: true,
    shortNames: ['hpa'],
    categories: ['all'],
    subresources: ['status'],
    builtIn: true,
  }),
  type({
    group: 'apps',
    versions: ['v1'],
    kind: 'ReplicaSet',
    plural: 'replicasets',
    singular: 'replicaset',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    builtIn: true,
  }),
  type({
    group: 'networking.k8s.io',
    versions: ['v1'],
    kind: 'Ingress',
    plural: 'ingresses',
    singular: 'ingress',
    namespaced: true,
    shortNames: ['ing'],
    subresources: ['status'],
    builtIn: true,
  }),
  type({
    group: 'networking.istio.io',
    versions: ISTIO_VERSIONS,
    kind: 'VirtualService',
    plural: 'virtualservices',
    singular: 'virtualservice',
    namespaced: true,
    shortNames: ['vs'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
    builtIn: false,
  }),
  type({
    group: 'networking.istio.io',
    versions: ISTIO_VERSIONS,
    kind: 'DestinationRule',
    plural: 'destinationrules',
    singular: 'destinationrule',
    namespaced: true,
    shortNames: ['dr'],
    categories: ['istio-io', 'networking-istio-io'],
    subresources: ['status'],
    builtIn: false,
  }),
  type({
    group: 'gateway.networking.k8s.io',
    versions: ['v1', 'v1beta1'],
    kind: 'HTTPRoute',
    plural: 'httproutes',
    singular: 'httproute',
    namespaced: true,
    categories: ['gateway-api'],
    subresources: ['status'],
    builtIn: false,
  }),
  type({
    group: 'split.smi-spec.io',
    versions: ['v1alpha2', 'v1alpha1', 'v1alpha3', 'v1alpha4'],
    kind: 'TrafficSplit',
    plural: 'trafficsplits',
    singular: 'trafficsplit',
    namespaced: true,
    shortNames: ['ts'],
    builtIn: false,
  }),
  type({
    group: 'flagger.app',
    versions: ['v1beta1'],
    kind: 'Canary',
    plural: 'canaries',
    singular: 'canary',
    namespaced: true,
    shortNames: ['canary'],
    categories: ['all'],
    subresources: ['status'],
    builtIn: false,
  }),
  type({
    group: 'argoproj.io',
    versions: ['v1alpha1'],
    kind: 'Rollout',
    plural: 'rollouts',
    singular: 'rollout',
    namespaced: true,
    shortNames: ['ro'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    builtIn: false,
  }),
  type({
    group: 'argoproj.io',
    versions: ['v1alpha1'],
    kind: 'AnalysisTemplate',
    plural: 'analysistemplates',
    singular: 'analysistemplate',
    namespaced: true,
    builtIn: false,
  }),
  type({
    group: 'argoproj.io',
    versions: ['v1alpha1'],
    kind: 'AnalysisRun',
    plural: 'analysisruns',
    singular: 'analysisrun',
    namespaced: true,
    shortNames: ['ar'],
    subresources: ['status'],
    builtIn: false,
  }),
  type({
    group: '',
    versions: ['v1'],
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    builtIn: true,
  }),
];

export function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** `deployments.apps`, `pods`: how error messages name a resource. */
export function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

export function findResourceType(
  group: string,
  version: string,
  plural: string,
): ResourceType | undefined {
  return RESOURCE_TYPES.find(
    t =>
      t.group === group && t.plural === plural && t.versions.includes(version),
  );
}

/** Look up by kind, with or without group (tests name objects by kind). */
export function findResourceTypeByKind(
  kind: string,
  group?: string,
): ResourceType | undefined {
  return RESOURCE_TYPES.find(
    t =>
      (t.kind === kind || t.plural === kind.toLowerCase()) &&
      (group === undefined || t.group === group),
  );
}

/**
 * The type of a kind the sandbox serves, for its own controllers; a kind it
 * does not serve is a programming error.
 */
export function kindType(kind: string): ResourceType {
  const found = RESOURCE_TYPES.find(t => t.kind === kind);
  if (!found) throw new Error(`the sandbox serves no kind ${kind}`);
  return found;
}

export function groupsServed(): Array<{ name: string; versions: string[] }> {
  const groups = new Map<string, string[]>();
  for (const t of RESOURCE_TYPES) {
    if (!t.group) continue;
    const versions = groups.get(t.group) ?? [];
    for (const v of t.versions) if (!versions.includes(v)) versions.push(v);
    groups.set(t.group, versions);
  }
  return [...groups.entries()].map(([name, versions]) => ({ name, versions }));
}

/** The APIResourceList entries of one group/version, as discovery returns them. */
export function apiResourceList(group: string, version: string) {
  const resources: object[] = [];
  for (const t of RESOURCE_TYPES) {
    if (t.group !== group || !t.versions.includes(version)) continue;
    resources.push({
      name: t.plural,
      singularName: t.singular,
      namespaced: t.namespaced,
      kind: t.kind,
      verbs: t.namespaced ? VERBS : VERBS.filter(v => v !== 'deletecollection'),
      ...(t.shortNames.length ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length ? { categories: t.categories } : {}),
    });
    for (const sub of t.subresources) {
      resources.push(
        sub === 'scale'
          ? {
              name: `${t.plural}/scale`,
              singularName: '',
              namespaced: t.namespaced,
              group: 'autoscaling',
              version: 'v1',
              kind: 'Scale',
              verbs: ['get', 'patch', 'update'],
            }
          : {
              name: `${t.plural}/status`,
              singularName: '',
              namespaced: t.namespaced,
              kind: t.kind,
              verbs: ['get', 'patch', 'update'],
            },
      );
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources,
  };
}
