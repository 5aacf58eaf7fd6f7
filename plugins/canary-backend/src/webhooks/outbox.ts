import { randomUUID } from 'crypto';
import { Knex } from 'knex';
import { LoggerService } from '@backstage/backend-plugin-api';
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import type { WebhookRef } from '../config/policy';
import { redactEndpoints } from '../service/redact';
import type { NewEvent, RolloutRecord } from '../domain/types';
import {
  WebhookDispatcher,
  WebhookPayload,
  chatMessage,
} from './WebhookDispatcher';

const OUTBOX = 'canary_webhook_outbox';
const RETENTION_MS = 7 * 24 * 3600_000;

/** Event types sent to `event` webhooks: what people act on, not bookkeeping. */
export const CHAT_EVENT_TYPES = [
  'phase',
  'step',
  'control',
  'drift',
  'analysis',
];

/** A webhook call waiting in the outbox. */
export interface OutboxMessage {
  id: string;
  rolloutId: string;
  policy: string;
  hook: string;
  hookType: 'post-rollout' | 'event';
  payload: unknown;
}

/** The payload gating and post-rollout hooks receive. */
export function webhookPayload(
  r: RolloutRecord,
  hook: WebhookRef,
): WebhookPayload {
  return {
    name: r.workload,
    namespace: r.namespace,
    phase: r.phase,
    type: hook.type,
    rolloutId: r.id,
    entityRef: r.entityRef,
    cluster: r.cluster,
    weight: r.weight,
    stepIndex: r.stepIndex,
    canary: r.canary,
    stable: r.stable,
    ...(hook.metadata ? { metadata: hook.metadata } : {}),
  };
}

/**
 * The webhook calls a committed change causes: every chat-worthy event to
 * each `event` hook, and a phase event that ends the rollout to each
 * `post-rollout` hook. `r` is the rollout as committed.
 */
export function planOutbox(
  r: RolloutRecord,
  events: NewEvent[],
): OutboxMessage[] {
  const hooks = r.spec.policy.webhooks ?? [];
  const out: OutboxMessage[] = [];
  const message = (hook: WebhookRef, payload: unknown): OutboxMessage => ({
    id: randomUUID(),
    rolloutId: r.id,
    policy: r.spec.policy.name,
    hook: hook.name,
    hookType: hook.type as OutboxMessage['hookType'],
    payload,
  });
  for (const event of events) {
    if (CHAT_EVENT_TYPES.includes(event.type)) {
      for (const hook of hooks.filter(h => h.type === 'event')) {
        // Chat is read by people: no internal endpoints in it.
        out.push(
          message(
            hook,
            chatMessage(r, {
              ...event,
              message: redactEndpoints(event.message),
            }),
          ),
        );
      }
    }
    const to = event.type === 'phase' ? event.data?.to : undefined;
    if (typeof to === 'string' && isTerminalPhase(to as never)) {
      for (const hook of hooks.filter(h => h.type === 'post-rollout')) {
        out.push(message(hook, webhookPayload(r, hook)));
      }
    }
  }
  return out;
}

/** Writes messages to the outbox, inside the caller's transaction. */
export async function enqueueOutbox(
  db: Knex | Knex.Transaction,
  messages: OutboxMessage[],
  now: number,
): Promise<void> {
  if (messages.length === 0) return;
  await db(OUTBOX).insert(
    messages.map(m => ({
      id: m.id,
      rollout_id: m.rolloutId,
      policy: m.policy,
      hook: m.hook,
      hook_type: m.hookType,
      payload: JSON.stringify(m.payload),
      created_at: now,
      attempts: 0,
      next_attempt_at: now,
    })),
  );
}

/** How the outbox records what happened to a delivery on its rollout. */
export type OutboxEventSink = (
  rolloutId: string,
  events: NewEvent[],
) => Promise<void>;

export interface WebhookOutboxOptions {
  db: Knex;
  dispatcher: WebhookDispatcher;
  logger: LoggerService;
  recordEvents: OutboxEventSink;
  /** Name of this replica, for claims. */
  owner?: string;
  /** How long a claim holds a message while it is sent. Default 60 s. */
  claimMs?: number;
  /** Attempts before giving up on transient failures. Default 12 (about 1 h with back-off). */
  maxAttempts?: number;
  now?: () => number;
}

/**
 * Delivers the outbox at least once: a message is claimed (so two replicas do
 * not send it at the same time), sent with its id as `Idempotency-Key`, and
 * marked delivered only after the receiver answered 2xx. A replica that dies
 * mid-delivery leaves a claim that expires, and the message is sent again.
 * Transient failures back off (1 s, 2 s, 4 s … at most 10 min); a refusal
 * (4xx) or too many attempts gives up and records a `webhook` event.
 */
