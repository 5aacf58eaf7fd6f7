import {
  ClusterRejectedError,
  ClusterUnavailableError,
  PodHealthSnapshot,
  RolloutTarget,
  TrafficProvider,
  TrafficProviderName,
  TrafficSplit,
  TrafficTopology,
  WorkloadManager,
} from '../../kubernetes/types';
import type { ClusterAccess } from '../../domain/ports';
import type { BindingObjectReader } from '../../binding';
import { fenceBeforeWrite } from '../../domain/passScope';

interface FakeDeployment {
  replicas: number;
  image: string;
  version?: string;
  template: number;
  /** Pods crash: never available, one more restart per health read. */
  crashLooping?: boolean;
  /** At most this many pods become available (a full node pool, a quota). */
  availableCap?: number;
  restarts: number;
}

/** Thrown by an armed fault, to simulate a replica dying right after a write. */
export class SimulatedCrash extends Error {
  name = 'SimulatedCrash';
}

/**
 * An in-memory cluster for engine unit tests: Deployments, one routing
 * object, a log of every routing write, and faults on demand.
 */
export class FakeCluster implements ClusterAccess, WorkloadManager {
  readonly deployments = new Map<string, FakeDeployment>();
  readonly routeWrites: Array<{
    canaryWeight: number;
    headerRoute: boolean;
    finalized?: boolean;
  }> = [];
  readonly scaleWrites: Array<{ name: string; replicas: number }> = [];
  split = { canaryWeight: 0, headerRoute: false, finalized: false };
  /** Every routing write waits this long before it lands (a slow API server). */
  writeDelayMs = 0;
  /** Every workload write (prepare, scale) waits this long before it lands. */
  workloadWriteDelayMs = 0;
  private faults: Array<{
    method: string;
    error: () => Error;
    count: number;
    after?: boolean;
  }> = [];

  constructor(
    readonly shape: TrafficTopology['shape'],
    readonly service = 'app',
  ) {
    const [stable, canary] = this.names();
    this.deployments.set(stable, {
      replicas: shape === 'replica-ratio' ? 10 : 3,
      image: 'reg/app:v1',
      version: this.versions()[0],
      template: 1,
      restarts: 0,
    });
    this.deployments.set(canary, {
      replicas: shape === 'replica-ratio' ? 0 : 2,
      image: 'reg/app:v2',
      version: this.versions()[1],
      template: 1,
      restarts: 0,
    });
  }

  /** Entities the Service's `coalmine.io/entity` annotation names. */
  boundEntities = ['component:default/app', 'component:default/other'];

  /** The Service and Deployments as the binding check reads them. */
  bindingReader(): BindingObjectReader {
    return {
      service: async (_cluster, _namespace, name) =>
        name === this.service
          ? {
              annotations: {
                'coalmine.io/entity': this.boundEntities.join(','),
              },
              selector: { app: this.service },
            }
          : undefined,
      deployment: async (_cluster, _namespace, name) =>
        this.deployments.has(name)
          ? { annotations: {}, podLabels: { app: this.service } }
          : undefined,
    };
  }

  names(): [string, string] {
    return this.shape === 'versioned-subsets'
      ? [`${this.service}-v1`, `${this.service}-v2`]
      : [`${this.service}-stable`, `${this.service}-canary`];
  }

  private versions(): [string, string] {
    return this.shape === 'versioned-subsets'
      ? ['v1', 'v2']
      : ['stable', 'canary'];
  }

  /** Makes the next `count` calls of `method` fail; `after` fails after doing the work. */
  fail(method: string, error: () => Error, count = 1, after = false) {
    this.faults.push({ method, error, count, after });
  }

  /** The cluster answers again: every armed fault is dropped. */
  clearFaults() {
    this.faults = [];
  }

  private check(method: string, after = false) {
    const fault = this.faults.find(
      f => f.method === method && Boolean(f.after) === after && f.count > 0,
    );
    if (fault) {
      fault.count--;
      throw fault.error();
    }
  }

  trafficProvider(
    _cluster: string,
    name: TrafficProviderName,
  ): TrafficProvider {
    return {
      name,
      discover: async (target: RolloutTarget) => {
        this.check('discover');
        return this.topology(target);
      },
      getSplit: async () => {
        this.check('getSplit');
        return this.readSplit();
      },
      setSplit: async (_t, split) => {
        this.check('setSplit');
        if (this.writeDelayMs > 0) {
          await new Promise(r => setTimeout(r, this.writeDelayMs));
        }
        // Like the real providers: the fence is passed right before the write.
        await fenceBeforeWrite();
        this.split = { ...this.split, ...split };
        if (this.shape === 'replica-ratio') {
          const [stable, canary] = this.names();
          const total = 10;
          const c = Math.round((total * split.canaryWeight) / 100);
          this.deployments.get(canary)!.replicas = c;
          this.deployments.get(stable)!.replicas = total - c;
        }
        this.routeWrites.push({
          canaryWeight: split.canaryWeight,
          headerRoute: split.headerRoute,
        });
        this.check('setSplit', true);
        return this.readSplit();
      },
      finalizePromotion: async () => {
        this.check('finalizePromotion');
        if (this.writeDelayMs > 0) {
          await new Promise(r => setTimeout(r, this.writeDelayMs));
        }
        this.split = {
          canaryWeight: this.shape === 'versioned-subsets' ? 100 : 0,
          headerRoute: false,
          finalized: true,
        };
        if (this.shape === 'replica-ratio') {
          const [stable] = this.names();
          this.deployments.get(stable)!.replicas = 10;
        }
        this.routeWrites.push({ ...this.split });
        this.check('finalizePromotion', true);
      },
      manualRestore: async topology => [
        `kubectl --context ${topology.target.cluster} -n ${topology.target.namespace} patch virtualservices.networking.istio.io ${this.service}-vs --type=merge -p '{"spec":{"http":[]}}'`,
      ],
    };
  }

