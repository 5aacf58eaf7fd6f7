import { useApi } from '@backstage/core-plugin-api';
import {
  MetricSeries,
  Rollout,
  RolloutDetails,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { describeError } from '../lib/errors';
import { CanaryPollIntervals } from './pollIntervals';
import { usePolling } from './usePolling';

/** Events, analysis and metric series of one rollout. */
export interface RolloutInsight {
  details: RolloutDetails;
  series: MetricSeries[];
  /** Why the series could not be loaded; the rest still shows. */
  seriesError?: string;
}

/**
 * Follows the events, analysis and series of a rollout: every poll while it
 * runs; once it has finished, once (and again only if it changes).
 */
export function useRolloutDetails(
  rollout: Rollout | undefined,
  intervals: CanaryPollIntervals,
) {
  const canaryApi = useApi(canaryApiRef);
  const running = rollout ? !isTerminalPhase(rollout.phase) : false;
  // A finished rollout does not change, so its key pins one load; a running
  // one keeps the same key and is polled on a timer instead.
  const key = rollout
    ? `${rollout.id}:${running ? 'running' : rollout.updatedAt}`
    : 'none';
  return usePolling<RolloutInsight | undefined>(
    async () => {
      if (!rollout) {
        return undefined;
      }
      const [details, series] = await Promise.all([
        canaryApi.getRollout(rollout.id),
        canaryApi
          .getRolloutSeries(rollout.id)
          .then(items => ({ items, error: undefined as string | undefined }))
          .catch(e => ({
            items: [] as MetricSeries[],
            error: describeError(e),
          })),
      ]);
      return { details, series: series.items, seriesError: series.error };
    },
    () => (running ? intervals.activeMs : undefined),
    key,
  );
}
