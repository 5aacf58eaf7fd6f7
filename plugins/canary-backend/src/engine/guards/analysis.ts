import type { AnalysisDecision } from '../../domain/ports';
import { errorMessage } from '../../domain/errors';
import { podIdentities } from '../../domain/podHealth';
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

/** The policy's `inconclusive` setting: what a run that could not judge counts as. */
function inconclusivePolicy(ctx: PassContext): {
  policy: 'hold' | 'count' | 'fail';
  after: number;
} {
  const raw = ctx.policy.analysis.config.inconclusive as
    | string
    | { policy?: string; after?: number }
    | undefined;
  const policy = typeof raw === 'string' ? raw : raw?.policy;
  const after = typeof raw === 'object' && raw?.after ? raw.after : 1;
  return {
    policy: policy === 'count' || policy === 'fail' ? policy : 'hold',
    after,
  };
}

/**
 * The decision for an analysis that could not run at all (an exception, not
 * a gate's inconclusive verdict): it follows the policy's `inconclusive`
 * setting — hold the weight, count it as a failed check, or fail (roll back)
 * after `after` runs in a row. It never advances a canary nobody judged.
 */
function couldNotRun(ctx: PassContext, e: unknown): AnalysisDecision {
  const s = ctx.state;
  const { policy, after } = inconclusivePolicy(ctx);
  const reason = `the analysis could not run: ${errorMessage(e)}`;
  const limit = Number(ctx.policy.analysis.config.failureLimit ?? 3);
  const failedChecks = (s.failedChecks ?? 0) + (policy === 'hold' ? 0 : 1);
  const inARow = (s.analysisErrors ?? 0) + 1;
  const rollback =
    (policy === 'count' && failedChecks >= limit) ||
    (policy === 'fail' && inARow >= after);
  return {
    action: rollback ? 'rollback' : 'hold',
    reason:
      policy === 'hold'
        ? reason
        : `${reason} (inconclusive: ${policy}${
            policy === 'fail' ? `, ${inARow} of ${after} in a row` : ''
          })`,
    checks: [],
    failedChecks,
    state: s.analysisState,
  };
}

/**
 * Runs one analysis, records it, and rolls back when it says so. The pass's
 * deadline bounds the wait for Prometheus.
 */
export async function runAnalysis(ctx: PassContext): Promise<AnalysisDecision> {
  const s = ctx.state;
  const now = ctx.now();
  let failedToRun = false;
  const decision = await ctx
    .raced(
      ctx.deps.analyzer!.evaluate({
        ...ctx.analysisRequest(),
        podHealth: ctx.podHealth,
        listPods: async arm =>
          podIdentities(
            await ctx
              .workloads()
              .podHealth(ctx.r.namespace, ctx.topology[arm].name),
          ),
      }),
    )
    .catch((e): AnalysisDecision => {
      failedToRun = true;
      return couldNotRun(ctx, e);
    });
  // A result is kept when a verdict changed, at a new step and as a sample
  // every analysisSampleMs; in between only the latest check is stored.
  const verdict = [
    decision.action,
    ...decision.checks.map(c => `${c.metric}:${c.verdict}`),
  ].join(' ');
  const sampleMs = ctx.deps.analysisSampleMs ?? 0;
  const keep =
    !(sampleMs > 0) ||
    verdict !== s.analysisVerdict ||
    s.analysisKeptAt === undefined ||
    s.analysisKeptAt < (s.stepStartedAt ?? 0) ||
    now - s.analysisKeptAt >= sampleMs;
  const state: EngineState = {
    ...s,
    analysisVerdict: verdict,
    analysisKeptAt: keep ? now : s.analysisKeptAt,
    analysisState: decision.state,
    failedChecks: decision.failedChecks,
    passedAtStep:
      (s.passedAtStep ?? 0) + (decision.action === 'advance' ? 1 : 0),
    passedAt: s.passedAt ?? (decision.action === 'advance' ? now : undefined),
    earlyAdvanceAtStep:
      s.earlyAdvanceAtStep ||
      (decision.action === 'advance' && decision.earlyAdvance === true) ||
      undefined,
    nextAnalysisAt: now + ctx.policy.analysis.intervalMs,
    lastAnalysisAction: decision.action,
    analysisErrors: failedToRun ? (s.analysisErrors ?? 0) + 1 : 0,
  };
  // Events only mark a change of the decision. A rollback's verdict is told
  // by its phase event ("Rolling back: analysis failed: …", committed next),
  // not once more just before it.
  const events: NewEvent[] =
    decision.action === 'advance' ||
    decision.action === 'rollback' ||
    decision.action === s.lastAnalysisAction
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
    keep,
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
