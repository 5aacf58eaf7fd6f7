import type { PassContext } from '../context';
import { recordIntent } from '../intents';
import { finish, releaseObjects } from '../transitions';

/** What a rollback says when it ends: why it ran, and what runs now. */
function endMessage(ctx: PassContext): string {
  const rollback = ctx.state.rollback;
  const cause = rollback?.cause ?? ctx.r.message ?? 'rolled back';
  const restored = (ctx.state.done ?? []).includes('restore-template')
    ? `; ${ctx.topology.stable.name} runs its template from before the rollout`
    : '';
  switch (rollback?.to ?? 'RolledBack') {
    case 'Aborted':
      return `Aborted: ${cause}; all traffic on stable${restored}`;
    case 'Failed':
      return `Failed: ${cause}; all traffic on stable${restored}`;
    default:
      return `Rolled back: ${cause}; all traffic on stable${restored}`;
  }
}

/**
 * RollingBack: stable's template back when a promotion had begun, all
 * traffic to stable, the canary scaled down, the rollout's marks removed from
 * the objects, then the end the rollback names. Forward intents never run
 * here (see phases/index.ts); errors are retried for as long as it takes
 * (failures.ts).
 */
export async function rollingBack(ctx: PassContext): Promise<boolean> {
  const done = ctx.state.done ?? [];
  const to = ctx.state.rollback?.to ?? 'RolledBack';
  if (!ctx.r.state.topology) {
    await finish(ctx, to, ctx.r.message ?? 'Rolled back');
    return false;
  }
  if (
    ctx.state.rollback?.from === 'Promoting' &&
    ctx.topology.shape !== 'versioned-subsets' &&
    !done.includes('restore-template')
  ) {
    await recordIntent(ctx, { op: 'restore-template' });
    return true;
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
  if (!done.includes('release')) {
    await releaseObjects(ctx);
    return true;
  }
  await finish(ctx, to, endMessage(ctx), {
    state: { ...ctx.state, rollbackRetry: undefined },
  });
  return false;
}
