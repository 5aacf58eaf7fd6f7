import { Alert } from '@material-ui/lab';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { workloadVersion } from '../lib/format';

type Severity = 'success' | 'info' | 'warning' | 'error';

/** The one sentence a phase calls for, when it calls for one. */
function callout(
  rollout: Rollout,
): { severity: Severity; text: string } | undefined {
  const canary = workloadVersion(rollout.canary);
  const stable = workloadVersion(rollout.stable);
  const next = rollout.steps[rollout.stepIndex + 1]?.weight;
  switch (rollout.phase) {
    case 'AwaitingApproval':
      if (rollout.controller?.kind === 'argo-rollouts') {
        // Argo has no approval gate: a pause step without a duration waits for Promote.
        return {
          severity: 'info',
          text: `Argo Rollouts waits at a pause step: promote to move on${
            next === undefined ? '' : ` to ${next} %`
          }, or abort to go back to ${stable}.`,
        };
      }
      return {
        severity: 'info',
        text: `Waiting for a person: approve to move on${
          next === undefined ? '' : ` to ${next} %`
        }, or abort to go back to ${stable}.`,
      };
    case 'Paused':
      return {
        severity: 'info',
        text: `Paused at ${rollout.weight} %: nothing moves until someone resumes, promotes or aborts.`,
      };
    case 'RollingBack':
      return {
        severity: 'warning',
        text: `Rolling back: traffic is returning to ${stable}.`,
      };
    case 'RolledBack':
      return {
        severity: 'error',
        text: `${canary} was rolled back; all traffic is on ${stable}.`,
      };
    case 'Failed':
      return {
        severity: 'error',
        text: 'The rollback could not finish; check the workloads and the route on the cluster.',
      };
    case 'Succeeded':
      return {
        severity: 'success',
        text: `${canary} is the new stable version.`,
      };
    default:
      return undefined;
  }
}

/**
 * A banner for the phases where something needs attention or has just
 * been decided, so the state of the rollout is the first thing read.
 */
export function PhaseCallout(props: { rollout: Rollout }) {
  const found = callout(props.rollout);
  if (!found) {
    return null;
  }
  return (
    <Alert
      severity={found.severity}
      data-testid="canary-callout"
      data-phase={props.rollout.phase}
      style={{ marginBottom: 8 }}
    >
      {found.text}
    </Alert>
  );
}
