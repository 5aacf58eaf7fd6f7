import { restartBaseline } from '../../domain/podHealth';
import type { PassContext } from '../context';

import { beginFirstStep, beginRollback } from '../transitions';

/** The canary's pod template hash now, as the detector keys it. */
export async function canaryTemplateHash(
  ctx: PassContext,
): Promise<string | undefined> {
  return ctx
    .workloads()
    .templateHash(ctx.r.namespace, ctx.topology.canary.name);
}

/**
 * The canary's pod template is fixed when the first step begins. When CI or
 * a person changes it mid-rollout, what was judged is no longer what runs:
 * by policy, the analysis starts again from the first step with the new
 * template, or the rollout rolls back. True when it acted (the pass goes on
 * with a fresh read).
 */
export async function guardCanaryTemplate(ctx: PassContext): Promise<boolean> {
  const fixed = ctx.state.canaryTemplate;
  if (!fixed) return false;
  const now = await canaryTemplateHash(ctx);
  if (!now || now === fixed) return false;
  const what = `the canary's pod template changed during the rollout (${fixed} → ${now})`;
  const canaryName = ctx.topology.canary.name;
  // The detector must not start another rollout for the template this one handles.
  await ctx.deps.store.setWatchedHash(
    ctx.r.entityRef,
    ctx.r.cluster,
    `${canaryName}@${now}`,
  );
  if ((ctx.policy.onTemplateChange ?? 'restart') === 'abort') {
    await beginRollback(ctx, 'RolledBack', what);
    return true;
  }
  const health = await ctx.workloads().podHealth(ctx.r.namespace, canaryName);
  const first = ctx.r.steps[0];
  await beginFirstStep(
    ctx,
    `${what}; judging the new template from the first step`,
    {
      ...ctx.state,
      canaryTemplate: now,
      baselineRestarts: restartBaseline(health),
      analysisState: undefined,
      failedChecks: 0,
      passedAtStep: 0,
      lastAnalysisAction: undefined,
      approvedSteps: [],
      webhooksPassed: (ctx.state.webhooksPassed ?? []).filter(
        id => !id.includes('@step-') && !id.endsWith('@promote'),
      ),
      resumeTo: undefined,
      holdSince: undefined,
    },
    [
      ctx.event(
        'template',
        `Canary template changed (${fixed} → ${now}); the analysis restarts at step 1 (${first.weight} %)`,
        { from: fixed, to: now, policy: 'restart' },
      ),
    ],
  );
  return true;
}
