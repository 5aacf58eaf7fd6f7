import type { V1Deployment } from '@kubernetes/client-node';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import { podLabels, workloadRef } from './deployments';
import {
  checkTargetNames,
  listDeployments,
  plannedWorkload,
  readServiceOrExplain,
} from './discovery';
import { callCluster, withConflictRetry } from './errors';
import { replicaShare, replicasForWeight, replicaTotal } from './replicaRatio';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
  TrafficSplit,
  TrafficTopology,
} from './types';
import { podsMatch } from './deployments';
import {
  cachedGet,
  DEPLOYMENTS,
  readForUpdate,
  writeThrough,
} from './watchCache';

/** On the stable Deployment: the pod total of the rollout, so a restart finds it again. */
export const REPLICA_TOTAL_ANNOTATION = 'coalmine.io/replica-total';
/** On the stable Deployment: the weight last set, to tell our rounding from a hand edit. */
export const CANARY_WEIGHT_ANNOTATION = 'coalmine.io/canary-weight';
/** The rollout the two annotations above belong to; a total of another rollout is not trusted. */
export const ROLLOUT_ID_ANNOTATION = 'coalmine.io/rollout-id';

/** The rollout's annotations, removed. */
const RELEASED: Record<string, undefined> = {
  [REPLICA_TOTAL_ANNOTATION]: undefined,
  [CANARY_WEIGHT_ANNOTATION]: undefined,
  [ROLLOUT_ID_ANNOTATION]: undefined,
};

/** The replica total recorded on stable, when it belongs to this rollout. */
function recordedTotal(
  stable: V1Deployment,
  target: RolloutTarget,
): number | undefined {
  const annotations = stable.metadata?.annotations ?? {};
  // Both unset: a provider used outside a rollout, as before rollout ids.
  if (annotations[ROLLOUT_ID_ANNOTATION] !== target.rolloutId) return undefined;
  const recorded = Number(annotations[REPLICA_TOTAL_ANNOTATION]);
  return Number.isInteger(recorded) && recorded > 0 ? recorded : undefined;
}

function isCanaryLike(d: V1Deployment, service: string): boolean {
  return (
    d.metadata?.name === `${service}-canary` ||
    Object.values(podLabels(d)).includes('canary')
  );
}

/**
 * Replica ratio (seed 002, approach 1): one Service selects the pods of a
 * stable and a canary Deployment; the weight is the canary's share of the
 * pods, so setting it scales the two Deployments.
 */
export class ReplicaRatioTrafficProvider implements TrafficProvider {
  readonly name = 'replicas' as const;

  constructor(
    private readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    if (target.stickyHeader) {
      throw new ConfigurationError(
        `The replicas traffic provider cannot pin requests to the canary by header: remove stickyHeader from the policy of ${target.namespace}/${target.service}, or route with istio`,
      );
    }
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const svc = await readServiceOrExplain(apis, namespace, service);
    const selector = svc.spec?.selector ?? {};
    const all = await listDeployments(apis, namespace);
    const behind = all.filter(d => podsMatch(d, selector));
    const byName = (n: string) => all.find(d => d.metadata?.name === n);
    const canary =
      byName(`${service}-canary`) ?? behind.find(d => isCanaryLike(d, service));
    const stable =
      byName(`${service}-stable`) ??
      byName(`${service}-primary`) ??
      (() => {
        const rest = behind.filter(d => d !== canary);
        return rest.length === 1 ? rest[0] : byName(service);
      })();
    if (!stable) {
      throw new ConfigurationError(
        `No stable Deployment for ${namespace}/${service}: name it ${service}-stable, or make the Service select exactly one Deployment besides the canary`,
      );
    }
    const stableRef = workloadRef(stable, 'stable');
    const canaryRef = canary
      ? workloadRef(canary, 'canary')
      : plannedWorkload(`${service}-canary`, 'canary');
    return {
      target,
      shape: 'replica-ratio',
      stable: stableRef,
      canary: canaryRef,
      replicaTotal:
        recordedTotal(stable, target) ??
        replicaTotal(stableRef.replicas, canaryRef.replicas),
    };
  }

  private async readBoth(apis: ClusterApis, topology: TrafficTopology) {
    const { namespace } = topology.target;
    const read = (name: string) =>
      cachedGet(apis, DEPLOYMENTS, namespace, name, () =>
        callCluster({ kind: 'Deployment', namespace, name, verb: 'read' }, () =>
          apis.apps.readNamespacedDeployment({ namespace, name }),
        ),
      );
    const [stable, canary] = await Promise.all([
      read(topology.stable.name),
      read(topology.canary.name),
    ]);
    return { stable, canary };
  }

  private totalOf(topology: TrafficTopology, stable: V1Deployment): number {
    const recorded = recordedTotal(stable, topology.target);
    if (recorded !== undefined) return recorded;
    return (
      topology.replicaTotal ??
      replicaTotal(topology.stable.replicas, topology.canary.replicas)
    );
  }

  private splitOf(
    topology: TrafficTopology,
    stable: V1Deployment,
    canary: V1Deployment,
  ): TrafficSplit {
    const specStable = stable.spec?.replicas ?? 0;
    const specCanary = canary.spec?.replicas ?? 0;
    const total = this.totalOf(topology, stable);
    const asked =
      stable.metadata?.annotations?.[ROLLOUT_ID_ANNOTATION] ===
      topology.target.rolloutId
        ? Number(stable.metadata?.annotations?.[CANARY_WEIGHT_ANNOTATION])
        : NaN;
    let canaryWeight = replicaShare(specStable, specCanary) ?? 0;
    if (Number.isFinite(asked)) {
      // Report the weight we were asked for as long as the replicas are what
      // it rounds to; a hand-scaled Deployment shows its real share instead.
      const expected = replicasForWeight(total, asked);
      if (expected.stable === specStable && expected.canary === specCanary) {
        canaryWeight = asked;
      }
    }
    return {
      canaryWeight,
      actualWeight: replicaShare(
        stable.status?.readyReplicas ?? 0,
        canary.status?.readyReplicas ?? 0,
      ),
      headerRoute: false,
    };
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const apis = this.clients.forCluster(topology.target.cluster);
    const { stable, canary } = await this.readBoth(apis, topology);
    return this.splitOf(topology, stable, canary);
  }

