import { randomUUID } from 'crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ServiceUnavailableError } from '@backstage/errors';
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterAccess, RolloutAnalyzer } from '../domain/ports';
import {
  LeaseLostError,
  PassDeadlineError,
  isFencingError,
} from '../domain/errors';
import { passScope } from '../domain/passScope';
import type { RolloutStore } from '../store/RolloutStore';
import type { RolloutRecord } from '../domain/types';
import type { WebhookDispatcher } from '../webhooks/WebhookDispatcher';
import { Limiter } from './concurrency';
import { Leases } from './leases';
import { EngineDeps, PassContext } from './context';
import { clearErrors, onPassError } from './failures';
import type { WorkloadBinding } from '../binding';
import { advance } from './phases';
import { nextDueAt } from './schedule';

export { ENGINE_ACTOR } from './notifications';

export interface RolloutEngineOptions {
  store: RolloutStore;
  clusters: ClusterAccess;
  analyzer?: RolloutAnalyzer;
  webhooks: WebhookDispatcher;
  /** Whether a component may act on a workload; checked at start and every pass. */
  binding: WorkloadBinding;
  logger: LoggerService;
  /** Lease holder name; unique per backend replica. */
  owner?: string;
  leaseMs?: number;
  /** Rollouts of one cluster advanced at the same time (each cluster has its own runners). */
  concurrency?: number;
  /**
   * Advance a rollout right after a start or control instead of waiting for
   * the loop (default true; false for a process that only accepts commands).
   */
  advanceOnCommand?: boolean;
  /** First back-off after a cluster error; doubles per consecutive error. */
  clusterBackoffMs?: number;
  /** Longest back-off between retries (rollbacks retry for as long as it takes). Default 30 s. */
  maxBackoffMs?: number;
  /** Longest one transition of a pass may run (each commit starts it again); every cluster, Prometheus and webhook wait is bounded by it. Default 60 s. */
  passDeadlineMs?: number;
  /** How often Pending, Promoting and RollingBack rollouts are looked at. Default 1 s. */
  pollMs?: number;
  /** Longest time between two looks at a canary with traffic (pod health, drift, template). Default 5 s. */
  watchMs?: number;
  /**
   * A tick also picks up rollouts due within this many milliseconds and runs
   * each at its time (a timer), so a step falls due on time with a loop that
   * runs every few seconds. Set it to the loop's frequency. Default 0.
   */
  lookaheadMs?: number;
  /**
   * Analyses read Prometheus as of the start of slots this long (at most the
   * analysis interval), so the rollouts analysed in one slot share one query
   * per metric through a batching Prometheus. Set it to the loop's
   * frequency: one query per metric and loop. Default 0: each at its own
   * time.
   */
  analysisSlotMs?: number;
  /**
   * Analysis results are stored for good on a change of verdict (the
   * decision or any check's), at a new step, and as a sample this often; in
   * between, the newest stored result is replaced by the latest check.
   * Default 0: every result is kept.
   */
  analysisSampleMs?: number;
  /**
   * Passes that only look at a rollout (pods, split, analysis) trust a
   * binding check this recent; a pass that writes forward always checks
   * first. Default 0: every pass checks.
   */
  bindingRecheckMs?: number;
  /** Most rollouts one tick picks up (default 5000). */
  maxPerTick?: number;
  /**
   * The engine's clock. When given (tests), leases use it too; otherwise
   * leases use the database's clock, never a replica's.
   */
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
 *
 * Fencing: a pass renews its lease while it runs and ends (its cluster calls
 * aborted) as soon as a renewal fails or its deadline passes; before every
 * cluster write it checks that it still holds the lease and that the rollout
 * has the version it read. Isolation: each cluster has its own runners, so a
 * hanging API server holds up only its own rollouts.
 */
export class RolloutEngine {
  private readonly deps: EngineDeps;
  private readonly concurrency: number;
  private readonly advanceOnCommand: boolean;
  private readonly passDeadlineMs: number;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  /** One holder per rollout on this replica: a pass or a control, never both. */
  private readonly locks = new Map<string, Promise<void>>();
  /** The abort switch of each pass running on this replica. */
  private readonly passes = new Map<string, AbortController>();
  /** Runners per cluster (at most `concurrency` passes of one cluster at once). */
  private readonly limiters = new Map<string, Limiter>();
  /** Rollouts waiting for a runner or for their time (lookahead). */
  private readonly queued = new Set<string>();
  /** Timers of rollouts due before the next tick. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly lookaheadMs: number;
  /** Up to when the last tick looked ahead (epoch ms). */
  private horizon = 0;
  private readonly maxPerTick: number;
  /** This replica's leases: renewed together, released in batches. */
  private readonly leases: Leases;
  /**
   * Each rollout as this replica's last pass over it left it. Taking the
   * lease answers the row's version: at the same version the record is
   * still the row (every change of a record field bumps it), so the pass
   * neither reads nor parses it again.
   */
  private readonly records = new Map<string, RolloutRecord>();
  private stopped = false;

