import { AsyncLocalStorage } from 'async_hooks';

/**
 * What every cluster call made during a pass can see without being handed it:
 * the pass's abort signal (its deadline, or a lost lease) and the fence to
 * pass before a write. The engine runs each pass inside `passScope.run`; the
 * Kubernetes client combines the signal with its per-request timeout and
 * calls the fence before each read-modify-write attempt, so a write a newer
 * decision superseded is never sent.
 */
export interface PassScope {
  signal: AbortSignal;
  /** Throws when this pass may no longer write (lease lost, rollout changed). */
  beforeWrite(): Promise<void>;
}

export const passScope = new AsyncLocalStorage<PassScope>();

/** The abort signal of the pass running this code, if any. */
export function currentPassSignal(): AbortSignal | undefined {
  return passScope.getStore()?.signal;
}

/** Passes the fence of the pass running this code, if any. */
export async function fenceBeforeWrite(): Promise<void> {
  await passScope.getStore()?.beforeWrite();
}

/** Rejects when `signal` aborts (with its reason); otherwise settles as `work` does. */
export function raceSignal<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      v => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      e => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
