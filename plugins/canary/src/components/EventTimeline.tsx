import { useState } from 'react';
import { FormControlLabel, Switch, Typography } from '@material-ui/core';
import {
  Timeline,
  TimelineConnector,
  TimelineContent,
  TimelineDot,
  TimelineItem,
  TimelineOppositeContent,
  TimelineSeparator,
} from '@material-ui/lab';
import type { RolloutEvent } from '@coalmine/backstage-plugin-canary-common';
import { formatTime } from '../lib/format';
import { ActorName } from './ActorName';

type DotColor = 'grey' | 'primary' | 'secondary' | 'inherit';

/** Events a person caused stand out from what the engine did by itself. */
function dotColor(event: RolloutEvent): DotColor {
  if (event.type === 'control') {
    return 'primary';
  }
  if (
    event.type === 'cluster-error' ||
    event.type === 'drift' ||
    /fail|rollback|abort/i.test(event.message)
  ) {
    return 'secondary';
  }
  return 'grey';
}

/**
 * An analysis tick that moved on as planned. There is one every interval,
 * so they are hidden by default (the tick strip shows them all) and the
 * timeline keeps what changed something.
 */
function isRoutineCheck(event: RolloutEvent): boolean {
  return event.type === 'analysis' && event.data?.action === 'advance';
}

/**
 * What happened to a rollout, newest first: steps, checks, webhooks, and
 * who pressed what.
 */
export function EventTimeline(props: {
  events: RolloutEvent[];
  limit?: number;
}) {
  const [showRoutine, setShowRoutine] = useState(false);
  const sorted = [...props.events].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id - a.id,
  );
  const routine = sorted.filter(isRoutineCheck).length;
  const events = sorted
    .filter(event => showRoutine || !isRoutineCheck(event))
    .slice(0, props.limit ?? 200);
  if (!sorted.length) {
    return <Typography variant="body2">No events yet.</Typography>;
  }
  return (
    <>
      {routine > 0 && (
        <FormControlLabel
          control={
            <Switch
              size="small"
              checked={showRoutine}
              onChange={e => setShowRoutine(e.target.checked)}
            />
          }
          label={`Show ${routine} passing analysis tick${
            routine === 1 ? '' : 's'
          }`}
        />
      )}
      <Timeline
        align="left"
        aria-label="Rollout events"
        data-testid="canary-timeline"
        style={{ padding: 0, margin: 0 }}
      >
        {events.map((event, index) => (
          <TimelineItem
            key={event.id}
            data-testid="canary-event"
            data-event-type={event.type}
          >
            <TimelineOppositeContent
              style={{ flex: '0 0 96px', paddingLeft: 0 }}
            >
              <Typography variant="caption" color="textSecondary">
                {formatTime(event.time)}
              </Typography>
            </TimelineOppositeContent>
            <TimelineSeparator>
              <TimelineDot
                color={dotColor(event)}
                variant={event.type === 'control' ? 'default' : 'outlined'}
              />
              {index < events.length - 1 && <TimelineConnector />}
            </TimelineSeparator>
            <TimelineContent>
              <Typography variant="body2">{event.message}</Typography>
              <Typography variant="caption" color="textSecondary">
                {event.type} · <ActorName actor={event.actor} />
              </Typography>
            </TimelineContent>
          </TimelineItem>
        ))}
      </Timeline>
    </>
  );
}
