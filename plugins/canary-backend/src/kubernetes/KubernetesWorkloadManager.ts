import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import { readOnce } from '../domain/passScope';
import {
  deriveCanaryDeployment,
  firstImage,
  hashPodTemplate,
  podLabels,
  withImage,
  withPromotedTemplate,
  workloadRef,
} from './deployments';
import {
  callCluster,
  isConflict,
  isNotFound,
  toClusterError,
  withConflictRetry,
} from './errors';
import { versionLabelKey } from './istioRoutes';
import {
  cachedGet,
  cachedList,
  DEPLOYMENTS,
  PODS,
  readForUpdate,
  writeThrough,
} from './watchCache';
import { assertDnsLabel, assertDnsSubdomain, assertVersion } from './names';
import {
  ConfigurationError,
  KubernetesObjectNotFoundError,
  PodHealthSnapshot,
  TrafficTopology,
  WorkloadManager,
} from './types';

/** Annotation on Deployments Coalmine created, so people can tell. */
export const CREATED_BY_ANNOTATION = 'coalmine.io/created-by';

// Container states that are not a problem by themselves.
const BENIGN_REASONS = new Set([
  'Completed',
  'ContainerCreating',
  'PodInitializing',
]);

function podHealthOf(pod: V1Pod): PodHealthSnapshot['pods'][number] {
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
  ];
  const reasons = new Set<string>();
  for (const s of statuses) {
    for (const reason of [
      s.state?.waiting?.reason,
      s.state?.terminated?.reason,
      // An OOMKill shows up here once the container has been restarted.
      s.lastState?.terminated?.reason,
    ]) {
      if (reason && !BENIGN_REASONS.has(reason)) reasons.add(reason);
    }
  }
  if (pod.status?.reason) reasons.add(pod.status.reason); // e.g. Evicted
  const ready =
    pod.status?.conditions?.some(
      c => c.type === 'Ready' && c.status === 'True',
    ) ?? false;
  const ip = pod.status?.podIP;
  return {
    name: pod.metadata?.name ?? '',
    ...(ip ? { ip } : {}),
    ready,
    restarts: statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0),
    reasons: [...reasons],
  };
}

/**
 * Scales, updates and promotes the Deployments of one cluster. Every write
 * sends the resourceVersion it read, so a concurrent change is a 409 that is
 * re-read and retried, never overwritten.
 */
export class KubernetesWorkloadManager implements WorkloadManager {
  static forCluster(
    clients: ClusterClients,
    cluster: string,
  ): KubernetesWorkloadManager {
    return new KubernetesWorkloadManager(clients.forCluster(cluster));
  }

  constructor(private readonly apis: ClusterApis) {}

  private async read(namespace: string, name: string): Promise<V1Deployment> {
    assertDnsLabel(namespace, 'Namespace');
    assertDnsSubdomain(name, 'Deployment name');
    return readOnce(this.apis, `Deployment/${namespace}/${name}`, () =>
      cachedGet(this.apis, DEPLOYMENTS, namespace, name, () =>
        callCluster({ kind: 'Deployment', namespace, name, verb: 'read' }, () =>
          this.apps.readNamespacedDeployment({ namespace, name }),
        ),
      ),
    );
  }

  private get apps() {
    return this.apis.apps;
  }

  /** Read (the watch cache's copy first), change, replace with the resourceVersion read; a 409 reads with a GET and retries. */
  private async update(
    namespace: string,
    name: string,
    change: (deployment: V1Deployment) => V1Deployment | undefined,
  ): Promise<V1Deployment> {
    return withConflictRetry(
      { kind: 'Deployment', namespace, name, verb: 'update' },
      async n => {
        const current = await readForUpdate(
          this.apis,
          DEPLOYMENTS,
          namespace,
          name,
          n,
          () => this.apps.readNamespacedDeployment({ namespace, name }),
        );
        const next = change(current);
        if (!next) return current;
        return writeThrough(this.apis, DEPLOYMENTS, namespace, name, () =>
          this.apps.replaceNamespacedDeployment({
            namespace,
            name,
            body: next,
          }),
        );
      },
    );
  }

