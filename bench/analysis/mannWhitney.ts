import { normalCdf } from './world';

function inverseNormal(p: number): number {
  // bisection on the CDF: accurate enough for a confidence level
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 80; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The Mann-Whitney (Wilcoxon rank-sum) confidence interval for the location
 * shift experiment − control and its Hodges-Lehmann estimate, from the
 * sorted pairwise differences with the normal approximation for the
 * critical rank (as R's wilcox.test(conf.int = TRUE) does for larger
 * samples, which Kayenta calls).
 */
export function mannWhitneyInterval(
  experiment: number[],
  control: number[],
  confidence: number,
): { lower: number; upper: number; estimate: number } {
  const diffs: number[] = [];
  for (const x of experiment) for (const y of control) diffs.push(x - y);
  diffs.sort((a, b) => a - b);
  const m = diffs.length;
  const n1 = experiment.length;
  const n2 = control.length;
  const z = inverseNormal(1 - (1 - confidence) / 2);
  const k = Math.max(
    0,
    Math.floor((n1 * n2) / 2 - z * Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12)),
  );
  const lower = diffs[Math.min(m - 1, k)];
  const upper = diffs[Math.max(0, m - 1 - k)];
  const estimate =
    m % 2 === 1 ? diffs[(m - 1) / 2] : (diffs[m / 2 - 1] + diffs[m / 2]) / 2;
  return { lower, upper, estimate };
}
