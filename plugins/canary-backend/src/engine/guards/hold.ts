import type { PassContext } from '../context';
import { beginRollback } from '../transitions';

/** When the current hold began (older records: when the rollout last changed). */
export function holdSince(ctx: PassContext): number {
  return ctx.state.holdSince ?? ctx.r.updatedAt;
}

/**
 * A hold (Paused, AwaitingApproval) lasts at most the policy's `maxHold`:
 * a canary nobody looks at does not keep its share of the traffic forever.
 * True when it started a rollback.
 */
export async function guardMaxHold(ctx: PassContext): Promise<boolean> {
  const max = ctx.policy.maxHoldMs;
  if (max === undefined) return false;
  const held = ctx.now() - holdSince(ctx);
  if (held <= max) return false;
  await beginRollback(
    ctx,
    'RolledBack',
    `${
      ctx.r.phase === 'Paused' ? 'paused' : 'waiting for approval'
    } for ${Math.round(
      held / 1000,
    )} s, longer than the policy's maxHold (${Math.round(max / 1000)} s)`,
  );
  return true;
}