  workloads(): WorkloadManager {
    return this;
  }

  topology(target: RolloutTarget): TrafficTopology {
    const [stable, canary] = this.names();
    const [sv, cv] = this.versions();
    const ref = (name: string, version: string) => {
      const d = this.deployments.get(name)!;
      return { name, version, image: d.image, replicas: d.replicas };
    };
    return {
      target,
      shape: this.shape,
      stable: ref(stable, sv),
      canary: ref(canary, cv),
      ...(this.shape === 'replica-ratio'
        ? {}
        : {
            routeObject: {
              apiVersion: 'networking.istio.io/v1',
              kind: 'VirtualService',
              name: `${this.service}-vs`,
            },
          }),
    };
  }

  readSplit(): TrafficSplit {
    if (this.shape === 'replica-ratio') {
      const [stable, canary] = this.names();
      const s = this.deployments.get(stable)!.replicas;
      const c = this.deployments.get(canary)!.replicas;
      const w = s + c === 0 ? 0 : Math.round((100 * c) / (s + c));
      return {
        canaryWeight: this.split.canaryWeight,
        actualWeight: w,
        headerRoute: false,
      };
    }
    return {
      canaryWeight: this.split.canaryWeight,
      headerRoute: this.split.headerRoute,
    };
  }

  private async workloadWriteDelay() {
    if (this.workloadWriteDelayMs > 0) {
      await new Promise(r => setTimeout(r, this.workloadWriteDelayMs));
    }
  }

  // WorkloadManager
  async prepareCanary(
    topology: TrafficTopology,
    spec: { image?: string; version?: string },
  ) {
    this.check('prepareCanary');
    await this.workloadWriteDelay();
    const d = this.deployments.get(topology.canary.name)!;
    if (spec.image && spec.image !== d.image) {
      d.image = spec.image;
      d.template++;
      d.restarts = 0;
      d.crashLooping = spec.image.includes('crash');
    }
    return this.topology(topology.target);
  }

  async scale(_ns: string, name: string, replicas: number) {
    this.check('scale');
    await this.workloadWriteDelay();
    this.deployments.get(name)!.replicas = replicas;
    this.scaleWrites.push({ name, replicas });
    this.check('scale', true);
  }

  async readiness(_ns: string, name: string) {
    this.check('readiness');
    const d = this.deployments.get(name)!;
    const available = d.crashLooping
      ? 0
      : Math.min(d.replicas, d.availableCap ?? d.replicas);
    return {
      desired: d.replicas,
      ready: available,
      available,
      observedGeneration: true,
    };
  }

  async podHealth(_ns: string, name: string): Promise<PodHealthSnapshot> {
    this.check('podHealth');
    const d = this.deployments.get(name)!;
    if (d.crashLooping && d.replicas > 0) d.restarts++;
    return {
      pods: Array.from({ length: d.replicas }, (_, i) => ({
        name: `${name}-${d.template}-${i}`,
        ready: !d.crashLooping,
        restarts: d.crashLooping ? d.restarts : 0,
        reasons: d.crashLooping ? ['CrashLoopBackOff'] : [],
      })),
    };
  }

  async templateHash(_ns: string, name: string) {
    const d = this.deployments.get(name);
    return d ? `t${d.template}` : undefined;
  }

  async promoteTemplate(topology: TrafficTopology) {
    this.check('promoteTemplate');
    const s = this.deployments.get(topology.stable.name)!;
    const c = this.deployments.get(topology.canary.name)!;
    s.image = c.image;
    s.template++;
    this.check('promoteTemplate', true);
  }

  async readTemplate(_ns: string, name: string) {
    const d = this.deployments.get(name)!;
    return { image: d.image, template: d.template };
  }

  async restoreTemplate(
    _ns: string,
    name: string,
    template: Record<string, unknown>,
  ) {
    this.check('restoreTemplate');
    const d = this.deployments.get(name)!;
    if (d.image === template.image) return false;
    d.image = template.image as string;
    d.template++;
    return true;
  }
}

export const unavailable = () =>
  new ClusterUnavailableError('API server answered 503');

/** A refusal retrying cannot fix, e.g. an admission policy answering 422. */
export const rejected = () =>
  new ClusterRejectedError(
    'Cluster answered 422 to update Deployment default/app-stable: denied by policy',
    422,
  );