  async prepareCanary(
    topology: TrafficTopology,
    spec: { image?: string; version?: string },
  ): Promise<TrafficTopology> {
    const { namespace, service } = topology.target;
    const stable = await this.read(namespace, topology.stable.name);
    let canaryName = topology.canary.name;
    let canaryVersion = topology.canary.version;
    if (topology.shape === 'versioned-subsets' && spec.version) {
      assertVersion(spec.version);
      if (spec.version === topology.stable.version) {
        throw new ConfigurationError(
          `Version ${spec.version} is already the stable version of ${namespace}/${service}; start the rollout with a new version`,
        );
      }
      canaryVersion = spec.version;
      canaryName = `${service}-${spec.version.toLowerCase()}`;
    }
    assertDnsSubdomain(canaryName, 'Canary Deployment name');
    const what = {
      kind: 'Deployment',
      namespace,
      name: canaryName,
      verb: 'create',
    };

    let canary: V1Deployment | undefined;
    try {
      canary = await this.apps.readNamespacedDeployment({
        namespace,
        name: canaryName,
      });
    } catch (error) {
      if (!isNotFound(error)) {
        throw toClusterError(error, { ...what, verb: 'read' });
      }
    }

    if (!canary) {
      const body = deriveCanaryDeployment(stable, {
        name: canaryName,
        versionLabel: versionLabelKey(
          podLabels(stable),
          topology.stable.version,
        ),
        stableVersion: topology.stable.version,
        canaryVersion: canaryVersion ?? 'canary',
        image: spec.image,
        annotations: { [CREATED_BY_ANNOTATION]: 'coalmine' },
      });
      try {
        canary = await writeThrough(
          this.apis,
          DEPLOYMENTS,
          namespace,
          canaryName,
          () => this.apps.createNamespacedDeployment({ namespace, body }),
        );
      } catch (error) {
        // 409 AlreadyExists: someone created it since we looked; update instead.
        if (!isConflict(error)) throw toClusterError(error, what);
      }
    }
    if (!canary || (spec.image && firstImage(canary) !== spec.image)) {
      const image = spec.image;
      canary = await this.update(namespace, canaryName, current =>
        image && firstImage(current) !== image
          ? withImage(current, image)
          : undefined,
      );
    }
    return {
      ...topology,
      canary: workloadRef(canary, canaryVersion),
    };
  }

  async scale(
    namespace: string,
    deployment: string,
    replicas: number,
  ): Promise<void> {
    assertDnsLabel(namespace, 'Namespace');
    assertDnsSubdomain(deployment, 'Deployment name');
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new Error(
        `Cannot scale ${namespace}/${deployment} to ${replicas} replicas`,
      );
    }
    await withConflictRetry(
      { kind: 'Deployment', namespace, name: deployment, verb: 'scale' },
      async () => {
        const scale = await this.apps.readNamespacedDeploymentScale({
          namespace,
          name: deployment,
        });
        if (scale.spec?.replicas === replicas) return;
        await writeThrough(
          this.apis,
          DEPLOYMENTS,
          namespace,
          deployment,
          () =>
            this.apps.replaceNamespacedDeploymentScale({
              namespace,
              name: deployment,
              body: { ...scale, spec: { ...scale.spec, replicas } },
            }),
          'subresource',
        );
      },
    );
  }

  async readiness(namespace: string, deployment: string) {
    const d = await this.read(namespace, deployment);
    return {
      desired: d.spec?.replicas ?? 1,
      ready: d.status?.readyReplicas ?? 0,
      available: d.status?.availableReplicas ?? 0,
      updated: d.status?.updatedReplicas ?? 0,
      observedGeneration:
        (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0),
    };
  }

  async podHealth(
    namespace: string,
    deployment: string,
  ): Promise<PodHealthSnapshot> {
    const d = await this.read(namespace, deployment);
    const matchLabels = d.spec?.selector?.matchLabels ?? {};
    if (!Object.keys(matchLabels).length) return { pods: [] };
    // Passed as a query parameter, which the client encodes.
    const labelSelector = Object.entries(matchLabels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const selected = (p: V1Pod) =>
      !p.metadata?.deletionTimestamp &&
      Object.entries(matchLabels).every(
        ([k, v]) => p.metadata?.labels?.[k] === v,
      );
    const pods = await cachedList(
      this.apis,
      PODS,
      namespace,
      selected,
      // Reads the cached pod without copying it.
      podHealthOf,
      async () =>
        (
          await callCluster(
            { kind: 'Pod', namespace, name: deployment, verb: 'list pods of' },
            () =>
              this.apis.core.listNamespacedPod({ namespace, labelSelector }),
          )
        ).items,
    );
    return { pods };
  }

  async templateHash(
    namespace: string,
    deployment: string,
  ): Promise<string | undefined> {
    try {
      const d = await this.read(namespace, deployment);
      return hashPodTemplate(d.spec?.template);
    } catch (error) {
      if (error instanceof KubernetesObjectNotFoundError) return undefined;
      throw error;
    }
  }

  async promoteTemplate(topology: TrafficTopology): Promise<void> {
    // Versioned subsets promote by routing: the canary Deployment *is* the new stable.
    if (topology.shape === 'versioned-subsets') return;
    const { namespace } = topology.target;
    const canary = await this.read(namespace, topology.canary.name);
    await this.update(namespace, topology.stable.name, stable => {
      const next = withPromotedTemplate(stable, canary);
      return hashPodTemplate(next.spec?.template) ===
        hashPodTemplate(stable.spec?.template)
        ? undefined
        : next;
    });
  }

  async readTemplate(
    namespace: string,
    deployment: string,
  ): Promise<Record<string, unknown> | undefined> {
    const d = await this.read(namespace, deployment);
    return d.spec?.template
      ? (JSON.parse(JSON.stringify(d.spec.template)) as Record<string, unknown>)
      : undefined;
  }

  async restoreTemplate(
    namespace: string,
    deployment: string,
    template: Record<string, unknown>,
  ): Promise<boolean> {
    let wrote = false;
    await this.update(namespace, deployment, current => {
      const saved = template as NonNullable<V1Deployment['spec']>['template'];
      if (hashPodTemplate(current.spec?.template) === hashPodTemplate(saved)) {
        return undefined;
      }
      wrote = true;
      return { ...current, spec: { ...current.spec!, template: saved } };
    });
    return wrote;
  }
}
