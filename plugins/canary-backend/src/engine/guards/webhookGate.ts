import type { WebhookType } from '../../config/policy';
import type { NewEvent } from '../../domain/types';
import type { PassContext } from '../context';
import type { WebhookOutcome } from '../../webhooks/WebhookDispatcher';
import { webhookPayload } from '../notifications';
import { beginRollback } from '../transitions';

/**
 * What a gate says: `pass` (all hooks passed before), `changed` (one hook
 * passed or refused and that was recorded; look again), `hold` (wait).
 */
export type GateOutcome = 'pass' | 'changed' | 'hold';

/** How often a rollout waiting for a gating webhook's answer is looked at (when no kick comes). */
const ANSWER_POLL_MS = 500;

/**
 * Calls the gating webhooks of a kind, each once per key. The call runs in
 * the background: the pass holds and ends at once, so a slow hook (with its
 * retries) never blocks a runner; its answer kicks the rollout again. An
 * answer lost in a restart only means the hook is called again.
 */
export async function gateWebhooks(
  ctx: PassContext,
  type: WebhookType,
  key: string,
): Promise<GateOutcome> {
  const hooks = ctx.policy.webhooks.filter(h => h.type === type);
  const passed = ctx.state.webhooksPassed ?? [];
  for (const hook of hooks) {
    const id = `${hook.name}@${key}`;
    if (passed.includes(id)) continue;
    const callKey = `${ctx.r.id}|${id}`;
    const call = ctx.deps.webhookCalls.get(callKey);
    if (!call) {
      const entry: { outcome?: WebhookOutcome } = {};
      ctx.deps.webhookCalls.set(callKey, entry);
      const rolloutId = ctx.r.id;
      ctx.deps.track(
        ctx.deps.webhooks
          .call(ctx.policy.name, hook, webhookPayload(ctx.r, hook))
          .then(outcome => {
            entry.outcome = outcome;
            ctx.deps.kick(rolloutId);
          }),
      );
      await ctx.commit({
        message: `Waiting for webhook ${hook.name} (${type})`,
        nextRunAt: ctx.now() + ANSWER_POLL_MS,
      });
      return 'hold';
    }
    if (!call.outcome) {
      return 'hold';
    }
    ctx.deps.webhookCalls.delete(callKey);
    const outcome = call.outcome;
    const event: NewEvent = ctx.event(
      'webhook',
      `Webhook ${hook.name} (${type}) ${outcome.ok ? 'passed' : 'refused'}: ${
        outcome.message
      }`,
      {
        webhook: hook.name,
        type,
        ok: outcome.ok,
        status: outcome.status ?? null,
        attempts: outcome.attempts,
      },
    );
    if (outcome.ok) {
      await ctx.commit(
        {
          state: {
            ...ctx.state,
            webhooksPassed: [...passed, id],
            webhookFailures: 0,
          },
        },
        [event],
      );
      return 'changed';
    }
    const failures = (ctx.state.webhookFailures ?? 0) + 1;
    if (
      type === 'pre-rollout' ||
      (type === 'rollout' && failures >= ctx.policy.clusterErrorLimit)
    ) {
      await ctx.commit({ state: { ...ctx.state, webhookFailures: failures } }, [
        event,
      ]);
      await beginRollback(
        ctx,
        'RolledBack',
        `webhook ${hook.name} (${type}) refused: ${outcome.message}`,
      );
      return 'changed';
    }
    await ctx.commit(
      {
        state: { ...ctx.state, webhookFailures: failures },
        message: `Held by webhook ${hook.name} (${type}): ${outcome.message}`,
        nextRunAt: ctx.now() + Math.min(ctx.policy.analysis.intervalMs, 30_000),
      },
      [event],
    );
    return 'hold';
  }
  return 'pass';
}
