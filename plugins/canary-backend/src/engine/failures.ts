/**
 * What an error does to a rollout: rollbacks and promotions retry what
 * retrying can fix for as long as it takes; forward phases hold and back off,
 * then roll back; what retrying cannot fix rolls back, or ends Failed with the
 * commands that restore stable by hand.
 */
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import {
  errorMessage,
  isClusterUnavailable,
  isConfigurationError,
  isFencingError,
  isRetryable,
} from '../domain/errors';
import type { NewEvent } from '../domain/types';
import { EngineDeps, PassContext } from './context';
import { beginRollback, finish } from './transitions';

/** `10:42 UTC` — when people read "since". */
function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 16)} UTC`;
}

/** Events for retry 1, 2, 4, 8, …: the timeline shows a long outage without drowning in it. */
function worthAnEvent(attempt: number): boolean {
  return (attempt & (attempt - 1)) === 0;
}

/** After a pass that went through: the counts of consecutive cluster errors start over. */
export async function clearErrors(ctx: PassContext): Promise<void> {
  const s = ctx.state;
  const retry = s.rollbackRetry ?? s.promotionRetry;
  if ((s.clusterErrors ?? 0) === 0 && !retry) return;
  const events: NewEvent[] = retry
    ? [
        ctx.event(
          'cluster-recovered',
          `The cluster answers again after ${
            retry.attempts
          } failed attempt(s) since ${clockTime(retry.since)}`,
          {
            attempts: retry.attempts,
            since: retry.since,
            recoveredAt: ctx.now(),
          },
        ),
      ]
    : [];
  await ctx.commit(
    {
      state: {
        ...s,
        clusterErrors: 0,
        rollbackRetry: undefined,
        promotionRetry: undefined,
      },
    },
    events,
  );
}

/**
 * Retries a rollback or a promotion after an error retrying can fix, for as
 * long as it takes, with a capped back-off; the status says since when.
 */
async function retryLater(
  ctx: PassContext,
  kind: 'rollbackRetry' | 'promotionRetry',
  message: string,
): Promise<void> {
  const { deps } = ctx;
  const now = deps.now();
  const before = ctx.state[kind];
  const retry = {
    since: before?.since ?? now,
    attempts: (before?.attempts ?? 0) + 1,
    lastError: message,
  };
  const backoff = Math.min(
    deps.clusterBackoffMs * 2 ** Math.min(retry.attempts - 1, 20),
    deps.maxBackoffMs,
  );
  const doing = kind === 'rollbackRetry' ? 'Rolling back' : 'Promoting';
  const status = `${doing} — cluster unreachable since ${clockTime(
    retry.since,
  )}, retrying (attempt ${retry.attempts}, next in ${Math.ceil(
    backoff / 1000,
  )} s): ${message}`;
  await ctx.commit(
    {
      message: status,
      state: { ...ctx.state, [kind]: retry },
      nextRunAt: now + backoff,
    },
    worthAnEvent(retry.attempts)
      ? [
          ctx.event('cluster-error', status, {
            attempts: retry.attempts,
            since: retry.since,
            phase: ctx.r.phase,
            retryInMs: backoff,
          }),
        ]
      : [],
  );
}

/**
 * A rollback that retrying cannot finish: Failed, with the exact commands
 * that send all traffic to stable by hand, read from the objects as they are.
 */
async function failRollback(ctx: PassContext, message: string): Promise<void> {
  let commands: string[] = [];
  const topology = ctx.r.state.topology;
  const provider = topology ? ctx.provider() : undefined;
  if (topology && provider?.manualRestore) {
    try {
      commands = await ctx.raced(provider.manualRestore(topology));
    } catch (e) {
      commands = [];
      ctx.deps.logger.warn(
        `Canary rollout ${
          ctx.r.id
        }: could not compute the restore commands: ${errorMessage(e)}`,
      );
    }
  }
  if (topology && ctx.state.rollback?.from === 'Promoting') {
    commands.push(
      `# ${topology.stable.name} may run the canary's template: put back the one saved at start (GET /api/canary/rollouts/${ctx.r.id} shows it under state) or roll the Deployment back: kubectl --context ${ctx.r.cluster} -n ${ctx.r.namespace} rollout undo deployment/${topology.stable.name}`,
    );
  }
  const text = commands.length
    ? ` Restore stable by hand: ${commands.join(' && ')}`
    : ' Send all traffic to stable by hand.';
  await finish(ctx, 'Failed', `Rollback could not finish: ${message}.${text}`, {
    state: { ...ctx.state, manualRestore: commands },
  });
}

/**
 * What a failed pass does to its rollout:
 * - RollingBack: retry for as long as it takes when retrying can fix it;
 *   otherwise Failed with the commands that restore stable by hand.
 * - Promoting: retry when retrying can fix it (the promotion finishes);
 *   otherwise roll back, putting stable's template back.
 * - Forward phases: configuration errors and refusals roll back at once;
 *   transient trouble holds the weight and backs off, and beyond the
 *   policy's limit rolls back.
 */
export async function onPassError(
  deps: EngineDeps,
  id: string,
  error: unknown,
): Promise<void> {
  const r = await deps.store.get(id);
  if (!r || isTerminalPhase(r.phase)) return;
  const ctx = new PassContext(deps, r);
  const message = errorMessage(error);
  const retryable = isRetryable(error);
  if (retryable && !isClusterUnavailable(error)) {
    deps.logger.error(`Canary rollout ${id}: unexpected error: ${message}`);
  }
  try {
    if (r.phase === 'RollingBack') {
      if (retryable) await retryLater(ctx, 'rollbackRetry', message);
      else await failRollback(ctx, message);
      return;
    }
    if (r.phase === 'Promoting') {
      if (retryable) {
        await retryLater(ctx, 'promotionRetry', message);
      } else {
        await beginRollback(
          ctx,
          'RolledBack',
          `the promotion could not finish: ${message}`,
        );
      }
      return;
    }
    if (!retryable) {
      await beginRollback(
        ctx,
        isConfigurationError(error) ? 'Failed' : 'RolledBack',
        isConfigurationError(error)
          ? `the cluster no longer matches the configuration: ${message}`
          : `the cluster refused a change: ${message}`,
      );
      return;
    }
    const errors = (r.state.clusterErrors ?? 0) + 1;
    const limit = r.spec.policy.clusterErrorLimit;
    const event = ctx.event(
      'cluster-error',
      `Cluster error (${errors} of ${limit}): ${message}; holding at ${r.weight} %`,
      { errors, limit },
    );
    if (errors >= limit) {
      await ctx.commit({ state: { ...r.state, clusterErrors: 0 } }, [event]);
      await beginRollback(
        ctx,
        'RolledBack',
        `the cluster failed ${errors} times in a row: ${message}`,
      );
      return;
    }
    const backoff = Math.min(
      deps.clusterBackoffMs * 2 ** (errors - 1),
      deps.maxBackoffMs,
    );
    await ctx.commit(
      {
        state: { ...r.state, clusterErrors: errors },
        nextRunAt: deps.now() + backoff,
      },
      [event],
    );
  } catch (e) {
    if (!isFencingError(e)) {
      deps.logger.error(
        `Canary rollout ${id}: could not record an error: ${errorMessage(e)}`,
      );
    }
  }
}
