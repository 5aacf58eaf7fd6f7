import type { PassContext } from '../context';
import { analysisDue, runAnalysis } from '../guards/analysis';
import { guardCanaryPods } from '../guards/podHealth';
import { guardCanaryTemplate } from '../guards/template';

/**
 * A named step of a phase. It returns `undefined` to go on to the next step,
 * or ends the phase for this pass: true when another transition may follow at
 * once, false when the rollout waits for a later pass.
 */
export interface PhaseStep {
  name: string;
  run(ctx: PassContext): Promise<boolean | undefined>;
}

/** Runs the steps in order until one ends the phase. */
export async function runSteps(
  ctx: PassContext,
  steps: PhaseStep[],
): Promise<boolean> {
  for (const step of steps) {
    const result = await step.run(ctx);
    if (result !== undefined) return result;
  }
  return false;
}

/** The canary's pods are healthy (else the pod-health guard rolls back). */
export const canaryPodsHealthy: PhaseStep = {
  name: 'canary pods healthy',
  async run(ctx) {
    return (await guardCanaryPods(ctx)) ? undefined : true;
  },
};

/** The canary runs the template judged so far (else the template policy acts). */
export const canaryTemplateFixed: PhaseStep = {
  name: 'canary template as judged',
  async run(ctx) {
    return (await guardCanaryTemplate(ctx)) ? true : undefined;
  },
};

/** The analysis runs when due, also while a hold keeps the weight. */
export const analysisWhenDue: PhaseStep = {
  name: 'analysis when due',
  async run(ctx) {
    if (!analysisDue(ctx)) return undefined;
    await runAnalysis(ctx);
    return true;
  },
};
