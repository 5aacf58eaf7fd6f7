import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
  StatusWarning,
} from '@backstage/core-components';
import type { RolloutPhase } from '@coalmine/backstage-plugin-canary-common';
import { phaseLabel, phaseTone } from '../lib/phases';

const STATUS_BY_TONE = {
  ok: StatusOK,
  running: StatusRunning,
  pending: StatusPending,
  warning: StatusWarning,
  error: StatusError,
  aborted: StatusAborted,
};

/**
 * A rollout phase as a status light with its name. The raw phase is in
 * `data-phase` for tests and scripts; the text is for people.
 */
export function RolloutPhaseStatus(props: {
  phase: RolloutPhase;
  testId?: string;
}) {
  const Status = STATUS_BY_TONE[phaseTone(props.phase)];
  return (
    <span data-testid={props.testId} data-phase={props.phase}>
      <Status>{phaseLabel(props.phase)}</Status>
    </span>
  );
}
