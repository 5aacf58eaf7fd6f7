import { parseAllDocuments } from 'yaml';
import { ObjectStore, K8sObject } from './api/store';
import { RESOURCE_TYPES, ResourceType } from './api/resourceTypes';

/** Objects from YAML text (multi-document) or objects, flattening `List`s. */
export function parseManifests(
  input: string | K8sObject | K8sObject[],
): K8sObject[] {
  let docs: K8sObject[];
  if (typeof input === 'string') {
    docs = parseAllDocuments(input)
      .map(d => {
        if (d.errors.length)
          throw new Error(`invalid YAML: ${d.errors[0].message}`);
        return d.toJSON();
      })
      .filter(d => d && typeof d === 'object');
  } else {
    docs = Array.isArray(input) ? input : [input];
  }
  return docs.flatMap(d =>
    d.kind === 'List' && Array.isArray(d.items) ? d.items : [d],
  );
}

export function resourceTypeOf(obj: K8sObject): ResourceType {
  const [group, version] = String(obj.apiVersion ?? '').includes('/')
    ? String(obj.apiVersion).split('/')
    : ['', String(obj.apiVersion ?? '')];
  const rt = RESOURCE_TYPES.find(
    t =>
      t.group === group && t.kind === obj.kind && t.versions.includes(version),
  );
  if (!rt) {
    throw new Error(
      `no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`,
    );
  }
  return rt;
}

/**
 * Create or update like `kubectl apply`: the given fields replace what is
 * stored, status stays with the cluster.
 */
export function applyManifests(
  store: ObjectStore,
  input: string | K8sObject | K8sObject[],
): K8sObject[] {
  return parseManifests(input).map(obj => {
    const rt = resourceTypeOf(obj);
    const ns = rt.namespaced ? obj.metadata?.namespace ?? 'default' : undefined;
    const name = obj.metadata?.name;
    const existing = name ? store.get(rt, ns, name) : undefined;
    // Like kubectl apply: what is stored decides the version, not the manifest.
    const { resourceVersion, ...metadata } = obj.metadata ?? {};
    if (!existing) return store.create(rt, ns, { ...obj, metadata });
    return store.update(rt, ns, name, { ...obj, metadata });
  });
}
