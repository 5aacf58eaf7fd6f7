import { isAvailable } from '../../domain/podHealth';
import type { DoneStep } from '../../domain/types';
import type { PassContext } from '../context';
import { sizeCanaryFor } from '../guards/canarySize';
import { recordIntent } from '../intents';
import { beginRollback, finish, releaseObjects } from '../transitions';

/** The promotion operations for the rollout's shape, in order. */
export function promotionPlan(ctx: PassContext): DoneStep[] {
  const shape = ctx.topology.shape;
  if (shape === 'versioned-subsets') {
    return ctx.policy.promotion.retireStable === 'scale-to-zero'
      ? ['finalize', 'retire-stable', 'release']
      : ['finalize', 'release'];
  }
  if (shape === 'fixed-subsets') {
    return [
      'promote-template',
      'wait-stable',
      'finalize',
      'scale-down-canary',
      'release',
    ];
  }
  return [
    'promote-template',
    'finalize',
    'wait-stable',
    'scale-down-canary',
    'release',
  ];
}

/** Waits for stable to run the new template on every replica, within the progress deadline. */
async function waitStable(ctx: PassContext): Promise<boolean> {
  const stable = ctx.topology.stable.name;
  const readiness = await ctx.workloads().readiness(ctx.r.namespace, stable);
  if (isAvailable(readiness)) {
    await ctx.commit(
      {
        state: {
          ...ctx.state,
          done: [...(ctx.state.done ?? []), 'wait-stable'],
          waitingSince: undefined,
        },
      },
      [
        ctx.event(
          'workload',
          `${stable} runs the new version on ${readiness.available} available pod(s)`,
        ),
      ],
    );
    return true;
  }
  const since = ctx.state.waitingSince ?? ctx.now();
  if (ctx.now() - since > ctx.policy.progressDeadlineMs) {
    // Stable would run a version that does not come up: put its template back.
    await beginRollback(
      ctx,
      'RolledBack',
      `${stable} did not become available with the new version within the progress deadline`,
    );
    return true;
  }
  if (ctx.state.waitingSince === undefined) {
    await ctx.commit({
      state: { ...ctx.state, waitingSince: since },
      message: `Waiting for ${stable} to be available`,
    });
  }
  return false;
}

/** Promoting: runs the next operation of the plan; Succeeded when none is left. */
export async function promoting(ctx: PassContext): Promise<boolean> {
  const topology = ctx.topology;
  const done = ctx.state.done ?? [];
  const next = promotionPlan(ctx).find(op => !done.includes(op));
  switch (next) {
    case 'promote-template':
      await recordIntent(
        ctx,
        { op: 'promote-template' },
        { message: 'Copying the canary pod template to stable' },
      );
      return true;
    case 'finalize': {
      if (topology.shape === 'versioned-subsets') {
        // The canary's Deployment becomes stable and takes all traffic: with
        // the replicas 100 % needs, available, before the route moves.
        const sizing = await sizeCanaryFor(ctx, 100);
        if (sizing !== undefined) return sizing;
      }
      await recordIntent(
        ctx,
        { op: 'finalize-promotion' },
        { message: 'Routing all traffic to the new stable' },
      );
      return true;
    }
    case 'retire-stable':
      await recordIntent(ctx, {
        op: 'scale',
        deployment: topology.stable.name,
        replicas: 0,
        why: 'retire-stable',
      });
      return true;
    case 'scale-down-canary':
      await recordIntent(ctx, {
        op: 'scale',
        deployment: topology.canary.name,
        replicas: 0,
        why: 'scale-down-canary',
      });
      return true;
    case 'wait-stable':
      return waitStable(ctx);
    case 'release':
      await releaseObjects(ctx);
      return true;
    default: {
      const promotedTo =
        topology.shape === 'versioned-subsets'
          ? topology.canary.name
          : topology.stable.name;
      await finish(
        ctx,
        'Succeeded',
        `Promoted: ${promotedTo} serves all traffic${
          ctx.r.canary.image ? ` with ${ctx.r.canary.image}` : ''
        }`,
        { state: { ...ctx.state, promotionRetry: undefined } },
      );
      return false;
    }
  }
}