  constructor(options: RolloutEngineOptions) {
    this.deps = {
      store: options.store,
      clusters: options.clusters,
      analyzer: options.analyzer,
      webhooks: options.webhooks,
      binding: options.binding,
      logger: options.logger,
      owner: options.owner ?? `coalmine-${randomUUID()}`,
      clusterBackoffMs: options.clusterBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      leaseMs: options.leaseMs ?? 30_000,
      leaseNow: options.now,
      pollMs: options.pollMs ?? 1000,
      watchMs: options.watchMs ?? 5000,
      now: options.now ?? Date.now,
      analysisSlotMs: options.analysisSlotMs ?? 0,
      analysisSampleMs: options.analysisSampleMs ?? 0,
      bindingRecheckMs: options.bindingRecheckMs ?? 0,
      bindingCheckedAt: new Map(),
      kick: id => this.kick(id),
      track: p => this.track(p),
      webhookCalls: new Map(),
    };
    this.concurrency = options.concurrency ?? 4;
    this.advanceOnCommand = options.advanceOnCommand ?? true;
    this.passDeadlineMs = options.passDeadlineMs ?? 60_000;
    this.lookaheadMs = options.lookaheadMs ?? 0;
    this.maxPerTick = options.maxPerTick ?? 5000;
    this.leases = new Leases({
      store: this.deps.store,
      owner: this.deps.owner,
      leaseMs: this.deps.leaseMs,
      leaseNow: this.deps.leaseNow,
    });
  }

  /** The engine's collaborators (for the service's use cases). */
  get context(): Readonly<EngineDeps> {
    return this.deps;
  }

  // -------------------------------------------------------------------- loop

  /**
   * One loop iteration: advance every due rollout — rolling back first,
   * backed-off last — each cluster with its own runners (at most
   * `concurrency` passes of a cluster at once, so a thousand due rollouts
   * queue instead of stampeding). A rollout still queued or running from an
   * earlier tick is not queued twice. `wait: false`
   * returns at once (the scheduled loop); by default it waits for the
   * runners it started (tests, tools).
   */
  async tick(options: { wait?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    // The next-due times of the passes that just ended are written first.
    await this.leases.flush().catch(() => undefined);
    const now = this.deps.now();
    const due = await this.deps.store.dueRollouts(
      now + this.lookaheadMs,
      this.maxPerTick,
    );
    this.horizon = now + this.lookaheadMs;
    const started: Promise<void>[] = [];
    for (const r of due) {
      const p = this.runAt(r.id, r.cluster, r.nextRunAt ?? 0, now);
      if (p) started.push(p);
    }
    if (options.wait !== false) {
      await Promise.all(started);
      await this.leases.flush();
    }
  }

  /**
   * Queues a pass over the rollout with its cluster's runners — now when it
   * is due, else at its time when that comes before the next tick looks
   * (a timer), so a step does not wait up to a tick. Returns the pass when
   * it was queued now.
   */
  private runAt(
    id: string,
    cluster: string,
    at: number,
    now = this.deps.now(),
  ): Promise<void> | undefined {
    // Queued from an earlier tick or waiting for its time: once is enough.
    // (A running one is queued: its pass then runs once more, see process.)
    if (this.stopped || this.queued.has(id)) return undefined;
    const wait = at - now;
    if (wait > 0 && at > this.horizon) return undefined;
    this.queued.add(id);
    const run = () =>
      this.limiter(cluster).run(() => {
        this.queued.delete(id);
        return this.stopped ? Promise.resolve() : this.process(id);
      });
    if (wait <= 0) {
      const p = run();
      this.track(p);
      return p;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.track(run());
    }, wait);
    this.timers.add(timer);
    return undefined;
  }

