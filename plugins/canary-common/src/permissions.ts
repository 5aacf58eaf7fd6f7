import { createPermission } from '@backstage/plugin-permission-common';
import { RESOURCE_TYPE_CATALOG_ENTITY } from '@backstage/plugin-catalog-common/alpha';

/**
 * Read rollouts, their analysis and events of a component.
 * @public
 */
export const canaryRolloutReadPermission = createPermission({
  name: 'canary.rollout.read',
  attributes: { action: 'read' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * Start a rollout of a component.
 * @public
 */
export const canaryRolloutCreatePermission = createPermission({
  name: 'canary.rollout.create',
  attributes: { action: 'create' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Skip the remaining steps and promote the canary now. @public */
export const canaryRolloutPromotePermission = createPermission({
  name: 'canary.rollout.promote',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Send all traffic back to stable now. @public */
export const canaryRolloutAbortPermission = createPermission({
  name: 'canary.rollout.abort',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Pause and resume a rollout. @public */
export const canaryRolloutPausePermission = createPermission({
  name: 'canary.rollout.pause',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** @public */
export const canaryRolloutResumePermission = createPermission({
  name: 'canary.rollout.resume',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Pass a manual approval gate. @public */
export const canaryRolloutApprovePermission = createPermission({
  name: 'canary.rollout.approve',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/** Start a failed or aborted rollout again. @public */
export const canaryRolloutRetryPermission = createPermission({
  name: 'canary.rollout.retry',
  attributes: { action: 'update' },
  resourceType: RESOURCE_TYPE_CATALOG_ENTITY,
});

/**
 * The permission each control needs, by the control's name in the API path.
 * @public
 */
export const canaryControlPermissions = {
  promote: canaryRolloutPromotePermission,
  abort: canaryRolloutAbortPermission,
  pause: canaryRolloutPausePermission,
  resume: canaryRolloutResumePermission,
  approve: canaryRolloutApprovePermission,
  retry: canaryRolloutRetryPermission,
} as const;

/** Every permission of the plugin. @public */
export const canaryPermissions = [
  canaryRolloutReadPermission,
  canaryRolloutCreatePermission,
  ...Object.values(canaryControlPermissions),
];