  /** Sets replicas (and optionally annotations) of a Deployment from the watch cache's copy first; a 409 reads with a GET and retries. */
  private async resize(
    apis: ClusterApis,
    namespace: string,
    name: string,
    replicas: number,
    annotations?: Record<string, string | undefined>,
  ): Promise<V1Deployment> {
    return withConflictRetry(
      { kind: 'Deployment', namespace, name, verb: 'scale' },
      async n => {
        const current = await readForUpdate(
          apis,
          DEPLOYMENTS,
          namespace,
          name,
          n,
          () => apis.apps.readNamespacedDeployment({ namespace, name }),
        );
        const currentAnnotations = current.metadata?.annotations ?? {};
        const nextAnnotations = { ...currentAnnotations };
        for (const [k, v] of Object.entries(annotations ?? {})) {
          if (v === undefined) delete nextAnnotations[k];
          else nextAnnotations[k] = v;
        }
        if (
          current.spec?.replicas === replicas &&
          JSON.stringify(nextAnnotations) === JSON.stringify(currentAnnotations)
        ) {
          return current;
        }
        return writeThrough(apis, DEPLOYMENTS, namespace, name, () =>
          apis.apps.replaceNamespacedDeployment({
            namespace,
            name,
            body: {
              ...current,
              metadata: { ...current.metadata, annotations: nextAnnotations },
              spec: { ...current.spec!, replicas },
            },
          }),
        );
      },
      { attempts: this.options.conflictAttempts },
    );
  }

  private async scaleTo(
    topology: TrafficTopology,
    target: { stable: number; canary: number },
    annotations: Record<string, string | undefined>,
  ): Promise<TrafficSplit> {
    const { namespace, cluster } = topology.target;
    const apis = this.clients.forCluster(cluster);
    const before = await this.readBoth(apis, topology);
    const growCanary = target.canary >= (before.canary.spec?.replicas ?? 0);
    // Add pods before taking any away, so capacity never dips mid-step.
    let stable: V1Deployment;
    let canary: V1Deployment;
    if (growCanary) {
      canary = await this.resize(
        apis,
        namespace,
        topology.canary.name,
        target.canary,
      );
      stable = await this.resize(
        apis,
        namespace,
        topology.stable.name,
        target.stable,
        annotations,
      );
    } else {
      stable = await this.resize(
        apis,
        namespace,
        topology.stable.name,
        target.stable,
        annotations,
      );
      canary = await this.resize(
        apis,
        namespace,
        topology.canary.name,
        target.canary,
      );
    }
    return this.splitOf(topology, stable, canary);
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    const apis = this.clients.forCluster(topology.target.cluster);
    const { stable } = await this.readBoth(apis, topology);
    const total = this.totalOf(topology, stable);
    return this.scaleTo(
      topology,
      replicasForWeight(total, split.canaryWeight),
      {
        [REPLICA_TOTAL_ANNOTATION]: String(total),
        [CANARY_WEIGHT_ANNOTATION]: String(split.canaryWeight),
        ...(topology.target.rolloutId
          ? { [ROLLOUT_ID_ANNOTATION]: topology.target.rolloutId }
          : {}),
      },
    );
  }

  /**
   * After promoteTemplate: stable (now on the promoted template) back to its
   * size before the rollout, and the rollout's annotations removed. The
   * canary keeps serving until the caller has waited for stable to be
   * available and scales it to zero, so capacity never dips.
   */
  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    const { namespace, cluster } = topology.target;
    const apis = this.clients.forCluster(cluster);
    const { stable } = await this.readBoth(apis, topology);
    const total = this.totalOf(topology, stable);
    await this.resize(
      apis,
      namespace,
      topology.stable.name,
      replicasForWeight(total, 0).stable,
      RELEASED,
    );
  }

  /** Removes the rollout's annotations from stable (replicas stay as they are). */
  async release(topology: TrafficTopology): Promise<void> {
    const { namespace, cluster } = topology.target;
    const apis = this.clients.forCluster(cluster);
    const { stable } = await this.readBoth(apis, topology);
    const annotations = stable.metadata?.annotations ?? {};
    if (!Object.keys(RELEASED).some(k => k in annotations)) return;
    await this.resize(
      apis,
      namespace,
      topology.stable.name,
      stable.spec?.replicas ?? 0,
      RELEASED,
    );
  }

  async manualRestore(topology: TrafficTopology): Promise<string[]> {
    const apis = this.clients.forCluster(topology.target.cluster);
    const { stable } = await this.readBoth(apis, topology);
    const { namespace, cluster } = topology.target;
    const total = this.totalOf(topology, stable);
    const kubectl = `kubectl --context ${cluster} -n ${namespace}`;
    return [
      `${kubectl} scale deployment/${topology.stable.name} --replicas=${
        replicasForWeight(total, 0).stable
      }`,
      `${kubectl} scale deployment/${topology.canary.name} --replicas=0`,
      `${kubectl} annotate deployment/${topology.stable.name} ${Object.keys(
        RELEASED,
      )
        .map(k => `${k}-`)
        .join(' ')}`,
    ];
  }
}
