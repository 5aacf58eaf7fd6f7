import { isAvailable, Readiness } from '../../domain/podHealth';
import type { PassContext } from '../context';
import { recordIntent } from '../intents';
import { waitForCanary } from './availability';

/** The rollout sizes its canary by the weight (`canaryScale: weight`, never with replica ratios). */
export function scalesWithWeight(ctx: PassContext): boolean {
  return (
    ctx.policy.canaryScale === 'weight' &&
    ctx.topology.shape !== 'replica-ratio'
  );
}

/**
 * Canary replicas a weight needs: the weight's share of the stable's
 * replicas, rounded up, and never fewer than the canary's own — so each
 * canary pod serves at most what a stable pod served before the rollout.
 * The canary's own count when the canary is not sized by the weight.
 */
export async function canaryReplicasAt(
  ctx: PassContext,
  weight: number,
): Promise<number> {
  const own = ctx.state.canaryReplicas ?? 1;
  if (!scalesWithWeight(ctx)) return own;
  const stable = await ctx
    .workloads()
    .readiness(ctx.r.namespace, ctx.topology.stable.name);
  return Math.max(own, Math.ceil((stable.desired * weight) / 100));
}

/**
 * Scales the canary to `replicas` for `weight`, once per weight (see
 * `EngineState.sizedFor`). True when the scale was recorded.
 */
export async function scaleCanaryFor(
  ctx: PassContext,
  weight: number,
  replicas: number,
  why: 'scale-up' | 'size-canary',
): Promise<boolean> {
  const canary = ctx.topology.canary.name;
  await recordIntent(
    ctx,
    { op: 'scale', deployment: canary, replicas, why },
    {
      message: `Scaling ${canary} to ${replicas} pods for ${weight} % of traffic`,
      state: { ...ctx.state, sizedFor: weight },
    },
  );
  return true;
}

/**
 * Before traffic moves to `weight`: scales the canary up to the replicas
 * the weight needs (once for this weight) and waits until the pods it has
 * are available (rolling back at the progress deadline). Undefined when the
 * canary is ready for the weight; true when a scale was recorded or a
 * rollback began; false while waiting.
 */
export async function sizeCanaryFor(
  ctx: PassContext,
  weight: number,
): Promise<boolean | undefined> {
  if (!scalesWithWeight(ctx)) return undefined;
  const readiness = await ctx
    .workloads()
    .readiness(ctx.r.namespace, ctx.topology.canary.name);
  if (await scaleUpFor(ctx, weight, readiness)) return true;
  if (!isAvailable(readiness)) return waitForCanary(ctx, readiness);
  return undefined;
}

/**
 * Sized by the weight and not yet sized for `weight` or more: scales a
 * running canary up when it has fewer pods than the weight needs. True when
 * the scale was recorded.
 */
export async function scaleUpFor(
  ctx: PassContext,
  weight: number,
  readiness: Pick<Readiness, 'desired'>,
): Promise<boolean> {
  const sizedFor = ctx.state.sizedFor;
  if (!scalesWithWeight(ctx) || (sizedFor !== undefined && sizedFor >= weight))
    return false;
  const replicas = await canaryReplicasAt(ctx, weight);
  if (readiness.desired >= replicas) return false;
  return scaleCanaryFor(ctx, weight, replicas, 'size-canary');
}
