import { useCallback, useRef, useState } from 'react';
import { useApi } from '@backstage/core-plugin-api';
import type {
  RolloutDetails,
  RolloutEvent,
} from '@coalmine/backstage-plugin-canary-common';
import { canaryApiRef } from '../api';
import { toError } from '../lib/errors';

/** What the timeline shows of a rollout's events, and how to reach older ones. */
export interface EventHistory {
  /** Every event seen so far, oldest first: polled pages and loaded older pages. */
  events: RolloutEvent[];
  /** True when events older than the ones shown exist. */
  hasOlder: boolean;
  loadingOlder: boolean;
  olderError?: Error;
  /** Fetches the next older page. */
  loadOlder: () => void;
}

const byId = (a: RolloutEvent, b: RolloutEvent) => a.id - b.id;

/**
 * The details call brings only the newest page of events. This keeps every
 * event a poll brought while the tab is open (so a page sliding forward
 * leaves no gap), adds older pages on demand, and starts over for another
 * rollout.
 */
export function useEventHistory(
  rolloutId: string | undefined,
  details: RolloutDetails | undefined,
): EventHistory {
  const canaryApi = useApi(canaryApiRef);
  const seen = useRef(new Map<number, RolloutEvent>());
  const [older, setOlder] = useState<{
    rolloutId?: string;
    events: RolloutEvent[];
    /** undefined: nothing loaded yet, the first polled page's cursor applies. */
    cursor?: string | null;
    loading: boolean;
    error?: Error;
  }>({ events: [], loading: false });
  const firstCursor = useRef<{ rolloutId?: string; cursor?: string | null }>(
    {},
  );

  // Another rollout: forget what was seen of the previous one.
  if (firstCursor.current.rolloutId !== rolloutId) {
    seen.current = new Map();
    firstCursor.current = { rolloutId };
  }

  const current =
    details && details.rollout.id === rolloutId ? details : undefined;
  if (current) {
    for (const e of current.events) seen.current.set(e.id, e);
    if (
      firstCursor.current.rolloutId === rolloutId &&
      firstCursor.current.cursor === undefined
    ) {
      // The oldest polled page; older pages start before it.
      firstCursor.current.cursor = current.eventsCursor ?? null;
    }
  }

  const mine = older.rolloutId === rolloutId ? older : undefined;
  const cursor =
    mine?.cursor !== undefined ? mine.cursor : firstCursor.current.cursor;

  const loadOlder = useCallback(() => {
    if (!rolloutId || !cursor || mine?.loading) return;
    setOlder(o =>
      o.rolloutId === rolloutId
        ? { ...o, loading: true, error: undefined }
        : { rolloutId, events: [], loading: true },
    );
    canaryApi.getRolloutEvents(rolloutId, { before: cursor }).then(
      page =>
        setOlder(o =>
          o.rolloutId === rolloutId
            ? {
                ...o,
                events: [...page.items, ...o.events],
                cursor: page.cursor,
                loading: false,
              }
            : o,
        ),
      error =>
        setOlder(o =>
          o.rolloutId === rolloutId
            ? { ...o, loading: false, error: toError(error) }
            : o,
        ),
    );
  }, [canaryApi, rolloutId, cursor, mine?.loading]);

  const all = new Map<number, RolloutEvent>();
  for (const e of mine?.events ?? []) all.set(e.id, e);
  for (const e of seen.current.values()) all.set(e.id, e);
  return {
    events: [...all.values()].sort(byId),
    hasOlder: Boolean(cursor),
    loadingOlder: mine?.loading ?? false,
    olderError: mine?.error,
    loadOlder,
  };
}
