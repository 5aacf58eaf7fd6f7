import { isAvailable } from '../../domain/podHealth';
import type { RolloutPatch } from '../../domain/types';
import type { PassContext } from '../context';
import { isGated } from '../guards/analysis';
import { awaitApproval, needsApproval } from '../guards/approval';
import { waitForCanary } from '../guards/availability';
import {
  scalesWithWeight,
  scaleUpFor,
  sizeCanaryFor,
} from '../guards/canarySize';
import { hasDrifted, onDrift } from '../guards/drift';
import { gateWebhooks } from '../guards/webhookGate';
import { recordIntent } from '../intents';
import { beginPromotion } from '../transitions';
import {
  analysisWhenDue,
  canaryPodsHealthy,
  canaryTemplateFixed,
  PhaseStep,
  runSteps,
} from './steps';

/**
 * The canary is available, and — sized by the weight — has the pods for the
 * weight it serves: a weight adopted from a hand edit (`onManualWeightChange:
 * adopt`) did not pass through `canarySizedForNextStep`, so its pods come now.
 */
const canaryAvailable: PhaseStep = {
  name: 'canary available',
  async run(ctx) {
    const readiness = await ctx
      .workloads()
      .readiness(ctx.r.namespace, ctx.topology.canary.name);
    if (await scaleUpFor(ctx, ctx.r.weight, readiness)) return true;
    return isAvailable(readiness) ? undefined : waitForCanary(ctx, readiness);
  },
};

/** The split is as written (else the drift policy acts); the measured split is recorded. */
const splitAsWritten: PhaseStep = {
  name: 'split as written',
  async run(ctx) {
    const split = await ctx.provider().getSplit(ctx.topology);
    if (hasDrifted(ctx, split.canaryWeight)) {
      return onDrift(ctx, split.canaryWeight);
    }
    const patch: RolloutPatch = {};
    const actual = split.actualWeight ?? null;
    if (actual !== ctx.r.actualWeight) patch.actualWeight = actual;
    if (ctx.state.waitingSince !== undefined) {
      patch.state = { ...ctx.state, waitingSince: undefined };
    }
    if (Object.keys(patch).length > 0) await ctx.commit(patch);
    return undefined;
  },
};

/** The step held long enough, and a gated rollout passed an analysis at it. */
const stepDwelled: PhaseStep = {
  name: 'step dwelled',
  async run(ctx) {
    const { r } = ctx;
    const ready =
      r.nextStepAt !== null &&
      (ctx.now() >= r.nextStepAt || ctx.state.earlyAdvanceAtStep === true) &&
      (!isGated(ctx) || (ctx.state.passedAtStep ?? 0) >= 1);
    return ready ? undefined : false;
  },
};

const approvalGate: PhaseStep = {
  name: 'approval gate',
  async run(ctx) {
    if (!needsApproval(ctx)) return undefined;
    await awaitApproval(ctx);
    return false;
  },
};

const stepWebhooks: PhaseStep = {
  name: 'step webhooks',
  async run(ctx) {
    const gate = await gateWebhooks(ctx, 'rollout', `step-${ctx.r.stepIndex}`);
    return gate === 'pass' ? undefined : gate === 'changed';
  },
};

/** At the last step: confirm-promotion webhooks, then Promoting. */
const promoteAtLastStep: PhaseStep = {
  name: 'promote at the last step',
  async run(ctx) {
    if (ctx.r.stepIndex !== ctx.r.steps.length - 1) return undefined;
    const gate = await gateWebhooks(ctx, 'confirm-promotion', 'promote');
    if (gate !== 'pass') return gate === 'changed';
    await beginPromotion(
      ctx,
      `All steps passed at ${ctx.r.weight} %; promoting the canary`,
    );
    return true;
  },
};

/** Sized by the weight: the canary has the pods the next step needs, available, before traffic moves. */
const canarySizedForNextStep: PhaseStep = {
  name: 'canary sized for the next step',
  run: ctx => sizeCanaryFor(ctx, ctx.r.steps[ctx.r.stepIndex + 1].weight),
};

const nextStep: PhaseStep = {
  name: 'next step',
  async run(ctx) {
    const next = ctx.r.steps[ctx.r.stepIndex + 1];
    await recordIntent(
      ctx,
      {
        op: 'set-weight',
        weight: next.weight,
        headerRoute: Boolean(ctx.policy.stickyHeader),
        stepIndex: ctx.r.stepIndex + 1,
        why: 'step',
      },
      {
        message: `Shifting ${next.weight} % of traffic to the canary`,
        // canarySizedForNextStep found the canary ready for this weight.
        ...(scalesWithWeight(ctx)
          ? { state: { ...ctx.state, sizedFor: next.weight } }
          : {}),
      },
    );
    return true;
  },
};

/** Progressing, as a list: each pass goes down it until a step ends the pass. */
const PROGRESSING: PhaseStep[] = [
  canaryPodsHealthy,
  canaryTemplateFixed,
  canaryAvailable,
  splitAsWritten,
  analysisWhenDue,
  stepDwelled,
  approvalGate,
  stepWebhooks,
  promoteAtLastStep,
  canarySizedForNextStep,
  nextStep,
];

/** Progressing: judges the canary at its step and moves to the next one. */
export function progressing(ctx: PassContext): Promise<boolean> {
  return runSteps(ctx, PROGRESSING);
}
