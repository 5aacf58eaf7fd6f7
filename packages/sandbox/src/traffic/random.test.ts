import { createRandom, lognormalLatency } from './random';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

describe('latency sampling', () => {
  it('draws latencies with the configured median and 99th percentile', () => {
    const random = createRandom(42);
    const samples = Array.from({ length: 50_000 }, () =>
      lognormalLatency(random, 40, 120),
    ).sort((a, b) => a - b);
    expect(quantile(samples, 0.5)).toBeGreaterThan(38);
    expect(quantile(samples, 0.5)).toBeLessThan(42);
    expect(quantile(samples, 0.99)).toBeGreaterThan(110);
    expect(quantile(samples, 0.99)).toBeLessThan(130);
  });

  it('repeats itself with the same seed', () => {
    const a = createRandom(7);
    const b = createRandom(7);
    expect(Array.from({ length: 5 }, () => a())).toEqual(
      Array.from({ length: 5 }, () => b()),
    );
  });
});
