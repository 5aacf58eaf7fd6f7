import { createHash } from 'node:crypto';
import { ObjectStore, K8sObject, StoreEvent } from '../api/store';
import { RESOURCE_TYPES } from '../api/resourceTypes';
import { resourceTypeOf } from '../manifests';
import { MeshMetrics } from '../metrics/meshMetrics';
import { Random } from '../traffic/random';
import { behaviourOf } from '../workloads/behaviour';

/** How many services a scale world holds and what traffic they get. */
export interface ScaleWorldOptions {
  /** Number of services (each a Service, a v1 Deployment, a DestinationRule and a VirtualService). */
  services: number;
  /** Services per namespace (`scale-000`, `scale-001`, …); default 25. */
  perNamespace?: number;
  /** Requests per second per service; default 5. */
  rps?: number;
}

/** One service of a scale world. */
export interface ScaleService {
  namespace: string;
  service: string;
  /** The catalog entity the Service is bound to (`coalmine.io/entity`). */
  entityRef: string;
}

function rt(kind: string) {
  return RESOURCE_TYPES.find(t => t.kind === kind)!;
}

/** The pod template's identity, as a ReplicaSet's pod-template-hash would be. */
function templateHash(d: K8sObject): string {
  return createHash('sha1')
    .update(JSON.stringify(d.spec?.template ?? {}))
    .digest('hex')
    .slice(0, 10);
}

export function scaleServiceName(i: number): string {
  return `svc${String(i).padStart(4, '0')}`;
}

/** Istio-shaped manifests of one versioned-subsets service (like seed 000). */
export function scaleManifests(s: ScaleService): K8sObject[] {
  const { namespace, service: name } = s;
  const labels = (v: string) => ({ app: name, version: v });
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name,
        namespace,
        annotations: { 'coalmine.io/entity': s.entityRef },
      },
      spec: {
        selector: { app: name },
        ports: [{ port: 80, targetPort: 8080 }],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: `${name}-v1`, namespace, labels: labels('v1') },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels('v1') },
        template: {
          metadata: { labels: labels('v1') },
          spec: { containers: [{ name: 'app', image: `shop/${name}:v1` }] },
        },
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'DestinationRule',
      metadata: { name, namespace },
      spec: {
        host: name,
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name, namespace },
      spec: {
        hosts: [name],
        http: [
          {
            route: [{ destination: { host: name, subset: 'v1' }, weight: 100 }],
          },
        ],
      },
    },
  ];
}

/**
 * Many services held cheaply, for benchmarks of the engine at scale: instead
 * of the pod-by-pod workload simulation and one traffic stream per service,
 * Deployments in the world's namespaces get ready pods at once (one event per
 * write, no periodic pass over every object), and one exporter adds each
 * second's requests and 5xx answers of every workload to
 * `istio_requests_total` (reporter destination), split by the
 * VirtualService's weights and the pods' behaviour (the image tag: `:bad`
 * answers with errors, like the full simulation).
 */
export class ScaleWorld {
  readonly services: ScaleService[] = [];
  private readonly namespaces = new Set<string>();
  /** Pods created per Deployment uid, with the template they run. */
  private readonly pods = new Map<string, { hash: string; names: string[] }>();
  private readonly carry = new Map<string, number>();
  private unsubscribe?: () => void;
  private timer?: NodeJS.Timeout;
  private last = Date.now();

  constructor(
    private readonly store: ObjectStore,
    private readonly metrics: MeshMetrics,
    private readonly random: Random,
    private readonly options: ScaleWorldOptions,
  ) {}

  /** Creates the services and starts the pods' and traffic's simulation. */
  start(): ScaleService[] {
    const perNamespace = Math.max(1, this.options.perNamespace ?? 25);
    this.unsubscribe = this.store.subscribe(e => this.onEvent(e));
    for (let i = 0; i < this.options.services; i++) {
      const namespace = `scale-${String(Math.floor(i / perNamespace)).padStart(
        3,
        '0',
      )}`;
      if (!this.namespaces.has(namespace)) {
        this.namespaces.add(namespace);
        if (!this.store.get(rt('Namespace'), undefined, namespace)) {
          this.store.create(rt('Namespace'), undefined, {
            metadata: { name: namespace },
          });
        }
      }
      const service = scaleServiceName(i);
      const s = {
        namespace,
        service,
        entityRef: `component:default/${service}`,
      };
      for (const obj of scaleManifests(s)) {
        this.store.create(resourceTypeOf(obj), namespace, obj);
      }
      this.services.push(s);
    }
    this.last = Date.now();
    this.timer = setInterval(() => this.traffic(), 1000);
    this.timer.unref?.();
    return this.services;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
  }

