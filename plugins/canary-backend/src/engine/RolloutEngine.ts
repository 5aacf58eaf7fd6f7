import { randomUUID } from 'crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ServiceUnavailableError } from '@backstage/errors';
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterAccess, RolloutAnalyzer } from '../domain/ports';
import { isFencingError } from '../domain/errors';
import type { RolloutStore } from '../store/RolloutStore';
import type { WebhookDispatcher } from '../webhooks/WebhookDispatcher';
import { forEachWithLimit } from './concurrency';
import { EngineDeps, PassContext } from './context';
import { clearErrors, onPassError } from './failures';
import { Notifier } from './notifications';
import { advance } from './phases';

export { ENGINE_ACTOR } from './notifications';

export interface RolloutEngineOptions {
  store: RolloutStore;
  clusters: ClusterAccess;
  analyzer?: RolloutAnalyzer;
  webhooks: WebhookDispatcher;
  logger: LoggerService;
  /** Lease holder name; unique per backend replica. */
  owner?: string;
  leaseMs?: number;
  concurrency?: number;
  /**
   * Advance a rollout right after a start or control instead of waiting for
   * the loop (default true; false for a process that only accepts commands).
   */
  advanceOnCommand?: boolean;
  /** First back-off after a cluster error; doubles per consecutive error. */
  clusterBackoffMs?: number;
  now?: () => number;
}

/** Transitions one pass may chain at most (e.g. intent applied → next check). */
const MAX_TRANSITIONS_PER_PASS = 12;

/**
 * Runs rollouts: each pass over a rollout holds its lease, reads the cluster,
 * and moves the state machine at most one cluster write at a time. Every
 * write is first stored as the rollout's `intent`; the same transaction that
 * records its effect clears it. A pass that finds an intent (a replica died
 * mid-write) re-applies it idempotently — read, compare, write only if
 * different — and carries on, so no step is ever skipped or repeated.
 *
 * This class is the loop, the lease and the pass; what a pass does lives in
 * `phases/`, `guards/` and `intents/`, over a per-pass {@link PassContext}.
 */
export class RolloutEngine {
  private readonly deps: EngineDeps;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly advanceOnCommand: boolean;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(options: RolloutEngineOptions) {
    const notifier = new Notifier(
      options.store,
      options.webhooks,
      options.logger,
    );
    this.deps = {
      store: options.store,
      clusters: options.clusters,
      analyzer: options.analyzer,
      webhooks: options.webhooks,
      notifier,
      logger: options.logger,
      owner: options.owner ?? `coalmine-${randomUUID()}`,
      clusterBackoffMs: options.clusterBackoffMs ?? 1000,
      now: options.now ?? Date.now,
    };
    this.leaseMs = options.leaseMs ?? 30_000;
    this.concurrency = options.concurrency ?? 4;
    this.advanceOnCommand = options.advanceOnCommand ?? true;
  }

  /** The engine's collaborators (for the service's use cases). */
  get context(): Readonly<EngineDeps> {
    return this.deps;
  }

  // -------------------------------------------------------------------- loop

  /** One loop iteration: advance every due rollout, a bounded number at once. */
  async tick(): Promise<void> {
    const ids = await this.deps.store.dueIds(this.deps.now(), 500);
    await forEachWithLimit(ids, this.concurrency, id => this.process(id));
  }

  /** Advance one rollout now (after a start or control), without waiting for the loop. */
  kick(id: string) {
    if (this.stopped || !this.advanceOnCommand) return;
    this.track(this.process(id));
  }

  /** Waits for background passes and notifications; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
    await this.deps.notifier.stop();
  }

  /** Waits for the background work started so far (tests). */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.background, ...this.running.values()]);
    }
    await this.deps.notifier.idle();
  }

  private track(p: Promise<unknown>) {
    const tracked = p.catch(e =>
      this.deps.logger.error(`Canary engine: ${(e as Error)?.message ?? e}`),
    );
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
  }

  /** Advances one rollout as far as it can go now. */
  async process(id: string): Promise<void> {
    const current = this.running.get(id);
    if (current) {
      // Someone asked again while a pass runs: run once more afterwards.
      this.again.add(id);
      return current;
    }
    const run = (async () => {
      do {
        this.again.delete(id);
        await this.pass(id);
      } while (this.again.has(id) && !this.stopped);
    })().finally(() => this.running.delete(id));
    this.running.set(id, run);
    return run;
  }

  // ------------------------------------------------------------------- lease

  private acquire(id: string): Promise<boolean> {
    return this.deps.store.acquireLease(
      id,
      this.deps.owner,
      this.leaseMs,
      this.deps.now(),
    );
  }

  private release(id: string): Promise<void> {
    return this.deps.store.releaseLease(id, this.deps.owner);
  }

  /**
   * Runs `work` holding the rollout's lease, after any pass in progress (ours
   * or another replica's) has finished, so a control never lands between an
   * intent and its effect. ServiceUnavailableError when it stays busy.
   */
  async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const deadline = this.deps.now() + this.leaseMs + 10_000;
    while (!(await this.acquire(id))) {
      if (this.deps.now() > deadline) {
        throw new ServiceUnavailableError(`Rollout ${id} is busy; try again`);
      }
      await new Promise(r => setTimeout(r, 50));
    }
    try {
      return await work();
    } finally {
      await this.release(id);
      this.kick(id);
    }
  }

  // -------------------------------------------------------------------- pass

  private async pass(id: string): Promise<void> {
    if (!(await this.acquire(id))) return;
    try {
      // A few transitions may follow one another at once (e.g. intent applied
      // → next check); time-based ones wait for a later pass.
      for (let i = 0; i < MAX_TRANSITIONS_PER_PASS && !this.stopped; i++) {
        const r = await this.deps.store.get(id);
        if (!r || isTerminalPhase(r.phase)) return;
        if (r.nextRunAt !== null && r.nextRunAt > this.deps.now()) return;
        const ctx = new PassContext(this.deps, r);
        let more: boolean;
        try {
          more = await advance(ctx);
          // The cluster answered again: the count of consecutive errors starts over.
          const fresh = await this.deps.store.get(id);
          if (fresh) await clearErrors(new PassContext(this.deps, fresh));
        } catch (e) {
          if (isFencingError(e)) return;
          await onPassError(this.deps, id, e);
          return;
        }
        if (!more) return;
        // Keep the lease fresh during a long chain of transitions.
        await this.acquire(id);
      }
    } finally {
      await this.release(id);
    }
  }
}
