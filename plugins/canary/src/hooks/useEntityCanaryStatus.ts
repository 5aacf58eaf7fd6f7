import { useApi } from '@backstage/core-plugin-api';
import {
  EntityCanaryStatus,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { CanaryPollIntervals } from './pollIntervals';
import { usePolling } from './usePolling';

/**
 * The set-up, active rollout and history of an entity, polled quickly while
 * a rollout runs and slowly otherwise.
 */
export function useEntityCanaryStatus(
  entity: { kind: string; namespace: string; name: string },
  intervals: CanaryPollIntervals,
) {
  const canaryApi = useApi(canaryApiRef);
  const key = `${entity.kind}:${entity.namespace}/${entity.name}`;
  return usePolling<EntityCanaryStatus>(
    () => canaryApi.getEntityStatus(entity),
    status =>
      status?.active && !isTerminalPhase(status.active.phase)
        ? intervals.activeMs
        : intervals.idleMs,
    key,
  );
}
