import { PrometheusHistogramSeries } from '../PrometheusClient';
import {
  chooseNativeBound,
  nativeBound,
  nativeCounters,
} from './nativeHistograms';

/** One series with one sample holding the buckets of `schema` from 2^(from/2^schema) to 2^(to/2^schema), one request each. */
function exponential(
  schema: number,
  from: number,
  to: number,
): PrometheusHistogramSeries {
  const buckets: Array<[number, number, number]> = [];
  for (let i = from + 1; i <= to; i++)
    buckets.push([2 ** ((i - 1) / 2 ** schema), 2 ** (i / 2 ** schema), 1]);
  return {
    labels: { schema: String(schema) },
    points: [[100, { count: buckets.length, buckets }]],
  };
}

describe('latency from a native histogram', () => {
  it('reads a bound at the power of two at or above it', () => {
    expect(nativeBound(276.3)).toBe(512);
    expect(nativeBound(256)).toBe(256);
    expect(nativeBound(250)).toBe(256);
    expect(nativeBound(0.3)).toBe(0.5);
    expect(nativeBound(0.125)).toBe(0.125);
    expect(nativeBound(1)).toBe(1);
    expect(nativeBound(2 ** 40 + 1)).toBe(2 ** 41);
    for (const bad of [0, -3, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => nativeBound(bad)).toThrow(RangeError);
  });

  it('counts each series’ requests and those in buckets wholly above the bound, at its sample times', () => {
    const labels = { pod: 'app-v2-5c4b3a2d1-klmno' };
    // Schema 0: (128, 256], (256, 512], (512, 1024]; the zero bucket.
    const { requests, slow, split } = nativeCounters(
      [
        {
          labels,
          points: [
            [
              100,
              {
                count: 10,
                buckets: [
                  [-0.001, 0.001, 1],
                  [128, 256, 6],
                  [256, 512, 2],
                  [512, 1024, 1],
                ],
              },
            ],
            [
              115,
              {
                count: 12,
                buckets: [
                  [256, 512, 3],
                  [128, 256, 9],
                ],
              },
            ],
          ],
        },
      ],
      256,
    );
    expect(split).toBeUndefined();
    expect(requests).toEqual([
      {
        labels,
        points: [
          [100, 10],
          [115, 12],
        ],
      },
    ]);
    expect(slow).toEqual([
      {
        labels,
        points: [
          [100, 3],
          [115, 3],
        ],
      },
    ]);
  });

  it('names a bucket the bound falls inside (a schema below 0): its slow requests cannot be told', () => {
    const labels = { pod: 'app-v1-7d9f8b6c5-abcde' };
    // Schema −1: (64, 256] holds 128.
    const read = nativeCounters(
      [
        {
          labels,
          points: [[100, { count: 4, buckets: [[64, 256, 4]] }]],
        },
      ],
      128,
    );
    expect(read.split).toEqual({ labels, lower: 64, upper: 256 });
    // An empty bucket across it hides nothing.
    expect(
      nativeCounters(
        [{ labels, points: [[100, { count: 0, buckets: [[64, 256, 0]] }]] }],
        128,
      ).split,
    ).toBeUndefined();
  });

  it('counts at the smallest boundary at or above the target inside no bucket of either version', () => {
    // Both at schema 3: the next boundary above 276 ms, 2^(65/8) = 279.2.
    const fine = exponential(3, 56, 80);
    expect(chooseNativeBound(276, [fine])).toBeCloseTo(2 ** (65 / 8), 9);
    // A canary at schema 2 beside it: 2^(66/8) = 2^(33/4), a boundary of both.
    expect(chooseNativeBound(276, [fine, exponential(2, 28, 40)])).toBeCloseTo(
      2 ** (66 / 8),
      9,
    );
    // At schema −1 (boundaries 4^k): 1024, past the power of two (512).
    expect(chooseNativeBound(276, [fine, exponential(-1, 2, 6)])).toBe(1024);
    // Custom buckets (a classic histogram Prometheus 3 converted): the
    // bound itself when it is one of them.
    const custom: PrometheusHistogramSeries = {
      labels: {},
      points: [
        [
          100,
          {
            count: 4,
            buckets: [
              [100, 250, 2],
              [250, 500, 1],
              [500, Infinity, 1],
            ],
          },
        ],
      ],
    };
    expect(chooseNativeBound(250, [custom])).toBe(250);
    expect(chooseNativeBound(260, [custom])).toBe(500);
    // No boundary of both: beside schema 0 buckets up to 2048, 500 falls
    // in (256, 512], and 512, 1024 and 2048 in (500, +Inf].
    expect(
      chooseNativeBound(260, [custom, exponential(0, 7, 11)]),
    ).toBeUndefined();
  });
});
