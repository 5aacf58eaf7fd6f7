import { useCallback, useRef } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import {
  EntityCanaryStatus,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { CanaryPollIntervals } from './pollIntervals';
import { PollingState, usePolling } from './usePolling';

/** What {@link useEntityCanaryStatus} knows so far. */
export interface EntityCanaryStatusState
  extends Omit<PollingState<EntityCanaryStatus>, 'refreshSoon'> {
  /**
   * Ask again soon for a status newer than `changedAt` (epoch ms, default
   * now): after a pushed change, whose time every listener on the page
   * shares, so they share one request too.
   */
  refreshSoon: (changedAt?: number) => void;
}

/**
 * The set-up, active rollout and history of an entity, polled quickly while
 * a rollout runs and slowly otherwise. The API client shares one status
 * request between everything on the page that asks (the overview card and
 * the tab); a refresh, and a change pushed at `changedAt`, ask for an
 * answer sent after it.
 */
export function useEntityCanaryStatus(
  entity: { kind: string; namespace: string; name: string },
  intervals: CanaryPollIntervals,
): EntityCanaryStatusState {
  const canaryApi = useApi(canaryApiRef);
  const key = `${entity.kind}:${entity.namespace}/${entity.name}`;
  const notBefore = useRef<number | undefined>(undefined);
  // A poll never takes an answer older than half its interval, so a short
  // configured interval is not stretched by the client's sharing.
  const shortest = Math.min(intervals.activeMs, intervals.idleMs);
  const polling = usePolling<EntityCanaryStatus>(
    () =>
      canaryApi.getEntityStatus(entity, {
        notBefore: Math.max(
          notBefore.current ?? -Infinity,
          Date.now() - shortest / 2,
        ),
      }),
    status =>
      status?.active && !isTerminalPhase(status.active.phase)
        ? intervals.activeMs
        : intervals.idleMs,
    key,
  );
  const { refresh: pollNow, refreshSoon: pollSoon } = polling;
  const refresh = useCallback(() => {
    notBefore.current = Date.now();
    pollNow();
  }, [pollNow]);
  const refreshSoon = useCallback(
    (changedAt: number = Date.now()) => {
      notBefore.current = Math.max(notBefore.current ?? 0, changedAt);
      pollSoon();
    },
    [pollSoon],
  );
  return { ...polling, refresh, refreshSoon };
}
