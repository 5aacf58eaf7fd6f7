import type { Readiness } from '../../domain/podHealth';
import type { PassContext } from '../context';
import { beginRollback } from '../transitions';

/**
 * The canary is not available: note since when and wait, or roll back once
 * the progress deadline passed. True when a rollback started.
 */
export async function waitForCanary(
  ctx: PassContext,
  readiness: Pick<Readiness, 'desired' | 'available'>,
): Promise<boolean> {
  const now = ctx.now();
  const since = ctx.state.waitingSince;
  if (since === undefined) {
    await ctx.commit({
      state: { ...ctx.state, waitingSince: now },
      message: `Waiting for the canary: ${readiness.available}/${readiness.desired} pods available`,
    });
    return false;
  }
  if (now - since > ctx.policy.progressDeadlineMs) {
    await beginRollback(
      ctx,
      'RolledBack',
      `canary not available within the progress deadline (${Math.round(
        ctx.policy.progressDeadlineMs / 1000,
      )} s): ${readiness.available}/${readiness.desired} pods available`,
    );
    return true;
  }
  return false;
}
