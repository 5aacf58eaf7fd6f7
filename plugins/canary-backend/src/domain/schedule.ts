import type { RolloutStep } from '@coalmine/backstage-plugin-canary-common';
import type { CanaryPolicy } from '../config/policy';

/** How long a step holds before the next one: its own pause, else the analysis interval. */
export function stepDwellMs(policy: CanaryPolicy, step: RolloutStep): number {
  return step.pauseSeconds !== undefined
    ? step.pauseSeconds * 1000
    : policy.analysis.intervalMs;
}
