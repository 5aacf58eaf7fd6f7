import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import {
  RollbackEnd,
  RolloutPatch,
  RolloutRecord,
  isForwardIntent,
} from '../domain/types';
import type { NewEvent } from '../domain/types';
import type { PassContext } from './context';
import { recordIntent } from './intents';
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
  const pending = ctx.r.intent;
  const superseded = pending !== null && isForwardIntent(pending);
  return ctx.commit(
    {
      phase: 'RollingBack',
      message: `Rolling back: ${cause}`,
      nextStepAt: null,
      nextRunAt: null,
      // A rollback supersedes any forward write still pending.
      ...(superseded ? { intent: null } : {}),
      state: {
        ...ctx.state,
        done: [],
        rollback: { to, cause, actor, from: ctx.r.phase },
        resumeTo: undefined,
        holdSince: undefined,
      },
    },
    [
      ctx.phaseEvent('RollingBack', `Rolling back: ${cause}`, actor),
      ...(superseded
        ? [
            ctx.event(
              'intent',
              `Pending ${pending!.op} superseded by the rollback`,
              { intent: pending },
            ),
          ]
        : []),
    ],
  );
}

/** Shifts the traffic of the first step: where a rollout starts, and where a restart begins again. */
export async function beginFirstStep(
  ctx: PassContext,
  message: string,
  state: RolloutRecord['state'],
  events: NewEvent[],
): Promise<void> {
  const first = ctx.r.steps[0];
  await recordIntent(
    ctx,
    {
      op: 'set-weight',
      weight: first.weight,
      headerRoute: Boolean(ctx.policy.stickyHeader),
      stepIndex: 0,
      why: 'step',
    },
    { phase: 'Progressing', message, state },
    events,
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

/** Ends the rollout in a terminal phase; its commit queues the post-rollout webhooks. */
export async function finish(
  ctx: PassContext,
  phase: RolloutPhase,
  message: string,
  extra: RolloutPatch = {},
): Promise<RolloutRecord> {
  const updated = await ctx.commit(
    {
      ...extra,
      phase,
      message,
      finishedAt: ctx.now(),
      nextStepAt: null,
      nextRunAt: null,
      intent: null,
    },
    [ctx.phaseEvent(phase, message)],
  );
  return updated;
}

/**
 * Removes what the rollout recorded on cluster objects (annotations of the
 * traffic provider). A step of the promotion and rollback plans, so it is
 * done before every terminal phase and retried like any cluster call.
 */
export async function releaseObjects(ctx: PassContext): Promise<void> {
  const provider = ctx.provider();
  if (provider.release) {
    await ctx.fence();
    await provider.release(ctx.topology);
  }
  await ctx.commit({
    state: { ...ctx.state, done: [...(ctx.state.done ?? []), 'release'] },
  });
}
