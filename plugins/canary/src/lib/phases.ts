import {
  controlsForPhase,
  controlsForRollout,
} from '@coalmine/backstage-plugin-canary-common';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';

/** Words for a phase, as people say them. */
const PHASE_LABELS: Record<RolloutPhase, string> = {
  Pending: 'Pending',
  Progressing: 'Progressing',
  Paused: 'Paused',
  AwaitingApproval: 'Awaiting approval',
  Promoting: 'Promoting',
  Succeeded: 'Succeeded',
  RollingBack: 'Rolling back',
  RolledBack: 'Rolled back',
  Aborted: 'Aborted',
  Failed: 'Failed',
};

/** @internal */
export function phaseLabel(phase: RolloutPhase): string {
  return PHASE_LABELS[phase] ?? phase;
}

/**
 * The controls of a phase and of a rollout come from canary-common, where the
 * engine and the router read the same rule; the backend still judges (409).
 */
export { controlsForPhase, controlsForRollout };

/** How a phase should look: which core-components Status it maps to. */
export type PhaseTone =
  | 'ok'
  | 'running'
  | 'pending'
  | 'warning'
  | 'error'
  | 'aborted';

const PHASE_TONES: Record<RolloutPhase, PhaseTone> = {
  Pending: 'pending',
  Progressing: 'running',
  Paused: 'pending',
  AwaitingApproval: 'warning',
  Promoting: 'running',
  Succeeded: 'ok',
  RollingBack: 'warning',
  RolledBack: 'error',
  Aborted: 'aborted',
  Failed: 'error',
};

/** @internal */
export function phaseTone(phase: RolloutPhase): PhaseTone {
  return PHASE_TONES[phase] ?? 'pending';
}
