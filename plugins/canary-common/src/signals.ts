/**
 * Live updates through Backstage Signals. The backend publishes on these
 * channels whenever a rollout changes; the Canary tab listens and asks the
 * REST API again at once. A signal says only which rollout changed — never
 * its state — because anyone signed in may listen on any channel: what they
 * may read is still decided by the API they then call.
 */

/** The channel of every rollout of one entity (what the Canary tab listens on). @public */
export function canaryEntitySignalChannel(entityRef: string): string {
  return `canary:entity:${entityRef.toLocaleLowerCase('en-US')}`;
}

/** The channel of one rollout. @public */
export function canaryRolloutSignalChannel(rolloutId: string): string {
  return `canary:rollout:${rolloutId}`;
}

/** The message of a canary signal: which rollout changed, nothing more. @public */
export type CanaryRolloutSignal = {
  type: 'rollout-changed';
  rolloutId: string;
};

/**
 * The channel announcing that some rollout changed (what the organisation's
 * Canary page listens on). Its message names rollout ids only; a reader
 * sees nothing of them until it asks the permission-filtered list again.
 * @public
 */
export const CANARY_ROLLOUTS_SIGNAL_CHANNEL = 'canary:rollouts';

/** The message on {@link CANARY_ROLLOUTS_SIGNAL_CHANNEL}: the ids of the rollouts changed since the last one. @public */
export type CanaryRolloutsSignal = {
  type: 'rollouts-changed';
  rolloutIds: string[];
};
