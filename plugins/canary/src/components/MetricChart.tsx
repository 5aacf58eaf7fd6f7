import { Box, Typography, useTheme } from '@material-ui/core';
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceArea,
  ReferenceLine,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import useMeasure from 'react-use/esm/useMeasure';
import type { MetricSeries } from '@coalmine/backstage-plugin-canary-common';
import type { ChartMarker } from '../lib/markers';
import { formatTime, formatValue } from '../lib/format';

interface ChartRow {
  t: number;
  canary?: number;
  stable?: number;
}

/** Canary and stable points on one time axis. */
function mergeSeries(series: MetricSeries): ChartRow[] {
  const rows = new Map<number, ChartRow>();
  const put = (arm: 'canary' | 'stable', [t, value]: [number, number]) => {
    const row = rows.get(t) ?? { t };
    row[arm] = Number.isFinite(value) ? value : undefined;
    rows.set(t, row);
  };
  series.canary.forEach(point => put('canary', point));
  series.stable.forEach(point => put('stable', point));
  return [...rows.values()].sort((a, b) => a.t - b.t);
}

/** 1, 2, 2.5 or 5 times a power of ten, at least `value`. */
function niceCeil(value: number): number {
  if (value <= 0) {
    return 0;
  }
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find(m => m * power >= value) ?? 10;
  return step * power;
}

/**
 * The y axis: the data and the bound both in view with round ticks. It
 * starts at zero when the values are near it (error rates), and hugs them
 * when they sit far from it (a success rate of 99.6 % against a bound of
 * 99 % would be a flat line on a 0–100 axis).
 *
 * Two values a rounding error apart (0.1 + 0.2 against 0.3, a ratio of
 * sums that comes out 0.9999999999999999) are drawn as one: a step a
 * quarter of that gap is below the values' own precision, and adding it
 * did not move the tick, so the loop that made the ticks never ended and
 * the page died with "Invalid array length". Ticks are counted, not
 * stepped to the top, so no input can make more than 13.
 */
export function valueTicks(rows: ChartRow[], series: MetricSeries): number[] {
  const values = rows.flatMap(row =>
    [row.canary, row.stable].filter((v): v is number => v !== undefined),
  );
  if (series.bound?.min !== undefined) values.push(series.bound.min);
  if (series.bound?.max !== undefined) values.push(series.bound.max);
  const finite = values.filter(v => Number.isFinite(v));
  if (!finite.length) {
    return [0, 0.25, 0.5, 0.75, 1];
  }
  let lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const size = Math.max(Math.abs(lo), Math.abs(hi));
  const span = hi - lo > size * 1e-9 ? hi - lo : 0;
  if (lo >= 0 && lo < span * 2) {
    lo = 0;
  } else {
    // Room below the lowest value, so a bound sitting there is seen.
    lo -= span * 0.1;
  }
  const step = niceCeil((span || size || 1) / 4);
  const first = Math.floor(lo / step) * step;
  // Steps up to the first tick at or above the top, allowing for rounding
  // in the division; at most a dozen whatever the values.
  const count = Math.min(
    12,
    Math.max(1, Math.ceil((hi - first) / step - 1e-9)),
  );
  return Array.from({ length: count + 1 }, (_, i) =>
    Number((first + i * step).toPrecision(12)),
  );
}

/**
 * About six ticks across the time range, on the data's own seconds; fewer
 * when the range is only a few seconds long (one tick per second at most,
 * as two ticks on the same second would be drawn on top of each other).
 */
export function timeTicks(first: number, last: number): number[] {
  if (last <= first) {
    return [first];
  }
  return [
    ...new Set(
      Array.from({ length: 6 }, (_, i) =>
        Math.round(first + ((last - first) * i) / 5),
      ),
    ),
  ];
}

/** How far past the last sample a marker still counts (a step just taken). */
const MARKER_LEAD_SECONDS = 60;

function latest(points: [number, number][]): number | undefined {
  return points.length ? points[points.length - 1][1] : undefined;
}

/**
 * One gated metric over time: canary against stable, the bound drawn as a
 * line and the failing side shaded, so "why did it roll back" is a glance.
 */
