import {
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  AuthorizeResult,
  BasicPermission,
  ResourcePermission,
} from '@backstage/plugin-permission-common';

/**
 * Whether the caller holds a canary permission on one entity. The same
 * check the REST API makes (resource type catalog-entity, so owner-only
 * policies work); shared by the actions and the scaffolder action.
 */
export async function isAllowedOn(
  permissions: PermissionsService,
  permission: ResourcePermission<'catalog-entity'> | BasicPermission,
  entityRef: string,
  credentials: BackstageCredentials,
): Promise<boolean> {
  const [decision] = await permissions.authorize(
    [
      {
        permission: permission as ResourcePermission<'catalog-entity'>,
        resourceRef: entityRef,
      },
    ],
    { credentials },
  );
  return decision.result === AuthorizeResult.ALLOW;
}

/** The entity refs among `refs` the caller may read with `permission`. */
export async function allowedRefs(
  permissions: PermissionsService,
  permission: ResourcePermission<'catalog-entity'>,
  refs: string[],
  credentials: BackstageCredentials,
): Promise<Set<string>> {
  if (refs.length === 0) return new Set();
  const decisions = await permissions.authorize(
    refs.map(ref => ({ permission, resourceRef: ref })),
    { credentials },
  );
  return new Set(
    refs.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW),
  );
}
