import type {
  RolloutControl,
  RolloutPhase,
} from '@coalmine/backstage-plugin-canary-common';

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
 * The controls that make sense in each phase, in the order they are shown.
 *
 * The backend is the judge (it answers 409 when a phase does not allow a
 * control); this table only keeps buttons that cannot work out of sight.
 * Promoting and RollingBack are already moving traffic and finish by
 * themselves, so nothing is offered there.
 */
const CONTROLS_BY_PHASE: Record<RolloutPhase, RolloutControl[]> = {
  Pending: ['pause', 'abort'],
  Progressing: ['pause', 'promote', 'abort'],
  Paused: ['resume', 'promote', 'abort'],
  AwaitingApproval: ['approve', 'pause', 'promote', 'abort'],
  Promoting: [],
  RollingBack: [],
  Succeeded: [],
  RolledBack: ['retry'],
  Aborted: ['retry'],
  Failed: ['retry'],
};

/** @internal */
export function controlsForPhase(phase: RolloutPhase): RolloutControl[] {
  return CONTROLS_BY_PHASE[phase] ?? [];
}

/**
 * The controls for a rollout: those of its phase, without Promote while the
 * canary has no traffic yet (there is nothing proven to promote).
 * @internal
 */
export function controlsForRollout(rollout: {
  phase: RolloutPhase;
  stepIndex: number;
}): RolloutControl[] {
  return controlsForPhase(rollout.phase).filter(
    control => control !== 'promote' || rollout.stepIndex >= 0,
  );
}

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
