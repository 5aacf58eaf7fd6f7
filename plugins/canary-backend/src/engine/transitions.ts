import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import type { RollbackEnd, RolloutRecord } from '../domain/types';
import type { PassContext } from './context';
import { ENGINE_ACTOR } from './notifications';

/**
 * The phase changes every phase and guard may make. Each is one commit with
 * its phase event, so the timeline always says why a rollout moved.
 */

/** Starts a rollback: all traffic back on stable, then the canary scaled down. */
export async function beginRollback(
  ctx: PassContext,
  to: RollbackEnd,
  cause: string,
  actor = ENGINE_ACTOR,
): Promise<RolloutRecord> {
  return ctx.commit(
    {
      phase: 'RollingBack',
      message: `Rolling back: ${cause}`,
      nextStepAt: null,
      state: {
        ...ctx.state,
        done: [],
        rollback: { to, cause, actor },
        resumeTo: undefined,
      },
    },
    [ctx.phaseEvent('RollingBack', `Rolling back: ${cause}`, actor)],
  );
}

/** Moves to Promoting: the promotion plan runs from its first operation. */
export async function beginPromotion(
  ctx: PassContext,
  message: string,
): Promise<RolloutRecord> {
  return ctx.commit(
    {
      phase: 'Promoting',
      message: 'Promoting the canary',
      nextStepAt: null,
      state: { ...ctx.state, done: [] },
    },
    [ctx.phaseEvent('Promoting', message)],
  );
}

/** Ends the rollout in a terminal phase and tells the post-rollout webhooks. */
export async function finish(
  ctx: PassContext,
  phase: RolloutPhase,
  message: string,
): Promise<RolloutRecord> {
  const updated = await ctx.commit(
    {
      phase,
      message,
      finishedAt: ctx.now(),
      nextStepAt: null,
      nextRunAt: null,
      intent: null,
    },
    [ctx.phaseEvent(phase, message)],
  );
  ctx.deps.notifier.finished(updated);
  return updated;
}
