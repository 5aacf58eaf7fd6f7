import type { RolloutRecord } from '../domain/types';
import type { EngineDeps } from './context';

/**
 * When a rollout next needs a pass, after one that ended normally: the next
 * step, the next analysis, the end of a hold, or a regular look at the
 * canary's pods — whichever comes first. The loop runs only due rollouts.
 */
export function nextDueAt(r: RolloutRecord, deps: EngineDeps): number {
  const now = deps.now();
  const policy = r.spec.policy;
  const watch = now + Math.min(policy.analysis.intervalMs, deps.watchMs);
  const gated = deps.analyzer?.hasGates(policy.analysis.config) ?? false;
  const analysis =
    gated && r.state.nextAnalysisAt !== undefined
      ? r.state.nextAnalysisAt
      : Infinity;
  switch (r.phase) {
    case 'Progressing':
      return Math.min(r.nextStepAt ?? Infinity, analysis, watch);
    case 'Paused':
    case 'AwaitingApproval': {
      const holdEnds =
        policy.maxHoldMs !== undefined
          ? (r.state.holdSince ?? r.updatedAt) + policy.maxHoldMs + 1
          : Infinity;
      return Math.min(analysis, holdEnds, watch);
    }
    default:
      // Pending, Promoting, RollingBack: waiting for the cluster to catch up.
      return now + deps.pollMs;
  }
}
