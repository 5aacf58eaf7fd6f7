import { InfoCard } from '@backstage/core-components';
import { Grid, Typography } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import type { MetricSeries } from '@coalmine/backstage-plugin-canary-common';
import type { ChartMarker } from '../lib/markers';
import { ChartBoundary } from './ChartBoundary';
import { MetricChart } from './MetricChart';

/** A chart for every gated metric, two to a row on very wide screens. */
export function MetricCharts(props: {
  series: MetricSeries[];
  /** Weight changes and controls, drawn on every chart. */
  markers?: ChartMarker[];
  error?: string;
}) {
  return (
    <InfoCard
      title="Metrics"
      subheader="Canary and stable over time, with each gate's bound"
    >
      {props.error && (
        <Alert severity="warning" data-testid="canary-series-error">
          Could not load the metric series: {props.error}
        </Alert>
      )}
      {!props.error && props.series.length === 0 && (
        <Typography variant="body2">No metric samples yet.</Typography>
      )}
      <Grid container spacing={2}>
        {props.series.map(series => (
          <Grid item xs={12} xl={6} key={series.metric}>
            <ChartBoundary
              what={`the ${series.metric} chart`}
              resetKey={series}
            >
              <MetricChart series={series} markers={props.markers} />
            </ChartBoundary>
          </Grid>
        ))}
      </Grid>
    </InfoCard>
  );
}
