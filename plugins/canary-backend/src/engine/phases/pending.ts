import { isAvailable } from '../../domain/podHealth';
import type { PassContext } from '../context';
import { waitForCanary } from '../guards/availability';
import {
  canaryReplicasAt,
  scaleCanaryFor,
  scalesWithWeight,
  scaleUpFor,
} from '../guards/canarySize';
import { guardCanaryPods, readRestartBaseline } from '../guards/podHealth';
import { canaryTemplateHash } from '../guards/template';
import { gateWebhooks } from '../guards/webhookGate';
import { recordIntent } from '../intents';
import { beginFirstStep } from '../transitions';
import { PhaseStep, runSteps } from './steps';

/** Pre-rollout webhooks, once. */
const preRolloutWebhooks: PhaseStep = {
  name: 'pre-rollout webhooks',
  async run(ctx) {
    const gate = await gateWebhooks(ctx, 'pre-rollout', 'start');
    return gate === 'pass' ? undefined : gate === 'changed';
  },
};

/** The canary runs the requested image / version. */
const prepareCanary: PhaseStep = {
  name: 'prepare the canary',
  async run(ctx) {
    const { image, version } = ctx.r.spec.request;
    if ((image || version) && !(ctx.state.done ?? []).includes('prepare')) {
      await recordIntent(ctx, { op: 'prepare-canary', image, version });
      return true;
    }
    return undefined;
  },
};

/** The canary has the replicas the first step needs, healthy pods, and is available (not for replica ratios: step 1 scales it). */
const canaryUp: PhaseStep = {
  name: 'canary scaled up and available',
  async run(ctx) {
    if (ctx.topology.shape === 'replica-ratio') return undefined;
    const canaryName = ctx.topology.canary.name;
    const readiness = await ctx
      .workloads()
      .readiness(ctx.r.namespace, canaryName);
    const first = ctx.r.steps[0].weight;
    if (readiness.desired === 0) {
      if (!(ctx.state.done ?? []).includes('scale-up')) {
        const replicas = await canaryReplicasAt(ctx, first);
        return scaleCanaryFor(ctx, first, replicas, 'scale-up');
      }
      // Scaled to zero by hand after the scale-up: the wait below rolls back at the deadline.
    } else if (await scaleUpFor(ctx, first, readiness)) {
      // Sized by the weight: a canary already running gets the first step's pods.
      return true;
    }
    if (!(await guardCanaryPods(ctx))) return true;
    if (!isAvailable(readiness)) return waitForCanary(ctx, readiness);
    return undefined;
  },
};

/** First weight: the rollout is under way. */
const firstStep: PhaseStep = {
  name: 'first step',
  async run(ctx) {
    const baseline =
      ctx.state.baselineRestarts ?? (await readRestartBaseline(ctx));
    // Fixed now: what the analysis judges, and what a failed promotion restores.
    const canaryTemplate = await canaryTemplateHash(ctx);
    const workloads = ctx.workloads();
    const stableTemplate =
      ctx.state.stableTemplate ??
      (ctx.topology.shape !== 'versioned-subsets' && workloads.readTemplate
        ? await workloads.readTemplate(
            ctx.r.namespace,
            ctx.topology.stable.name,
          )
        : undefined);
    const first = ctx.r.steps[0];
    await beginFirstStep(
      ctx,
      `Shifting ${first.weight} % of traffic to the canary`,
      {
        ...ctx.state,
        baselineRestarts: baseline,
        canaryTemplate,
        stableTemplate,
        waitingSince: undefined,
        // canaryUp found the canary ready for the first weight.
        ...(scalesWithWeight(ctx) ? { sizedFor: first.weight } : {}),
      },
      [
        ctx.phaseEvent(
          'Progressing',
          'Canary available; starting the first step',
        ),
      ],
    );
    return true;
  },
};

const PENDING: PhaseStep[] = [
  preRolloutWebhooks,
  prepareCanary,
  canaryUp,
  firstStep,
];

/** Pending: gets the canary ready and shifts the first step's traffic to it. */
export function pending(ctx: PassContext): Promise<boolean> {
  return runSteps(ctx, PENDING);
}
