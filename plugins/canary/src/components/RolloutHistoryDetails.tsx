import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { Box, Grid, Typography } from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { CanaryPollIntervals } from '../hooks/pollIntervals';
import { useRolloutDetails } from '../hooks/useRolloutDetails';
import { latestGateStates, newestResult } from '../lib/analysis';
import { describeDecider } from '../lib/decider';
import { DecisionSummary } from './DecisionSummary';
import { EventTimeline } from './EventTimeline';
import { GateTable } from './GateTable';

/** The analysis and events of a past rollout, fetched when it is expanded. */
export function RolloutHistoryDetails(props: {
  rollout: Rollout;
  intervals: CanaryPollIntervals;
}) {
  const { rollout } = props;
  const {
    value: details,
    error,
    loading,
  } = useRolloutDetails(rollout, props.intervals);
  if (loading) {
    return <Progress />;
  }
  if (!details) {
    return error ? <ResponseErrorPanel error={error} /> : null;
  }
  const decider = describeDecider(details.rollout, details.events);
  const newest = newestResult(details.analysis);
  const gates = latestGateStates(details.analysis);
  return (
    <Box p={2} data-testid={`canary-history-details-${rollout.id}`}>
      {decider && (
        <Typography
          variant="subtitle2"
          gutterBottom
          data-testid="canary-history-decider"
        >
          {decider}
        </Typography>
      )}
      {details.rollout.message && (
        <Typography variant="body2" gutterBottom>
          {details.rollout.message}
        </Typography>
      )}
      <Grid container spacing={2}>
        <Grid item xs={12} lg={7}>
          <Typography variant="h6">Analysis</Typography>
          {newest && <DecisionSummary result={newest} />}
          {gates.length ? (
            <GateTable gates={gates} testIdPrefix="history-gate-" />
          ) : (
            <Typography variant="body2">No analysis was recorded.</Typography>
          )}
        </Grid>
        <Grid item xs={12} lg={5}>
          <Typography variant="h6">Events</Typography>
          <EventTimeline events={details.events} />
        </Grid>
      </Grid>
    </Box>
  );
}
