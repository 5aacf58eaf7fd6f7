import { useApi } from '@backstage/core-plugin-api';
import {
  MetricSeries,
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { CanaryPollIntervals } from './pollIntervals';
import { usePolling } from './usePolling';
import { useReloadWhenFinished } from './useReloadWhenFinished';

/**
 * Canary and stable series of every gated metric of a rollout. Each call
 * costs the backend range queries against Prometheus, so while the rollout
 * runs it is polled at most every 5 s (and never faster than the status),
 * and once more when it finishes.
 */
export function useRolloutSeries(
  rollout: Rollout | undefined,
  intervals: CanaryPollIntervals,
) {
  const canaryApi = useApi(canaryApiRef);
  const running = rollout ? !isTerminalPhase(rollout.phase) : false;
  const polling = usePolling<MetricSeries[]>(
    async () => (rollout ? canaryApi.getRolloutSeries(rollout.id) : []),
    () => (running ? Math.max(intervals.activeMs, 5000) : undefined),
    rollout?.id ?? 'none',
  );
  useReloadWhenFinished(rollout, polling.refresh);
  return polling;
}
