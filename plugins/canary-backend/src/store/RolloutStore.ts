import { Knex } from 'knex';
import { ConflictError } from '@backstage/errors';
import {
  AnalysisCheck,
  AnalysisResult,
  DecisionAction,
  RolloutEvent,
  RolloutPhase,
  isTerminalPhase,
} from '@coalmine/backstage-plugin-canary-common';
import { NewEvent, RolloutPatch, RolloutRecord } from '../domain/types';
import { enqueueOutbox, planOutbox } from '../webhooks/outbox';

const ROLLOUTS = 'canary_rollouts';
const EVENTS = 'canary_rollout_events';
const ANALYSIS = 'canary_analysis_results';
const WATCHED = 'canary_watched_workloads';

/** Filters of `GET /rollouts`. */
export interface RolloutFilter {
  entityRefs?: string[];
  phases?: RolloutPhase[];
  cluster?: string;
  active?: boolean;
  limit?: number;
  /**
   * Only rollouts of these components (the caller's readable ones); unlike
   * `entityRefs` an empty list means none. Applied in the query, so a page
   * holds `limit` readable rollouts however many others are newer.
   */
  readableRefs?: string[];
  /** Rollouts older than this position in the list's order (newest first). */
  before?: ListPosition;
}

/** A rollout's place in the list's order: created_at desc, id desc. */
export interface ListPosition {
  createdAt: number;
  id: string;
}

/** One page of a rollout's events or analysis rows, oldest first. */
export interface Page<T> {
  items: T[];
  /** The id to pass as `beforeId` for the next older page; null when this page reaches the first. */
  olderBeforeId: number | null;
}

/** Largest `IN (...)` list sent in one query (SQLite caps bound parameters). */
const IN_CHUNK = 500;

/** Rollouts per lease statement (each may bind three parameters). */
const LEASE_CHUNK = 300;

/** A new analysis result to store. */
export interface NewAnalysis {
  stepIndex: number;
  weight: number;
  action: DecisionAction;
  reason: string;
  failedChecks: number;
  checks: AnalysisCheck[];
  /**
   * false: only the latest check, which the next one replaces (the row stays
   * the newest until then); default true: kept for good. A kept result
   * replaces a provisional newest row too, so at most one row per rollout
   * is provisional, and it is the newest.
   */
  keep?: boolean;
}

/** A rollout changed in a way its viewers see (live updates, signals/). */
export interface RolloutChange {
  rolloutId: string;
  /** Known when the change came with the rollout's row. */
  entityRef?: string;
}

/** Patch fields a viewer of the rollout sees; a commit of only others (lease, schedule, bookkeeping) is no news. */
const VISIBLE_FIELDS: Array<keyof RolloutPatch> = [
  'phase',
  'stepIndex',
  'weight',
  'actualWeight',
  'stable',
  'canary',
  'message',
  'finishedAt',
  'nextStepAt',
  'route',
];

type Row = Record<string, any>;

const num = (v: unknown): number | null =>
  v === null || v === undefined ? null : Number(v);

function activeKey(entityRef: string, cluster: string) {
  return `${entityRef}|${cluster}`;
}

/** The workload a rollout acts on: one active rollout each. */
function workloadKey(cluster: string, namespace: string, workload: string) {
  return `${cluster}|${namespace}|${workload}`;
}

/** What taking a lease answers: the rollout's version and next-due time. */
export interface LeaseStamp {
  version: number;
  nextRunAt: number | null;
}

/** A rollout due for a pass, as the loop schedules it. */
export interface DueRollout {
  id: string;
  cluster: string;
  phase: RolloutPhase;
  /** When the rollout is next due (epoch ms); null: now. */
  nextRunAt: number | null;
}

const json = (v: unknown) => JSON.parse(v as string);
const asIs = (v: unknown) => v;

