import { ConflictError } from '@backstage/errors';
import {
  RolloutControl,
  controlVerdict,
} from '@coalmine/backstage-plugin-canary-common';
import type { NewEvent, RolloutPatch, RolloutRecord } from '../domain/types';
import { stepDwellMs } from '../domain/schedule';

/** What a control does to a rollout: a patch, or nothing when it is already in effect. */
export interface ControlOutcome {
  patch?: RolloutPatch;
  events: NewEvent[];
}

/**
 * What each control changes. Which control a phase allows, and which is
 * already in effect there (asking again changes nothing and is not an
 * error), is canary-common's `controlVerdict`; a refused control throws
 * ConflictError with its reason.
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

  // An approval already given for this step is in effect, whatever the phase.
  if (
    control === 'approve' &&
    r.phase !== 'AwaitingApproval' &&
    r.phase !== 'Paused' &&
    (r.state.approvedSteps ?? []).includes(r.stepIndex)
  ) {
    return { events: [] };
  }
  const verdict = controlVerdict(r, control);
  if (verdict.verdict === 'in-effect') return { events: [] };
  if (verdict.verdict === 'refused') throw conflict(verdict.reason);

  switch (control) {
    case 'pause':
      return {
        patch: {
          phase: 'Paused',
          message: `Paused by ${actor}${why}`,
          nextRunAt: null,
          state: {
            ...r.state,
            resumeTo: r.phase,
            holdSince:
              r.phase === 'AwaitingApproval' ? r.state.holdSince ?? now : now,
          },
        },
        events: [event(`Paused by ${actor}`, { to: 'Paused' })],
      };
    case 'resume': {
      const to = r.state.resumeTo ?? 'Progressing';
      const step = r.steps[r.stepIndex];
      return {
        patch: {
          phase: to,
          message: `Resumed by ${actor}${why}`,
          nextRunAt: null,
          state: {
            ...r.state,
            resumeTo: undefined,
            holdSince:
              to === 'AwaitingApproval' ? r.state.holdSince : undefined,
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
    case 'approve':
      return {
        patch: {
          phase: 'Progressing',
          message: `Step ${r.stepIndex + 1} approved by ${actor}${why}`,
          nextRunAt: null,
          state: {
            ...r.state,
            holdSince: undefined,
            approvedSteps: [...(r.state.approvedSteps ?? []), r.stepIndex],
          },
        },
        events: [
          event(
            `Step ${r.stepIndex + 1} (${r.weight} %) approved by ${actor}`,
            { to: 'Progressing', step: r.stepIndex },
          ),
        ],
      };
    case 'promote':
      return {
        patch: {
          phase: 'Promoting',
          message: `Promotion requested by ${actor}${why}`,
          nextStepAt: null,
          nextRunAt: null,
          state: {
            ...r.state,
            done: [],
            resumeTo: undefined,
            holdSince: undefined,
          },
        },
        events: [
          event(`Promoted by ${actor}, skipping the remaining steps`, {
            to: 'Promoting',
          }),
        ],
      };
    case 'abort':
      return {
        patch: {
          phase: 'RollingBack',
          message: `Aborted by ${actor}${why}`,
          nextStepAt: null,
          nextRunAt: null,
          // An abort replaces whatever write was pending: it is never applied.
          intent: null,
          state: {
            ...r.state,
            done: [],
            resumeTo: undefined,
            holdSince: undefined,
            rollback: {
              to: 'Aborted',
              cause: `aborted by ${actor}${why}`,
              actor,
              from: r.phase,
            },
          },
        },
        events: [
          event(`Aborted by ${actor}; sending all traffic back to stable`, {
            to: 'RollingBack',
            ...(r.intent ? { replacedIntent: r.intent } : {}),
          }),
        ],
      };
    default:
      throw new ConflictError(`Unknown control ${control as string}`);
  }
}
