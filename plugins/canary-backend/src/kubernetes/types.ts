/**
 * The contract between the rollout engine and the cluster.
 *
 * Changes since the first version (all additive, nothing renamed):
 * - `KubernetesObjectNotFoundError`: a typed 404 outside discovery (e.g. the
 *   canary Deployment disappeared while a rollout runs).
 * - `readiness()` also returns `updated` (replicas already on the newest
 *   template), so "promoted stable is available" can be told from "old pods
 *   are still ready".
 * - `TrafficTopology.replicaTotal`: replica-ratio only, the number of pods the
 *   two Deployments share (stable's replicas before the rollout + 1 canary).
 * - `TrafficTopology.subsetObject` (Istio: the DestinationRule),
 *   `canaryRouteObject` (NGINX: the canary Ingress) and `backends` (Gateway
 *   API, SMI, NGINX: the stable and canary Services the route points at).
 * - A `WorkloadManager` serves one cluster (its methods take no cluster);
 *   build one per cluster with `KubernetesWorkloadManager.forCluster`.
 *
 * The engine (src/engine) decides *what* the split should be; the code in
 * src/kubernetes knows *how* a given traffic provider and workload shape
 * expresses it. Everything here talks to the cluster through
 * `@kubernetes/client-node`; nothing here decides or persists anything.
 */

import type { PodHealthSnapshot, Readiness } from '../domain/podHealth';

export type { PodHealthSnapshot, Readiness };

/** What a component points at in one cluster, after annotations and policy. */
export interface RolloutTarget {
  cluster: string;
  namespace: string;
  /** The Kubernetes Service of the component (also the base name of its Deployments). */
  service: string;
  /** Name of the routing object, when the annotation names one. */
  route?: string;
  /** `istio`, `replicas`, `gateway-api`, `smi` or `nginx`. */
  provider: TrafficProviderName;
  /**
   * The rollout this target belongs to, when one is running: what a provider
   * records on objects carries it, and a record of another rollout is ignored.
   */
  rolloutId?: string;
  /** Header that pins a request to the canary (seed 002), e.g. `x-canary-user: true`. */
  stickyHeader?: { name: string; value: string };
}

/** @public */
export type TrafficProviderName =
  | 'istio'
  | 'replicas'
  | 'gateway-api'
  | 'smi'
  | 'nginx';

/** One Deployment taking part in a rollout. */
export interface WorkloadRef {
  /** Deployment name. */
  name: string;
  /** Subset / version label value, when the shape has one. */
  version?: string;
  /** Image of the first container. */
  image?: string;
  /** Replicas the Deployment has in spec. */
  replicas: number;
}

/**
 * What the provider found in the cluster: which Deployment is stable, which is
 * the canary, and how traffic reaches them.
 *
 * Shapes:
 * - `versioned-subsets` (seed 000): Deployments `<svc>-v1`, `<svc>-v2`,
 *   DestinationRule subsets per version; success leaves the route on the
 *   canary's subset alone and retires the old stable Deployment.
 * - `fixed-subsets` (seed 002): `<svc>-stable` and `<svc>-canary`; success
 *   copies the canary's pod template into stable, waits until available,
 *   routes 100 % to stable and scales the canary to zero.
 * - `replica-ratio` (seed 002, approach 1): no routing object; the weight is
 *   the canary's share of ready replicas.
 */
export interface TrafficTopology {
  target: RolloutTarget;
  shape: 'versioned-subsets' | 'fixed-subsets' | 'replica-ratio';
  stable: WorkloadRef;
  canary: WorkloadRef;
  /** Kind/name of the routing object, when there is one. */
  routeObject?: { apiVersion: string; kind: string; name: string };
  /**
   * `replica-ratio` only: pods shared by stable and canary; weights are
   * quantised to steps of `100 / replicaTotal` percent.
   */
  replicaTotal?: number;
  /** Istio: the DestinationRule holding the subsets. */
  subsetObject?: { apiVersion: string; kind: string; name: string };
  /** NGINX: the canary Ingress (created on the first setSplit when missing). */
  canaryRouteObject?: { apiVersion: string; kind: string; name: string };
  /** Gateway API, SMI, NGINX: the Services the route sends stable and canary traffic to. */
  backends?: { stable: string; canary: string };
}

