import {
  chooseBound,
  classicHistogramBases,
  finiteBounds,
  leOfSelector,
  missingBucketBound,
  sameBound,
  sharedBounds,
  spellingOf,
} from './bucketBounds';

const count =
  'istio_request_duration_milliseconds_count{reporter="destination",destination_workload="app-v2"}';
const bucket = (le: string) =>
  `istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload="app-v2",le="${le}"}`;

function series(pod: string, samples: number, le?: string) {
  return {
    labels: { pod, ...(le ? { le } : {}) },
    points: Array.from(
      { length: samples },
      (_, i) => [1000 + 15 * i, 10 * i] as [number, number],
    ),
  };
}

describe('histogram bucket bounds of the two versions', () => {
  it('reads the bound a selector subtracts', () => {
    expect(leOfSelector(bucket('250'))).toBe('250');
    expect(leOfSelector(bucket('+Inf'))).toBe('+Inf');
    expect(leOfSelector(count)).toBeUndefined();
    // A label that merely ends in "le" is not the bound, nor a regex on it.
    expect(leOfSelector('m{handle="x"}')).toBeUndefined();
    expect(leOfSelector('m{le=~"250|250.0"}')).toBeUndefined();
    // Quotes as PromQL reads them.
    expect(leOfSelector('m{le=\'0.5\', pod="a"}')).toBe('0.5');
  });

  it('names the pods whose histogram has no bucket at the bound', () => {
    const missing = missingBucketBound(
      [
        { sign: 1, series: [series('app-v2-a', 3), series('app-v2-b', 3)] },
        { sign: -1, series: [series('app-v2-a', 3, '250')] },
      ],
      [count, bucket('250')],
    );
    expect(missing).toEqual({ le: '250', pods: ['app-v2-b'] });
  });

  it('says nothing when every pod has the bucket, or the count has no bound', () => {
    expect(
      missingBucketBound(
        [
          { sign: 1, series: [series('app-v2-a', 3)] },
          { sign: -1, series: [series('app-v2-a', 3, '250')] },
        ],
        [count, bucket('250')],
      ),
    ).toBeUndefined();
    expect(
      missingBucketBound(
        [{ sign: 1, series: [series('app-v2-a', 3)] }],
        [count],
      ),
    ).toBeUndefined();
  });

  it('waits for a second scrape of a new pod (its bucket may have been read a moment before it appeared)', () => {
    expect(
      missingBucketBound(
        [
          { sign: 1, series: [series('app-v2-new', 1)] },
          { sign: -1, series: [] },
        ],
        [count, bucket('250')],
      ),
    ).toBeUndefined();
    expect(
      missingBucketBound(
        [
          { sign: 1, series: [series('app-v2-new', 2)] },
          { sign: -1, series: [] },
        ],
        [count, bucket('250')],
      ),
    ).toEqual({ le: '250', pods: ['app-v2-new'] });
  });

  it('keeps finite bounds, numerically ordered', () => {
    expect(
      finiteBounds(['+Inf', '250', '50', '1000', undefined, '50']),
    ).toEqual(['50', '250', '1000']);
  });

  it('takes one bound written two ways (250 and 250.0) for the same bound', () => {
    expect(sameBound('250', '250.0')).toBe(true);
    expect(sameBound('0.5', '5e-1')).toBe(true);
    expect(sameBound('+Inf', '+Inf')).toBe(true);
    expect(sameBound('250', '25')).toBe(false);
    expect(sameBound('', '0')).toBe(false);
    expect(spellingOf('250', ['100.0', '250.0'])).toBe('250.0');
    expect(spellingOf('300', ['100.0', '250.0'])).toBeUndefined();
    // One bound per number, as first written.
    expect(finiteBounds(['250.0', '50', '250', '50.0', '+Inf', ''])).toEqual([
      '50',
      '250.0',
    ]);
    expect(sharedBounds(['50', '100', '250'], ['100.0', '250.0'])).toEqual([
      '100',
      '250',
    ]);
    // The stable's spelling of a bound the canary writes otherwise.
    expect(
      chooseBound(240, ['50', '100', '250', '500'], ['100.0', '250.0']),
    ).toBe('250');
  });

  it('chooses the smallest shared bound at or above the p99, else the largest below it', () => {
    const stable = ['50', '100', '250', '500'];
    expect(chooseBound(240, stable, undefined)).toBe('250');
    expect(chooseBound(240, stable, ['25', '100', '200', '500'])).toBe('500');
    expect(chooseBound(240, stable, ['25', '50', '100', '200'])).toBe('100');
    expect(chooseBound(240, stable, ['30', '60'])).toBeUndefined();
    // A p99 above every bound: the largest one.
    expect(chooseBound(900, stable, undefined)).toBe('500');
  });

  it('finds the histograms a query reads through classic series, under their own name without le', () => {
    expect(
      classicHistogramBases(
        'sum(increase(h_count{a="b",pod=~"x-.*"}[5m])) - sum(increase(h_bucket{a="b",pod=~"x-.*",le="250"}[5m]))',
      ),
    ).toEqual(['h{a="b",pod=~"x-.*"}']);
    expect(
      classicHistogramBases(
        'histogram_quantile(0.99, sum by (le) (rate(d_seconds_bucket{"job"="api", le!=""}[1m]))) / on() g_sum{k="v"}',
      ),
    ).toEqual(['d_seconds{"job"="api"}', 'g{k="v"}']);
    // Counters, selectors without matchers and PromQL that does not parse: none.
    expect(
      classicHistogramBases('sum(rate(istio_requests_total{a="b"}[1m]))'),
    ).toEqual([]);
    expect(classicHistogramBases('sum(rate(h_bucket[1m]))')).toEqual([]);
    expect(classicHistogramBases('sum(rate(h_bucket{a="b"}[1m])')).toEqual([]);
  });
});
