import type { PassContext } from '../context';
import { beginRollback } from '../transitions';

/**
 * The binding guard, at every pass: a rollout keeps acting on its workload
 * only while the cluster (`coalmine.io/entity` on the Service) or the
 * platform (`canary.clusters.<name>.namespaces`) still binds it to the
 * component. When the binding is gone the rollout aborts to stable and the
 * event says why. Returns true when the binding holds. A cluster error is
 * thrown and handled like any other transient error of the pass.
 */
export async function bindingHolds(ctx: PassContext): Promise<boolean> {
  const { r } = ctx;
  const topology = r.state.topology;
  if (!topology || r.phase === 'RollingBack') return true;
  const verdict = await ctx.deps.binding.check({
    entityRef: r.entityRef,
    owners: r.spec.owners ?? [],
    cluster: r.cluster,
    namespace: r.namespace,
    service: r.workload,
    topology,
  });
  if (verdict.bound) return true;
  // A forward write still pending is dropped by the rollback (phases/index.ts).
  await beginRollback(
    ctx,
    'Aborted',
    `the workload is no longer bound to ${r.entityRef}: ${verdict.problem.message}`,
  );
  return false;
}
