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

/** The y range: the data and the bound both in view, zero when nothing is negative. */
function valueDomain(rows: ChartRow[], series: MetricSeries): [number, number] {
  const values = rows.flatMap(row =>
    [row.canary, row.stable].filter((v): v is number => v !== undefined),
  );
  if (series.bound?.min !== undefined) values.push(series.bound.min);
  if (series.bound?.max !== undefined) values.push(series.bound.max);
  if (!values.length) {
    return [0, 1];
  }
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.15;
  return [lo >= 0 ? 0 : lo - pad, hi + pad];
}

function latest(points: [number, number][]): number | undefined {
  return points.length ? points[points.length - 1][1] : undefined;
}

/**
 * One gated metric over time: canary against stable, the bound drawn as a
 * line and the failing side shaded, so "why did it roll back" is a glance.
 */
export function MetricChart(props: { series: MetricSeries }) {
  const { series } = props;
  const theme = useTheme();
  const [measureRef, { width }] = useMeasure<HTMLDivElement>();
  const rows = mergeSeries(series);
  const [yMin, yMax] = valueDomain(rows, series);
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
            margin={{ top: 10, right: 24, bottom: 0, left: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis
              dataKey="t"
              type="number"
              scale="time"
              domain={['dataMin', 'dataMax']}
              tickFormatter={t => formatTime(Number(t) * 1000)}
            />
            <YAxis
              domain={[yMin, yMax]}
              tickFormatter={v => formatValue(Number(v))}
              width={56}
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
