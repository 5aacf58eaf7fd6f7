import type {
  Intent,
  IntentOp,
  NewEvent,
  RolloutPatch,
} from '../../domain/types';
import { isForwardIntent } from '../../domain/types';
import type { PassContext } from '../context';
import { bindingHolds } from '../guards/binding';
import { applyFinalizePromotion } from './finalizePromotion';
import { applyPrepareCanary } from './prepareCanary';
import { applyPromoteTemplate } from './promoteTemplate';
import { applyRestoreTemplate } from './restoreTemplate';
import { applyScale } from './scale';
import { applySetWeight } from './setWeight';

type IntentHandler<K extends IntentOp> = (
  ctx: PassContext,
  intent: Extract<Intent, { op: K }>,
  resumed: boolean,
) => Promise<void>;

/** One handler per kind of intent; the compiler checks none is missing. */
const HANDLERS: { [K in IntentOp]: IntentHandler<K> } = {
  'set-weight': applySetWeight,
  scale: applyScale,
  'prepare-canary': applyPrepareCanary,
  'promote-template': applyPromoteTemplate,
  'finalize-promotion': applyFinalizePromotion,
  'restore-template': applyRestoreTemplate,
};

/**
 * Makes the write the stored intent describes (idempotently) and records its
 * effect in the same commit that clears the intent. `resumed`: the intent was
 * found at the start of a pass, so the write may already have happened.
 */
export async function applyIntent(
  ctx: PassContext,
  resumed: boolean,
): Promise<void> {
  const intent = ctx.r.intent;
  if (!intent) return;
  const handler = HANDLERS[intent.op] as IntentHandler<IntentOp> | undefined;
  if (!handler) throw new Error(`Unknown intent ${intent.op as string}`);
  await handler(ctx, intent, resumed);
}

/** Stores an intent (with a patch and events), then applies it at once. */
export async function recordIntent(
  ctx: PassContext,
  intent: Intent,
  patch: RolloutPatch = {},
  events: NewEvent[] = [],
): Promise<void> {
  // A forward write needs a binding checked in this pass (guards/binding.ts).
  if (
    isForwardIntent(intent) &&
    !(await bindingHolds(ctx, { beforeWrite: true }))
  ) {
    return;
  }
  await ctx.commit({ ...patch, intent }, events);
  await applyIntent(ctx, false);
}
