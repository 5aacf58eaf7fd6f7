import { isForwardIntent } from '../../domain/types';
import type { PassContext } from '../context';
import { applyIntent } from '../intents';
import { bindingHolds } from '../guards/binding';
import { holding } from './holding';
import { pending } from './pending';
import { progressing } from './progressing';
import { promoting } from './promoting';
import { rollingBack } from './rollingBack';

/**
 * One transition of the state machine; true when another may follow at once.
 * The binding guard runs first; then an intent found at the start of a pass
 * (a replica died mid-write) is re-applied.
 */
export async function advance(ctx: PassContext): Promise<boolean> {
  // Before any write of this pass: is the workload still bound to the component?
  if (!(await bindingHolds(ctx))) return true;
  const intent = ctx.r.intent;
  if (intent) {
    if (ctx.r.phase === 'RollingBack' && isForwardIntent(intent)) {
      // A rollback supersedes forward writes: drop it, never apply it.
      await ctx.commit({ intent: null }, [
        ctx.event('intent', `Pending ${intent.op} superseded by the rollback`, {
          intent,
        }),
      ]);
      return true;
    }
    await applyIntent(ctx, true);
    return true;
  }
  switch (ctx.r.phase) {
    case 'Pending':
      return pending(ctx);
    case 'Progressing':
      return progressing(ctx);
    case 'Paused':
    case 'AwaitingApproval':
      return holding(ctx);
    case 'Promoting':
      return promoting(ctx);
    case 'RollingBack':
      return rollingBack(ctx);
    default:
      return false;
  }
}
