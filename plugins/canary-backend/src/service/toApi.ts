import {
  AnalysisResult,
  Rollout,
} from '@coalmine/backstage-plugin-canary-common';
import { RolloutRecord } from '../domain/types';
import { Redactor, redactEndpoints } from './redact';

/** Every string in a JSON value redacted, except PromQL queries (they hold no endpoints). */
export function redactDeep<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as unknown as T;
  if (Array.isArray(value)) {
    return value.map(v => redactDeep(v, redact)) as unknown as T;
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        k === 'query' ? v : redactDeep(v, redact),
      ]),
    ) as T;
  }
  return value;
}

const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString();

/** The API shape of a stored rollout. */
export function toApiRollout(
  r: RolloutRecord,
  lastAnalysis?: AnalysisResult | null,
  redact: Redactor = redactEndpoints,
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
    ...(r.message ? { message: redact(r.message) } : {}),
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
    finishedAt: iso(r.finishedAt),
    nextStepAt: iso(r.nextStepAt),
    startedBy: r.startedBy,
    lastAnalysis: lastAnalysis ? redactDeep(lastAnalysis, redact) : null,
    ...retryingOf(r, redact),
    ...(r.state.manualRestore?.length
      ? { manualRestore: r.state.manualRestore }
      : {}),
  };
}

function retryingOf(
  r: RolloutRecord,
  redact: Redactor,
): Pick<Rollout, 'retrying'> {
  const retry = r.state.rollbackRetry ?? r.state.promotionRetry;
  if (!retry || r.finishedAt !== null) return {};
  return {
    retrying: {
      since: iso(retry.since)!,
      attempts: retry.attempts,
      lastError: redact(retry.lastError),
    },
  };
}
