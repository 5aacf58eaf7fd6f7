import type { WorkloadBinding } from '../../binding';
import type { RolloutRecord } from '../types';

/**
 * The per-pass binding guard: a rollout keeps acting on its workload only
 * while the cluster or the platform still binds it to the component. Returns
 * why it no longer may (the rollout then aborts to stable), or undefined.
 * Cluster errors are thrown and handled like any other transient error.
 */
export async function bindingLost(
  binding: WorkloadBinding,
  r: RolloutRecord,
): Promise<string | undefined> {
  const topology = r.state.topology;
  if (!topology) return undefined;
  const verdict = await binding.check({
    entityRef: r.entityRef,
    owners: r.spec.owners ?? [],
    cluster: r.cluster,
    namespace: r.namespace,
    service: r.workload,
    topology,
  });
  return verdict.bound ? undefined : verdict.problem.message;
}