/** Each column of a rollout row: its field in the record and how it is read. */
const COLUMNS: Record<string, [keyof RolloutRecord, (v: unknown) => unknown]> =
  {
    id: ['id', asIs],
    entity_ref: ['entityRef', asIs],
    cluster: ['cluster', asIs],
    namespace: ['namespace', asIs],
    workload: ['workload', asIs],
    route: ['route', v => v ?? undefined],
    policy: ['policy', asIs],
    traffic_provider: ['trafficProvider', asIs],
    phase: ['phase', asIs],
    step_index: ['stepIndex', Number],
    weight: ['weight', Number],
    actual_weight: ['actualWeight', num],
    steps: ['steps', json],
    stable: ['stable', json],
    canary: ['canary', json],
    message: ['message', v => v ?? null],
    spec: ['spec', json],
    state: ['state', json],
    intent: ['intent', v => (v ? json(v) : null)],
    started_by: ['startedBy', asIs],
    created_at: ['createdAt', Number],
    updated_at: ['updatedAt', Number],
    finished_at: ['finishedAt', num],
    next_step_at: ['nextStepAt', num],
    next_run_at: ['nextRunAt', num],
    version: ['version', Number],
  };

/** The record fields of the given columns (others, e.g. lease columns, are skipped). */
function fieldsOf(row: Row): Partial<RolloutRecord> {
  const fields: Record<string, unknown> = {};
  for (const column of Object.keys(row)) {
    const field = COLUMNS[column];
    if (field) fields[field[0]] = field[1](row[column]);
  }
  return fields as Partial<RolloutRecord>;
}

/** A whole rollout row (every query reads all its columns) as a record. */
function toRecord(row: Row): RolloutRecord {
  return fieldsOf(row) as RolloutRecord;
}

function patchToRow(patch: RolloutPatch): Row {
  const row: Row = {};
  if (patch.phase !== undefined) row.phase = patch.phase;
  if (patch.stepIndex !== undefined) row.step_index = patch.stepIndex;
  if (patch.weight !== undefined) row.weight = patch.weight;
  if (patch.actualWeight !== undefined) row.actual_weight = patch.actualWeight;
  if (patch.stable !== undefined) row.stable = JSON.stringify(patch.stable);
  if (patch.canary !== undefined) row.canary = JSON.stringify(patch.canary);
  if (patch.message !== undefined) row.message = patch.message;
  if (patch.state !== undefined) {
    row.state = JSON.stringify(patch.state);
    row.cluster_errors =
      (patch.state.clusterErrors ?? 0) +
      (patch.state.rollbackRetry?.attempts ?? 0);
  }
  if (patch.intent !== undefined)
    row.intent = patch.intent === null ? null : JSON.stringify(patch.intent);
  if (patch.finishedAt !== undefined) row.finished_at = patch.finishedAt;
  if (patch.nextStepAt !== undefined) row.next_step_at = patch.nextStepAt;
  if (patch.nextRunAt !== undefined) row.next_run_at = patch.nextRunAt;
  if (patch.route !== undefined) row.route = patch.route;
  return row;
}

function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return (
    err?.code === '23505' ||
    err?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    /UNIQUE constraint failed/i.test(err?.message ?? '')
  );
}

/**
 * Rollouts, their events and analysis results in the plugin's database.
 *
 * Every change of a rollout goes through {@link RolloutStore.commit}, which
 * checks and bumps the row version, so a writer holding stale state (an
 * expired lease, a concurrent control) never overwrites a newer one.
 */
export class RolloutStore {
  private readonly listeners: Array<(change: RolloutChange) => void> = [];

  constructor(private readonly db: Knex) {}

  /** Calls `listener` after every committed change a viewer would see. */
  onChange(listener: (change: RolloutChange) => void): void {
    this.listeners.push(listener);
  }