  /** The runners of one cluster: a hanging API server holds up only its own rollouts. */
  private limiter(cluster: string): Limiter {
    let limiter = this.limiters.get(cluster);
    if (!limiter) {
      limiter = new Limiter(this.concurrency);
      this.limiters.set(cluster, limiter);
    }
    return limiter;
  }

  /** Advance one rollout now (after a start, a control or a webhook's answer), without waiting for the loop. */
  kick(id: string) {
    if (this.stopped || !this.advanceOnCommand) return;
    this.track(this.process(id, true));
  }

  /** Waits for background passes and notifications; no new ones start. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queued.clear();
    await this.idle();
    await this.leases.stop();
  }

  /** Waits for the background work started so far (tests). */
  async idle(): Promise<void> {
    while (this.background.size > 0 || this.running.size > 0) {
      await Promise.allSettled([...this.background, ...this.running.values()]);
    }
  }

  private track(p: Promise<unknown>) {
    const tracked = p.catch(e =>
      this.deps.logger.error(`Canary engine: ${(e as Error)?.message ?? e}`),
    );
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
  }

  /** Advances one rollout as far as it can go now; `force` ignores its next-due time. */
  async process(id: string, force = false): Promise<void> {
    const current = this.running.get(id);
    if (current) {
      // Someone asked again while a pass runs: run once more afterwards.
      this.again.add(id);
      return current;
    }
    const run = (async () => {
      let forced = force;
      do {
        forced = forced || this.again.has(id);
        this.again.delete(id);
        await this.pass(id, forced);
        forced = false;
      } while (this.again.has(id) && !this.stopped);
    })().finally(() => this.running.delete(id));
    this.running.set(id, run);
    return run;
  }

  // ------------------------------------------------------------------- lease

  /** Runs `work` as the only holder of the rollout on this replica. */
  private async locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    for (;;) {
      const held = this.locks.get(id);
      if (!held) break;
      await held.catch(() => undefined);
    }
    let release!: () => void;
    const lock = new Promise<void>(resolve => {
      release = resolve;
    });
    this.locks.set(id, lock);
    try {
      return await work();
    } finally {
      this.locks.delete(id);
      release();
    }
  }

  private acquire(id: string): Promise<boolean> {
    return this.leases.acquire(id);
  }

  /** Written with the other releases of the next few milliseconds; settles when written. */
  private release(id: string, nextRunAt?: number): Promise<void> {
    return this.leases.release(id, nextRunAt);
  }

  /**
   * Runs `work` holding the rollout's lease, after any pass in progress (on
   * this replica or another) has finished, so a control never lands between
   * an intent and its effect. ServiceUnavailableError when it stays busy.
   */
  async exclusive<T>(
    id: string,
    work: () => Promise<T>,
    options: { preempt?: boolean } = {},
  ): Promise<T> {
    if (options.preempt) {
      // A rollback supersedes forward work: end this replica's pass now
      // rather than wait for its analysis or a slow cluster.
      this.passes
        .get(id)
        ?.abort(new LeaseLostError(`Rollout ${id}: pass ended for a control`));
    }
    try {
      return await this.locked(id, async () => {
        const deadline = Date.now() + this.deps.leaseMs + 10_000;
        while (!(await this.acquire(id))) {
          if (Date.now() > deadline) {
            throw new ServiceUnavailableError(
              `Rollout ${id} is busy; try again`,
            );
          }
          await new Promise(r => setTimeout(r, 50));
        }
        try {
          return await work();
        } finally {
          await this.release(id);
        }
      });
    } finally {
      this.kick(id);
    }
  }

  // -------------------------------------------------------------------- pass

  private async pass(id: string, force: boolean): Promise<void> {
    // Registered before the pass waits for its turn, so an abort can end it
    // even before it starts.
    const abort = new AbortController();
    this.passes.set(id, abort);
    try {
      await this.locked(id, () => this.passHolding(id, force, abort));
    } finally {
      if (this.passes.get(id) === abort) this.passes.delete(id);
    }
  }

