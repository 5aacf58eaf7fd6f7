import { kubectlMergePatch } from './manualRestore';
import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import {
  CustomKind,
  readCustomObject,
  updateCustomObject,
} from './customObjects';
import {
  checkTargetNames,
  listCustomObjects,
  readCustomObjectOrExplain,
  workloadsBehindBackends,
} from './discovery';
import type { BackendPair } from './gatewayRoutes';
import type { KubernetesObject } from './objects';
import type { StickyHeader } from './istioRoutes';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProviderName,
  TrafficSplit,
  TrafficTopology,
  WorkloadRef,
} from './types';

/** What discovery says when it cannot find the object, in the provider's words. */
export interface SplitObjectWords {
  /** The object named by the annotation does not route the Service. */
  notRouting(namespace: string, name: string, service: string): string;
  /** No object in the namespace routes the Service. */
  notFound(namespace: string, service: string): string;
  /** Several do. */
  several(namespace: string, service: string, names: string[]): string;
  /** Why the stable and the canary workload behind the backends are needed. */
  stableWorkload(objectName: string): string;
  canaryWorkload(objectName: string): string;
}

/**
 * The part Gateway API and SMI share: the split lives in one custom object
 * whose stable and canary backends are Services. Subclasses find the object
 * (`discover`) and say how to read and rewrite it; reading, writing with
 * resourceVersion (409 → re-read → retry) and promotion live here once.
 */
export abstract class CustomObjectSplitProvider<
  T extends KubernetesObject<any>,
> {
  abstract readonly name: TrafficProviderName;

  constructor(
    protected readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  /** API group, preferred version if discovery cannot tell, plural and kind. */
  protected abstract readonly resource: {
    group: string;
    fallbackVersion: string;
    plural: string;
    kind: string;
  };

  protected abstract readSplit(
    object: T,
    backends: BackendPair,
    header: StickyHeader | undefined,
  ): { canaryWeight: number; headerRoute: boolean };

  protected abstract applySplit(
    object: T,
    backends: BackendPair,
    split: { canaryWeight: number; headerRoute: boolean },
    header: StickyHeader | undefined,
  ): T;

  /** The object's stable and canary backends for the Service, if it routes it. */
  protected abstract backendsOf(
    object: T,
    service: string,
  ): BackendPair | undefined;

  protected abstract readonly words: SplitObjectWords;

  /** A check of the target before discovery (e.g. a header the provider cannot route by). */
  protected checkTarget(_target: RolloutTarget): void {}

  /**
   * The object that splits the target's Service: the one the route
   * annotation names, else the only one in the namespace that routes it;
   * then the workloads behind its backends.
   */
  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    this.checkTarget(target);
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const kind = await this.kind(apis);
    let object: T;
    let backends: BackendPair | undefined;
    if (target.route) {
      object = await readCustomObjectOrExplain<T>(
        apis,
        kind,
        namespace,
        target.route,
      );
      backends = this.backendsOf(object, service);
      if (!backends) {
        throw new ConfigurationError(
          this.words.notRouting(namespace, target.route, service),
          CANARY_ROUTE_ANNOTATION,
        );
      }
    } else {
      const found = (await listCustomObjects<T>(apis, kind, namespace))
        .map(o => ({ object: o, backends: this.backendsOf(o, service) }))
        .filter(o => o.backends);
      if (found.length !== 1) {
        throw new ConfigurationError(
          found.length === 0
            ? this.words.notFound(namespace, service)
            : this.words.several(
                namespace,
                service,
                found.map(o => o.object.metadata.name!),
              ),
          CANARY_ROUTE_ANNOTATION,
        );
      }
      object = found[0].object;
      backends = found[0].backends!;
    }
    const name = object.metadata.name!;
    const workloads = await workloadsBehindBackends(apis, target, backends, {
      stable: this.words.stableWorkload(name),
      canary: this.words.canaryWorkload(name),
    });
    return this.topology(target, kind, name, backends, workloads);
  }

  /** The object after promotion: everything to stable, no header route. */
  protected abstract finalizeObject(object: T, backends: BackendPair): T;

  /** The header a write uses when the target names none. */
  protected headerForWrite(target: RolloutTarget): StickyHeader | undefined {
    return target.stickyHeader;
  }

  protected async kind(apis: ClusterApis): Promise<CustomKind> {
    const { group, fallbackVersion, plural, kind } = this.resource;
    const version = await apis.preferredVersion(group, fallbackVersion);
    return { group, version, plural, kind };
  }

  /** The topology `discover` returns once it found the object and its workloads. */
  protected topology(
    target: RolloutTarget,
    kind: CustomKind,
    objectName: string,
    backends: BackendPair,
    workloads: { stable: WorkloadRef; canary: WorkloadRef },
  ): TrafficTopology {
    return {
      target,
      shape: 'fixed-subsets',
      ...workloads,
      routeObject: {
        apiVersion: `${kind.group}/${kind.version}`,
        kind: kind.kind,
        name: objectName,
      },
      backends,
    };
  }

  private parts(topology: TrafficTopology) {
    if (!topology.routeObject || !topology.backends) {
      throw new Error(
        `${this.resource.kind} topology without the object and its backends; run discover first`,
      );
    }
    return {
      apis: this.clients.forCluster(topology.target.cluster),
      name: topology.routeObject.name,
      backends: topology.backends,
    };
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const { apis, name, backends } = this.parts(topology);
    const object = await readCustomObject<T>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
    );
    return this.readSplit(object, backends, topology.target.stickyHeader);
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    const { apis, name, backends } = this.parts(topology);
    const header = this.headerForWrite(topology.target);
    const stored = await updateCustomObject<T>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
      current => this.applySplit(current, backends, split, header),
      this.options.conflictAttempts,
    );
    return this.readSplit(stored, backends, header);
  }

  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    const { apis, name, backends } = this.parts(topology);
    await updateCustomObject<T>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
      current => this.finalizeObject(current, backends),
      this.options.conflictAttempts,
    );
  }

  async manualRestore(topology: TrafficTopology): Promise<string[]> {
    const { apis, name, backends } = this.parts(topology);
    const kind = await this.kind(apis);
    const object = await readCustomObject<T>(
      apis,
      kind,
      topology.target.namespace,
      name,
    );
    const stableOnly = this.applySplit(
      object,
      backends,
      { canaryWeight: 0, headerRoute: false },
      this.headerForWrite(topology.target),
    );
    return [
      kubectlMergePatch({
        cluster: topology.target.cluster,
        namespace: topology.target.namespace,
        resource: `${kind.plural}.${kind.group}`,
        name,
        patch: { spec: (stableOnly as { spec?: unknown }).spec ?? {} },
      }),
    ];
  }
}