  private changed(change: RolloutChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A listener's trouble never fails the write that already committed.
      }
    }
  }

  static async create(db: Knex, migrationsDir: string): Promise<RolloutStore> {
    cacheStatements(db);
    await useWriteAheadLog(db);
    await db.migrate.latest({
      directory: migrationsDir,
      tableName: 'canary_knex_migrations',
    });
    return new RolloutStore(db);
  }

  /** Inserts a new rollout; ConflictError when one is active for the component and cluster. */
  async insert(record: RolloutRecord, events: NewEvent[] = []): Promise<void> {
    try {
      await this.db.transaction(async tx => {
        await tx(ROLLOUTS).insert({
          id: record.id,
          entity_ref: record.entityRef,
          cluster: record.cluster,
          namespace: record.namespace,
          workload: record.workload,
          route: record.route ?? null,
          policy: record.policy,
          traffic_provider: record.trafficProvider,
          phase: record.phase,
          step_index: record.stepIndex,
          weight: record.weight,
          actual_weight: record.actualWeight,
          steps: JSON.stringify(record.steps),
          stable: JSON.stringify(record.stable),
          canary: JSON.stringify(record.canary),
          message: record.message,
          spec: JSON.stringify(record.spec),
          state: JSON.stringify(record.state),
          intent: record.intent ? JSON.stringify(record.intent) : null,
          started_by: record.startedBy,
          created_at: record.createdAt,
          updated_at: record.updatedAt,
          finished_at: record.finishedAt,
          next_step_at: record.nextStepAt,
          next_run_at: record.nextRunAt,
          version: record.version,
          active_key: isTerminalPhase(record.phase)
            ? null
            : activeKey(record.entityRef, record.cluster),
          active_workload_key: isTerminalPhase(record.phase)
            ? null
            : workloadKey(record.cluster, record.namespace, record.workload),
        });
        await this.insertEvents(tx, record.id, record.createdAt, events);
        // Webhooks the events cause are queued with them: delivered even if we crash now.
        await enqueueOutbox(tx, planOutbox(record, events), record.createdAt);
      });
      this.changed({ rolloutId: record.id, entityRef: record.entityRef });
    } catch (e) {
      if (isUniqueViolation(e)) {
        const active = await this.activeFor(record.entityRef, record.cluster);
        if (active) {
          throw new ConflictError(
            `A rollout of ${record.entityRef} on cluster ${record.cluster} is already active (${active.id}, ${active.phase})`,
          );
        }
        const other = await this.activeForWorkload(
          record.cluster,
          record.namespace,
          record.workload,
        );
        throw new ConflictError(
          other
            ? workloadBusyMessage(record, other)
            : `A rollout of ${record.entityRef} on cluster ${record.cluster} is already active`,
        );
      }
      throw e;
    }
  }

  async get(id: string): Promise<RolloutRecord | undefined> {
    const row = await this.db(ROLLOUTS).where({ id }).first();
    return row ? toRecord(row) : undefined;
  }

  async activeFor(
    entityRef: string,
    cluster: string,
  ): Promise<RolloutRecord | undefined> {
    const row = await this.db(ROLLOUTS)
      .where({ active_key: activeKey(entityRef, cluster) })
      .first();
    return row ? toRecord(row) : undefined;
  }

  /** The active rollout on a workload (cluster, namespace, Service), whichever component started it. */
  async activeForWorkload(
    cluster: string,
    namespace: string,
    workload: string,
  ): Promise<RolloutRecord | undefined> {
    const row = await this.db(ROLLOUTS)
      .where({ active_workload_key: workloadKey(cluster, namespace, workload) })
      .first();
    return row ? toRecord(row) : undefined;
  }

  async list(filter: RolloutFilter = {}): Promise<RolloutRecord[]> {
    const q = this.db(ROLLOUTS).select('*');
    if (filter.entityRefs) q.whereIn('entity_ref', filter.entityRefs);
    if (filter.readableRefs) {
      const refs = filter.readableRefs;
      if (refs.length === 0) return [];
      q.where(w => {
        for (let i = 0; i < refs.length; i += IN_CHUNK) {
          w.orWhereIn('entity_ref', refs.slice(i, i + IN_CHUNK));
        }
      });
    }
    if (filter.before) {
      const { createdAt, id } = filter.before;
      q.where(w =>
        w
          .where('created_at', '<', createdAt)
          .orWhere(same =>
            same.where('created_at', createdAt).where('id', '<', id),
          ),
      );
    }
    if (filter.phases?.length) q.whereIn('phase', filter.phases);
    if (filter.cluster) q.where('cluster', filter.cluster);
    if (filter.active === true) q.whereNotNull('active_key');
    if (filter.active === false) q.whereNull('active_key');
    q.orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
    if (filter.limit) q.limit(filter.limit);
    return (await q).map(toRecord);
  }

  /**
   * Changes whenever any rollout of the component is inserted or changed
   * (every change bumps its row version): whether a status built earlier
   * still holds. One aggregate over the entity_ref index.
   */
  async entityStamp(entityRef: string): Promise<string> {
    const row = await this.db(ROLLOUTS)
      .where({ entity_ref: entityRef })
      .count({ n: '*' })
      .max({ updated: 'updated_at' })
      .sum({ versions: 'version' })
      .first();
    return `${Number(row?.n ?? 0)}|${Number(row?.updated ?? 0)}|${Number(
      row?.versions ?? 0,
    )}`;
  }

  /**
   * The components that have rollouts matching the filter (without limit or
   * position): what the list asks the permission framework about, once per
   * component rather than once per rollout.
   */
  async entityRefsWithRollouts(
    filter: Omit<RolloutFilter, 'limit' | 'before' | 'readableRefs'> = {},
  ): Promise<string[]> {
    const q = this.db(ROLLOUTS).distinct('entity_ref');
    if (filter.entityRefs) q.whereIn('entity_ref', filter.entityRefs);
    if (filter.phases?.length) q.whereIn('phase', filter.phases);
    if (filter.cluster) q.where('cluster', filter.cluster);
    if (filter.active === true) q.whereNotNull('active_key');
    if (filter.active === false) q.whereNull('active_key');
    return (await q).map(r => r.entity_ref as string);
  }

  /** Ids of the rollouts that are not finished and due for a pass. */
  async dueIds(now: number, limit: number): Promise<string[]> {
    return (await this.dueRollouts(now, limit)).map(r => r.id);
  }

  /**
   * Rollouts that are not finished and due for a pass, in the order the loop
   * should run them: rolling back first, backed-off ones (cluster errors)
   * last, the longest-waiting first within each group. The order is spelled
   * out, so SQLite and PostgreSQL (which sort NULLs differently) agree.
   */
  async dueRollouts(now: number, limit: number): Promise<DueRollout[]> {
    const rows = await this.db(ROLLOUTS)
      .select('id', 'cluster', 'phase', 'next_run_at')
      .whereNotNull('active_key')
      .andWhere(q =>
        q.whereNull('next_run_at').orWhere('next_run_at', '<=', now),
      )
      .orderByRaw(
        `CASE WHEN phase = 'RollingBack' THEN 0 ELSE 1 END, CASE WHEN cluster_errors > 0 THEN 1 ELSE 0 END, COALESCE(next_run_at, 0) ASC, id ASC`,
      )
      .limit(limit);
    return rows.map(r => ({
      id: r.id,
      cluster: r.cluster,
      phase: r.phase,
      nextRunAt: r.next_run_at === null ? null : Number(r.next_run_at),
    }));
  }

  /** The database's clock in epoch milliseconds, as SQL (leases never trust a replica's clock). */
  private dbNow(): Knex.Raw {
    const client = String(this.db.client.config.client);
    return client === 'pg' || client === 'postgres' || client === 'postgresql'
      ? this.db.raw('(extract(epoch from clock_timestamp()) * 1000)::bigint')
      : this.db.raw(
          "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
        );
  }

  /** Expiry of a lease taken now: `now + ttl` in the given clock, or the database's. */
  private expiry(ttlMs: number, now?: number): number | Knex.Raw {
    return now === undefined
      ? this.db.raw(`(${this.dbNow().toQuery()}) + ?`, [Math.round(ttlMs)])
      : now + ttlMs;
  }

  /**
   * Takes (or renews) the lease on a rollout. Only the holder advances it;
   * an expired lease (a replica that died) can be taken over. Times are the
   * database's unless `now` is given (tests with a hand-moved clock).
   */
  async acquireLease(
    id: string,
    owner: string,
    ttlMs: number,
    now?: number,
  ): Promise<boolean> {
    const updated = await this.takeLease(id, owner, ttlMs, now);
    return updated === 1;
  }

  /**
   * Takes the lease like {@link RolloutStore.acquireLease} and returns, from
   * the same statement, the rollout's version and when it is next due;
   * undefined when another replica holds it. A pass that still has the
   * record at that version need not read it again.
   */
  async acquireLeaseStamp(
    id: string,
    owner: string,
    ttlMs: number,
    now?: number,
  ): Promise<LeaseStamp | undefined> {
    const rows = (await this.takeLease(id, owner, ttlMs, now).returning([
      'version',
      'next_run_at',
    ])) as Row[];
    const row = rows[0];
    return row
      ? { version: Number(row.version), nextRunAt: num(row.next_run_at) }
      : undefined;
  }

  /** The lease update: only a free, expired or own lease is taken. */
  private takeLease(id: string, owner: string, ttlMs: number, now?: number) {
    const current = now === undefined ? this.dbNow() : now;
    return this.db(ROLLOUTS)
      .where({ id })
      .andWhere(q =>
        q
          .whereNull('lease_owner')
          .orWhere('lease_owner', owner)
          .orWhere('lease_expires_at', '<', current),
      )
      .update({
        lease_owner: owner,
        lease_expires_at: this.expiry(ttlMs, now),
      });
  }

  /**
   * Renews a lease this owner still holds — and, when `version` is given,
   * only while the rollout still has that version. False means the holder
   * lost the lease or a newer decision changed the rollout: it must not
   * write to the cluster.
   */
  async renewLease(
    id: string,
    owner: string,
    ttlMs: number,
    options: { version?: number; now?: number } = {},
  ): Promise<boolean> {
    const q = this.db(ROLLOUTS).where({ id, lease_owner: owner });
    if (options.version !== undefined) q.andWhere('version', options.version);
    const updated = await q.update({
      lease_expires_at: this.expiry(ttlMs, options.now),
    });
    return updated === 1;
  }

  /**
   * Renews, in one statement per few hundred rollouts, the leases this owner
   * still holds among `ids`; returns the ids it holds. One renewal for every
   * pass a replica runs, instead of one per pass.
   */
  async renewLeases(
    ids: string[],
    owner: string,
    ttlMs: number,
    options: { now?: number } = {},
  ): Promise<Set<string>> {
    const held = new Set<string>();
    for (let i = 0; i < ids.length; i += LEASE_CHUNK) {
      const chunk = ids.slice(i, i + LEASE_CHUNK);
      const updated = await this.db(ROLLOUTS)
        .where('lease_owner', owner)
        .whereIn('id', chunk)
        .update({ lease_expires_at: this.expiry(ttlMs, options.now) });
      if (updated === chunk.length) {
        chunk.forEach(id => held.add(id));
        continue;
      }
      // Some were lost: which ones.
      const rows = await this.db(ROLLOUTS)
        .where('lease_owner', owner)
        .whereIn('id', chunk)
        .select('id');
      rows.forEach(r => held.add(r.id));
    }
    return held;
  }

  /**
   * Gives up leases this owner holds, each with when its rollout is next due
   * (undefined: unchanged), in one statement per few hundred rollouts; a
   * lease held by someone else by now is left alone.
   */
  async releaseLeases(
    releases: Array<[id: string, nextRunAt: number | undefined]>,
    owner: string,
  ): Promise<void> {
    for (let i = 0; i < releases.length; i += LEASE_CHUNK) {
      const chunk = releases.slice(i, i + LEASE_CHUNK);
      const due = chunk.filter(
        (c): c is [string, number] => c[1] !== undefined,
      );
      await this.db(ROLLOUTS)
        .where('lease_owner', owner)
        .whereIn(
          'id',
          chunk.map(([id]) => id),
        )
        .update({
          lease_owner: null,
          lease_expires_at: null,
          ...(due.length > 0
            ? {
                next_run_at: this.db.raw(
                  `CASE id ${due
                    .map(() => 'WHEN ? THEN CAST(? AS BIGINT)')
                    .join(' ')} ELSE next_run_at END`,
                  due.flat(),
                ),
              }
            : {}),
        });
    }
  }

  /**
   * Gives up a lease this owner holds; with `nextRunAt`, also records when
   * the rollout is next due, in the same statement (a pass that changed
   * nothing else writes the row once).
   */
  async releaseLease(
    id: string,
    owner: string,
    options: { nextRunAt?: number } = {},
  ): Promise<void> {
    await this.db(ROLLOUTS)
      .where({ id, lease_owner: owner })
      .update({
        lease_owner: null,
        lease_expires_at: null,
        ...(options.nextRunAt !== undefined
          ? { next_run_at: options.nextRunAt }
          : {}),
      });
  }

  /**
   * Applies a patch if the row still has `expectedVersion`, together with its
   * events and analysis result. Returns the new record, or undefined when
   * someone else changed the rollout first.
   */
  async commit(
    id: string,
    expectedVersion: number,
    patch: RolloutPatch,
    extra: {
      events?: NewEvent[];
      analysis?: NewAnalysis;
      /**
       * The rollout as read at `expectedVersion` (a pass's record): the
       * committed record is then this one with the patch applied, not read
       * back. The version check makes them the same: every change of a
       * record field bumps it (only the lease columns and the loop's
       * `next_run_at`, written by the lease holder's own release, do not).
       */
      base?: RolloutRecord;
    } = {},
  ): Promise<RolloutRecord | undefined> {
    const now = Date.now();
    const committed = await this.db.transaction(async tx => {
      const row: Row = { ...patchToRow(patch), updated_at: now };
      row.version = expectedVersion + 1;
      if (patch.phase !== undefined && isTerminalPhase(patch.phase)) {
        row.active_key = null;
        row.active_workload_key = null;
      }
      const updated = await tx(ROLLOUTS)
        .where({ id, version: expectedVersion })
        .update(row);
      if (updated !== 1) {
        return undefined;
      }
      await this.insertEvents(tx, id, now, extra.events ?? []);
      if (extra.analysis) {
        const a = extra.analysis;
        const result = {
          time: now,
          step_index: a.stepIndex,
          weight: a.weight,
          action: a.action,
          reason: a.reason,
          failed_checks: a.failedChecks,
          checks: JSON.stringify(a.checks),
          provisional: a.keep === false,
        };
        // The newest row is replaced when it is provisional, in one
        // statement; otherwise (none replaced) the result is a new row.
        const replaced = await tx(ANALYSIS)
          .where('id', tx(ANALYSIS).max('id').where({ rollout_id: id }))
          .andWhere('provisional', true)
          .update(result);
        if (replaced === 0) {
          await tx(ANALYSIS).insert({ rollout_id: id, ...result });
        }
      }
      const base = extra.base;
      const fresh =
        base?.id === id && base.version === expectedVersion
          ? ({ ...base, ...fieldsOf(row) } as RolloutRecord)
          : toRecord(await tx(ROLLOUTS).where({ id }).first());
      await enqueueOutbox(tx, planOutbox(fresh, extra.events ?? []), now);
      return fresh;
    });
    if (
      committed &&
      (extra.analysis ||
        (extra.events?.length ?? 0) > 0 ||
        VISIBLE_FIELDS.some(field => patch[field] !== undefined))
    ) {
      this.changed({ rolloutId: id, entityRef: committed.entityRef });
    }
    return committed;
  }

  /** Records events outside of a state change (e.g. webhook deliveries). */
  async addEvents(id: string, events: NewEvent[]): Promise<void> {
    await this.insertEvents(this.db, id, Date.now(), events);
    if (events.length > 0) this.changed({ rolloutId: id });
  }

  private async insertEvents(
    db: Knex | Knex.Transaction,
    id: string,
    time: number,
    events: NewEvent[],
  ) {
    if (events.length === 0) return;
    await db(EVENTS).insert(
      events.map(e => ({
        rollout_id: id,
        time,
        type: e.type,
        message: e.message,
        actor: e.actor,
        data: e.data ? JSON.stringify(e.data) : null,
      })),
    );
  }

  async events(id: string): Promise<RolloutEvent[]> {
    const rows = await this.db(EVENTS)
      .where({ rollout_id: id })
      .orderBy('id', 'asc');
    return rows.map(toEvent);
  }

  /**
   * The newest `limit` events of a rollout older than event `beforeId`
   * (all of them when absent), oldest first, and where the next older page
   * starts. Served by the (rollout_id, id) index.
   */
  async eventsPage(
    id: string,
    options: { limit: number; beforeId?: number },
  ): Promise<Page<RolloutEvent>> {
    const rows = await this.newestRows(EVENTS, id, options);
    return pageOf(rows, options.limit, toEvent);
  }

  /**
   * The id of a rollout's newest event (0 without any): with the rollout's
   * version, which every analysis row and state change bumps, it tells
   * whether anything a details page shows has changed.
   */
  async newestEventId(id: string): Promise<number> {
    const row = await this.db(EVENTS)
      .where({ rollout_id: id })
      .max('id as id')
      .first();
    return Number(row?.id ?? 0);
  }

  /** Like {@link RolloutStore.eventsPage}, for analysis rows. */
  async analysisPage(
    id: string,
    options: { limit: number; beforeId?: number },
  ): Promise<Page<AnalysisResult>> {
    const rows = await this.newestRows(ANALYSIS, id, options);
    return pageOf(rows, options.limit, toAnalysis);
  }

  private async newestRows(
    table: string,
    id: string,
    options: { limit: number; beforeId?: number },
  ): Promise<Row[]> {
    const q = this.db(table).where({ rollout_id: id });
    if (options.beforeId !== undefined) q.where('id', '<', options.beforeId);
    // One more than asked: tells whether an older page exists.
    return q.orderBy('id', 'desc').limit(options.limit + 1);
  }

  async analysis(id: string): Promise<AnalysisResult[]> {
    const rows = await this.db(ANALYSIS)
      .where({ rollout_id: id })
      .orderBy('id', 'asc');
    return rows.map(toAnalysis);
  }

  /** The newest analysis result of each given rollout. */
  async lastAnalysis(ids: string[]): Promise<Map<string, AnalysisResult>> {
    const result = new Map<string, AnalysisResult>();
    if (ids.length === 0) return result;
    // One index probe per rollout (its newest row by the (rollout_id, id)
    // index), not a walk over every row of each: a long rollout holds
    // thousands.
    const newest = this.db(`${ROLLOUTS} as r`)
      .whereIn('r.id', ids)
      .select(
        this.db(`${ANALYSIS} as a`)
          .select('a.id')
          .whereRaw('a.rollout_id = r.id')
          .orderBy('a.id', 'desc')
          .limit(1)
          .as('id'),
      );
    const rows = await this.db(ANALYSIS).whereIn('id', newest);
    for (const row of rows) {
      result.set(row.rollout_id, toAnalysis(row));
    }
    return result;
  }

  async getWatchedHash(
    entityRef: string,
    cluster: string,
  ): Promise<{ hash: string | null } | undefined> {
    const row = await this.db(WATCHED)
      .where({ entity_ref: entityRef, cluster })
      .first();
    return row ? { hash: row.template_hash ?? null } : undefined;
  }

  async setWatchedHash(
    entityRef: string,
    cluster: string,
    hash: string | null,
  ): Promise<void> {
    await this.db(WATCHED)
      .insert({
        entity_ref: entityRef,
        cluster,
        template_hash: hash,
        updated_at: Date.now(),
      })
      .onConflict(['entity_ref', 'cluster'])
      .merge();
  }
}

