import type { NewEvent } from '../../domain/types';
import type { PassContext } from '../context';
import { recordIntent } from '../intents';
import { ENGINE_ACTOR } from '../notifications';
import { beginRollback } from '../transitions';

/** True when the cluster's weight is not the one the engine wrote last. */
export function hasDrifted(ctx: PassContext, found: number): boolean {
  const applied = ctx.state.appliedWeight;
  return applied !== undefined && found !== applied;
}

/**
 * The weight was changed outside Coalmine: adopt it, pause, roll back or
 * restore it, as the policy says. True when another transition may follow.
 */
export async function onDrift(
  ctx: PassContext,
  found: number,
): Promise<boolean> {
  const { policy } = ctx;
  const event: NewEvent = {
    type: 'drift',
    message: `Canary weight changed outside Coalmine: expected ${ctx.state.appliedWeight} %, found ${found} % (policy: ${policy.onManualWeightChange})`,
    actor: ENGINE_ACTOR,
    data: {
      expected: ctx.state.appliedWeight,
      found,
      action: policy.onManualWeightChange,
    },
  };
  switch (policy.onManualWeightChange) {
    case 'adopt':
      await ctx.commit(
        { weight: found, state: { ...ctx.state, appliedWeight: found } },
        [event],
      );
      return false;
    case 'pause':
      await ctx.commit(
        {
          phase: 'Paused',
          weight: found,
          message: `Paused: the weight was changed by hand to ${found} %`,
          state: {
            ...ctx.state,
            appliedWeight: found,
            resumeTo: 'Progressing',
            holdSince: ctx.now(),
          },
        },
        [
          event,
          ctx.phaseEvent('Paused', 'Paused after a manual weight change'),
        ],
      );
      return false;
    case 'rollback':
      await ctx.commit({}, [event]);
      await beginRollback(
        ctx,
        'RolledBack',
        `the weight was changed by hand to ${found} %`,
      );
      return true;
    default:
      await recordIntent(
        ctx,
        {
          op: 'set-weight',
          weight: ctx.r.weight,
          headerRoute: Boolean(policy.stickyHeader),
          stepIndex: ctx.r.stepIndex,
          why: 'restore',
        },
        {},
        [event],
      );
      return true;
  }
}
