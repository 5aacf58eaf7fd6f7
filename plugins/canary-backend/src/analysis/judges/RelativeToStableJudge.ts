import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { formatNumber, formatValue, metricWords } from './format';

/**
 * How far the canary may be from the stable version. Upper bounds for
 * "lower is better" metrics (errors, latency), lower bounds for "higher is
 * better" ones (success rate, conversion). When a ratio and an absolute
 * difference are both given for one side, the more lenient bound applies, so
 * `maxRatio: 1.2, maxIncrease: 5` reads "at most 20 % or 5 ms worse,
 * whichever is more".
 *
 * @public
 */
export interface RelativeBound {
  /** canary ≤ maxRatio × stable */
  maxRatio?: number;
  /** canary ≤ stable + maxIncrease (in the metric's unit, e.g. percentage points) */
  maxIncrease?: number;
  /** canary ≥ minRatio × stable */
  minRatio?: number;
  /** canary ≥ stable − maxDecrease */
  maxDecrease?: number;
  /**
   * Requests each arm must have served in the window for the comparison to
   * count; fewer give an inconclusive check. Only applied when counts are given.
   */
  minRequests?: number;
}

/** @public */
export interface RelativeToStableInput {
  metric: string;
  query?: string;
  unit?: string;
  canaryValue: number | null;
  stableValue: number | null;
  /** Requests in the window per arm, when known, for the minimum-traffic rule. */
  canaryRequests?: number | null;
  stableRequests?: number | null;
  noDataReason?: string;
}

/**
 * Compares the canary with the stable version over the same window, e.g.
 * canary p99 at most 1.2 × stable, or error rate at most stable + 0.5 points.
 *
 * @public
 */
export class RelativeToStableJudge {
  readonly bound: RelativeBound;

  constructor(bound: RelativeBound) {
    const { maxRatio, maxIncrease, minRatio, maxDecrease } = bound;
    if (
      [maxRatio, maxIncrease, minRatio, maxDecrease].every(v => v === undefined)
    ) {
      throw new TypeError(
        'relative bound needs maxRatio, maxIncrease, minRatio or maxDecrease',
      );
    }
    this.bound = bound;
  }

  /** The allowed [min, max] of the canary given the stable value. */
  limits(stable: number): { min?: number; max?: number } {
    const { maxRatio, maxIncrease, minRatio, maxDecrease } = this.bound;
    const uppers = [
      maxRatio !== undefined ? maxRatio * stable : undefined,
      maxIncrease !== undefined ? stable + maxIncrease : undefined,
    ].filter((v): v is number => v !== undefined);
    const lowers = [
      minRatio !== undefined ? minRatio * stable : undefined,
      maxDecrease !== undefined ? stable - maxDecrease : undefined,
    ].filter((v): v is number => v !== undefined);
    return {
      max: uppers.length ? Math.max(...uppers) : undefined,
      min: lowers.length ? Math.min(...lowers) : undefined,
    };
  }

  /** "≤ 1.2 × stable", "≤ stable + 0.5 %", "≥ 0.98 × stable". */
  describe(unit?: string): string {
    const u = unit ? ` ${unit}` : '';
    const { maxRatio, maxIncrease, minRatio, maxDecrease } = this.bound;
    const upper = [
      maxRatio !== undefined ? `${formatNumber(maxRatio)} × stable` : undefined,
      maxIncrease !== undefined
        ? `stable + ${formatNumber(maxIncrease)}${u}`
        : undefined,
    ].filter(Boolean);
    const lower = [
      minRatio !== undefined ? `${formatNumber(minRatio)} × stable` : undefined,
      maxDecrease !== undefined
        ? `stable − ${formatNumber(maxDecrease)}${u}`
        : undefined,
    ].filter(Boolean);
    const parts: string[] = [];
    if (upper.length)
      parts.push(
        `≤ ${upper.length > 1 ? `max(${upper.join(', ')})` : upper[0]}`,
      );
    if (lower.length)
      parts.push(
        `≥ ${lower.length > 1 ? `min(${lower.join(', ')})` : lower[0]}`,
      );
    return parts.join(' and ');
  }

  judge(input: RelativeToStableInput): AnalysisCheck {
    const text = this.describe(input.unit);
    const words = metricWords(input.metric);
    const base = {
      metric: input.metric,
      judge: 'relative' as const,
      query: input.query,
      canaryValue: input.canaryValue,
      stableValue: input.stableValue,
      unit: input.unit,
    };
    const details = {
      canaryRequests: input.canaryRequests ?? null,
      stableRequests: input.stableRequests ?? null,
    };
    const missing = [
      input.canaryValue === null || Number.isNaN(input.canaryValue)
        ? 'canary'
        : undefined,
      input.stableValue === null || Number.isNaN(input.stableValue)
        ? 'stable'
        : undefined,
    ].filter(Boolean);
    if (missing.length > 0) {
      return {
        ...base,
        bound: { text },
        verdict: 'inconclusive',
        evidence: `${words}: no data for ${missing.join(' and ')}${
          input.noDataReason ? ` (${input.noDataReason})` : ''
        }; needs canary ${text}`,
        details,
      };
    }
    const canary = input.canaryValue!;
    const stable = input.stableValue!;
    const limits = this.limits(stable);
    const bound = { ...limits, text };
    const minRequests = this.bound.minRequests ?? 0;
    const canaryRequests = input.canaryRequests;
    const stableRequests = input.stableRequests;
    const comparison = `canary ${words} ${formatValue(
      canary,
      input.unit,
    )} vs stable ${formatValue(stable, input.unit)}`;
    if (
      minRequests > 0 &&
      ((canaryRequests !== undefined &&
        canaryRequests !== null &&
        canaryRequests < minRequests) ||
        (stableRequests !== undefined &&
          stableRequests !== null &&
          stableRequests < minRequests))
    ) {
      return {
        ...base,
        bound,
        verdict: 'inconclusive',
        evidence: `${comparison}, but too little traffic to compare (canary ${formatNumber(
          Math.round(canaryRequests ?? 0),
        )}, stable ${formatNumber(
          Math.round(stableRequests ?? 0),
        )} requests; needs ${minRequests} each)`,
        details,
      };
    }
    const tooHigh = limits.max !== undefined && canary > limits.max;
    const tooLow = limits.min !== undefined && canary < limits.min;
    if (tooHigh || tooLow) {
      const ratio =
        stable !== 0 ? ` (${formatNumber(canary / stable)} × stable)` : '';
      return {
        ...base,
        bound,
        verdict: 'fail',
        evidence: `${comparison}${ratio} is ${
          tooHigh ? 'above' : 'below'
        } the bound ${text} = ${formatValue(
          tooHigh ? limits.max! : limits.min!,
          input.unit,
        )}`,
        details,
      };
    }
    return {
      ...base,
      bound,
      verdict: 'pass',
      evidence: `${comparison} is within ${text}`,
      details,
    };
  }
}
