/**
 * The one rule for "is the canary healthy": restarts counted since the
 * rollout started (a pod that restarted before it is not the canary's fault),
 * plus every reason Kubernetes gives (OOMKilled, CrashLoopBackOff, …).
 */

/** Health of a Deployment's pods, read from the Kubernetes API. */
export interface PodHealthSnapshot {
  pods: Array<{
    name: string;
    /** The pod's IP (`status.podIP`), once it has one: what Prometheus' Kubernetes discovery puts in `instance` (`ip:port`). */
    ip?: string;
    ready: boolean;
    restarts: number;
    /** e.g. `OOMKilled`, `CrashLoopBackOff`, `ImagePullBackOff`. */
    reasons: string[];
  }>;
}

/** Restarts per pod name, recorded when the rollout started. */
export type RestartBaseline = Record<string, number>;

/** The verdict of {@link judgePodHealth}. */
export interface PodHealthVerdict {
  /** Restarts since the baseline, over all pods. */
  restarts: number;
  reasons: string[];
  /** More restarts than the policy allows. */
  unhealthy: boolean;
  /** In words, for a rollback cause. */
  summary: string;
}

/**
 * What names the pods in Prometheus' labels: their names (a `pod` label)
 * and their IPs (an `instance` of `ip:port`, Kubernetes discovery's
 * default when no pod label is kept).
 */
export function podIdentities(health: PodHealthSnapshot): string[] {
  return health.pods.flatMap(p => (p.ip ? [p.name, p.ip] : [p.name]));
}

export function restartBaseline(health: PodHealthSnapshot): RestartBaseline {
  return Object.fromEntries(health.pods.map(p => [p.name, p.restarts]));
}

export function judgePodHealth(
  health: PodHealthSnapshot,
  baseline: RestartBaseline,
  maxRestarts: number,
): PodHealthVerdict {
  let restarts = 0;
  const reasons = new Set<string>();
  for (const pod of health.pods) {
    restarts += Math.max(0, pod.restarts - (baseline[pod.name] ?? 0));
    pod.reasons.forEach(reason => reasons.add(reason));
  }
  return {
    restarts,
    reasons: [...reasons],
    unhealthy: restarts > maxRestarts,
    summary: `canary pods restarted ${restarts} times${
      reasons.size ? ` (${[...reasons].join(', ')})` : ''
    }, more than the policy allows (${maxRestarts})`,
  };
}

/** What `WorkloadManager.readiness` reports. */
export interface Readiness {
  desired: number;
  ready: number;
  available: number;
  /** Replicas already running the newest pod template. */
  updated?: number;
  /** The controller has seen the newest spec (status.observedGeneration ≥ metadata.generation). */
  observedGeneration: boolean;
}

/** The one availability test: every desired replica available, and the controller caught up. */
export function isAvailable(readiness: Readiness): boolean {
  return (
    readiness.desired > 0 &&
    readiness.available >= readiness.desired &&
    readiness.observedGeneration
  );
}