export class WebhookOutbox {
  private readonly owner: string;
  private readonly claimMs: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;

  constructor(private readonly options: WebhookOutboxOptions) {
    this.owner = options.owner ?? `outbox-${randomUUID()}`;
    this.claimMs = options.claimMs ?? 60_000;
    this.maxAttempts = options.maxAttempts ?? 12;
    this.now = options.now ?? Date.now;
  }

  /** Messages not delivered and not given up (tests, status). */
  async pending(): Promise<number> {
    const [{ n }] = await this.options
      .db(OUTBOX)
      .whereNull('delivered_at')
      .whereNull('gave_up_at')
      .count({ n: '*' });
    return Number(n);
  }

  /** One delivery round: sends every due message, a few at a time. Returns how many were sent. */
  async deliverDue(limit = 50): Promise<number> {
    const { db } = this.options;
    const now = this.now();
    // Delivered and abandoned messages are kept a week for inspection.
    await db(OUTBOX)
      .where(q =>
        q
          .where('delivered_at', '<', now - RETENTION_MS)
          .orWhere('gave_up_at', '<', now - RETENTION_MS),
      )
      .delete();
    const due = await db(OUTBOX)
      .select('*')
      .whereNull('delivered_at')
      .whereNull('gave_up_at')
      .where('next_attempt_at', '<=', now)
      .andWhere(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<', now),
      )
      .orderBy([
        { column: 'created_at', order: 'asc' },
        { column: 'id', order: 'asc' },
      ])
      .limit(limit);
    let sent = 0;
    // One rollout's messages go in order; different rollouts in parallel.
    const byRollout = new Map<string, any[]>();
    for (const row of due) {
      byRollout.set(row.rollout_id, [
        ...(byRollout.get(row.rollout_id) ?? []),
        row,
      ]);
    }
    await Promise.all(
      [...byRollout.values()].map(async rows => {
        for (const row of rows) {
          if (await this.deliver(row)) sent++;
        }
      }),
    );
    return sent;
  }

  private async deliver(row: any): Promise<boolean> {
    const { db, dispatcher, logger } = this.options;
    const now = this.now();
    const claimed = await db(OUTBOX)
      .where({ id: row.id })
      .whereNull('delivered_at')
      .andWhere(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<', now),
      )
      .update({ claimed_by: this.owner, claimed_until: now + this.claimMs });
    if (claimed !== 1) return false;
    const attempts = Number(row.attempts) + 1;
    const outcome = await dispatcher.call(
      row.policy,
      { name: row.hook, type: row.hook_type },
      JSON.parse(row.payload),
      { attempts: 1, headers: { 'idempotency-key': row.id } },
    );
    const done = this.now();
    if (outcome.ok) {
      await db(OUTBOX).where({ id: row.id, claimed_by: this.owner }).update({
        delivered_at: done,
        attempts,
        claimed_by: null,
        claimed_until: null,
        last_error: null,
      });
      if (row.hook_type === 'post-rollout') {
        await this.record(row, outcome.unconfigured ? 'skipped' : 'delivered', {
          message: outcome.message,
          ok: true,
          status: outcome.status ?? null,
          attempts,
        });
      }
      return true;
    }
    const giveUp = outcome.permanent || attempts >= this.maxAttempts;
    await db(OUTBOX)
      .where({ id: row.id, claimed_by: this.owner })
      .update({
        attempts,
        claimed_by: null,
        claimed_until: null,
        last_error: outcome.message,
        next_attempt_at: done + Math.min(1000 * 2 ** (attempts - 1), 600_000),
        ...(giveUp ? { gave_up_at: done } : {}),
      });
    if (giveUp) {
      logger.warn(
        `Webhook ${row.hook} of policy ${row.policy} not delivered after ${attempts} attempt(s): ${outcome.message}`,
      );
      await this.record(row, 'failed', {
        message: outcome.message,
        ok: false,
        status: outcome.status ?? null,
        attempts,
      });
    }
    return false;
  }

  private async record(
    row: any,
    verb: string,
    outcome: {
      message: string;
      ok: boolean;
      status: number | null;
      attempts: number;
    },
  ) {
    try {
      await this.options.recordEvents(row.rollout_id, [
        {
          type: 'webhook',
          message: `Webhook ${row.hook} (${row.hook_type}) ${verb}: ${outcome.message}`,
          actor: 'coalmine',
          data: {
            webhook: row.hook,
            type: row.hook_type,
            ok: outcome.ok,
            status: outcome.status,
            attempts: outcome.attempts,
            idempotencyKey: row.id,
          },
        },
      ]);
    } catch (e) {
      this.options.logger.warn(
        `Could not record the outcome of webhook ${row.hook}: ${
          (e as Error).message
        }`,
      );
    }
  }
}