  private onEvent(e: StoreEvent) {
    if (e.rt.kind !== 'Deployment') return;
    const { namespace, name, uid } = e.object.metadata;
    if (!this.namespaces.has(namespace)) return;
    if (e.type === 'DELETED') {
      for (const pod of this.pods.get(uid)?.names ?? []) {
        this.store.delete(rt('Pod'), namespace, pod);
      }
      this.pods.delete(uid);
      return;
    }
    // Writes of our own (status, pods) come back as events: act on a spec change only.
    queueMicrotask(() => this.sync(namespace, name));
  }

  /** Pods and status of one Deployment as its spec says, at once. */
  private sync(namespace: string, name: string) {
    const d = this.store.get(rt('Deployment'), namespace, name);
    if (!d) return;
    const uid = d.metadata.uid;
    const hash = templateHash(d);
    const want = d.spec?.replicas ?? 1;
    let current = this.pods.get(uid);
    if (current && current.hash !== hash) {
      for (const pod of current.names) {
        this.store.delete(rt('Pod'), namespace, pod);
      }
      current = undefined;
    }
    const names = current?.names ?? [];
    while (names.length > want) {
      this.store.delete(rt('Pod'), namespace, names.pop()!);
    }
    while (names.length < want) {
      const podName = `${name}-${hash.slice(0, 6)}-${names.length}`;
      const labels = {
        ...(d.spec?.template?.metadata?.labels ?? {}),
        'pod-template-hash': hash,
      };
      const containers = d.spec?.template?.spec?.containers ?? [];
      this.store.create(rt('Pod'), namespace, {
        metadata: { name: podName, namespace, labels },
        spec: d.spec?.template?.spec ?? { containers: [] },
        status: {
          phase: 'Running',
          conditions: [{ type: 'Ready', status: 'True' }],
          containerStatuses: containers.map((c: K8sObject) => ({
            name: c.name,
            image: c.image,
            ready: true,
            restartCount: 0,
            state: { running: { startedAt: new Date().toISOString() } },
          })),
        },
      });
      names.push(podName);
    }
    this.pods.set(uid, { hash, names });
    const status = {
      observedGeneration: d.metadata.generation,
      replicas: want,
      updatedReplicas: want,
      readyReplicas: want,
      availableReplicas: want,
    };
    if (JSON.stringify(d.status ?? {}) !== JSON.stringify(status)) {
      this.store.update(
        rt('Deployment'),
        namespace,
        name,
        { ...d, status },
        { subresource: 'status' },
      );
    }
  }

  /** One second of traffic for every service, added to the counters at once. */
  private traffic() {
    const now = Date.now();
    const seconds = Math.max(0, (now - this.last) / 1000);
    this.last = now;
    const rps = this.options.rps ?? 5;
    for (const s of this.services) {
      const vs = this.store.get(rt('VirtualService'), s.namespace, s.service);
      const route: K8sObject[] = vs?.spec?.http?.at(-1)?.route ?? [];
      for (const r of route) {
        const subset = r.destination?.subset;
        const weight = Number(r.weight ?? (route.length === 1 ? 100 : 0));
        if (!subset || !(weight > 0)) continue;
        const workload = `${s.service}-${subset}`;
        const d = this.store.get(rt('Deployment'), s.namespace, workload);
        if (!d || !(d.status?.availableReplicas > 0)) continue;
        const key = `${s.namespace}/${workload}`;
        const exact =
          (rps * seconds * weight) / 100 + (this.carry.get(key) ?? 0);
        const requests = Math.floor(exact);
        this.carry.set(key, exact - requests);
        if (requests === 0) continue;
        const { errorRate } = behaviourOf(d.spec?.template?.spec ?? {});
        let errors = 0;
        for (let i = 0; i < requests; i++) {
          if (this.random() < errorRate) errors++;
        }
        const labels = (code: string) => ({
          reporter: 'destination',
          source_workload: 'loadgen',
          destination_workload: workload,
          destination_workload_namespace: s.namespace,
          destination_service: `${s.service}.${s.namespace}.svc.cluster.local`,
          destination_service_name: s.service,
          destination_version: subset,
          response_code: code,
        });
        if (requests > errors) {
          this.metrics.istioRequests.inc(labels('200'), requests - errors);
        }
        if (errors > 0) this.metrics.istioRequests.inc(labels('500'), errors);
      }
    }
  }
}
