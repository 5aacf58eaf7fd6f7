import { Grid, Typography } from '@material-ui/core';
import {
  Rollout,
  WorkloadPods,
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
import { RolloutFact } from './RolloutFact';

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
 * A Deployment's pods now, as the cluster reports them. Only Coalmine's own
 * active rollouts carry them (`expected`); there a side the cluster did not
 * report says so instead of leaving the line out.
 */
function PodCount(props: { pods?: WorkloadPods; expected: boolean }) {
  const { pods, expected } = props;
  if (!pods) {
    return expected ? (
      <Typography variant="body2" color="textSecondary" component="div">
        pods not known: the cluster did not report them
      </Typography>
    ) : null;
  }
  return (
    <div>
      {pods.available}/{pods.desired} {pods.desired === 1 ? 'pod' : 'pods'}{' '}
      available
    </div>
  );
}

/**
 * Versions, images, where it runs and how long it has been going, with a
 * clock that moves between polls while the rollout runs.
 */
export function RolloutFacts(props: { rollout: Rollout }) {
  const { rollout } = props;
  const running = !isTerminalPhase(rollout.phase);
  const now = useNow(1000, running);
  const podsExpected = running && !rollout.controller;
  return (
    <Grid container spacing={2}>
      <RolloutFact label="Stable" testId="canary-stable-version">
        <strong>{workloadVersion(rollout.stable)}</strong>
        {rollout.stable.image && <div>{rollout.stable.image}</div>}
        <PodCount pods={rollout.stable.pods} expected={podsExpected} />
      </RolloutFact>
      <RolloutFact label="Canary" testId="canary-canary-version">
        <strong>{workloadVersion(rollout.canary)}</strong>
        {rollout.canary.image && <div>{rollout.canary.image}</div>}
        <PodCount pods={rollout.canary.pods} expected={podsExpected} />
      </RolloutFact>
      <RolloutFact label="Cluster / namespace" testId="canary-location">
        {rollout.cluster} / {rollout.namespace}
      </RolloutFact>
      <RolloutFact label="Traffic" testId="canary-traffic-provider">
        {rollout.trafficProvider}
        {rollout.route ? ` (${rollout.route})` : ''} · policy {rollout.policy}
      </RolloutFact>
      <RolloutFact label="Started" testId="canary-started">
        {formatDateTime(rollout.createdAt)} by{' '}
        <ActorName actor={rollout.startedBy} />
      </RolloutFact>
      <RolloutFact label={running ? 'Elapsed' : 'Took'} testId="canary-elapsed">
        {formatDuration(elapsedMs(rollout.createdAt, rollout.finishedAt, now))}
      </RolloutFact>
      {running && (
        <RolloutFact label="Next step" testId="canary-next-step">
          {nextStepText(rollout, now)}
        </RolloutFact>
      )}
      {!running && rollout.finishedAt && (
        <RolloutFact label="Finished" testId="canary-finished">
          {formatDateTime(rollout.finishedAt)}
        </RolloutFact>
      )}
    </Grid>
  );
}