  private async passHolding(
    id: string,
    force: boolean,
    abort: AbortController,
  ): Promise<void> {
    if (abort.signal.aborted) return;
    const stamp = await this.leases.acquireStamp(id);
    if (!stamp) return;
    const kept = this.records.get(id);
    this.records.delete(id);
    // Each transition of the pass gets the deadline: a pass that keeps
    // committing (prepare, scale, first step…) is not cut short by a slow
    // but answering cluster; one call that hangs is.
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const armDeadline = () => {
      clearTimeout(deadline);
      deadline = setTimeout(
        () =>
          abort.abort(
            new PassDeadlineError(
              `The pass over rollout ${id} ran longer than ${
                this.passDeadlineMs / 1000
              } s in one transition (a cluster, Prometheus or webhook did not answer); retrying later`,
            ),
          ),
        this.passDeadlineMs,
      );
    };
    armDeadline();
    // The lease is renewed with every other running pass's; a lost one ends the pass.
    this.leases.keep(id, () => {
      if (!abort.signal.aborted) {
        abort.abort(
          new LeaseLostError(`Rollout ${id}: this replica lost its lease`),
        );
      }
    });
    let current: PassContext | undefined;
    /** The record as first read by this pass (before any context). */
    let read: RolloutRecord | undefined;
    let nextRunAt: number | undefined;
    // Each cluster object is read once per pass, and again after a write.
    const reads = new Map<object, Map<string, Promise<unknown>>>();
    try {
      await passScope.run(
        {
          signal: abort.signal,
          beforeWrite: async () => {
            await current?.fence();
          },
          reads,
        },
        async () => {
          // Read once; then each commit of this pass returns the row as
          // stored (no one else commits while the lease is held, and a
          // commit after losing it fails on the row version).
          let known: RolloutRecord | undefined =
            kept?.version === stamp.version
              ? { ...kept, nextRunAt: stamp.nextRunAt }
              : undefined;
          for (let i = 0; i < MAX_TRANSITIONS_PER_PASS && !this.stopped; i++) {
            if (abort.signal.aborted) throw abort.signal.reason;
            if (i > 0) armDeadline();
            const r = known ?? (await this.deps.store.get(id));
            read ??= r;
            if (!r || isTerminalPhase(r.phase)) return;
            const now = this.deps.now();
            if (
              !(force && i === 0) &&
              r.nextRunAt !== null &&
              r.nextRunAt > now
            ) {
              return;
            }
            const ctx = new PassContext(this.deps, r, abort.signal);
            current = ctx;
            const more = await advance(ctx);
            // The cluster answered: the counts of consecutive errors start over.
            const fresh = ctx.r;
            if (isTerminalPhase(fresh.phase)) return;
            current = new PassContext(this.deps, fresh, abort.signal);
            await clearErrors(current);
            known = current.r;
            if (!more) {
              // Written with the lease's release below.
              nextRunAt = this.nextRunAfter(current);
              return;
            }
          }
        },
      );
    } catch (e) {
      const error = abort.signal.aborted ? abort.signal.reason : e;
      if (!isFencingError(error) && !isFencingError(e)) {
        await onPassError(this.deps, id, error);
      }
    } finally {
      clearTimeout(deadline);
      const last = current?.r ?? read;
      if (last && !isTerminalPhase(last.phase)) {
        // Rollouts finished by another replica are never passed here again.
        if (this.records.size >= 2 * this.maxPerTick) this.records.clear();
        this.records.set(id, last);
      }
      // Not waited for: the next pass over it on this replica waits instead
      // (Leases.acquire), and the next tick writes it first.
      this.track(this.release(id, nextRunAt));
    }
    // Due later, but before the next tick looks: run it at its time from here.
    // (Due at once, e.g. a step waiting for a passing analysis: the next tick.)
    if (nextRunAt !== undefined && current && nextRunAt > this.deps.now()) {
      this.runAt(id, current.r.cluster, nextRunAt);
    }
  }

  /** When the rollout is next due, unless this pass already set a later time (a hold); undefined: unchanged. */
  private nextRunAfter(ctx: PassContext): number | undefined {
    const now = this.deps.now();
    if (ctx.r.nextRunAt !== null && ctx.r.nextRunAt > now) return undefined;
    const due = Math.max(now, Math.round(nextDueAt(ctx.r, this.deps)));
    return ctx.r.nextRunAt === due ? undefined : due;
  }
}
