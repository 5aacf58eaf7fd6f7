import { Typography } from '@material-ui/core';
import type { AnalysisResult } from '@coalmine/backstage-plugin-canary-common';
import { formatTime } from '../lib/format';

/** The latest decision of the analysis in one line. */
export function DecisionSummary(props: { result: AnalysisResult }) {
  const { result } = props;
  return (
    <Typography
      variant="body2"
      data-testid="canary-decision"
      data-action={result.action}
      gutterBottom
    >
      Latest decision at {formatTime(result.time)} (step {result.stepIndex + 1},{' '}
      {result.weight} %): <strong>{result.action}</strong>
      {result.reason ? ` — ${result.reason}` : ''}
      {result.failedChecks > 0
        ? ` · ${result.failedChecks} failed check${
            result.failedChecks === 1 ? '' : 's'
          } so far`
        : ''}
    </Typography>
  );
}
