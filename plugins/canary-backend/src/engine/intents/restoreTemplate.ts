import type { RestoreTemplateIntent } from '../../domain/types';
import type { PassContext } from '../context';

/** Writes stable's pod template saved at start back (a promotion that could not finish). */
export async function applyRestoreTemplate(
  ctx: PassContext,
  _intent: RestoreTemplateIntent,
): Promise<void> {
  const saved = ctx.state.stableTemplate;
  const workloads = ctx.workloads();
  const stable = ctx.topology.stable.name;
  let wrote = false;
  if (saved && workloads.restoreTemplate) {
    await ctx.fence();
    wrote = await workloads.restoreTemplate(ctx.r.namespace, stable, saved);
  }
  let message = `${stable} already runs its template from before the rollout`;
  if (!saved) {
    message = `No saved template of ${stable}; it keeps the template it has`;
  } else if (wrote) {
    message = `${stable} runs its template from before the rollout again`;
  }
  await ctx.commit(
    {
      intent: null,
      state: {
        ...ctx.state,
        done: [...(ctx.state.done ?? []), 'restore-template'],
      },
    },
    [ctx.event('workload', message)],
  );
}
