import { Step, StepLabel, Stepper, Typography } from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { formatDuration } from '../lib/format';
import { phaseLabel } from '../lib/phases';

/**
 * The whole schedule of a rollout with the current step highlighted:
 * 5 % → 25 % → 50 % → 100 %, with pauses and approval gates named.
 */
export function StepProgress(props: { rollout: Rollout }) {
  const { rollout } = props;
  const finishedOk = rollout.phase === 'Succeeded';
  // Where a rollout that went back to stable stopped is marked in red.
  const stoppedBad = [
    'RollingBack',
    'RolledBack',
    'Aborted',
    'Failed',
  ].includes(rollout.phase);
  return (
    <Stepper
      activeStep={finishedOk ? rollout.steps.length : rollout.stepIndex}
      alternativeLabel
      aria-label="Rollout steps"
      data-testid="canary-steps"
      style={{ padding: '16px 0' }}
    >
      {rollout.steps.map((step, index) => {
        const notes = [
          step.approval ? 'approval' : undefined,
          step.pauseSeconds
            ? `hold ${formatDuration(step.pauseSeconds * 1000)}`
            : undefined,
        ].filter(Boolean);
        const current = index === rollout.stepIndex && !finishedOk;
        const stoppedHere = stoppedBad && index === rollout.stepIndex;
        return (
          <Step
            key={index}
            completed={finishedOk || index < rollout.stepIndex}
            data-testid={`canary-step-${index}`}
            aria-current={current ? 'step' : undefined}
          >
            <StepLabel
              error={stoppedHere}
              optional={
                notes.length || stoppedHere ? (
                  <Typography variant="caption">
                    {[
                      ...notes,
                      stoppedHere
                        ? `stopped: ${phaseLabel(rollout.phase).toLowerCase()}`
                        : '',
                    ]
                      .filter(Boolean)
                      .join(', ')}
                  </Typography>
                ) : undefined
              }
            >
              {step.weight} %
            </StepLabel>
          </Step>
        );
      })}
    </Stepper>
  );
}
