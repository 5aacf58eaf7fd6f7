import type { RolloutRecord } from '../../domain/types';
import { policy } from '../../engine/__testUtils__/harness';

/**
 * A rollout row as the store keeps it, for store-level tests: a Pending
 * Istio rollout of `workload` (component `default/<workload>`, stable
 * `<workload>-v1`, canary `<workload>-v2`) on cluster `c`; `more` overrides
 * any field.
 */
export function storedRollout(
  id: string,
  workload = 'app',
  more: Partial<RolloutRecord> = {},
): RolloutRecord {
  const p = policy('p', { trafficProvider: 'istio' });
  return {
    id,
    entityRef: `component:default/${workload}`,
    cluster: 'c',
    namespace: 'default',
    workload,
    policy: 'p',
    trafficProvider: 'istio',
    phase: 'Pending',
    stepIndex: -1,
    weight: 0,
    actualWeight: null,
    steps: p.steps,
    stable: { name: `${workload}-v1` },
    canary: { name: `${workload}-v2`, image: 'reg/app:v2' },
    message: null,
    spec: { policy: p, request: {} },
    state: {},
    intent: null,
    startedBy: 'user:default/jane',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    finishedAt: null,
    nextStepAt: null,
    nextRunAt: null,
    version: 0,
    ...more,
  };
}
