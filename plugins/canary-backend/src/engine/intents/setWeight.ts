import { stepDwellMs } from '../../domain/schedule';
import type {
  EngineState,
  NewEvent,
  RolloutPatch,
  SetWeightIntent,
} from '../../domain/types';
import type { PassContext } from '../context';

/**
 * Writes a canary weight. Read first when the write may already have
 * happened (a resumed intent) or when the weight does not change; a fresh
 * step to a new weight goes straight to the provider, which reads before it
 * writes. The effect: the next step begins, all traffic is back on stable,
 * or a hand-edited weight is undone.
 */
export async function applySetWeight(
  ctx: PassContext,
  intent: SetWeightIntent,
  resumed: boolean,
): Promise<void> {
  const { r } = ctx;
  const provider = ctx.provider();
  let split =
    resumed || intent.weight === r.weight
      ? await provider.getSplit(ctx.topology)
      : undefined;
  const already =
    split !== undefined &&
    split.canaryWeight === intent.weight &&
    split.headerRoute === intent.headerRoute;
  if (!already || !split) {
    await ctx.fence();
    split = await provider.setSplit(ctx.topology, {
      canaryWeight: intent.weight,
      headerRoute: intent.headerRoute,
    });
  }
  const now = ctx.now();
  const state: EngineState = {
    ...ctx.state,
    appliedWeight: split.canaryWeight,
  };
  const patch: RolloutPatch = {
    intent: null,
    weight: intent.weight,
    actualWeight: split.actualWeight ?? null,
  };
  const events: NewEvent[] = [];
  switch (intent.why) {
    case 'step': {
      const step = r.steps[intent.stepIndex];
      Object.assign(state, {
        stepStartedAt: now,
        passedAtStep: 0,
        passedAt: undefined,
        earlyAdvanceAtStep: undefined,
        nextAnalysisAt: now + ctx.policy.analysis.intervalMs,
        webhookFailures: 0,
      });
      patch.stepIndex = intent.stepIndex;
      patch.nextStepAt = now + stepDwellMs(ctx.policy, step);
      patch.message = `Canary at ${intent.weight} % (step ${
        intent.stepIndex + 1
      } of ${r.steps.length})`;
      events.push(
        ctx.event(
          'step',
          `Canary weight ${intent.weight} % (step ${intent.stepIndex + 1} of ${
            r.steps.length
          })${
            split.actualWeight !== undefined &&
            split.actualWeight !== intent.weight
              ? `; actual ${split.actualWeight} %`
              : ''
          }`,
          {
            weight: intent.weight,
            stepIndex: intent.stepIndex,
            actualWeight: split.actualWeight ?? null,
            engine: ctx.deps.owner,
            // When the step fell due (the previous step's dwell ended and,
            // when gated, an analysis passed at it) and when its weight was
            // written: how late the engine was.
            ...(intent.stepIndex === r.stepIndex + 1 && r.nextStepAt !== null
              ? {
                  dueAt: Math.max(r.nextStepAt, ctx.state.passedAt ?? 0),
                  writtenAt: now,
                }
              : {}),
          },
        ),
      );
      break;
    }
    case 'rollback':
      state.done = [...(ctx.state.done ?? []), 'route-stable'];
      events.push(
        ctx.event('weight', 'All traffic back on stable', { weight: 0 }),
      );
      break;
    case 'restore':
      events.push(
        ctx.event('weight', `Restored canary weight ${intent.weight} %`, {
          weight: intent.weight,
        }),
      );
      break;
    default:
      throw new Error(`Unknown weight reason ${intent.why as string}`);
  }
  patch.state = state;
  await ctx.commit(patch, events);
}
