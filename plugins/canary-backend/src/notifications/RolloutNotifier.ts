import { Knex } from 'knex';
import { LoggerService } from '@backstage/backend-plugin-api';
import { parseEntityRef } from '@backstage/catalog-model';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import type { NotificationPayload } from '@backstage/plugin-notifications-common';
import type { AnalysisCheck } from '@coalmine/backstage-plugin-canary-common';

/** The phases that need people or end a rollout, and so reach its owners. */
const NOTIFIED = ['AwaitingApproval', 'RolledBack', 'Failed', 'Succeeded'];

const CONSUMER = 'notifications';

/** One phase change read from the event log, with what the message needs. */
interface PhaseChange {
  eventId: number;
  rolloutId: string;
  to: string;
  message: string;
  actor: string;
  entityRef: string;
  cluster: string;
  canaryVersion?: string;
  canaryImage?: string;
  weight: number;
}

/** Options of {@link RolloutNotifier}. */
export interface RolloutNotifierOptions {
  db: Knex;
  notifications: NotificationService;
  logger: LoggerService;
  /** Events this young are left for the next pass, so a transaction that committed late is not skipped. */
  settleMs?: number;
  /** Events read per pass. */
  batchSize?: number;
}

/** The tab of a component, as a link the notifications UI opens in the app. */
export function canaryTabLink(entityRef: string): string {
  const ref = parseEntityRef(entityRef);
  return `/catalog/${encodeURIComponent(ref.namespace)}/${encodeURIComponent(
    ref.kind.toLocaleLowerCase('en-US'),
  )}/${encodeURIComponent(ref.name)}/canary`;
}

/** The topic owners can mute: one per component. */
export function notificationTopic(entityRef: string): string {
  return `Canary rollouts of ${entityRef}`;
}

/**
 * Tells a component's owners when a rollout needs them or has ended: waiting
 * for approval, rolled back (with the failing gate's evidence), failed,
 * succeeded.
 *
 * It consumes the rollout events the engine already persists instead of
 * being called by the engine: its read position is stored in the plugin's
 * database and moved only after a notification was accepted, so every phase
 * change is notified at least once, across restarts and replicas (it runs in
 * a global scheduler task). A repeat carries the same `scope`, which the
 * notifications backend treats as the same notification.
 */
export class RolloutNotifier {
  private readonly db: Knex;
  private readonly notifications: NotificationService;
  private readonly logger: LoggerService;
  private readonly settleMs: number;
  private readonly batchSize: number;

  constructor(options: RolloutNotifierOptions) {
    this.db = options.db;
    this.notifications = options.notifications;
    this.logger = options.logger;
    this.settleMs = options.settleMs ?? 2000;
    this.batchSize = options.batchSize ?? 100;
  }

  /**
   * One pass: notifies every phase change after the stored position.
   * Returns how many notifications were sent.
   */
  async run(now = Date.now()): Promise<number> {
    let cursor = await this.position();
    if (cursor === undefined) {
      // First start: history before the plugin could notify is not news.
      const row = await this.db('canary_rollout_events')
        .max('id as id')
        .first();
      cursor = Number(row?.id ?? 0);
      await this.save(cursor, now);
      return 0;
    }
    const changes = await this.read(cursor, now - this.settleMs);
    let read = cursor;
    let sent = 0;
    for (const change of changes) {
      if (NOTIFIED.includes(change.to)) {
        try {
          await this.notifications.send({
            recipients: { type: 'entity', entityRef: change.entityRef },
            payload: await this.payload(change),
          });
          sent++;
        } catch (e) {
          // The position stays before this event: the next pass retries it.
          this.logger.warn(
            `Could not notify the owners of ${change.entityRef} about rollout ${
              change.rolloutId
            } (${change.to}); retrying on the next pass: ${
              (e as Error).message
            }`,
          );
          break;
        }
        // Saved at once: a crash after this send does not repeat it.
        await this.save(change.eventId, now);
      }
      read = change.eventId;
    }
    if (read > cursor) await this.save(read, now);
    return sent;
  }

