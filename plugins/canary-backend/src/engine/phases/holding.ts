import type { PassContext } from '../context';
import { hasDrifted, onDrift } from '../guards/drift';
import { guardCanaryPods } from '../guards/podHealth';

/** Paused or waiting for approval: nothing moves, but a crashing canary still rolls back. */
export async function holding(ctx: PassContext): Promise<boolean> {
  const { r } = ctx;
  if (r.stepIndex < 0 && r.state.resumeTo === 'Pending') return false;
  if (!(await guardCanaryPods(ctx))) return true;
  // A hand-edited weight is noticed while waiting, too.
  if (
    ctx.state.appliedWeight === undefined ||
    (r.phase === 'Paused' && ctx.policy.onManualWeightChange === 'pause')
  ) {
    return false;
  }
  const split = await ctx.provider().getSplit(ctx.topology);
  return hasDrifted(ctx, split.canaryWeight)
    ? onDrift(ctx, split.canaryWeight)
    : false;
}
