import { screen } from '@testing-library/react';
import { renderInTestApp } from '@backstage/test-utils';
import { MetricChart, timeTicks, valueTicks } from './MetricChart';
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

describe('valueTicks', () => {
  const ticksOf = (canary: number[], stable: number[]) =>
    valueTicks(
      [
        ...canary.map((v, i) => ({ t: i, canary: v })),
        ...stable.map((v, i) => ({ t: 100 + i, stable: v })),
      ],
      { metric: 'request-success-rate', canary: [], stable: [] },
    );

  it('draws two values a rounding error apart as one, with a few ticks around them', () => {
    // The page died here in a CI run ("Invalid array length"): a step a
    // quarter of the gap did not move the tick, and the loop never ended.
    for (const [a, b] of [
      [0.3, 0.1 + 0.2],
      [1, 0.9999999999999999],
      [99.6, 99.60000000000001],
      [-0.3, -(0.1 + 0.2)],
      [1e15, 1e15 + 0.125],
    ]) {
      const ticks = ticksOf([a], [b]);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(13);
      expect(ticks[0]).toBeLessThanOrEqual(Math.min(a, b));
      expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(
        Number(Math.max(a, b).toPrecision(12)),
      );
      expect(new Set(ticks).size).toBe(ticks.length);
    }
  });

  it('keeps round ticks from zero for error rates and hugs a success rate', () => {
    expect(ticksOf([0.2, 1.3], [0.1, 0.4])).toEqual([0, 0.5, 1, 1.5]);
    expect(ticksOf([99.4, 100], [99.7, 99.6])).toEqual([
      99.2, 99.4, 99.6, 99.8, 100,
    ]);
    expect(ticksOf([], [])).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});
