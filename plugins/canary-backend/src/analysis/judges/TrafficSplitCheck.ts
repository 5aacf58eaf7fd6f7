import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { formatNumber } from './format';

/*
 * Does the canary get the share of requests it was given?
 *
 * A misrouted mesh (a subset that selects the wrong pods, a VirtualService
 * another controller rewrote, a header route catching everything) feeds the
 * analysis data that is not what the weight says. Before that data is
 * trusted, the canary's observed share of requests at the current weight is
 * compared with the configured weight. Routing is never exact (connection
 * reuse, per-proxy rounding, replicas), so the share may differ by a factor
 * of `oddsFactor` on the odds scale (1.5: 5 % may show as 3.4–7.3 %, 50 % as
 * 40–60 %); only a share outside that band by more than `z` standard errors
 * (5: by chance about once in 3.5 million steps) is a mismatch. A mismatch
 * holds the rollout with the numbers in the reason; it never rolls back.
 */

/** @public */
export interface TrafficSplitInput {
  canaryRequests: number;
  stableRequests: number;
  /** Configured canary weight, 0–100. */
  weight: number;
  oddsFactor?: number;
  z?: number;
  /** Requests at this weight before the share is judged. */
  minRequests?: number;
}

function shareFromOdds(odds: number): number {
  return odds / (1 + odds);
}

/**
 * The check `traffic-split`: pass, fail (mismatch beyond chance) or
 * inconclusive (too few requests yet). Undefined for weights 0 and 100.
 *
 * @public
 */
export function trafficSplitCheck(
  input: TrafficSplitInput,
): AnalysisCheck | undefined {
  const w = input.weight / 100;
  if (!(w > 0 && w < 1)) return undefined;
  const f = input.oddsFactor ?? 1.5;
  const zCrit = input.z ?? 5;
  const nc = Math.max(0, input.canaryRequests);
  const n = nc + Math.max(0, input.stableRequests);
  const odds = w / (1 - w);
  const lower = shareFromOdds(odds / f);
  const upper = shareFromOdds(odds * f);
  const share = n > 0 ? nc / n : null;
  const base = {
    metric: 'traffic-split',
    judge: 'threshold' as const,
    canaryValue: share === null ? null : share * 100,
    stableValue: null,
    unit: '%',
    bound: {
      min: lower * 100,
      max: upper * 100,
      text: `canary share of requests within ${formatNumber(
        lower * 100,
      )}–${formatNumber(upper * 100)} % for a weight of ${formatNumber(
        input.weight,
      )} % (beyond chance: z > ${zCrit})`,
    },
    details: { canaryRequests: nc, requests: n, weight: input.weight },
  };
  if (share === null || n < (input.minRequests ?? 100)) {
    return {
      ...base,
      verdict: 'inconclusive',
      evidence: `${formatNumber(
        n,
      )} requests at this weight so far; the split is checked from ${
        input.minRequests ?? 100
      }`,
    };
  }
  const zOf = (p: number) => (nc - n * p) / Math.sqrt(n * p * (1 - p));
  const zLow = zOf(lower);
  const zHigh = zOf(upper);
  const observed = `the canary got ${formatNumber(
    share * 100,
  )} % of ${formatNumber(n)} requests at a configured weight of ${formatNumber(
    input.weight,
  )} %`;
  if (zLow < -zCrit || zHigh > zCrit) {
    return {
      ...base,
      verdict: 'fail',
      details: {
        ...base.details,
        z: Number((zLow < -zCrit ? zLow : zHigh).toFixed(2)),
      },
      evidence: `${observed}: the traffic split does not match the weight (is the mesh routing as configured?)`,
    };
  }
  return { ...base, verdict: 'pass', evidence: `${observed}` };
}
