/**
 * How the outside world hears about a rollout: `event` and `post-rollout`
 * webhooks are not sent from here. The store queues them in the same
 * transaction as the change that caused them (webhooks/outbox.ts), and the
 * outbox loop delivers them at least once, also after a restart.
 */

/** The actor recorded for what the engine does by itself. */
export const ENGINE_ACTOR = 'coalmine';

export { webhookPayload } from '../webhooks/outbox';
