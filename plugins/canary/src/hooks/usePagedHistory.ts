import { useCallback, useRef, useState } from 'react';
import type { RolloutHistoryPage } from '@coalmine/backstage-plugin-canary-common';
import { toError } from '../lib/errors';

/** What the tab shows of one kind of a rollout's history, and how to reach older pages. */
export interface PagedHistory<T> {
  /** Every item seen so far, oldest first: polled pages and loaded older pages. */
  items: T[];
  /** True when items older than the ones shown exist. */
  hasOlder: boolean;
  loadingOlder: boolean;
  olderError?: Error;
  /** Fetches the next older page. */
  loadOlder: () => void;
}

/**
 * The details call brings only the newest page of a rollout's events and
 * analysis rows. This keeps every item a poll brought while the tab is open
 * (so a page sliding forward leaves no gap), adds older pages on demand
 * through `fetchOlder` (the `/rollouts/:id/events|analysis` cursor
 * endpoints), and starts over for another rollout.
 *
 * @param polled - the newest page of the rollout named by `rolloutId`, or
 *   undefined while it is loading or belongs to another rollout
 */
export function usePagedHistory<T extends { id: number }>(
  rolloutId: string | undefined,
  polled: { items: T[]; cursor?: string | null } | undefined,
  fetchOlder: (
    rolloutId: string,
    before: string,
  ) => Promise<RolloutHistoryPage<T>>,
): PagedHistory<T> {
  const seen = useRef(new Map<number, T>());
  const [older, setOlder] = useState<{
    rolloutId?: string;
    items: T[];
    /** undefined: nothing loaded yet, the first polled page's cursor applies. */
    cursor?: string | null;
    loading: boolean;
    error?: Error;
  }>({ items: [], loading: false });
  const firstCursor = useRef<{ rolloutId?: string; cursor?: string | null }>(
    {},
  );
  const fetchRef = useRef(fetchOlder);
  fetchRef.current = fetchOlder;

  // Another rollout: forget what was seen of the previous one.
  if (firstCursor.current.rolloutId !== rolloutId) {
    seen.current = new Map();
    firstCursor.current = { rolloutId };
  }

  if (polled) {
    for (const item of polled.items) seen.current.set(item.id, item);
    if (firstCursor.current.cursor === undefined) {
      // The oldest polled page; older pages start before it.
      firstCursor.current.cursor = polled.cursor ?? null;
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
        : { rolloutId, items: [], loading: true },
    );
    fetchRef.current(rolloutId, cursor).then(
      page =>
        setOlder(o =>
          o.rolloutId === rolloutId
            ? {
                ...o,
                items: [...page.items, ...o.items],
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
  }, [rolloutId, cursor, mine?.loading]);

  const all = new Map<number, T>();
  for (const item of mine?.items ?? []) all.set(item.id, item);
  for (const item of seen.current.values()) all.set(item.id, item);
  return {
    items: [...all.values()].sort((a, b) => a.id - b.id),
    hasOlder: Boolean(cursor),
    loadingOlder: mine?.loading ?? false,
    olderError: mine?.error,
    loadOlder,
  };
}
