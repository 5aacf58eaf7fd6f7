import { isNotFound } from '../../domain/errors';
import type { ScaleIntent } from '../../domain/types';
import type { PassContext } from '../context';

/** Scales a Deployment unless it already has the replicas; records the step it completes. */
export async function applyScale(
  ctx: PassContext,
  intent: ScaleIntent,
): Promise<void> {
  const workloads = ctx.workloads();
  try {
    const readiness = await workloads.readiness(
      ctx.r.namespace,
      intent.deployment,
    );
    if (readiness.desired !== intent.replicas) {
      await ctx.fence();
      await workloads.scale(
        ctx.r.namespace,
        intent.deployment,
        intent.replicas,
      );
    }
  } catch (e) {
    // Scaling to zero a Deployment that is gone: what the step wanted is so.
    if (!(intent.replicas === 0 && isNotFound(e))) throw e;
  }
  await ctx.commit(
    {
      intent: null,
      state: { ...ctx.state, done: [...(ctx.state.done ?? []), intent.why] },
    },
    [
      ctx.event(
        'workload',
        `Scaled ${intent.deployment} to ${intent.replicas}`,
        {
          deployment: intent.deployment,
          replicas: intent.replicas,
        },
      ),
    ],
  );
}
