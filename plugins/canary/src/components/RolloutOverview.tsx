import { InfoCard } from '@backstage/core-components';
import { Box, Typography } from '@material-ui/core';
import {
  CanaryTarget,
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { ManualRestore } from './ManualRestore';
import { PhaseCallout } from './PhaseCallout';
import { RolloutControls } from './RolloutControls';
import { RolloutFacts } from './RolloutFacts';
import { RolloutPhaseStatus } from './RolloutPhaseStatus';
import { StepProgress } from './StepProgress';
import { TrafficSplitBar } from './TrafficSplitBar';

/**
 * The rollout that runs now (or the latest one): phase, steps, split,
 * versions, timing, and the controls the phase allows.
 */
export function RolloutOverview(props: {
  rollout: Rollout;
  target: CanaryTarget | null;
  onControlDone: (message: string, result: Rollout) => void;
}) {
  const { rollout, target, onControlDone } = props;
  const running = !isTerminalPhase(rollout.phase);
  return (
    <InfoCard
      title={running ? 'Active rollout' : 'Latest rollout'}
      subheader={
        <span title={rollout.id}>
          Rollout {rollout.id.length > 12 ? rollout.id.slice(0, 8) : rollout.id}{' '}
          · {rollout.entityRef}
        </span>
      }
      action={
        <Box pt={1} pr={1}>
          <RolloutPhaseStatus phase={rollout.phase} testId="canary-phase" />
        </Box>
      }
    >
      <div data-testid="canary-rollout" data-rollout-id={rollout.id}>
        <PhaseCallout rollout={rollout} />
        {rollout.message && (
          <Typography variant="body1" data-testid="canary-message" gutterBottom>
            {rollout.message}
          </Typography>
        )}
        <ManualRestore rollout={rollout} />
        <StepProgress rollout={rollout} />
        <Box mb={2}>
          <TrafficSplitBar rollout={rollout} />
        </Box>
        <RolloutFacts rollout={rollout} />
        <Box mt={2}>
          <RolloutControls
            rollout={rollout}
            target={target}
            onDone={onControlDone}
          />
        </Box>
      </div>
    </InfoCard>
  );
}
