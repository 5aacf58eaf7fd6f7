import { Knex } from 'knex';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { TERMINAL_PHASES } from '@coalmine/backstage-plugin-canary-common';

const ROLLOUTS = 'canary_rollouts';

/**
 * Tables whose rows belong to one rollout (`rollout_id`). They are deleted
 * explicitly, child rows first: SQLite enforces the foreign keys' CASCADE
 * only with `PRAGMA foreign_keys` on, which the plugin does not rely on.
 */
export const ROLLOUT_CHILD_TABLES = [
  'canary_rollout_events',
  'canary_analysis_results',
  'canary_webhook_outbox',
] as const;

/** What one clean-up did. */
export interface RetentionRun {
  /** Rollouts deleted, with their rows in {@link ROLLOUT_CHILD_TABLES}. */
  rollouts: number;
  /** Rows deleted per child table. */
  rows: Record<string, number>;
  /** True when the run stopped at its batch limit with more left for the next run. */
  more: boolean;
}

/**
 * Deletes finished rollouts (Succeeded, RolledBack, Aborted, Failed) that
 * finished longer than `maxAgeMs` ago, with their events, analysis results
 * and webhook outbox rows. A rollout that is still active is never touched:
 * the delete itself repeats the phase and age condition, so a row that is not
 * finished at that moment stays. Works in batches of `batchSize` rollouts,
 * one transaction each, at most `maxBatches` per run (the next run goes on).
 */
export class RolloutRetention {
  private readonly batchSize: number;
  private readonly maxBatches: number;

  constructor(
    private readonly options: {
      db: Knex;
      maxAgeMs: number;
      logger?: LoggerService;
      batchSize?: number;
      maxBatches?: number;
      now?: () => number;
    },
  ) {
    if (!(options.maxAgeMs > 0)) {
      throw new Error(
        `canary.retention.maxAge must be longer than zero (got ${options.maxAgeMs} ms)`,
      );
    }
    this.batchSize = options.batchSize ?? 200;
    this.maxBatches = options.maxBatches ?? 50;
  }

  /** Finished before this time means old enough to delete. */
  cutoff(): number {
    return (this.options.now ?? Date.now)() - this.options.maxAgeMs;
  }

  async run(): Promise<RetentionRun> {
    const { db, logger } = this.options;
    const cutoff = this.cutoff();
    const result: RetentionRun = { rollouts: 0, rows: {}, more: false };
    for (const table of ROLLOUT_CHILD_TABLES) result.rows[table] = 0;

    for (let batch = 0; batch < this.maxBatches; batch++) {
      const ids: string[] = (
        await this.finishedBefore(db, cutoff)
          .select('id')
          .orderBy('finished_at')
          .orderBy('id')
          .limit(this.batchSize)
      ).map((row: { id: string }) => row.id);
      if (ids.length === 0) break;
      await db.transaction(async tx => {
        // Only rollouts that are still finished and old inside this transaction.
        const still: string[] = (
          await this.finishedBefore(tx, cutoff).whereIn('id', ids).select('id')
        ).map((row: { id: string }) => row.id);
        if (still.length === 0) return;
        for (const table of ROLLOUT_CHILD_TABLES) {
          result.rows[table] += await tx(table)
            .whereIn('rollout_id', still)
            .delete();
        }
        result.rollouts += await this.finishedBefore(tx, cutoff)
          .whereIn('id', still)
          .delete();
      });
      if (ids.length < this.batchSize) break;
      if (batch === this.maxBatches - 1) result.more = true;
    }

    if (result.rollouts > 0) {
      logger?.info(
        `Canary retention: deleted ${
          result.rollouts
        } rollout(s) finished before ${new Date(
          cutoff,
        ).toISOString()} with ${Object.entries(result.rows)
          .map(([table, n]) => `${n} ${table} row(s)`)
          .join(', ')}${result.more ? '; more left for the next run' : ''}`,
      );
    }
    return result;
  }

  private finishedBefore(db: Knex | Knex.Transaction, cutoff: number) {
    return db(ROLLOUTS)
      .whereIn('phase', TERMINAL_PHASES as string[])
      .whereNotNull('finished_at')
      .where('finished_at', '<', cutoff)
      .whereNull('active_key');
  }
}
