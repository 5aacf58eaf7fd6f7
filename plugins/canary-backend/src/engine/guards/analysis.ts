import type { AnalysisDecision } from '../../domain/ports';
import { errorMessage } from '../../domain/errors';
import type { EngineState, NewEvent } from '../../domain/types';
import type { PassContext } from '../context';
import { beginRollback } from '../transitions';

/** True when the policy has gates, i.e. steps wait for a passing analysis. */
export function isGated(ctx: PassContext): boolean {
  return ctx.deps.analyzer?.hasGates(ctx.policy.analysis.config) ?? false;
}

/** True when a gated rollout is due for an analysis run. */
export function analysisDue(ctx: PassContext): boolean {
  return isGated(ctx) && ctx.now() >= (ctx.state.nextAnalysisAt ?? 0);
}

/**
 * Runs one analysis, records it, and rolls back when it says so. An analysis
 * that cannot run holds the weight: it never advances a canary nobody judged.
 */
export async function runAnalysis(ctx: PassContext): Promise<AnalysisDecision> {
  const s = ctx.state;
  const now = ctx.now();
  const decision = await ctx.deps
    .analyzer!.evaluate({ ...ctx.analysisRequest(), podHealth: ctx.podHealth })
    .catch(
      (e): AnalysisDecision => ({
        action: 'hold',
        reason: `the analysis could not run: ${errorMessage(e)}`,
        checks: [],
        failedChecks: s.failedChecks ?? 0,
        state: s.analysisState,
      }),
    );
  const state: EngineState = {
    ...s,
    analysisState: decision.state,
    failedChecks: decision.failedChecks,
    passedAtStep:
      (s.passedAtStep ?? 0) + (decision.action === 'advance' ? 1 : 0),
    earlyAdvanceAtStep:
      s.earlyAdvanceAtStep ||
      (decision.action === 'advance' && decision.earlyAdvance === true) ||
      undefined,
    nextAnalysisAt: now + ctx.policy.analysis.intervalMs,
    lastAnalysisAction: decision.action,
  };
  // The analysis table keeps every run; events only mark a change of verdict.
  const events: NewEvent[] =
    decision.action === 'advance' || decision.action === s.lastAnalysisAction
      ? []
      : [
          ctx.event(
            'analysis',
            `Analysis: ${decision.action} — ${decision.reason}`,
            { action: decision.action, failedChecks: decision.failedChecks },
          ),
        ];
  await ctx.commit({ state }, events, {
    stepIndex: ctx.r.stepIndex,
    weight: ctx.r.weight,
    action: decision.action,
    reason: decision.reason,
    failedChecks: decision.failedChecks,
    checks: decision.checks,
  });
  if (decision.action === 'rollback') {
    await beginRollback(
      ctx,
      'RolledBack',
      `analysis failed: ${decision.reason}`,
    );
  }
  return decision;
}