  private async position(): Promise<number | undefined> {
    const row = await this.db('canary_event_consumers')
      .where({ name: CONSUMER })
      .first();
    return row ? Number(row.last_event_id) : undefined;
  }

  private async save(eventId: number, now: number): Promise<void> {
    await this.db('canary_event_consumers')
      .insert({ name: CONSUMER, last_event_id: eventId, updated_at: now })
      .onConflict('name')
      .merge();
  }

  /** Phase changes after `cursor`, oldest first, stopping at the first event younger than `settledBefore`. */
  private async read(
    cursor: number,
    settledBefore: number,
  ): Promise<PhaseChange[]> {
    const rows = await this.db('canary_rollout_events as e')
      .join('canary_rollouts as r', 'r.id', 'e.rollout_id')
      .where('e.id', '>', cursor)
      .orderBy('e.id', 'asc')
      .limit(this.batchSize)
      .select(
        'e.id',
        'e.rollout_id',
        'e.type',
        'e.time',
        'e.message',
        'e.actor',
        'e.data',
        'r.entity_ref',
        'r.cluster',
        'r.canary',
        'r.weight',
      );
    const changes: PhaseChange[] = [];
    for (const row of rows) {
      if (Number(row.time) > settledBefore) break;
      const data = row.data ? safeJson(row.data) : undefined;
      const canary = safeJson(row.canary) ?? {};
      changes.push({
        eventId: Number(row.id),
        rolloutId: row.rollout_id,
        to: row.type === 'phase' && typeof data?.to === 'string' ? data.to : '',
        message: row.message,
        actor: row.actor,
        entityRef: row.entity_ref,
        cluster: row.cluster,
        canaryVersion: canary.version,
        canaryImage: canary.image,
        weight: Number(row.weight),
      });
    }
    return changes;
  }

  private async payload(change: PhaseChange): Promise<NotificationPayload> {
    const tab = canaryTabLink(change.entityRef);
    const what = `${change.entityRef}${
      change.canaryVersion ? ` ${change.canaryVersion}` : ''
    } on ${change.cluster}`;
    const common = {
      topic: notificationTopic(change.entityRef),
      // The same phase change of the same rollout is one notification, also
      // when a retry sends it twice.
      scope: `canary:${change.rolloutId}:${change.to}`,
      link: tab,
    };
    switch (change.to) {
      case 'AwaitingApproval':
        return {
          ...common,
          title: `Canary of ${what} waits for your approval`,
          description: `At ${change.weight} % of traffic, the next step needs an approval. ${change.message}`,
          link: `${tab}?approve=${encodeURIComponent(change.rolloutId)}`,
          severity: 'high',
        };
      case 'RolledBack':
        return {
          ...common,
          title: `Canary of ${what} was rolled back`,
          description: await this.rollbackReason(change),
          severity: 'high',
        };
      case 'Failed':
        return {
          ...common,
          title: `Canary of ${what} failed`,
          description: change.message,
          severity: 'critical',
        };
      default:
        return {
          ...common,
          title: `Canary of ${what} succeeded`,
          description: change.message,
          severity: 'normal',
        };
    }
  }

  /** The failing gate's evidence sentence, else the cause recorded with the rollback. */
  private async rollbackReason(change: PhaseChange): Promise<string> {
    const analysis = await this.db('canary_analysis_results')
      .where({ rollout_id: change.rolloutId })
      .andWhere('id', '>', 0)
      .orderBy('id', 'desc')
      .limit(20)
      .select('action', 'checks');
    for (const row of analysis) {
      const checks = (safeJson(row.checks) ?? []) as AnalysisCheck[];
      const failing = checks.find(c => c.verdict === 'fail');
      if (failing) {
        return `${failing.metric}: ${failing.evidence}`;
      }
    }
    const cause = await this.db('canary_rollout_events')
      .where({ rollout_id: change.rolloutId, type: 'phase' })
      .andWhere('message', 'like', 'Rolling back:%')
      .orderBy('id', 'desc')
      .first();
    return cause?.message ?? change.message;
  }
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
