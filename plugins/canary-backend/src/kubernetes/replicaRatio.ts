/**
 * Pure arithmetic of the replica-ratio split: with no routing object, a
 * Service that selects both Deployments sends each pod an equal share, so
 * the canary's weight is its share of the pods.
 */

/** Replicas of stable and canary for a canary weight, out of `total` pods. */
export function replicasForWeight(
  total: number,
  canaryWeight: number,
): { stable: number; canary: number } {
  if (!Number.isInteger(total) || total < 1) {
    throw new Error(`Replica total must be a positive integer, got ${total}`);
  }
  const w = Math.min(100, Math.max(0, canaryWeight));
  if (w === 0) {
    // Back to the shape before the rollout: stable at its own size, no canary.
    return { stable: Math.max(total - 1, 1), canary: 0 };
  }
  // Any weight above zero needs at least one canary pod; 100 % needs all.
  const canary = Math.min(total, Math.max(1, Math.round((total * w) / 100)));
  return { stable: total - canary, canary };
}

/** Canary share of `canary + stable` pods in percent, undefined when there are none. */
export function replicaShare(
  stable: number,
  canary: number,
): number | undefined {
  const sum = stable + canary;
  if (sum <= 0) return undefined;
  return Math.round(((canary * 100) / sum) * 100) / 100;
}

/**
 * Pods the two Deployments share during a rollout: the stable Deployment's
 * size before it plus one canary pod, or both sizes when the canary already
 * runs pods (seed 002: 9 + 1 = 10, so weights move in 10 % steps).
 */
export function replicaTotal(
  stableReplicas: number,
  canaryReplicas: number,
): number {
  return Math.max(1, stableReplicas) + Math.max(1, canaryReplicas);
}
