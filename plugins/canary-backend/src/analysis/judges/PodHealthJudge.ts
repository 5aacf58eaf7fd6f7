import { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';
import type { PodHealthSnapshot } from '../../domain/podHealth';

/** @public */
export interface PodHealthOptions {
  /** Restarts summed over the canary's pods above which the canary fails. Default 1. */
  maxRestarts?: number;
  /** Reasons that fail the canary at once. */
  fatalReasons?: string[];
}

/** Reasons a new version will not recover from by waiting. @public */
export const DEFAULT_FATAL_REASONS = [
  'OOMKilled',
  'CrashLoopBackOff',
  'ImagePullBackOff',
  'ErrImagePull',
  'CreateContainerConfigError',
  'InvalidImageName',
];

/**
 * Hard stop on pods that are visibly broken: too many restarts, an OOM kill,
 * a crash loop. Failing this check rolls back at once.
 *
 * @public
 */
export class PodHealthJudge {
  readonly maxRestarts: number;
  readonly fatalReasons: ReadonlySet<string>;

  constructor(options: PodHealthOptions = {}) {
    this.maxRestarts = options.maxRestarts ?? 1;
    this.fatalReasons = new Set(options.fatalReasons ?? DEFAULT_FATAL_REASONS);
  }

  judge(
    snapshot: PodHealthSnapshot | undefined | null,
    metric = 'pod-health',
  ): AnalysisCheck {
    const bound = {
      max: this.maxRestarts,
      text: `≤ ${this.maxRestarts} restarts, no ${[...this.fatalReasons]
        .slice(0, 2)
        .join(' or ')}`,
    };
    const base = {
      metric,
      judge: 'pod-health' as const,
      stableValue: null,
      unit: 'restarts',
      bound,
    };
    if (!snapshot) {
      return {
        ...base,
        canaryValue: null,
        verdict: 'inconclusive',
        evidence: 'canary pod health unknown: the pods could not be read',
      };
    }
    const pods = snapshot.pods;
    if (pods.length === 0) {
      return {
        ...base,
        canaryValue: null,
        verdict: 'inconclusive',
        evidence: 'no canary pods found',
        details: { pods: 0 },
      };
    }
    const restarts = pods.reduce((sum, p) => sum + p.restarts, 0);
    const ready = pods.filter(p => p.ready).length;
    const fatal = pods.flatMap(p =>
      p.reasons
        .filter(r => this.fatalReasons.has(r))
        .map(r => `${p.name} ${r}`),
    );
    const details = {
      pods: pods.length,
      ready,
      restarts,
      fatal: fatal.join(', ') || null,
    };
    if (fatal.length > 0) {
      return {
        ...base,
        canaryValue: restarts,
        verdict: 'fail',
        evidence: `canary pod ${fatal.slice(0, 3).join(', ')}${
          fatal.length > 3 ? ` and ${fatal.length - 3} more` : ''
        }`,
        details,
      };
    }
    if (restarts > this.maxRestarts) {
      return {
        ...base,
        canaryValue: restarts,
        verdict: 'fail',
        evidence: `canary pods restarted ${restarts} times (bound ${this.maxRestarts})`,
        details,
      };
    }
    return {
      ...base,
      canaryValue: restarts,
      verdict: 'pass',
      evidence: `${ready} of ${
        pods.length
      } canary pods ready, ${restarts} restart${restarts === 1 ? '' : 's'}`,
      details,
    };
  }
}
