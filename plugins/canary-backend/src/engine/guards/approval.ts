import type { PassContext } from '../context';

/** True when the current step has an approval gate nobody passed yet. */
export function needsApproval(ctx: PassContext): boolean {
  const step = ctx.r.steps[ctx.r.stepIndex];
  return Boolean(
    step?.approval &&
      !(ctx.state.approvedSteps ?? []).includes(ctx.r.stepIndex),
  );
}

/** Stops at the approval gate of the current step. */
export async function awaitApproval(ctx: PassContext): Promise<void> {
  await ctx.commit(
    {
      phase: 'AwaitingApproval',
      message: `Waiting for approval at ${ctx.r.weight} %`,
      state: { ...ctx.state, holdSince: ctx.now() },
    },
    [
      ctx.phaseEvent(
        'AwaitingApproval',
        `Step ${ctx.r.stepIndex + 1} (${ctx.r.weight} %) needs approval`,
      ),
    ],
  );
}