/** The split as the cluster has it now. */
export interface TrafficSplit {
  /** Canary weight the routing object asks for, percent. */
  canaryWeight: number;
  /** Canary weight in effect (e.g. ready replica ratio), percent, when known. */
  actualWeight?: number;
  /** Whether the sticky header route to the canary is in place. */
  headerRoute: boolean;
}

/** A traffic provider sets and reads the split for one shape of routing object. */
export interface TrafficProvider {
  readonly name: TrafficProviderName;
  /** Find stable and canary and the routing object; throws a ConfigurationError with what to fix. */
  discover(target: RolloutTarget): Promise<TrafficTopology>;
  /** Read the split as it is in the cluster. */
  getSplit(topology: TrafficTopology): Promise<TrafficSplit>;
  /**
   * Set the canary weight (0–100) and the sticky header route; re-reads and
   * retries on 409; resolves once the cluster has stored it. Returns the split
   * read back, so the caller can verify it took effect.
   */
  setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit>;
  /** After promotion: route everything to what is now stable, remove the header route. */
  finalizePromotion(topology: TrafficTopology): Promise<void>;
  /**
   * At the end of a rollout: remove what the provider recorded on objects
   * (annotations, labels) for it. Idempotent; optional.
   */
  release?(topology: TrafficTopology): Promise<void>;
  /**
   * The kubectl commands that send all traffic to stable by hand, computed
   * from the objects as they are now; for a rollout that could not finish
   * its rollback. Optional.
   */
  manualRestore?(topology: TrafficTopology): Promise<string[]>;
}

/** Scales, updates and promotes the Deployments of a topology. */
export interface WorkloadManager {
  /**
   * Make the canary Deployment run the given image/version (create it from
   * the stable one when missing, update its pod template otherwise).
   */
  prepareCanary(
    topology: TrafficTopology,
    spec: { image?: string; version?: string },
  ): Promise<TrafficTopology>;
  /** Scale a Deployment; resolves when the API stored it. */
  scale(namespace: string, deployment: string, replicas: number): Promise<void>;
  /** Ready / available replicas of a Deployment now. */
  readiness(namespace: string, deployment: string): Promise<Readiness>;
  /** Pod health of a Deployment's pods. */
  podHealth(namespace: string, deployment: string): Promise<PodHealthSnapshot>;
  /** Pod template hash of a Deployment (detects a new canary version applied by CI/GitOps). */
  templateHash(
    namespace: string,
    deployment: string,
  ): Promise<string | undefined>;
  /**
   * `fixed-subsets`: copy the canary's pod template to stable. Returns when
   * the write is stored; call `readiness` to wait for availability.
   */
  promoteTemplate(topology: TrafficTopology): Promise<void>;
  /** A Deployment's pod template as it is now (saved at start, restored if a promotion fails). */
  readTemplate?(
    namespace: string,
    deployment: string,
  ): Promise<Record<string, unknown> | undefined>;
  /** Writes a saved pod template back unless the Deployment already has it; true when it wrote. */
  restoreTemplate?(
    namespace: string,
    deployment: string,
    template: Record<string, unknown>,
  ): Promise<boolean>;
}

/** A cluster answered with an error the engine should treat as transient (5xx, timeout, unreachable). */
export class ClusterUnavailableError extends Error {
  name = 'ClusterUnavailableError';
}

/**
 * The cluster refused a request for good (4xx other than 401/403/404/409/429,
 * e.g. 422 from an admission policy): retrying the same request cannot fix it.
 */
export class ClusterRejectedError extends Error {
  name = 'ClusterRejectedError';
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** The cluster does not contain what the annotations / policy say; the message says what to change. */
export class ConfigurationError extends Error {
  name = 'ConfigurationError';
  constructor(message: string, readonly key?: string) {
    super(message);
  }
}

/**
 * An object the engine relies on is gone (HTTP 404 outside discovery), e.g.
 * the canary Deployment was deleted by hand during a rollout.
 */
export class KubernetesObjectNotFoundError extends Error {
  name = 'KubernetesObjectNotFoundError';
  constructor(
    readonly kind: string,
    readonly namespace: string,
    readonly objectName: string,
  ) {
    super(`${kind} ${namespace}/${objectName} not found`);
  }
}
