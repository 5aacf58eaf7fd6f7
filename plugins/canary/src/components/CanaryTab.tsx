import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import { Box, Grid, Typography } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import {
  AnalysisResult,
  Rollout,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { Suspense, lazy, useRef } from 'react';
import {
  CanaryPollIntervals,
  effectiveIntervals,
} from '../hooks/pollIntervals';
import { useRolloutSignals } from '../hooks/useRolloutSignals';
import { useEntityCanaryStatus } from '../hooks/useEntityCanaryStatus';
import { useRolloutDetails } from '../hooks/useRolloutDetails';
import { useRolloutNotice } from '../hooks/useRolloutNotice';
import { useAnalysisHistory, useEventHistory } from '../hooks/useEventHistory';
import { useRolloutSeries } from '../hooks/useRolloutSeries';
import { useAfterFirstPaint } from '../hooks/useAfterFirstPaint';
import { useEarlyControlPermissions } from '../hooks/useEarlyControlPermissions';
import { describeError } from '../lib/errors';
import { formatTime } from '../lib/format';
import { chartMarkers } from '../lib/markers';
import { AnalysisGates } from './AnalysisGates';
import { ChartBoundary } from './ChartBoundary';
import { ConfigProblems } from './ConfigProblems';
import { EventTimeline } from './EventTimeline';
import { LoadErrorPanel } from './LoadErrorPanel';
import { NoRolloutYet } from './NoRolloutYet';
import { OlderEvents } from './OlderEvents';
import { RolloutHistory } from './RolloutHistory';
import { RolloutOverview } from './RolloutOverview';

/**
 * The charts bring recharts, the largest part of the tab's code: they load
 * as their own chunk after the first paint, so the status and the controls
 * never wait for them.
 */
const MetricCharts = lazy(() =>
  import('./MetricCharts').then(m => ({ default: m.MetricCharts })),
);

/**
 * Everything about the component's canaries, following a running rollout
 * by polling: status, analysis, charts, events, controls and history.
 */
export function CanaryTab(props: {
  pollIntervals?: Partial<CanaryPollIntervals>;
}) {
  const { entity } = useEntity();
  const entityName = {
    kind: entity.kind.toLocaleLowerCase('en-US'),
    namespace: entity.metadata.namespace ?? 'default',
    name: entity.metadata.name,
  };
  // Changes pushed through Backstage Signals refetch at once; polling stays
  // as the fallback (slower while pushes arrive, as fast as before without).
  const onSignal = useRef<(changedAt: number) => void>();
  const signals = useRolloutSignals(
    `${entityName.kind}:${entityName.namespace}/${entityName.name}`,
    (_signal, changedAt) => onSignal.current?.(changedAt),
  );
  const intervals = effectiveIntervals(props.pollIntervals, signals.pushed);
  const status = useEntityCanaryStatus(entityName, intervals);
  useEarlyControlPermissions();
  const current = status.value
    ? status.value.active ?? status.value.history[0]
    : undefined;
  // Status and controls first: the analysis, charts, events and history
  // (and the details and series calls behind them) after the first paint.
  const rest = useAfterFirstPaint(Boolean(status.value));
  const details = useRolloutDetails(rest ? current : undefined, intervals);
  const eventHistory = useEventHistory(current?.id, details.value);
  const analysisHistory = useAnalysisHistory(current?.id, details.value);
  const series = useRolloutSeries(rest ? current : undefined, intervals);
  onSignal.current = changedAt => {
    status.refreshSoon(changedAt);
    details.refreshSoon();
  };
  const notice = useRolloutNotice(current);

  const onControlDone = (message: string, result: Rollout) => {
    notice.show(message, result);
    status.refresh();
    details.refresh();
  };

  if (status.loading && !status.value) {
    return <Progress />;
  }
  if (!status.value) {
    return (
      <LoadErrorPanel
        error={status.error ?? new Error('No answer')}
        onRetry={status.refresh}
      />
    );
  }

  const { target, problems, history } = status.value;
  const running = current ? !isTerminalPhase(current.phase) : false;

  return (
    <Grid container spacing={3} data-testid="canary-tab">
      <Grid item xs={12}>
        <Box display="flex" alignItems="center" justifyContent="space-between">
          <Typography
            variant="caption"
            color="textSecondary"
            data-testid="canary-live"
            data-live={running ? 'fast' : 'slow'}
            data-pushed={signals.pushed ? 'true' : 'false'}
          >
            {liveCaption(running, signals.pushed, intervals)}
            {status.updatedAt
              ? ` · updated ${formatTime(status.updatedAt)}`
              : ''}
          </Typography>
        </Box>
        {status.error && (
          <Alert severity="warning" data-testid="canary-stale">
            Live updates failed ({describeError(status.error)}); showing the
            last known state and retrying.
          </Alert>
        )}
        {notice.message && (
          <Alert
            severity="success"
            onClose={notice.dismiss}
            data-testid="canary-action-result"
          >
            {notice.message}
          </Alert>
        )}
      </Grid>

      {problems.length > 0 && (
        <Grid item xs={12}>
          <ConfigProblems problems={problems} blocking={!target} />
        </Grid>
      )}

      {!current && target && (
        <Grid item xs={12}>
          <NoRolloutYet target={target} onStarted={onControlDone} />
        </Grid>
      )}

      {current && (
        <>
          <Grid item xs={12}>
            <RolloutOverview
              rollout={current}
              target={target}
              onControlDone={onControlDone}
            />
          </Grid>
          {rest && (
            <>
              <Grid item xs={12}>
                <AnalysisGates
                  analysis={shownAnalysis(analysisHistory.items, current)}
                  history={analysisHistory}
                />
              </Grid>
              <Grid item xs={12} lg={8}>
                <ChartBoundary what="the metric charts" resetKey={series.value}>
                  <Suspense
                    fallback={
                      <InfoCard title="Metrics">
                        <Progress />
                      </InfoCard>
                    }
                  >
                    <MetricCharts
                      series={series.value ?? []}
                      markers={chartMarkers(eventHistory.items)}
                      error={
                        series.error ? describeError(series.error) : undefined
                      }
                    />
                  </Suspense>
                </ChartBoundary>
              </Grid>
              <Grid item xs={12} lg={4}>
                <InfoCard title="Events">
                  {details.value && (
                    <>
                      <EventTimeline
                        events={eventHistory.items}
                        limit={eventHistory.items.length}
                      />
                      <OlderEvents history={eventHistory} />
                    </>
                  )}
                  {!details.value && details.error && (
                    <ResponseErrorPanel error={details.error} />
                  )}
                  {!details.value && !details.error && <Progress />}
                </InfoCard>
              </Grid>
            </>
          )}
        </>
      )}

      {rest && history.length > 0 && (
        <Grid item xs={12}>
          <RolloutHistory history={history} intervals={intervals} />
        </Grid>
      )}
    </Grid>
  );
}

/** What keeps the tab current, in words. */
function liveCaption(
  running: boolean,
  pushed: boolean,
  intervals: CanaryPollIntervals,
): string {
  const every = (ms: number) => `${ms / 1000} s`;
  if (pushed) {
    return `Live: changes are pushed as they happen (and checked every ${every(
      running ? intervals.activeMs : intervals.idleMs,
    )})`;
  }
  return running
    ? `Live: refreshing every ${every(intervals.activeMs)}`
    : `Checking for new rollouts every ${every(intervals.idleMs)}`;
}

/** The analysis rows seen so far, or the status call's latest while the details load. */
function shownAnalysis(seen: AnalysisResult[], rollout: Rollout) {
  if (seen.length > 0) return seen;
  return rollout.lastAnalysis ? [rollout.lastAnalysis] : [];
}
