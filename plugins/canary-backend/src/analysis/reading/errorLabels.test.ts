import { missingErrorLabels } from './errorLabels';
import { selectorShape } from './counterTerms';

const requests =
  'http_requests_total{namespace="shop",pod=~"app-v2-[a-z0-9]+-[a-z0-9]+"}';
const errors =
  'http_requests_total{namespace="shop",pod=~"app-v2-[a-z0-9]+-[a-z0-9]+",code=~"5.."}';

function series(labels: Record<string, string>, samples = 3) {
  return {
    labels,
    points: Array.from(
      { length: samples },
      (_, i) => [1000 + 15 * i, 10 * i] as [number, number],
    ),
  };
}

describe('labels an error count needs', () => {
  it('reads the metric and the labels a selector requires', () => {
    expect(selectorShape(errors)).toEqual({
      metric: 'http_requests_total',
      required: ['namespace', 'pod', 'code'],
      matchers: {
        namespace: 'namespace="shop"',
        pod: 'pod=~"app-v2-[a-z0-9]+-[a-z0-9]+"',
        code: 'code=~"5.."',
      },
      equals: { namespace: 'shop' },
    });
    // Matchers that also select series without the label require nothing.
    expect(
      selectorShape('m{a!="x",b!~"y",c="",d=~".*",e=~"5..|"}')?.required,
    ).toEqual([]);
  });

  it('names the label the request series lack', () => {
    expect(
      missingErrorLabels(
        { selectors: [errors] },
        {
          selectors: [requests],
          raw: [
            {
              sign: 1,
              series: [series({ pod: 'app-v2-a-b', status: '200' })],
            },
          ],
        },
      ),
    ).toEqual({
      metric: 'http_requests_total',
      labels: ['code'],
      matchers: ['code=~"5.."'],
    });
  });

  it('says nothing when the label is there, before two scrapes, or for another metric', () => {
    const raw = (labels: Record<string, string>, samples = 3) => [
      { sign: 1 as const, series: [series(labels, samples)] },
    ];
    expect(
      missingErrorLabels(
        { selectors: [errors] },
        { selectors: [requests], raw: raw({ pod: 'p', code: '200' }) },
      ),
    ).toBeUndefined();
    expect(
      missingErrorLabels(
        { selectors: [errors] },
        { selectors: [requests], raw: raw({ pod: 'p' }, 1) },
      ),
    ).toBeUndefined();
    // The latency gate: _count − _bucket{le} against _count.
    expect(
      missingErrorLabels(
        {
          selectors: ['h_count{pod="p"}', 'h_bucket{pod="p",le="250"}'],
        },
        { selectors: ['h_count{pod="p"}'], raw: raw({ pod: 'p' }) },
      ),
    ).toBeUndefined();
  });
});
