import { Box } from '@material-ui/core';
import {
  CanaryTarget,
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { controlsForRollout } from '../lib/phases';
import { ControlButton } from './ControlButton';
import { StartRolloutButton } from './StartRolloutButton';

/**
 * The controls the phase of the rollout allows, and Start once nothing
 * runs. Permissions are checked per control by the buttons themselves.
 */
export function RolloutControls(props: {
  rollout: Rollout;
  target: CanaryTarget | null;
  onDone: (message: string, result: Rollout) => void;
}) {
  const { rollout, target, onDone } = props;
  const controls = controlsForRollout(rollout);
  const canStart = isTerminalPhase(rollout.phase) && target;
  if (!controls.length && !canStart) {
    return null;
  }
  return (
    <Box
      display="flex"
      flexWrap="wrap"
      alignItems="flex-start"
      role="group"
      aria-label="Rollout controls"
      data-testid="canary-controls"
    >
      {canStart && <StartRolloutButton target={target} onDone={onDone} />}
      {controls.map(control => (
        <ControlButton
          key={`${rollout.id}-${control}`}
          control={control}
          rollout={rollout}
          onDone={onDone}
        />
      ))}
    </Box>
  );
}
