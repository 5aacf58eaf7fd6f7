/**
 * How often the screens ask the backend again.
 * @public
 */
export interface CanaryPollIntervals {
  /** While a rollout is moving. Default 2000 ms. */
  activeMs: number;
  /** While nothing runs, to notice rollouts started elsewhere (CI). Default 15000 ms. */
  idleMs: number;
  /**
   * While Backstage Signals pushes every change, the tab still asks this
   * often (a dropped connection, a missed signal). Default 15000 ms.
   */
  pushedMs: number;
}

/** @internal */
export const DEFAULT_POLL_INTERVALS: CanaryPollIntervals = {
  activeMs: 2000,
  idleMs: 15000,
  pushedMs: 15000,
};

/**
 * The intervals a screen uses: the defaults, the props, slower while
 * changes are pushed, and `?canaryPollSeconds=N` in the page's URL last (a
 * way to watch what the push alone does, 1 s to 1 h).
 *
 * @internal
 */
export function effectiveIntervals(
  overrides: Partial<CanaryPollIntervals> | undefined,
  pushed: boolean,
  search: string = typeof window === 'undefined' ? '' : window.location.search,
): CanaryPollIntervals {
  const base = { ...DEFAULT_POLL_INTERVALS, ...overrides };
  const intervals = pushed
    ? {
        ...base,
        activeMs: Math.max(base.activeMs, base.pushedMs),
        idleMs: Math.max(base.idleMs, base.pushedMs),
      }
    : base;
  const fromUrl = Number(
    new URLSearchParams(search).get('canaryPollSeconds') ?? NaN,
  );
  if (Number.isFinite(fromUrl) && fromUrl >= 1 && fromUrl <= 3600) {
    const ms = Math.round(fromUrl * 1000);
    return { ...intervals, activeMs: ms, idleMs: ms, pushedMs: ms };
  }
  return intervals;
}
