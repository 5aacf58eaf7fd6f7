import { useApi } from '@backstage/core-plugin-api';
import {
  Rollout,
  RolloutDetails,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { CanaryPollIntervals } from './pollIntervals';
import { usePolling } from './usePolling';

/**
 * The polling key of a rollout's own data: a finished rollout does not
 * change, so its key pins one load; a running one keeps the same key and
 * is polled on a timer instead.
 */
export function rolloutPollKey(rollout: Rollout | undefined): string {
  if (!rollout) {
    return 'none';
  }
  return `${rollout.id}:${
    isTerminalPhase(rollout.phase) ? rollout.updatedAt : 'running'
  }`;
}

/**
 * Follows the events and analysis of a rollout: every poll while it runs;
 * once it has finished, once (and again only if it changes).
 */
export function useRolloutDetails(
  rollout: Rollout | undefined,
  intervals: CanaryPollIntervals,
) {
  const canaryApi = useApi(canaryApiRef);
  const running = rollout ? !isTerminalPhase(rollout.phase) : false;
  return usePolling<RolloutDetails | undefined>(
    async () => (rollout ? canaryApi.getRollout(rollout.id) : undefined),
    () => (running ? intervals.activeMs : undefined),
    rolloutPollKey(rollout),
  );
}