/**
 * A SQLite database in a file writes through a write-ahead log with
 * `synchronous = NORMAL` on every pooled connection: a commit appends to
 * the log without waiting for the disk (~0.02 ms instead of 3–12 ms of
 * fsyncs per statement measured on the bench machine, where the engine's
 * event loop stood still in them half the time), and readers no longer
 * block the writer. A committed change survives the backend being killed;
 * only a power loss or an operating system crash may lose the last commits
 * (SQLite's documented trade-off).
 * Production installs run PostgreSQL; in-memory databases are left alone.
 */
async function useWriteAheadLog(db: Knex): Promise<void> {
  const config = db.client.config as {
    client?: unknown;
    connection?: { filename?: string } | string;
  };
  const client = String(config.client);
  if (client !== 'better-sqlite3' && client !== 'sqlite3') return;
  const filename =
    typeof config.connection === 'string'
      ? config.connection
      : config.connection?.filename;
  if (
    !filename ||
    filename === ':memory:' ||
    filename.startsWith('file::memory:')
  ) {
    return;
  }
  // `synchronous` is a setting of each connection, not of the file; the
  // pool's other connections (opened before or after this) get NORMAL
  // from the driver: better-sqlite3 builds SQLite with
  // SQLITE_DEFAULT_WAL_SYNCHRONOUS=1 (RolloutStore.sqliteFile.test.ts
  // checks every pooled connection).
  await db.raw('PRAGMA journal_mode = WAL');
  await db.raw('PRAGMA synchronous = NORMAL');
}

