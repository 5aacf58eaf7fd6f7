import { ReactNode } from 'react';
import { Grid, Typography, makeStyles } from '@material-ui/core';
import {
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { useNow } from '../hooks/useNow';
import {
  elapsedMs,
  formatDateTime,
  formatDuration,
  formatDueIn,
  workloadVersion,
} from '../lib/format';
import { ActorName } from './ActorName';

const useStyles = makeStyles(theme => ({
  label: {
    color: theme.palette.text.secondary,
    textTransform: 'uppercase',
    fontSize: '0.7rem',
    fontWeight: 'bold',
    letterSpacing: 0.5,
  },
  value: { wordBreak: 'break-all' },
}));

function Fact(props: { label: string; testId?: string; children: ReactNode }) {
  const classes = useStyles();
  return (
    <Grid item xs={12} sm={6} md={3}>
      <Typography component="div" className={classes.label}>
        {props.label}
      </Typography>
      <Typography
        component="div"
        variant="body2"
        className={classes.value}
        data-testid={props.testId}
      >
        {props.children}
      </Typography>
    </Grid>
  );
}

/** When the schedule moves on, or what it waits for. */
function nextStepText(rollout: Rollout, now: number): string {
  if (rollout.phase === 'AwaitingApproval') {
    return 'waits for approval';
  }
  if (rollout.phase === 'Paused') {
    return 'paused';
  }
  if (rollout.nextStepAt) {
    const at = new Date(rollout.nextStepAt).toLocaleTimeString();
    return `${formatDueIn(rollout.nextStepAt, now)} (${at})`;
  }
  return 'after the next passing analysis';
}

/**
 * Versions, images, where it runs and how long it has been going, with a
 * clock that moves between polls while the rollout runs.
 */
export function RolloutFacts(props: { rollout: Rollout }) {
  const { rollout } = props;
  const running = !isTerminalPhase(rollout.phase);
  const now = useNow(1000, running);
  return (
    <Grid container spacing={2}>
      <Fact label="Stable" testId="canary-stable-version">
        <strong>{workloadVersion(rollout.stable)}</strong>
        {rollout.stable.image && <div>{rollout.stable.image}</div>}
      </Fact>
      <Fact label="Canary" testId="canary-canary-version">
        <strong>{workloadVersion(rollout.canary)}</strong>
        {rollout.canary.image && <div>{rollout.canary.image}</div>}
      </Fact>
      <Fact label="Cluster / namespace" testId="canary-location">
        {rollout.cluster} / {rollout.namespace}
      </Fact>
      <Fact label="Traffic" testId="canary-traffic-provider">
        {rollout.trafficProvider}
        {rollout.route ? ` (${rollout.route})` : ''} · policy {rollout.policy}
      </Fact>
      <Fact label="Started" testId="canary-started">
        {formatDateTime(rollout.createdAt)} by{' '}
        <ActorName actor={rollout.startedBy} />
      </Fact>
      <Fact label={running ? 'Elapsed' : 'Took'} testId="canary-elapsed">
        {formatDuration(elapsedMs(rollout.createdAt, rollout.finishedAt, now))}
      </Fact>
      {running && (
        <Fact label="Next step" testId="canary-next-step">
          {nextStepText(rollout, now)}
        </Fact>
      )}
      {!running && rollout.finishedAt && (
        <Fact label="Finished" testId="canary-finished">
          {formatDateTime(rollout.finishedAt)}
        </Fact>
      )}
    </Grid>
  );
}
