import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import { formatNumber, formatValue, metricWords } from './format';

/** Flagger's `thresholdRange`: the canary's value must lie within [min, max]. @public */
export interface ThresholdRange {
  min?: number;
  max?: number;
}

/** @public */
export interface ThresholdRangeInput {
  metric: string;
  query?: string;
  unit?: string;
  /** The canary's value over the window, or null when Prometheus had none. */
  canaryValue: number | null;
  /** The stable's value, shown for context only. */
  stableValue?: number | null;
  /** Why there is no value, when there is none (e.g. "Prometheus unreachable: ..."). */
  noDataReason?: string;
}

/** Describes a range as "≥ 99 %", "≤ 500 ms" or "between 1 and 5 %". @internal */
export function describeRange(range: ThresholdRange, unit?: string): string {
  const u = unit ? ` ${unit}` : '';
  if (range.min !== undefined && range.max !== undefined) {
    return `between ${formatNumber(range.min)} and ${formatNumber(
      range.max,
    )}${u}`;
  }
  if (range.min !== undefined) return `≥ ${formatNumber(range.min)}${u}`;
  if (range.max !== undefined) return `≤ ${formatNumber(range.max)}${u}`;
  return 'any value';
}

/**
 * Absolute bounds on the canary's own value over a window, as Flagger's
 * `thresholdRange` does: pass inside [min, max] (inclusive), fail outside,
 * inconclusive without data.
 *
 * @public
 */
export class ThresholdRangeJudge {
  readonly range: ThresholdRange;

  constructor(range: ThresholdRange) {
    if (range.min === undefined && range.max === undefined) {
      throw new TypeError('thresholdRange needs min, max or both');
    }
    if (
      range.min !== undefined &&
      range.max !== undefined &&
      range.min > range.max
    ) {
      throw new TypeError(
        'thresholdRange.min is greater than thresholdRange.max',
      );
    }
    this.range = range;
  }

  judge(input: ThresholdRangeInput): AnalysisCheck {
    const { min, max } = this.range;
    const boundText = describeRange(this.range, input.unit);
    const bound = { min, max, text: boundText };
    const name = `canary ${metricWords(input.metric)}`;
    const stablePart =
      input.stableValue !== undefined && input.stableValue !== null
        ? ` (stable ${formatValue(input.stableValue, input.unit)})`
        : '';
    const base = {
      metric: input.metric,
      judge: 'threshold' as const,
      query: input.query,
      canaryValue: input.canaryValue,
      stableValue: input.stableValue ?? null,
      unit: input.unit,
      bound,
    };

    if (input.canaryValue === null || Number.isNaN(input.canaryValue)) {
      return {
        ...base,
        canaryValue: null,
        verdict: 'inconclusive',
        evidence: `${name}: no data${
          input.noDataReason ? ` (${input.noDataReason})` : ''
        }; needs ${boundText}`,
      };
    }
    const value = input.canaryValue;
    const below = min !== undefined && value < min;
    const above = max !== undefined && value > max;
    const shown = formatValue(value, input.unit);
    if (below || above) {
      return {
        ...base,
        verdict: 'fail',
        evidence: `${name} ${shown}${stablePart} is ${
          below ? 'below' : 'above'
        } the bound ${boundText}`,
      };
    }
    return {
      ...base,
      verdict: 'pass',
      evidence: `${name} ${shown}${stablePart} is within ${boundText}`,
    };
  }
}
