import {
  AnalysisResult,
  Rollout,
} from '@coalmine/backstage-plugin-canary-common';
import { RolloutRecord } from '../domain/types';

const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString();

/** The API shape of a stored rollout. */
export function toApiRollout(
  r: RolloutRecord,
  lastAnalysis?: AnalysisResult | null,
): Rollout {
  return {
    id: r.id,
    entityRef: r.entityRef,
    cluster: r.cluster,
    namespace: r.namespace,
    policy: r.policy,
    trafficProvider: r.trafficProvider,
    ...(r.route ? { route: r.route } : {}),
    phase: r.phase,
    stepIndex: r.stepIndex,
    steps: r.steps,
    weight: r.weight,
    actualWeight: r.actualWeight,
    stable: r.stable,
    canary: r.canary,
    ...(r.message ? { message: r.message } : {}),
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    finishedAt: iso(r.finishedAt),
    nextStepAt: iso(r.nextStepAt),
    startedBy: r.startedBy,
    lastAnalysis: lastAnalysis ?? null,
    ...retryingOf(r),
    ...(r.state.manualRestore?.length
      ? { manualRestore: r.state.manualRestore }
      : {}),
  };
}

function retryingOf(r: RolloutRecord): Pick<Rollout, 'retrying'> {
  const retry = r.state.rollbackRetry ?? r.state.promotionRetry;
  if (!retry || r.finishedAt !== null) return {};
  return {
    retrying: {
      since: iso(retry.since)!,
      attempts: retry.attempts,
      lastError: retry.lastError,
    },
  };
}
