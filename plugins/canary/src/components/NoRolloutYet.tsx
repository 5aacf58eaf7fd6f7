import { EmptyState } from '@backstage/core-components';
import type {
  CanaryTarget,
  Rollout,
} from '@coalmine/backstage-plugin-canary-common';
import { ControlGroup } from './ControlGroup';
import { PipelineStartSnippet } from './PipelineStartSnippet';
import { StartRolloutButton } from './StartRolloutButton';
import { useAfterFirstPaint } from '../hooks/useAfterFirstPaint';

/** A component that is set up but has never had a rollout. */
export function NoRolloutYet(props: {
  target: CanaryTarget;
  onStarted: (message: string, result: Rollout) => void;
}) {
  const { target } = props;
  // The Start control first; the pipeline snippet (a syntax highlighter
  // loaded on demand) after the first paint.
  const snippet = useAfterFirstPaint(true);
  const schedule = target.steps.map(step => `${step.weight} %`).join(' → ');
  return (
    <div data-testid="canary-empty">
      <EmptyState
        missing="data"
        title="No rollout yet"
        description={`${target.workload} in ${
          target.namespace
        } on ${target.clusters.join(
          ', ',
        )} is ready for canaries with the policy "${
          target.policy
        }" (${schedule}). Start one here, or let your pipeline start it through the API.`}
        action={
          <>
            <ControlGroup>
              <StartRolloutButton target={target} onDone={props.onStarted} />
            </ControlGroup>
            {snippet && <PipelineStartSnippet entityRef={target.entityRef} />}
          </>
        }
      />
    </div>
  );
}
