import type { K8sObject } from '../api/store';

/**
 * The reconcile loop both controller stand-ins share: a timer that calls
 * `reconcileOnce` and never lets two passes overlap (a slow pass is skipped,
 * not queued, as a real controller's work queue would coalesce it).
 */
export abstract class ReconcileLoop {
  #timer?: NodeJS.Timeout;
  #busy = false;

  protected constructor(private readonly tickMs: number = 250) {}

  start() {
    this.#timer = setInterval(() => {
      this.reconcile().catch(() => {});
    }, this.tickMs);
    this.#timer.unref?.();
  }

  stop() {
    if (this.#timer) clearInterval(this.#timer);
  }

  async reconcile(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.reconcileOnce();
    } finally {
      this.#busy = false;
    }
  }

  protected abstract reconcileOnce(): Promise<void>;
}

/** The owner reference a controller sets on what it creates for `owner`. */
export function controllerOwnerReference(
  owner: K8sObject,
  kind: string,
  extra: { blockOwnerDeletion?: boolean } = {},
) {
  return {
    apiVersion: owner.apiVersion,
    kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    ...extra,
  };
}
