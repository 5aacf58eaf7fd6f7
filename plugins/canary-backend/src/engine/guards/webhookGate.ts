import type { WebhookType } from '../../config/policy';
import type { NewEvent } from '../../domain/types';
import type { PassContext } from '../context';
import { webhookPayload } from '../notifications';
import { beginRollback } from '../transitions';

/**
 * What a gate says: `pass` (all hooks passed before), `changed` (one hook
 * passed or refused and that was recorded; look again), `hold` (wait).
 */
export type GateOutcome = 'pass' | 'changed' | 'hold';

/** Calls the gating webhooks of a kind, each once per key. */
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
    const outcome = await ctx.deps.webhooks.call(
      hook,
      webhookPayload(ctx.r, hook),
    );
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
