import type { ClusterApis } from './ClusterClients';
import { callCluster, withConflictRetry } from './errors';
import type { KubernetesObject } from './objects';
import {
  cachedGet,
  customKind,
  readForUpdate,
  writeThrough,
} from './watchCache';

/** A custom resource kind at the version the cluster serves. */
export interface CustomKind {
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export async function readCustomObject<T>(
  apis: ClusterApis,
  kind: CustomKind,
  namespace: string,
  name: string,
): Promise<T> {
  return (await cachedGet(apis, customKind(kind), namespace, name, () =>
    callCluster({ kind: kind.kind, namespace, name, verb: 'read' }, () =>
      apis.custom.getNamespacedCustomObject({
        group: kind.group,
        version: kind.version,
        plural: kind.plural,
        namespace,
        name,
      }),
    ),
  )) as T;
}

/**
 * Read (the watch cache's copy first, see `readForUpdate`), change, replace
 * with the resourceVersion that was read; a 409 (a write in between, or a
 * cached copy behind the server) reads with a GET and redoes the change. `change` returning an
 * object with an equal spec skips the write. Resolves to the stored object.
 */
export async function updateCustomObject<T extends KubernetesObject<any>>(
  apis: ClusterApis,
  kind: CustomKind,
  namespace: string,
  name: string,
  change: (current: T) => T,
  attempts?: number,
): Promise<T> {
  const params = {
    group: kind.group,
    version: kind.version,
    plural: kind.plural,
    namespace,
    name,
  };
  return withConflictRetry(
    { kind: kind.kind, namespace, name, verb: 'update' },
    async n => {
      const current = (await readForUpdate(
        apis,
        customKind(kind),
        namespace,
        name,
        n,
        () => apis.custom.getNamespacedCustomObject(params),
      )) as T;
      const next = change(current);
      if (
        JSON.stringify(next.spec) === JSON.stringify(current.spec) &&
        JSON.stringify(next.metadata) === JSON.stringify(current.metadata)
      ) {
        return current;
      }
      return (await writeThrough(apis, customKind(kind), namespace, name, () =>
        apis.custom.replaceNamespacedCustomObject({
          ...params,
          body: next,
        }),
      )) as T;
    },
    { attempts },
  );
}
