import type { LeaseStamp, RolloutStore } from '../store/RolloutStore';

/** Options of {@link Leases}. */
export interface LeasesOptions {
  store: RolloutStore;
  /** Lease holder name of this replica. */
  owner: string;
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  /** Lease times in this clock (tests); undefined: the database's clock. */
  leaseNow?: () => number;
  /**
   * How long a release waits for others to join it in one statement;
   * default a fiftieth of the lease, at most 50 ms.
   */
  releaseBatchMs?: number;
}

/**
 * The rollout leases this replica holds, written in batches: one statement
 * renews every lease held by a running pass (every third of the lease), and
 * the releases of the passes that ended within a few milliseconds go out as
 * one statement — instead of a timer and a renewal per pass and a release
 * per pass. Taking a lease stays one statement per pass: only a free,
 * expired or own lease is taken, and a replica takes only what it runs now,
 * so the replicas of one database share the work pass by pass.
 *
 * Order holds per rollout: a lease is taken again (by a pass or a control on
 * this replica) only after its last release has been written, so a release
 * never lands on a newer holder and a later `next_run_at` is never
 * overwritten by an older one.
 */
export class Leases {
  private readonly store: RolloutStore;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly leaseNow?: () => number;
  private readonly releaseBatchMs: number;
  /** Leases held by running passes, with what to do when one is lost. */
  private readonly running = new Map<string, () => void>();
  /** Releases not yet written: rollout id → when it is next due (undefined: unchanged). */
  private batch?: {
    entries: Map<string, number | undefined>;
    timer: NodeJS.Timeout;
    done: Promise<void>;
    settle: (write: Promise<void>) => void;
  };
  /** The last write of releases (never rejects): the next one waits for it. */
  private flushing: Promise<void> = Promise.resolve();
  /** The write each rollout's last release is in, while it runs. */
  private readonly writing = new Map<string, Promise<void>>();
  private heartbeat?: NodeJS.Timeout;

  constructor(options: LeasesOptions) {
    this.store = options.store;
    this.owner = options.owner;
    this.leaseMs = options.leaseMs;
    this.leaseNow = options.leaseNow;
    this.releaseBatchMs =
      options.releaseBatchMs ??
      Math.max(1, Math.min(50, Math.floor(options.leaseMs / 50)));
  }

  /** Takes the lease of a rollout that is free, expired or this replica's; false when another replica holds it. */
  async acquire(id: string): Promise<boolean> {
    return (await this.acquireStamp(id)) !== undefined;
  }

  /**
   * Like {@link Leases.acquire}, answering the rollout's version and
   * next-due time from the same statement (undefined: not taken).
   */
  async acquireStamp(id: string): Promise<LeaseStamp | undefined> {
    await this.released(id);
    return this.store.acquireLeaseStamp(
      id,
      this.owner,
      this.leaseMs,
      this.leaseNow?.(),
    );
  }

  /** This replica's last release of the rollout lands first. */
  private async released(id: string): Promise<void> {
    if (this.batch?.entries.has(id)) await this.flush().catch(() => undefined);
    await this.writing.get(id);
  }

  /**
   * Keeps the lease of a running pass alive until {@link Leases.release};
   * `lost` is called when a renewal finds it held by someone else.
   */
  keep(id: string, lost: () => void): void {
    this.running.set(id, lost);
    this.heartbeat ??= setInterval(
      () => void this.renew(),
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
  }

  /**
   * Gives the lease up, recording when the rollout is next due; written
   * with the other releases of the next few milliseconds. The promise
   * settles once it is written (a control waits for it; a pass does not).
   */
  release(id: string, nextRunAt?: number): Promise<void> {
    this.running.delete(id);
    if (this.running.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
    if (!this.batch) {
      let settle!: (write: Promise<void>) => void;
      const done = new Promise<void>((resolve, reject) => {
        settle = write => write.then(resolve, reject);
      });
      // Nobody need wait for it: a failed write leaves the lease to expire.
      done.catch(() => undefined);
      this.batch = {
        entries: new Map(),
        timer: setTimeout(() => {
          this.flush().catch(() => undefined);
        }, this.releaseBatchMs),
        done,
        settle,
      };
    }
    // A second release of the same rollout keeps the first's next-due time
    // unless it sets its own.
    const entries = this.batch.entries;
    entries.set(id, nextRunAt ?? entries.get(id));
    return this.batch.done;
  }

  /** Writes the releases not yet written, in one statement. */
  flush(): Promise<void> {
    const batch = this.batch;
    if (!batch) return this.flushing;
    this.batch = undefined;
    clearTimeout(batch.timer);
    const write = this.flushing.then(() =>
      this.store.releaseLeases([...batch.entries], this.owner),
    );
    batch.settle(write);
    const settled = write.catch(() => undefined);
    this.flushing = settled;
    for (const id of batch.entries.keys()) this.writing.set(id, settled);
    settled.then(() => {
      for (const id of batch.entries.keys()) {
        if (this.writing.get(id) === settled) this.writing.delete(id);
      }
    });
    return write;
  }

  /** One statement renews the leases of every running pass; a pass whose lease is gone ends. */
  private async renew(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    let held: Set<string>;
    try {
      held = await this.store.renewLeases(ids, this.owner, this.leaseMs, {
        now: this.leaseNow?.(),
      });
    } catch {
      // The database did not answer: the lease runs on; the next renewal tries again.
      return;
    }
    for (const id of ids) {
      const lost = this.running.get(id);
      if (!lost || held.has(id)) continue;
      // Told once: the lease is not renewed again for a pass that lost it.
      this.running.delete(id);
      lost();
    }
    if (this.running.size === 0 && this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  /** Stops renewing and writes the releases still waiting. */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    await this.flush();
  }
}
