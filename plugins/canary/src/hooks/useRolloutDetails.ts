import { useApi } from '@backstage/core-plugin-api';
import {
  Rollout,
  RolloutDetails,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { CanaryPollIntervals } from './pollIntervals';
import { usePolling } from './usePolling';
import { useReloadWhenFinished } from './useReloadWhenFinished';

/**
 * Follows the events and analysis of a rollout: every poll while it runs,
 * once more when it finishes, and not again after that.
 */
export function useRolloutDetails(
  rollout: Rollout | undefined,
  intervals: CanaryPollIntervals,
) {
  const canaryApi = useApi(canaryApiRef);
  const running = rollout ? !isTerminalPhase(rollout.phase) : false;
  const polling = usePolling<RolloutDetails | undefined>(
    async () => (rollout ? canaryApi.getRollout(rollout.id) : undefined),
    () => (running ? intervals.activeMs : undefined),
    rollout?.id ?? 'none',
  );
  useReloadWhenFinished(rollout, polling.refresh);
  return polling;
}
