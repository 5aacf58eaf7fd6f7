import { Typography } from '@material-ui/core';
import {
  CanaryTarget,
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { controlsForRollout, phaseLabel } from '../lib/phases';
import { ControlButton } from './ControlButton';
import { ControlGroup } from './ControlGroup';
import { StartRolloutButton } from './StartRolloutButton';
import { ExternalControlButton } from './ExternalControlButton';

const CONTROLLER_NAMES = {
  flagger: 'Flagger',
  'argo-rollouts': 'Argo Rollouts',
};

/**
 * The controls the phase of the rollout allows, and Start once nothing
 * runs. Permissions are checked per control by the buttons themselves.
 * In a phase that finishes by itself the group stays, and says so.
 */
export function RolloutControls(props: {
  rollout: Rollout;
  target: CanaryTarget | null;
  onDone: (message: string, result: Rollout) => void;
}) {
  const { rollout, target, onDone } = props;
  if (rollout.controller) {
    // Another controller runs this canary: its own controls, each enabled or with the reason.
    const c = rollout.controller;
    return (
      <ControlGroup>
        <Typography variant="body2" color="textSecondary" gutterBottom>
          Run by {CONTROLLER_NAMES[c.kind]} ({c.objectKind} {c.namespace}/
          {c.name} on {c.cluster}); the buttons act through its own mechanism.
        </Typography>
        {(rollout.controls ?? []).map(state => (
          <ExternalControlButton
            key={`${rollout.id}-${state.control}`}
            state={state}
            rollout={rollout}
            onDone={onDone}
          />
        ))}
      </ControlGroup>
    );
  }
  const controls = controlsForRollout(rollout);
  const canStart = isTerminalPhase(rollout.phase) && target;
  if (!controls.length && !canStart) {
    return (
      <ControlGroup>
        <Typography variant="body2" color="textSecondary">
          Nothing to press while the rollout is{' '}
          {phaseLabel(rollout.phase).toLowerCase()}; it finishes by itself.
        </Typography>
      </ControlGroup>
    );
  }
  return (
    <ControlGroup>
      {canStart && <StartRolloutButton target={target} onDone={onDone} />}
      {controls.map(control => (
        <ControlButton
          key={`${rollout.id}-${control}`}
          control={control}
          rollout={rollout}
          onDone={onDone}
        />
      ))}
    </ControlGroup>
  );
}
