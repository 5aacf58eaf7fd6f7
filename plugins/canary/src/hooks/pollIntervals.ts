/**
 * How often the screens ask the backend again.
 * @public
 */
export interface CanaryPollIntervals {
  /** While a rollout is moving. Default 2000 ms. */
  activeMs: number;
  /** While nothing runs, to notice rollouts started elsewhere (CI). Default 15000 ms. */
  idleMs: number;
}

/** @internal */
export const DEFAULT_POLL_INTERVALS: CanaryPollIntervals = {
  activeMs: 2000,
  idleMs: 15000,
};
