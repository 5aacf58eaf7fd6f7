import { InfoCard } from '@backstage/core-components';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from '@material-ui/core';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { CanaryPollIntervals } from '../hooks/pollIntervals';
import { RolloutHistoryRow } from './RolloutHistoryRow';

/**
 * Past rollouts of the component with outcome, duration and who acted;
 * a row's analysis and events are fetched when it is expanded.
 */
export function RolloutHistory(props: {
  history: Rollout[];
  intervals: CanaryPollIntervals;
}) {
  return (
    <InfoCard
      title="History"
      subheader="Recent rollouts, newest first"
      noPadding
    >
      {props.history.length === 0 ? (
        <Typography variant="body2" style={{ padding: 16 }}>
          No rollouts yet.
        </Typography>
      ) : (
        <Table
          size="small"
          aria-label="Rollout history"
          data-testid="canary-history"
        >
          <TableHead>
            <TableRow>
              <TableCell />
              <TableCell>Started</TableCell>
              <TableCell>Stable → canary</TableCell>
              <TableCell>Outcome</TableCell>
              <TableCell>Duration</TableCell>
              <TableCell>Started by</TableCell>
              <TableCell>Why</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {props.history.map(rollout => (
              <RolloutHistoryRow
                key={rollout.id}
                rollout={rollout}
                intervals={props.intervals}
              />
            ))}
          </TableBody>
        </Table>
      )}
    </InfoCard>
  );
}
