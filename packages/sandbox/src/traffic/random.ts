/** A small seedable PRNG (mulberry32), so traffic is reproducible with `seed`. */
export type Random = () => number;

export function createRandom(seed?: number): Random {
  if (seed === undefined) return Math.random;
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal via Box–Muller. */
export function normal(random: Random): number {
  let u = 0;
  while (u === 0) u = random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** z of the 99th percentile of a standard normal. */
const Z99 = 2.3263478740408408;

/** A latency from a log-normal with the given median and 99th percentile. */
export function lognormalLatency(
  random: Random,
  medianMs: number,
  p99Ms: number,
): number {
  const sigma = Math.log(Math.max(p99Ms, medianMs * 1.0001) / medianMs) / Z99;
  return medianMs * Math.exp(sigma * normal(random));
}
