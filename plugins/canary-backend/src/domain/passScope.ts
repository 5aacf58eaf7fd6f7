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
  /**
   * Objects read from a cluster in the current transition of the pass, by
   * cluster and object; emptied at each transition and before every write.
   */
  reads?: Map<object, Map<string, Promise<unknown>>>;
}

export const passScope = new AsyncLocalStorage<PassScope>();

/** The abort signal of the pass running this code, if any. */
export function currentPassSignal(): AbortSignal | undefined {
  return passScope.getStore()?.signal;
}

/** Passes the fence of the pass running this code, if any. */
export async function fenceBeforeWrite(): Promise<void> {
  const scope = passScope.getStore();
  // What was read before a write is not what the cluster holds after it.
  scope?.reads?.clear();
  await scope?.beforeWrite();
}

/**
 * Reads an object once per transition of a pass: the binding check, the pod
 * health, template and readiness guards all look at the canary Deployment,
 * and one GET answers them all. Outside a pass (or for a failed read) it
 * reads every time. `cluster` is the cluster's API object, `key` names the
 * object read.
 */
export function readOnce<T>(
  cluster: object,
  key: string,
  read: () => Promise<T>,
): Promise<T> {
  const reads = passScope.getStore()?.reads;
  if (!reads) return read();
  let byKey = reads.get(cluster);
  if (!byKey) reads.set(cluster, (byKey = new Map()));
  const hit = byKey.get(key);
  if (hit) return hit as Promise<T>;
  const p = read();
  byKey.set(key, p);
  p.catch(() => byKey!.delete(key));
  return p;
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
