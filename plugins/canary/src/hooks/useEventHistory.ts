import { useApi } from '@backstage/core-plugin-api';
import type {
  AnalysisResult,
  RolloutDetails,
  RolloutEvent,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { PagedHistory, usePagedHistory } from './usePagedHistory';

/** What the timeline shows of a rollout's events, and how to reach older ones. */
export type EventHistory = PagedHistory<RolloutEvent>;

/** What the analysis card shows of a rollout's analysis rows, and how to reach older ones. */
export type AnalysisHistory = PagedHistory<AnalysisResult>;

/** Older analysis rows come 100 at a time (the newest page in the details call holds 30). */
const OLDER_ANALYSIS_PAGE = 100;

function newestPageOf(
  rolloutId: string | undefined,
  details: RolloutDetails | undefined,
) {
  return details && details.rollout.id === rolloutId ? details : undefined;
}

/** Every event seen of the rollout, with older pages on demand. */
export function useEventHistory(
  rolloutId: string | undefined,
  details: RolloutDetails | undefined,
): EventHistory {
  const canaryApi = useApi(canaryApiRef);
  const current = newestPageOf(rolloutId, details);
  return usePagedHistory(
    rolloutId,
    current && { items: current.events, cursor: current.eventsCursor },
    (id, before) => canaryApi.getRolloutEvents(id, { before }),
  );
}

/** Every analysis row seen of the rollout, with older pages on demand. */
export function useAnalysisHistory(
  rolloutId: string | undefined,
  details: RolloutDetails | undefined,
): AnalysisHistory {
  const canaryApi = useApi(canaryApiRef);
  const current = newestPageOf(rolloutId, details);
  return usePagedHistory(
    rolloutId,
    current && { items: current.analysis, cursor: current.analysisCursor },
    (id, before) =>
      canaryApi.getRolloutAnalysis(id, { before, limit: OLDER_ANALYSIS_PAGE }),
  );
}
