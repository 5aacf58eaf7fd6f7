import { ConflictError } from '@backstage/errors';
import type { RolloutControl } from '@coalmine/backstage-plugin-canary-common';
import type { NewEvent, RolloutPatch, RolloutRecord } from './types';
import { stepDwellMs } from './schedule';

/** What a control does to a rollout: a patch, or nothing when it is already in effect. */
export interface ControlOutcome {
  patch?: RolloutPatch;
  events: NewEvent[];
}

/**
 * The rules of the controls. Each is idempotent: asking again for what is
 * already in effect changes nothing and is not an error. A control the phase
 * does not allow throws ConflictError with the reason.
 */
export function decideControl(
  r: RolloutRecord,
  control: Exclude<RolloutControl, 'retry'>,
  actor: string,
  reason: string | undefined,
  now: number,
): ControlOutcome {
  const why = reason ? `: ${reason}` : '';
  const event = (
    message: string,
    data: Record<string, unknown> = {},
  ): NewEvent => ({
    type: 'control',
    message: `${message}${why}`,
    actor,
    data: { control, from: r.phase, ...data, ...(reason ? { reason } : {}) },
  });
  const conflict = (message: string) =>
    new ConflictError(
      `Cannot ${control} rollout ${r.id} (${r.phase}): ${message}`,
    );

  switch (control) {
    case 'pause': {
      if (r.phase === 'Paused') return { events: [] };
      if (['Pending', 'Progressing', 'AwaitingApproval'].includes(r.phase)) {
        return {
          patch: {
            phase: 'Paused',
            message: `Paused by ${actor}${why}`,
            state: { ...r.state, resumeTo: r.phase },
          },
          events: [event(`Paused by ${actor}`, { to: 'Paused' })],
        };
      }
      throw conflict(
        'only a pending, progressing or waiting rollout can be paused',
      );
    }
    case 'resume': {
      if (['Pending', 'Progressing', 'AwaitingApproval'].includes(r.phase)) {
        return { events: [] };
      }
      if (r.phase !== 'Paused') {
        throw conflict('only a paused rollout can be resumed');
      }
      const to = r.state.resumeTo ?? 'Progressing';
      const step = r.steps[r.stepIndex];
      return {
        patch: {
          phase: to,
          message: `Resumed by ${actor}${why}`,
          state: {
            ...r.state,
            resumeTo: undefined,
            stepStartedAt: now,
            nextAnalysisAt: now,
          },
          ...(to === 'Progressing' && step
            ? { nextStepAt: now + stepDwellMs(r.spec.policy, step) }
            : {}),
        },
        events: [event(`Resumed by ${actor}`, { to })],
      };
    }
    case 'approve': {
      const approved = r.state.approvedSteps ?? [];
      if (r.phase === 'AwaitingApproval') {
        return {
          patch: {
            phase: 'Progressing',
            message: `Step ${r.stepIndex + 1} approved by ${actor}${why}`,
            state: { ...r.state, approvedSteps: [...approved, r.stepIndex] },
          },
          events: [
            event(
              `Step ${r.stepIndex + 1} (${r.weight} %) approved by ${actor}`,
              { to: 'Progressing', step: r.stepIndex },
            ),
          ],
        };
      }
      if (
        (r.phase === 'Progressing' ||
          r.phase === 'Promoting' ||
          r.phase === 'Succeeded') &&
        approved.includes(r.stepIndex)
      ) {
        return { events: [] };
      }
      if (r.phase === 'Paused') {
        throw conflict('the rollout is paused; resume it first');
      }
      throw conflict('no approval gate is waiting');
    }
    case 'promote': {
      if (r.phase === 'Promoting' || r.phase === 'Succeeded')
        return { events: [] };
      if (['Progressing', 'Paused', 'AwaitingApproval'].includes(r.phase)) {
        if (r.stepIndex < 0) {
          throw conflict('the canary has no traffic yet');
        }
        return {
          patch: {
            phase: 'Promoting',
            message: `Promotion requested by ${actor}${why}`,
            nextStepAt: null,
            state: { ...r.state, done: [], resumeTo: undefined },
          },
          events: [
            event(`Promoted by ${actor}, skipping the remaining steps`, {
              to: 'Promoting',
            }),
          ],
        };
      }
      if (r.phase === 'Pending') throw conflict('the canary is not ready yet');
      throw conflict('the rollout is rolling back or finished');
    }
    case 'abort': {
      if (
        ['RollingBack', 'RolledBack', 'Aborted', 'Failed'].includes(r.phase)
      ) {
        return { events: [] };
      }
      if (
        ['Pending', 'Progressing', 'Paused', 'AwaitingApproval'].includes(
          r.phase,
        )
      ) {
        return {
          patch: {
            phase: 'RollingBack',
            message: `Aborted by ${actor}${why}`,
            nextStepAt: null,
            nextRunAt: null,
            state: {
              ...r.state,
              done: [],
              resumeTo: undefined,
              rollback: {
                to: 'Aborted',
                cause: `aborted by ${actor}${why}`,
                actor,
              },
            },
          },
          events: [
            event(`Aborted by ${actor}; sending all traffic back to stable`, {
              to: 'RollingBack',
            }),
          ],
        };
      }
      throw conflict(
        r.phase === 'Promoting'
          ? 'the promotion is already under way'
          : 'the rollout has succeeded; start a new one to go back',
      );
    }
    default:
      throw new ConflictError(`Unknown control ${control as string}`);
  }
}
