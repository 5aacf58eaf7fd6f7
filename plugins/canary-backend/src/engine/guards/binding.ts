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
export async function bindingHolds(
  ctx: PassContext,
  options: { beforeWrite?: boolean } = {},
): Promise<boolean> {
  const { r } = ctx;
  const topology = r.state.topology;
  if (!topology || r.phase === 'RollingBack') return true;
  // With bindingRecheckMs, a pass that only looks (pods, split, analysis)
  // trusts a check this recent; a pass that writes forward checks first
  // (recordIntent), so no forward write rests on a check older than its pass.
  const recheckMs = ctx.deps.bindingRecheckMs ?? 0;
  const checkedAt = ctx.deps.bindingCheckedAt?.get(r.id);
  if (options.beforeWrite ? ctx.bindingChecked : false) return true;
  if (
    !options.beforeWrite &&
    recheckMs > 0 &&
    checkedAt !== undefined &&
    ctx.now() - checkedAt < recheckMs
  ) {
    return true;
  }
  const verdict = await ctx.deps.binding.check({
    entityRef: r.entityRef,
    owners: r.spec.owners ?? [],
    cluster: r.cluster,
    namespace: r.namespace,
    service: r.workload,
    topology,
  });
  if (verdict.bound) {
    ctx.bindingChecked = true;
    ctx.deps.bindingCheckedAt?.set(r.id, ctx.now());
    return true;
  }
  ctx.deps.bindingCheckedAt?.delete(r.id);
  // A forward write still pending is dropped by the rollback (phases/index.ts).
  await beginRollback(
    ctx,
    'Aborted',
    `the workload is no longer bound to ${r.entityRef}: ${verdict.problem.message}`,
  );
  return false;
}
