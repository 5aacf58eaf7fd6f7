import type { LoggerService } from '@backstage/backend-plugin-api';
import type { WebhookSpec } from '../config/policy';
import type { NewEvent, RolloutRecord } from '../domain/types';
import type { RolloutStore } from '../store/RolloutStore';
import {
  WebhookDispatcher,
  WebhookPayload,
  chatMessage,
} from '../webhooks/WebhookDispatcher';

/** The actor recorded for what the engine does by itself. */
export const ENGINE_ACTOR = 'coalmine';

/** Event types sent to `event` webhooks: what people act on, not every bookkeeping step. */
const CHAT_EVENT_TYPES = ['phase', 'step', 'control', 'drift', 'analysis'];

/** The body a rollout's webhooks receive. */
export function webhookPayload(
  r: RolloutRecord,
  hook: WebhookSpec,
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
 * Tells the outside world what happened: `event` webhooks for the events a
 * commit recorded, `post-rollout` webhooks when a rollout ends. Deliveries run
 * in the background (tracked, so `stop()` waits for them); failures become
 * events of the rollout.
 */
export class Notifier {
  private readonly background = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly store: RolloutStore,
    private readonly webhooks: WebhookDispatcher,
    private readonly logger: LoggerService,
  ) {}

  /** Sends events to the policy's `event` webhooks. */
  events(r: RolloutRecord, events: NewEvent[]) {
    const hooks = r.spec.policy.webhooks.filter(h => h.type === 'event');
    if (hooks.length === 0 || events.length === 0 || this.stopped) return;
    for (const event of events.filter(e => CHAT_EVENT_TYPES.includes(e.type))) {
      for (const hook of hooks) {
        this.track(
          this.webhooks
            .call(hook, chatMessage(r, event))
            .then(async outcome => {
              if (!outcome.ok) {
                await this.store.addEvents(r.id, [
                  {
                    type: 'webhook',
                    message: `Event webhook ${hook.name} failed: ${outcome.message}`,
                    actor: ENGINE_ACTOR,
                    data: {
                      webhook: hook.name,
                      type: 'event',
                      ok: false,
                      attempts: outcome.attempts,
                    },
                  },
                ]);
              }
            }),
        );
      }
    }
  }

  /** Calls the policy's `post-rollout` webhooks for a finished rollout. */
  finished(r: RolloutRecord) {
    if (this.stopped) return;
    for (const hook of r.spec.policy.webhooks.filter(
      h => h.type === 'post-rollout',
    )) {
      this.track(
        this.webhooks.call(hook, webhookPayload(r, hook)).then(outcome =>
          this.store.addEvents(r.id, [
            {
              type: 'webhook',
              message: `Webhook ${hook.name} (post-rollout) ${
                outcome.ok ? 'delivered' : 'failed'
              }: ${outcome.message}`,
              actor: ENGINE_ACTOR,
              data: {
                webhook: hook.name,
                type: 'post-rollout',
                ok: outcome.ok,
                status: outcome.status ?? null,
              },
            },
          ]),
        ),
      );
    }
  }

  /** Keeps a background promise until it settles; errors are logged. */
  track(p: Promise<unknown>) {
    const tracked = p.catch(e =>
      this.logger.error(`Canary engine: ${(e as Error)?.message ?? String(e)}`),
    );
    this.background.add(tracked);
    tracked.finally(() => this.background.delete(tracked));
  }

  /** Waits for every delivery started so far. */
  async idle(): Promise<void> {
    while (this.background.size > 0) {
      await Promise.allSettled([...this.background]);
    }
  }

  /** No new deliveries start; waits for those under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }
}
