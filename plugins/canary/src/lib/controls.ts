import type {
  Rollout,
  RolloutControl,
} from '@coalmine/backstage-plugin-canary-common';
import { workloadVersion } from './format';
import { phaseLabel } from './phases';

/** Button label of each control; also its accessible name. */
export const CONTROL_LABELS: Record<RolloutControl, string> = {
  promote: 'Promote',
  abort: 'Abort',
  pause: 'Pause',
  resume: 'Resume',
  approve: 'Approve',
  retry: 'Retry',
};

/** Title of the confirmation dialog of each control. */
export const CONTROL_QUESTIONS: Record<RolloutControl, string> = {
  promote: 'Promote the canary now?',
  abort: 'Abort this rollout?',
  pause: 'Pause this rollout?',
  resume: 'Resume this rollout?',
  approve: 'Approve the next step?',
  retry: 'Retry this rollout?',
};

function nextStepWeight(rollout: Rollout): number | undefined {
  return rollout.steps[rollout.stepIndex + 1]?.weight;
}

/** What pressing the control will do to this rollout, in plain words. */
export function describeControl(
  control: RolloutControl,
  rollout: Rollout,
): string {
  const canary = workloadVersion(rollout.canary);
  const stable = workloadVersion(rollout.stable);
  const next = nextStepWeight(rollout);
  switch (control) {
    case 'promote':
      return `Skip the remaining steps: ${canary} becomes the stable version and receives 100 % of the traffic. Analysis stops; ${stable} is retired.`;
    case 'abort':
      return `Send all traffic back to the stable version ${stable} now and scale the canary ${canary} down. The rollout ends as Aborted and cannot be resumed (you can retry it).`;
    case 'pause':
      return `Hold the canary at ${rollout.weight} % of the traffic. The schedule stops advancing until someone resumes it.`;
    case 'resume':
      return next === undefined
        ? `Continue the schedule from ${rollout.weight} %.`
        : `Continue the schedule: the next step sends ${next} % of the traffic to ${canary}.`;
    case 'approve':
      return next === undefined
        ? `Pass the manual approval gate at ${rollout.weight} % and let the rollout finish.`
        : `Pass the manual approval gate: the rollout moves on to ${next} % of the traffic to ${canary}.`;
    case 'retry':
      return `Start a new rollout of ${canary} against ${stable} from the first step (${
        rollout.steps[0]?.weight ?? 0
      } %), with the same policy "${rollout.policy}".`;
    default:
      return '';
  }
}

/** The sentence shown after a control succeeded. */
export function describeControlResult(
  control: RolloutControl,
  result: Rollout,
): string {
  const verbs: Record<RolloutControl, string> = {
    promote: 'Promotion requested',
    abort: 'Abort requested',
    pause: 'Rollout paused',
    resume: 'Rollout resumed',
    approve: 'Step approved',
    retry: 'New rollout started',
  };
  return `${verbs[control]}: the rollout is now ${phaseLabel(
    result.phase,
  ).toLowerCase()} at ${result.weight} %.`;
}
