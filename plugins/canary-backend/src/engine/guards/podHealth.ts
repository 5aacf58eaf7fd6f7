import {
  PodHealthSnapshot,
  judgePodHealth,
  restartBaseline,
} from '../../domain/podHealth';
import type { PassContext } from '../context';
import { beginRollback } from '../transitions';

/**
 * Reads the canary's pods and rolls back when they restarted more often than
 * the policy allows since the rollout started. Returns the pods read (kept on
 * the context for the analysis), or undefined when it started a rollback.
 */
export async function guardCanaryPods(
  ctx: PassContext,
): Promise<PodHealthSnapshot | undefined> {
  const health = await ctx
    .workloads()
    .podHealth(ctx.r.namespace, ctx.topology.canary.name);
  const verdict = judgePodHealth(
    health,
    ctx.state.baselineRestarts ?? {},
    ctx.policy.maxCanaryRestarts,
  );
  if (verdict.unhealthy) {
    await beginRollback(ctx, 'RolledBack', verdict.summary);
    return undefined;
  }
  ctx.podHealth = health;
  return health;
}

/** Restarts per canary pod now: the baseline the rollout counts from. */
export async function readRestartBaseline(ctx: PassContext) {
  return restartBaseline(
    await ctx.workloads().podHealth(ctx.r.namespace, ctx.topology.canary.name),
  );
}
