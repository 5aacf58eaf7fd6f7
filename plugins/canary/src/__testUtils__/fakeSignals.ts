import type { SignalApi } from '@backstage/plugin-signals-react';

/** A Signals API whose messages the test sends. */
export function fakeSignals() {
  const listeners = new Map<string, Set<(message: any) => void>>();
  const api: SignalApi = {
    subscribe(channel, onMessage) {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(onMessage as any);
      return {
        unsubscribe: () => listeners.get(channel)?.delete(onMessage as any),
      };
    },
  };
  return {
    api,
    channels: () =>
      [...listeners.entries()].filter(([, l]) => l.size > 0).map(([c]) => c),
    send(channel: string, message: unknown) {
      for (const listener of listeners.get(channel) ?? []) listener(message);
    },
  };
}