/** Compiled statements kept per SQLite connection (the store sends a few dozen distinct ones). */
const STATEMENT_CACHE = 256;

/**
 * better-sqlite3 compiles every statement knex sends (knex keeps no
 * statement cache): at 1,000 rollouts compiling took about as long as
 * running them. Each connection of the pool keeps its most recently used
 * compiled statements by SQL text; a statement is run to its end (`all` or
 * `run`) before the next one starts, so reusing one is safe. Other clients
 * are left alone.
 */
function cacheStatements(db: Knex): void {
  if (String(db.client.config.client) !== 'better-sqlite3') return;
  const pool = (
    db.client as {
      pool?: {
        on(
          event: 'acquireSuccess',
          handler: (eventId: number, connection: unknown) => void,
        ): void;
      };
    }
  ).pool;
  const cached = new WeakSet<object>();
  pool?.on('acquireSuccess', (_eventId, connection) => {
    const sqlite = connection as { prepare?: (sql: string) => unknown };
    if (!sqlite || cached.has(sqlite) || typeof sqlite.prepare !== 'function') {
      return;
    }
    cached.add(sqlite);
    const prepare = sqlite.prepare.bind(sqlite);
    const statements = new Map<string, unknown>();
    sqlite.prepare = (sql: string) => {
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = prepare(sql);
        if (statements.size >= STATEMENT_CACHE) {
          statements.delete(statements.keys().next().value!);
        }
      } else {
        statements.delete(sql);
      }
      // Most recently used last: the first is the one to drop.
      statements.set(sql, statement);
      return statement;
    };
  });
}

