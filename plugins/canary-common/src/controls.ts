import type { RolloutControl, RolloutPhase } from './types';

/**
 * The controls each phase offers, in the order the tab shows them. This is
 * the one rule: the engine refuses what a phase does not offer (409), the
 * router's retry check and the frontend's buttons read the same table.
 * Promoting and RollingBack are already moving traffic and finish by
 * themselves, so nothing is offered there.
 *
 * @public
 */
export const CONTROLS_BY_PHASE: Readonly<
  Record<RolloutPhase, ReadonlyArray<RolloutControl>>
> = {
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

/**
 * Controls that are already in effect in a phase: asking for them again
 * changes nothing and is not an error (controls are idempotent).
 */
const IN_EFFECT: Readonly<Record<RolloutPhase, ReadonlyArray<RolloutControl>>> =
  {
    Pending: ['resume'],
    Progressing: ['resume'],
    Paused: ['pause'],
    AwaitingApproval: ['resume'],
    Promoting: ['promote'],
    Succeeded: ['promote'],
    RollingBack: ['abort'],
    RolledBack: ['abort'],
    Aborted: ['abort'],
    Failed: ['abort'],
  };

/** Why a phase refuses a control, in words for a 409. */
function refusal(phase: RolloutPhase, control: RolloutControl): string {
  switch (control) {
    case 'pause':
      return 'only a pending, progressing or waiting rollout can be paused';
    case 'resume':
      return 'only a paused rollout can be resumed';
    case 'approve':
      return phase === 'Paused'
        ? 'the rollout is paused; resume it first'
        : 'no approval gate is waiting';
    case 'promote':
      return phase === 'Pending'
        ? 'the canary is not ready yet'
        : 'the rollout is rolling back or finished';
    case 'abort':
      return phase === 'Promoting'
        ? 'the promotion is already under way'
        : 'the rollout has succeeded; start a new one to go back';
    case 'retry':
      return 'only a failed, aborted or rolled back rollout can be retried';
    default:
      return `unknown control ${control as string}`;
  }
}

/**
 * What a control does in a rollout's state: `apply` (it changes the
 * rollout), `in-effect` (already so; nothing to do) or `refused` with the
 * reason. Promote is refused while the canary has no traffic yet.
 *
 * @public
 */
export type ControlVerdict =
  | { verdict: 'apply' }
  | { verdict: 'in-effect' }
  | { verdict: 'refused'; reason: string };

/** @public */
export function controlVerdict(
  rollout: { phase: RolloutPhase; stepIndex: number },
  control: RolloutControl,
): ControlVerdict {
  const { phase } = rollout;
  if (IN_EFFECT[phase]?.includes(control)) return { verdict: 'in-effect' };
  if (!CONTROLS_BY_PHASE[phase]?.includes(control)) {
    return { verdict: 'refused', reason: refusal(phase, control) };
  }
  if (control === 'promote' && rollout.stepIndex < 0) {
    return { verdict: 'refused', reason: 'the canary has no traffic yet' };
  }
  return { verdict: 'apply' };
}

/** The controls a phase offers. @public */
export function controlsForPhase(phase: RolloutPhase): RolloutControl[] {
  return [...(CONTROLS_BY_PHASE[phase] ?? [])];
}

/**
 * The controls that would change this rollout now: those of its phase,
 * without Promote while the canary has no traffic yet.
 *
 * @public
 */
export function controlsForRollout(rollout: {
  phase: RolloutPhase;
  stepIndex: number;
}): RolloutControl[] {
  return controlsForPhase(rollout.phase).filter(
    control => controlVerdict(rollout, control).verdict === 'apply',
  );
}
