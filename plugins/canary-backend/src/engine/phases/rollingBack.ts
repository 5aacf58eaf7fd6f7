import type { PassContext } from '../context';
import { recordIntent } from '../intents';
import { finish } from '../transitions';

/** RollingBack: all traffic to stable, the canary scaled down, then the end the rollback names. */
export async function rollingBack(ctx: PassContext): Promise<boolean> {
  const { r } = ctx;
  const done = ctx.state.done ?? [];
  const to = ctx.state.rollback?.to ?? 'RolledBack';
  if (!r.state.topology) {
    await finish(ctx, to, r.message ?? 'Rolled back');
    return false;
  }
  if (!done.includes('route-stable')) {
    await recordIntent(ctx, {
      op: 'set-weight',
      weight: 0,
      headerRoute: false,
      stepIndex: -1,
      why: 'rollback',
    });
    return true;
  }
  if (!done.includes('scale-down-canary')) {
    await recordIntent(ctx, {
      op: 'scale',
      deployment: ctx.topology.canary.name,
      replicas: 0,
      why: 'scale-down-canary',
    });
    return true;
  }
  await finish(ctx, to, r.message ?? 'Rolled back');
  return false;
}
