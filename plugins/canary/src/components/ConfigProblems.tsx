import { InfoCard } from '@backstage/core-components';
import { Typography } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import type { CanaryConfigProblem } from '@coalmine/backstage-plugin-canary-common';

/**
 * Why the component's canary set-up does not resolve, one problem per line
 * with the annotation or config key to change.
 */
export function ConfigProblems(props: {
  problems: CanaryConfigProblem[];
  blocking: boolean;
}) {
  return (
    <InfoCard title="Canary configuration">
      <Alert
        severity={props.blocking ? 'error' : 'warning'}
        data-testid="canary-problems"
      >
        <Typography variant="body2" gutterBottom>
          {props.blocking
            ? 'Coalmine cannot run rollouts for this component until these are fixed:'
            : 'Coalmine found problems in the configuration of this component:'}
        </Typography>
        <ul style={{ margin: 0, paddingLeft: 20 }}>
          {props.problems.map(problem => (
            <li
              key={`${problem.key}:${problem.message}`}
              data-testid="canary-problem"
              data-key={problem.key}
            >
              <code>{problem.key}</code>: {problem.message}
            </li>
          ))}
        </ul>
      </Alert>
    </InfoCard>
  );
}
