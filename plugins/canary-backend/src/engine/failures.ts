import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import {
  errorMessage,
  isClusterUnavailable,
  isConfigurationError,
  isFencingError,
} from '../domain/errors';
import { EngineDeps, PassContext } from './context';
import { beginRollback, finish } from './transitions';

/** After a pass that went through: the count of consecutive cluster errors starts over. */
export async function clearErrors(ctx: PassContext): Promise<void> {
  if ((ctx.state.clusterErrors ?? 0) > 0) {
    await ctx.commit({ state: { ...ctx.state, clusterErrors: 0 } });
  }
}

/**
 * What a failed pass does to its rollout. Configuration errors (the cluster
 * no longer matches) roll back or fail; transient cluster trouble holds the
 * weight and backs off, and beyond the policy's limit rolls back.
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
  try {
    if (isConfigurationError(error)) {
      if (r.phase === 'RollingBack') {
        await finish(ctx, 'Failed', `Rollback could not finish: ${message}`);
      } else {
        await beginRollback(
          ctx,
          'Failed',
          `the cluster no longer matches the configuration: ${message}`,
        );
      }
      return;
    }
    if (!isClusterUnavailable(error)) {
      deps.logger.error(`Canary rollout ${id}: unexpected error: ${message}`);
    }
    const errors = (r.state.clusterErrors ?? 0) + 1;
    const limit = r.spec.policy.clusterErrorLimit;
    const event = ctx.event(
      'cluster-error',
      `Cluster error (${errors} of ${limit}): ${message}; holding at ${r.weight} %`,
      { errors, limit },
    );
    if (errors >= limit) {
      if (r.phase === 'RollingBack') {
        await ctx.commit({ state: { ...r.state, clusterErrors: errors } }, [
          event,
        ]);
        await finish(ctx, 'Failed', `Rollback could not finish: ${message}`);
      } else {
        await ctx.commit({ state: { ...r.state, clusterErrors: 0 } }, [event]);
        await beginRollback(
          ctx,
          'RolledBack',
          `the cluster failed ${errors} times in a row: ${message}`,
        );
      }
      return;
    }
    const backoff = Math.min(deps.clusterBackoffMs * 2 ** (errors - 1), 30_000);
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
