import type {
  AnalysisCheck,
  AnalysisResult,
  JudgeKind,
} from '@coalmine/backstage-plugin-canary-common';

/** The latest check of one gate and the analysis tick it came from. */
export interface GateState {
  check: AnalysisCheck;
  result: AnalysisResult;
  /** True when the check belongs to the newest tick. */
  current: boolean;
}

/** The newest analysis tick, if any. */
export function newestResult(
  results: AnalysisResult[],
): AnalysisResult | undefined {
  return [...results].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id - a.id,
  )[0];
}

/**
 * The latest check of every gate, in the order the gates first appear.
 * A gate that was not evaluated at the newest tick (e.g. not enough data)
 * keeps its previous verdict.
 */
export function latestGateStates(results: AnalysisResult[]): GateState[] {
  const newestFirst = [...results].sort(
    (a, b) => Date.parse(b.time) - Date.parse(a.time) || b.id - a.id,
  );
  const newest = newestFirst[0];
  const byMetric = new Map<string, GateState>();
  for (const result of newestFirst) {
    for (const check of result.checks) {
      if (!byMetric.has(check.metric)) {
        byMetric.set(check.metric, {
          check,
          result,
          current: result === newest,
        });
      }
    }
  }
  // Oldest appearance first gives the order of the policy.
  const order = new Map<string, number>();
  [...newestFirst].reverse().forEach((result, tick) =>
    result.checks.forEach((check, position) => {
      if (!order.has(check.metric)) {
        order.set(check.metric, tick * 1000 + position);
      }
    }),
  );
  return [...byMetric.values()].sort(
    (a, b) =>
      (order.get(a.check.metric) ?? 0) - (order.get(b.check.metric) ?? 0),
  );
}

/** What the verdict of a gate meant for the rollout, in a word or three. */
export function gateConsequence(gate: GateState): string {
  switch (gate.check.verdict) {
    case 'pass':
      return 'ok';
    case 'inconclusive':
      return 'not enough data yet';
    case 'fail':
      if (gate.result.action === 'rollback') {
        return 'rollback';
      }
      return gate.result.action === 'hold' ? 'hold' : 'failing';
    default:
      return gate.check.verdict;
  }
}

const JUDGE_WORDS: Record<JudgeKind, string> = {
  threshold: 'fixed bound',
  relative: 'relative to stable',
  sequential: 'sequential test',
  'pod-health': 'pod health',
};

/** How the gate is judged, in words. */
export function judgeWords(judge: JudgeKind): string {
  return JUDGE_WORDS[judge] ?? judge;
}
