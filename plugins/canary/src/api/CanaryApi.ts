import { createApiRef } from '@backstage/core-plugin-api';
import type {
  EntityCanaryStatus,
  ExternalRolloutControl,
  MetricSeries,
  Rollout,
  RolloutControlRequest,
  AnalysisResult,
  RolloutDetails,
  RolloutEvent,
  RolloutHistoryPage,
  RolloutPhase,
  StartRolloutRequest,
} from '@coalmine/backstage-plugin-canary-common';

/**
 * Filters for the organisation-wide rollout list.
 * @public
 */
export interface ListRolloutsQuery {
  entityRef?: string;
  phase?: RolloutPhase;
  cluster?: string;
  /** Only rollouts that have not reached a terminal phase. */
  active?: boolean;
  limit?: number;
}

/**
 * Options of {@link CanaryApi.getEntityStatus}.
 * @public
 */
export interface EntityStatusOptions {
  /**
   * Epoch milliseconds: an answer to a request sent before this time is not
   * good enough (the caller knows of a later change). Without it a client
   * may share a request in flight or one answered moments ago.
   */
  notBefore?: number;
}

/**
 * What the Canary frontend needs from the Coalmine backend.
 * @public
 */
export interface CanaryApi {
  /** Set-up, active rollout and history of one catalog entity. */
  getEntityStatus(
    entityRef: {
      kind: string;
      namespace: string;
      name: string;
    },
    options?: EntityStatusOptions,
  ): Promise<EntityCanaryStatus>;
  listRollouts(query?: ListRolloutsQuery): Promise<Rollout[]>;
  /** A rollout with the newest page of its events and analysis results. */
  getRollout(id: string): Promise<RolloutDetails>;
  /** An older page of a rollout's events: `before` is a cursor from an earlier answer. */
  getRolloutEvents(
    id: string,
    page: { before: string; limit?: number },
  ): Promise<RolloutHistoryPage<RolloutEvent>>;
  /** An older page of a rollout's analysis results. */
  getRolloutAnalysis(
    id: string,
    page: { before: string; limit?: number },
  ): Promise<RolloutHistoryPage<AnalysisResult>>;
  getRolloutSeries(id: string): Promise<MetricSeries[]>;
  startRollout(request: StartRolloutRequest): Promise<Rollout>;
  /** Promote, abort, pause, resume, approve or retry; retry answers with the new rollout. */
  controlRollout(
    id: string,
    control: ExternalRolloutControl,
    request?: RolloutControlRequest,
  ): Promise<Rollout>;
}

/**
 * Reference to the {@link CanaryApi}.
 * @public
 */
export const canaryApiRef = createApiRef<CanaryApi>({
  id: 'plugin.canary.service',
});