/** 409 text when another component's rollout holds the workload. */
export function workloadBusyMessage(
  wanted: Pick<
    RolloutRecord,
    'entityRef' | 'cluster' | 'namespace' | 'workload'
  >,
  other: Pick<RolloutRecord, 'entityRef' | 'id' | 'phase'>,
): string {
  return `Service ${wanted.namespace}/${wanted.workload} on cluster ${wanted.cluster} is already in a rollout of ${other.entityRef} (${other.id}, ${other.phase}); one rollout per workload — wait for it to finish or abort it`;
}

function pageOf<T>(
  newestFirst: Row[],
  limit: number,
  convert: (row: Row) => T,
): Page<T> {
  const rows = newestFirst.slice(0, limit);
  const more = newestFirst.length > limit;
  return {
    items: rows.reverse().map(convert),
    olderBeforeId: more && rows.length > 0 ? Number(rows[0].id) : null,
  };
}

function toEvent(r: Row): RolloutEvent {
  return {
    id: Number(r.id),
    rolloutId: r.rollout_id,
    time: new Date(Number(r.time)).toISOString(),
    type: r.type,
    message: r.message,
    actor: r.actor,
    ...(r.data ? { data: JSON.parse(r.data) } : {}),
  };
}

function toAnalysis(r: Row): AnalysisResult {
  return {
    id: Number(r.id),
    rolloutId: r.rollout_id,
    time: new Date(Number(r.time)).toISOString(),
    stepIndex: Number(r.step_index),
    weight: Number(r.weight),
    action: r.action,
    reason: r.reason,
    failedChecks: Number(r.failed_checks),
    checks: JSON.parse(r.checks),
  };
}
