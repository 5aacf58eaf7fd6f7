import { nativeBound, nativeCounters } from './nativeHistograms';

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
});
