import { useEntityPermission } from '@backstage/plugin-catalog-react/alpha';
import {
  canaryControlPermissions,
  canaryRolloutCreatePermission,
} from '@coalmine/backstage-plugin-canary-common';

/**
 * Asks for every control's permission on the entity as soon as the tab
 * mounts, in parallel with the status call. The buttons ask the same
 * questions once they render; `usePermission` keeps the answers by
 * permission and entity, so they find them answered (or on the way)
 * instead of asking only after the controls painted.
 */
export function useEarlyControlPermissions(): void {
  useEntityPermission(canaryRolloutCreatePermission);
  useEntityPermission(canaryControlPermissions.promote);
  useEntityPermission(canaryControlPermissions.abort);
  useEntityPermission(canaryControlPermissions.pause);
  useEntityPermission(canaryControlPermissions.resume);
  useEntityPermission(canaryControlPermissions.approve);
  useEntityPermission(canaryControlPermissions.retry);
}
