import type { PrepareCanaryIntent } from '../../domain/types';
import type { PassContext } from '../context';

/**
 * Points the canary Deployment at the requested image / version, and tells
 * the detector the resulting template is this rollout's, not a new one.
 */
export async function applyPrepareCanary(
  ctx: PassContext,
  intent: PrepareCanaryIntent,
): Promise<void> {
  const { r } = ctx;
  const workloads = ctx.workloads();
  await ctx.fence();
  const next = await workloads.prepareCanary(ctx.topology, {
    image: intent.image,
    version: intent.version,
  });
  const hash = await workloads
    .templateHash(r.namespace, next.canary.name)
    .catch(() => undefined);
  if (hash) {
    await ctx.deps.store.setWatchedHash(
      r.entityRef,
      r.cluster,
      `${next.canary.name}@${hash}`,
    );
  }
  await ctx.commit(
    {
      intent: null,
      canary: {
        name: next.canary.name,
        version: next.canary.version,
        image: next.canary.image,
      },
      state: {
        ...ctx.state,
        topology: next,
        canaryReplicas: Math.max(
          1,
          next.canary.replicas || ctx.state.canaryReplicas || 1,
        ),
        done: [...(ctx.state.done ?? []), 'prepare'],
      },
    },
    [
      ctx.event(
        'workload',
        `Canary ${next.canary.name} set to ${
          intent.image ?? next.canary.image ?? ''
        }${intent.version ? ` (version ${intent.version})` : ''}`,
      ),
    ],
  );
}
