import type { PassContext } from '../context';
import { hasDrifted, onDrift } from '../guards/drift';
import { guardMaxHold } from '../guards/hold';
import {
  analysisWhenDue,
  canaryPodsHealthy,
  canaryTemplateFixed,
  PhaseStep,
  runSteps,
} from './steps';

const notHeldTooLong: PhaseStep = {
  name: 'not held longer than maxHold',
  async run(ctx) {
    return (await guardMaxHold(ctx)) ? true : undefined;
  },
};

/** A hand-edited weight is noticed while waiting, too. */
const splitAsWritten: PhaseStep = {
  name: 'split as written',
  async run(ctx) {
    if (
      ctx.state.appliedWeight === undefined ||
      (ctx.r.phase === 'Paused' && ctx.policy.onManualWeightChange === 'pause')
    ) {
      return false;
    }
    const split = await ctx.provider().getSplit(ctx.topology);
    return hasDrifted(ctx, split.canaryWeight)
      ? onDrift(ctx, split.canaryWeight)
      : false;
  },
};

const HOLDING: PhaseStep[] = [
  canaryPodsHealthy,
  canaryTemplateFixed,
  notHeldTooLong,
  analysisWhenDue,
  splitAsWritten,
];

/**
 * Paused or waiting for approval: the weight stays, but the hold is watched —
 * pod health, the canary's template, the analysis and maxHold — and a
 * regression rolls back.
 */
export async function holding(ctx: PassContext): Promise<boolean> {
  if (ctx.r.stepIndex < 0 && ctx.state.resumeTo === 'Pending') {
    // Paused before the canary had traffic: only the hold's limit applies.
    return guardMaxHold(ctx);
  }
  return runSteps(ctx, HOLDING);
}
