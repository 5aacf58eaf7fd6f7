import type { ResourcePermission } from '@backstage/plugin-permission-common';
import { useEntity } from '@backstage/plugin-catalog-react';
import { useEntityPermission } from '@backstage/plugin-catalog-react/alpha';

/** Whether the user may use a control on this entity, and if not, why. */
export interface CanaryPermission {
  allowed: boolean;
  loading: boolean;
  /** Why the control is disabled, in words that say what to do about it. */
  reason?: string;
}

/**
 * Checks an entity-scoped canary permission and explains a denial: which
 * permission is missing and who to ask.
 */
export function useCanaryPermission(
  permission: ResourcePermission<'catalog-entity'>,
): CanaryPermission {
  const { entity } = useEntity();
  const { allowed, loading, error } = useEntityPermission(permission);
  if (loading) {
    return {
      allowed: false,
      loading: true,
      reason: 'Checking your permissions…',
    };
  }
  if (error) {
    return {
      allowed: false,
      loading: false,
      reason: `Could not check ${permission.name}: ${error.message}`,
    };
  }
  if (!allowed) {
    const owner =
      typeof entity.spec?.owner === 'string' ? ` (${entity.spec.owner})` : '';
    return {
      allowed: false,
      loading: false,
      reason: `You need ${permission.name} on this component — ask its owner${owner}`,
    };
  }
  return { allowed: true, loading: false };
}
