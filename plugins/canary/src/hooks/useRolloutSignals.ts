import { useEffect, useRef } from 'react';
import { useSignal } from '@backstage/plugin-signals-react';
import {
  CANARY_ROLLOUTS_SIGNAL_CHANNEL,
  CanaryRolloutSignal,
  CanaryRolloutsSignal,
  canaryEntitySignalChannel,
} from '@coalmine/backstage-plugin-canary-common';

/** When each message was first seen on this page (see {@link receivedAt}). */
const seen = new WeakMap<object, number>();

/**
 * When a message first reached a listener on this page (epoch ms). Every
 * listener of a channel gets the same message object, so the overview card
 * and the tab agree on the time of a change and share the one status
 * request sent after it.
 */
function receivedAt(message: object): number {
  let at = seen.get(message);
  if (at === undefined) {
    at = Date.now();
    seen.set(message, at);
  }
  return at;
}

/**
 * Listens for the backend's signal that a rollout of the entity changed and
 * calls `onChange` at once, with the time the change reached the page. `pushed` is false when the app has no Signals
 * API (the signals plugin is not installed): then polling alone keeps the
 * tab up to date.
 */
export function useRolloutSignals(
  entityRef: string,
  onChange: (signal: CanaryRolloutSignal, changedAt: number) => void,
): { pushed: boolean } {
  const { lastSignal, isSignalsAvailable } = useSignal<CanaryRolloutSignal>(
    canaryEntitySignalChannel(entityRef),
  );
  const handler = useRef(onChange);
  handler.current = onChange;
  useEffect(() => {
    // A new object for every message, so two alike signals both count.
    if (lastSignal?.type === 'rollout-changed') {
      handler.current(lastSignal, receivedAt(lastSignal));
    }
  }, [lastSignal]);
  return { pushed: isSignalsAvailable };
}

/**
 * Listens on the organisation-wide channel (some rollout changed) and calls
 * `onChange` at once; the caller asks the permission-filtered list again.
 * `pushed` is false without the Signals API: polling alone then.
 */
export function useAnyRolloutSignals(onChange: () => void): {
  pushed: boolean;
} {
  const { lastSignal, isSignalsAvailable } = useSignal<CanaryRolloutsSignal>(
    CANARY_ROLLOUTS_SIGNAL_CHANNEL,
  );
  const handler = useRef(onChange);
  handler.current = onChange;
  useEffect(() => {
    if (lastSignal?.type === 'rollouts-changed') handler.current();
  }, [lastSignal]);
  return { pushed: isSignalsAvailable };
}
