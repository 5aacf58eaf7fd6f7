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
  await ctx.commit(
    {
      intent: null,
      weight: versioned ? 100 : ctx.r.weight,
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
