import { Fragment, useState } from 'react';
import {
  Collapse,
  IconButton,
  TableCell,
  TableRow,
  Typography,
} from '@material-ui/core';
import KeyboardArrowDownIcon from '@material-ui/icons/KeyboardArrowDown';
import KeyboardArrowUpIcon from '@material-ui/icons/KeyboardArrowUp';
import type { Rollout } from '@coalmine/backstage-plugin-canary-common';
import { CanaryPollIntervals } from '../hooks/pollIntervals';
import {
  elapsedMs,
  formatDateTime,
  formatDuration,
  workloadVersion,
} from '../lib/format';
import { ActorName } from './ActorName';
import { RolloutHistoryDetails } from './RolloutHistoryDetails';
import { RolloutPhaseStatus } from './RolloutPhaseStatus';

/** One past rollout; expanding it fetches its analysis and events. */
export function RolloutHistoryRow(props: {
  rollout: Rollout;
  intervals: CanaryPollIntervals;
}) {
  const { rollout } = props;
  const [open, setOpen] = useState(false);
  const detailsId = `canary-history-panel-${rollout.id}`;
  return (
    <Fragment>
      <TableRow
        data-testid={`canary-history-row-${rollout.id}`}
        data-phase={rollout.phase}
      >
        <TableCell padding="checkbox">
          <IconButton
            size="small"
            aria-label={`${open ? 'Hide' : 'Show'} analysis of rollout ${
              rollout.id
            }`}
            aria-expanded={open}
            aria-controls={detailsId}
            onClick={() => setOpen(!open)}
          >
            {open ? <KeyboardArrowUpIcon /> : <KeyboardArrowDownIcon />}
          </IconButton>
        </TableCell>
        <TableCell style={{ whiteSpace: 'nowrap' }}>
          {formatDateTime(rollout.createdAt)}
        </TableCell>
        <TableCell style={{ whiteSpace: 'nowrap' }}>
          {workloadVersion(rollout.stable)} →{' '}
          <strong>{workloadVersion(rollout.canary)}</strong>
        </TableCell>
        <TableCell style={{ whiteSpace: 'nowrap' }}>
          <RolloutPhaseStatus phase={rollout.phase} />
        </TableCell>
        <TableCell style={{ whiteSpace: 'nowrap' }}>
          {rollout.finishedAt
            ? formatDuration(
                elapsedMs(rollout.createdAt, rollout.finishedAt, Date.now()),
              )
            : 'running'}
        </TableCell>
        <TableCell style={{ whiteSpace: 'nowrap' }}>
          <ActorName actor={rollout.startedBy} />
        </TableCell>
        <TableCell style={{ maxWidth: 420 }}>
          <Typography
            variant="body2"
            title={rollout.message ?? ''}
            style={{
              display: '-webkit-box',
              WebkitLineClamp: 2,
              WebkitBoxOrient: 'vertical',
              overflow: 'hidden',
            }}
          >
            {rollout.message ?? ''}
          </Typography>
        </TableCell>
      </TableRow>
      <TableRow>
        <TableCell style={{ paddingBottom: 0, paddingTop: 0 }} colSpan={7}>
          <Collapse in={open} timeout="auto" unmountOnExit>
            <div id={detailsId}>
              <RolloutHistoryDetails
                rollout={rollout}
                intervals={props.intervals}
              />
            </div>
          </Collapse>
        </TableCell>
      </TableRow>
    </Fragment>
  );
}
