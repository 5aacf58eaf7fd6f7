import { screen } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { MetricChart, timeTicks } from './MetricChart';
import { series } from '../__testUtils__/fixtures';

describe('MetricChart', () => {
  it('draws canary and stable, the bound, and the markers inside the time range', async () => {
    await renderInTestApp(
      <MetricChart
        series={series[0]}
        markers={[
          { t: 1795000005, label: '25 %', manual: false },
          { t: 1795000008, label: 'pause', manual: true },
          { t: 1795000040, label: '50 %', manual: false },
          { t: 1700000000, label: 'long ago', manual: false },
        ]}
      />,
    );
    const chart = screen.getByTestId('chart-error-rate');
    expect(chart).toHaveAccessibleName('error-rate over time');
    expect(chart.querySelectorAll('.recharts-line')).toHaveLength(2);
    // The bound and three markers (one a step taken after the last
    // sample); the marker from long before the data is left out.
    expect(chart.querySelectorAll('.recharts-reference-line')).toHaveLength(4);
    expect(chart).toHaveTextContent('50 %');
    expect(chart).toHaveTextContent('25 %');
    expect(chart).toHaveTextContent('pause');
    expect(chart).not.toHaveTextContent('long ago');
  });

  it('hugs values far from zero instead of flattening them on a 0–100 axis', async () => {
    await renderInTestApp(
      <MetricChart
        series={{
          metric: 'request-success-rate',
          unit: '%',
          bound: { min: 99, text: '≥ 99 %' },
          canary: [
            [1795000000, 99.4],
            [1795000010, 100],
          ],
          stable: [
            [1795000000, 99.7],
            [1795000010, 99.6],
          ],
        }}
      />,
    );
    const ticks = Array.from(
      screen
        .getByTestId('chart-request-success-rate')
        .querySelectorAll(
          '.recharts-yAxis .recharts-cartesian-axis-tick-value',
        ),
    ).map(tick => Number(tick.textContent));
    expect(ticks.length).toBeGreaterThan(2);
    expect(Math.min(...ticks)).toBeGreaterThanOrEqual(98);
    expect(Math.max(...ticks)).toBeLessThanOrEqual(101);
  });

  it('says so when there are no samples yet', async () => {
    await renderInTestApp(
      <MetricChart
        series={{ metric: 'latency-p99', canary: [], stable: [] }}
      />,
    );
    expect(screen.getByText('No samples yet.')).toBeInTheDocument();
  });
});

describe('timeTicks', () => {
  it('puts about six ticks across the range, on whole seconds', () => {
    expect(timeTicks(1795000000, 1795000100)).toEqual([
      1795000000, 1795000020, 1795000040, 1795000060, 1795000080, 1795000100,
    ]);
  });

  it('gives a range of a few seconds one tick per second, never two on the same second', () => {
    // A rollout's first samples: six ticks rounded to the second fell on
    // the same seconds and were drawn twice (React: "two children with the
    // same key" in the chart's axis).
    expect(timeTicks(1795000000, 1795000003)).toEqual([
      1795000000, 1795000001, 1795000002, 1795000003,
    ]);
    expect(timeTicks(1795000000, 1795000000)).toEqual([1795000000]);
  });
});
