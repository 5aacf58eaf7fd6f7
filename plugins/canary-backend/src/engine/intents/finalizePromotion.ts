import type { FinalizePromotionIntent } from '../../domain/types';
import type { PassContext } from '../context';

/** Routes all traffic to what is now stable and removes the header route. */
export async function applyFinalizePromotion(
  ctx: PassContext,
  _intent: FinalizePromotionIntent,
): Promise<void> {
  const topology = ctx.topology;
  await ctx.fence();
  await ctx.provider().finalizePromotion(topology);
  const versioned = topology.shape === 'versioned-subsets';
  // The weight tells the share of traffic on the new version, in every shape:
  // from here on all of it (with fixed subsets or a replica ratio, stable now
  // runs the canary's template), whatever step the promotion started from.
  await ctx.commit(
    {
      intent: null,
      weight: 100,
      ...(ctx.r.actualWeight !== null ? { actualWeight: 100 } : {}),
      state: {
        ...ctx.state,
        appliedWeight: versioned ? 100 : 0,
        done: [...(ctx.state.done ?? []), 'finalize'],
      },
    },
    [
      ctx.event(
        'weight',
        versioned
          ? `Route on ${topology.canary.name} alone; header route removed`
          : `All traffic on ${topology.stable.name}; header route removed`,
      ),
    ],
  );
}
