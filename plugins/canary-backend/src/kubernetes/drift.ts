import type { TrafficSplit } from './types';

/** What the engine last wrote, as it recorded it. */
export interface ExpectedSplit {
  canaryWeight: number;
  headerRoute?: boolean;
}

export interface SplitDrift {
  /** True when the cluster no longer has what the engine set. */
  drifted: boolean;
  expected: ExpectedSplit;
  actual: TrafficSplit;
  /** For the rollout's event log, e.g. "canary weight is 40 %, the rollout set 25 % — changed by hand?". */
  message?: string;
}

/**
 * Compares the split read from the cluster with the one the engine set last,
 * so the engine can record that someone changed the routing by hand (and
 * decide whether to restore it or pause). Only the requested weight counts;
 * `actualWeight` (ready replica share) lags behind by design and is not drift.
 * `tolerance` absorbs rounding of providers that store fractions.
 */
export function detectSplitDrift(
  expected: ExpectedSplit,
  actual: TrafficSplit,
  tolerance = 0.5,
): SplitDrift {
  const problems: string[] = [];
  if (Math.abs(actual.canaryWeight - expected.canaryWeight) > tolerance) {
    problems.push(
      `canary weight is ${actual.canaryWeight} %, the rollout set ${expected.canaryWeight} %`,
    );
  }
  if (
    expected.headerRoute !== undefined &&
    actual.headerRoute !== expected.headerRoute
  ) {
    problems.push(
      actual.headerRoute
        ? 'a sticky header route to the canary was added'
        : 'the sticky header route to the canary was removed',
    );
  }
  return {
    drifted: problems.length > 0,
    expected,
    actual,
    message: problems.length
      ? `${problems.join('; ')} — changed outside Coalmine`
      : undefined,
  };
}