export function MetricChart(props: {
  series: MetricSeries;
  /** Weight changes and controls, drawn as vertical lines. */
  markers?: ChartMarker[];
}) {
  const { series } = props;
  const theme = useTheme();
  const [measureRef, { width }] = useMeasure<HTMLDivElement>();
  const rows = mergeSeries(series);
  const yTicks = valueTicks(rows, series);
  const firstT = rows.length ? rows[0].t : 0;
  const lastSampleT = rows.length ? rows[rows.length - 1].t : 0;
  const markers = (props.markers ?? []).filter(
    m =>
      rows.length && m.t >= firstT && m.t <= lastSampleT + MARKER_LEAD_SECONDS,
  );
  // A step taken since the last sample still shows, at the right edge.
  const lastT = Math.max(lastSampleT, ...markers.map(m => m.t));
  const [yMin, yMax] = [yTicks[0], yTicks[yTicks.length - 1]];
  const { bound, unit } = series;
  const failColour = theme.palette.error.main;
  const caption = `${series.metric}: canary ${formatValue(
    latest(series.canary),
    unit,
  )} vs stable ${formatValue(latest(series.stable), unit)}${
    bound ? `, bound ${bound.text}` : ''
  }`;

  return (
    <Box
      component="figure"
      m={0}
      data-testid={`chart-${series.metric}`}
      aria-label={`${series.metric} over time`}
    >
      <Typography variant="subtitle2" component="figcaption">
        {caption}
      </Typography>
      <div ref={measureRef} style={{ width: '100%' }}>
        {rows.length === 0 ? (
          <Typography variant="body2" color="textSecondary">
            No samples yet.
          </Typography>
        ) : (
          <LineChart
            width={width || 480}
            height={220}
            data={rows}
            margin={{ top: 10, right: 40, bottom: 0, left: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis
              dataKey="t"
              type="number"
              domain={[firstT, lastT]}
              ticks={timeTicks(firstT, lastT)}
              tickFormatter={t => formatTime(Number(t) * 1000)}
              fontSize={11}
            />
            <YAxis
              domain={[yMin, yMax]}
              ticks={yTicks}
              tickFormatter={v => String(Number(Number(v).toFixed(6)))}
              width={56}
              fontSize={11}
              allowDataOverflow
            />
            <Tooltip
              labelFormatter={t => formatTime(Number(t) * 1000)}
              formatter={(value: number) => formatValue(value, unit)}
            />
            <Legend />
            {bound?.max !== undefined && (
              <ReferenceArea
                y1={bound.max}
                y2={yMax}
                fill={failColour}
                fillOpacity={0.08}
              />
            )}
            {bound?.min !== undefined && (
              <ReferenceArea
                y1={yMin}
                y2={bound.min}
                fill={failColour}
                fillOpacity={0.08}
              />
            )}
            {bound?.max !== undefined && (
              <ReferenceLine
                y={bound.max}
                stroke={failColour}
                strokeDasharray="6 3"
                label={{
                  value: bound.text,
                  position: 'insideTopRight',
                  fontSize: 11,
                }}
              />
            )}
            {bound?.min !== undefined && (
              <ReferenceLine
                y={bound.min}
                stroke={failColour}
                strokeDasharray="6 3"
                label={{
                  value: bound.text,
                  position: 'insideBottomRight',
                  fontSize: 11,
                }}
              />
            )}
            {markers.map(marker => (
              <ReferenceLine
                key={`${marker.t}-${marker.label}`}
                x={marker.t}
                stroke={
                  marker.manual
                    ? theme.palette.secondary.main
                    : theme.palette.text.secondary
                }
                strokeDasharray="2 4"
                label={{
                  value: marker.label,
                  position: 'insideTopLeft',
                  fontSize: 10,
                }}
              />
            ))}
            <Line
              type="monotone"
              dataKey="stable"
              name="stable"
              stroke={theme.palette.primary.main}
              dot={false}
              connectNulls
              isAnimationActive={false}
            />
            <Line
              type="monotone"
              dataKey="canary"
              name="canary"
              stroke={theme.palette.warning.main}
              strokeWidth={2}
              dot={false}
              connectNulls
              isAnimationActive={false}
            />
          </LineChart>
        )}
      </div>
    </Box>
  );
}
