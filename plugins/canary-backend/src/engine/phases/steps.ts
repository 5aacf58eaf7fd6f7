import type { PassContext } from '../context';

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
