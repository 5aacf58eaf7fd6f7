import type { Knex } from 'knex';

/** The gates Coalmine serves to Flagger's webhooks. */
export type FlaggerGate =
  | 'confirm-rollout'
  | 'confirm-promotion'
  | 'rollback'
  | 'traffic-paused';

export interface CanaryKey {
  cluster: string;
  namespace: string;
  name: string;
}

export interface GateRow {
  gate: FlaggerGate;
  checksum: string | null;
  openedBy: string;
  openedAt: number;
}

const TABLE = 'canary_flagger_gates';

/**
 * Open gates per Flagger Canary, in the plugin's database so every backend
 * replica answers Flagger the same. Opening is idempotent (the newest
 * opening wins); a gate opened for a revision stays open for that revision
 * only — the check compares Flagger's checksum.
 */
export class FlaggerGateStore {
  constructor(private readonly db: Knex) {}

  async open(
    key: CanaryKey,
    gate: FlaggerGate,
    checksum: string | null,
    openedBy: string,
    now = Date.now(),
  ): Promise<void> {
    await this.db(TABLE)
      .insert({
        ...key,
        gate,
        checksum,
        opened_by: openedBy,
        opened_at: now,
      })
      .onConflict(['cluster', 'namespace', 'name', 'gate'])
      .merge(['checksum', 'opened_by', 'opened_at']);
  }

  async close(key: CanaryKey, gate: FlaggerGate): Promise<void> {
    await this.db(TABLE)
      .where({ ...key, gate })
      .delete();
  }

  async gates(key: CanaryKey): Promise<GateRow[]> {
    const rows = await this.db(TABLE).where(key);
    return rows.map(r => ({
      gate: r.gate,
      checksum: r.checksum ?? null,
      openedBy: r.opened_by,
      openedAt: Number(r.opened_at),
    }));
  }

  /** True when the gate is open for this revision (or for any revision). */
  async isOpen(
    key: CanaryKey,
    gate: FlaggerGate,
    checksum: string | undefined,
  ): Promise<boolean> {
    const row = await this.db(TABLE)
      .where({ ...key, gate })
      .first();
    if (!row) return false;
    return row.checksum === null || !checksum || row.checksum === checksum;
  }
}
