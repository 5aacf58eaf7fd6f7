import type { PromoteTemplateIntent } from '../../domain/types';
import type { PassContext } from '../context';

/** Copies the canary's pod template to stable. */
export async function applyPromoteTemplate(
  ctx: PassContext,
  _intent: PromoteTemplateIntent,
): Promise<void> {
  await ctx.fence();
  await ctx.workloads().promoteTemplate(ctx.topology);
  await ctx.commit(
    {
      intent: null,
      state: {
        ...ctx.state,
        done: [...(ctx.state.done ?? []), 'promote-template'],
      },
    },
    [
      ctx.event(
        'workload',
        `${ctx.topology.stable.name} now runs the canary's pod template`,
      ),
    ],
  );
}
