import { Link, Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import { Box, LinearProgress, Typography } from '@material-ui/core';
import type { AnalysisResult } from '@coalmine/backstage-plugin-canary-common';
import { useRef } from 'react';
import {
  CanaryPollIntervals,
  effectiveIntervals,
} from '../hooks/pollIntervals';
import { useEntityCanaryStatus } from '../hooks/useEntityCanaryStatus';
import { useRolloutSignals } from '../hooks/useRolloutSignals';
import { workloadVersion } from '../lib/format';
import { RolloutPhaseStatus } from './RolloutPhaseStatus';

/** The last analysis decision in a few words. */
function verdictWords(result: AnalysisResult | null | undefined): string {
  if (!result) {
    return 'no analysis yet';
  }
  const failing = result.checks.filter(check => check.verdict === 'fail');
  if (failing.length) {
    return `${result.action} — ${failing
      .map(check => check.metric)
      .join(', ')} failing`;
  }
  const passing = result.checks.filter(check => check.verdict === 'pass');
  return `${result.action} — ${passing.length} of ${result.checks.length} gates pass`;
}

/** Phase, weight and last verdict of the latest rollout, pushed (Signals) or polled. */
export function CanaryCardSummary(props: {
  tabLink: string;
  pollIntervals?: Partial<CanaryPollIntervals>;
}) {
  const { entity } = useEntity();
  const entityName = {
    kind: entity.kind.toLocaleLowerCase('en-US'),
    namespace: entity.metadata.namespace ?? 'default',
    name: entity.metadata.name,
  };
  const onSignal = useRef<(changedAt: number) => void>();
  const signals = useRolloutSignals(
    `${entityName.kind}:${entityName.namespace}/${entityName.name}`,
    (_signal, changedAt) => onSignal.current?.(changedAt),
  );
  const status = useEntityCanaryStatus(
    entityName,
    effectiveIntervals(props.pollIntervals, signals.pushed),
  );
  onSignal.current = status.refreshSoon;
  if (status.loading && !status.value) {
    return <Progress />;
  }
  if (!status.value) {
    return (
      <ResponseErrorPanel error={status.error ?? new Error('No answer')} />
    );
  }
  const { active, history, problems, target } = status.value;
  const rollout = active ?? history[0];
  return (
    <Box data-testid="canary-card">
      {!target && problems.length > 0 && (
        <Typography variant="body2" color="error" gutterBottom>
          {problems.length} configuration problem
          {problems.length === 1 ? '' : 's'}: {problems[0].key}:{' '}
          {problems[0].message}
        </Typography>
      )}
      {rollout ? (
        <>
          <Box
            display="flex"
            alignItems="center"
            justifyContent="space-between"
          >
            <RolloutPhaseStatus
              phase={rollout.phase}
              testId="canary-card-phase"
            />
            <Typography
              variant="h6"
              component="span"
              data-testid="canary-card-weight"
              data-weight={rollout.weight}
            >
              {rollout.weight} %
            </Typography>
          </Box>
          <LinearProgress
            variant="determinate"
            value={Math.min(100, Math.max(0, rollout.weight))}
            aria-label="Canary weight"
            style={{ margin: '4px 0 8px' }}
          />
          <Typography variant="body2">
            {workloadVersion(rollout.stable)} →{' '}
            <strong>{workloadVersion(rollout.canary)}</strong> on{' '}
            {rollout.cluster}
          </Typography>
          <Typography variant="body2" data-testid="canary-card-verdict">
            Last verdict: {verdictWords(rollout.lastAnalysis)}
          </Typography>
        </>
      ) : (
        target && <Typography variant="body2">No rollout yet.</Typography>
      )}
      <Box mt={1}>
        <Link to={props.tabLink}>Open the Canary tab</Link>
      </Box>
    </Box>
  );
}
