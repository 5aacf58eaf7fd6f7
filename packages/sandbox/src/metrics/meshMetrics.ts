import { Counter, Gauge, Histogram } from './registry';
import { ObjectStore, K8sObject } from '../api/store';
import { kindType as rt } from '../api/resourceTypes';

/** Istio's standard buckets for request duration in milliseconds. */
export const ISTIO_DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
  300000, 600000, 1800000, 3600000,
];
/** Prometheus client defaults, as most HTTP middlewares export them. */
export const HTTP_DURATION_BUCKETS_S = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** ingress-nginx's request duration buckets. */
export const NGINX_DURATION_BUCKETS_S = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Linkerd proxy latency buckets in milliseconds. */
export const LINKERD_LATENCY_BUCKETS_MS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000,
  4000, 5000, 10000, 20000, 30000, 40000, 50000,
];

/** One simulated request, after routing and the pod's behaviour decided its fate. */
export interface RequestRecord {
  namespace: string;
  /** Service the request was sent to. */
  service: string;
  workload?: string;
  pod?: string;
  app?: string;
  version?: string;
  code: number;
  latencyMs: number;
  /** NGINX only: primary Ingress and, for canary traffic, the canary Service. */
  ingress?: string;
  canaryService?: string;
}

/**
 * The series a mesh, an ingress controller, an instrumented app and
 * kube-state-metrics would export for the sandbox's traffic and pods.
 */
export class MeshMetrics {
  readonly istioRequests = new Counter(
    'istio_requests_total',
    'Requests seen by the destination sidecar.',
  );
  readonly istioDuration = new Histogram(
    'istio_request_duration_milliseconds',
    'Request duration seen by the destination sidecar.',
    ISTIO_DURATION_BUCKETS_MS,
  );
  readonly httpRequests = new Counter(
    'http_requests_total',
    'HTTP requests served by the pod.',
  );
  readonly httpDuration = new Histogram(
    'http_request_duration_seconds',
    'HTTP request duration in the pod.',
    HTTP_DURATION_BUCKETS_S,
  );
  readonly nginxRequests = new Counter(
    'nginx_ingress_controller_requests',
    'Requests handled by the NGINX ingress controller.',
  );
  readonly nginxDuration = new Histogram(
    'nginx_ingress_controller_request_duration_seconds',
    'Request duration at the NGINX ingress controller.',
    NGINX_DURATION_BUCKETS_S,
  );
  readonly linkerdResponses = new Counter(
    'response_total',
    'Responses seen by the inbound Linkerd proxy.',
  );
  readonly linkerdLatency = new Histogram(
    'response_latency_ms',
    'Response latency seen by the inbound Linkerd proxy.',
    LINKERD_LATENCY_BUCKETS_MS,
  );
  private readonly kubeState: Gauge[];
  private readonly unsubscribe: () => void;

  constructor(private readonly store: ObjectStore) {
    this.unsubscribe = store.subscribe(e => {
      if (e.rt.kind !== 'Pod' || e.type !== 'DELETED') return;
      const gone = (l: Record<string, string>) =>
        l.pod === e.object.metadata.name &&
        l.namespace === e.object.metadata.namespace;
      this.httpRequests.removeWhere(gone);
      this.httpDuration.removeWhere(gone);
    });
    const containers = () =>
      this.store.list(rt('Pod')).flatMap((pod: K8sObject) =>
        (pod.status?.containerStatuses ?? []).map((c: K8sObject) => ({
          pod,
          c,
        })),
      );
    this.kubeState = [
      new Gauge(
        'kube_pod_container_status_restarts_total',
        'Restarts per container.',
        () =>
          containers().map(({ pod, c }) => ({
            labels: {
              namespace: pod.metadata.namespace,
              pod: pod.metadata.name,
              container: c.name,
            },
            value: c.restartCount ?? 0,
          })),
      ),
      new Gauge(
        'kube_pod_container_status_last_terminated_reason',
        'Why the container last terminated.',
        () =>
          containers()
            .filter(({ c }) => c.lastState?.terminated?.reason)
            .map(({ pod, c }) => ({
              labels: {
                namespace: pod.metadata.namespace,
                pod: pod.metadata.name,
                container: c.name,
                reason: c.lastState.terminated.reason,
              },
              value: 1,
            })),
      ),
      new Gauge(
        'kube_pod_container_status_waiting_reason',
        'Why the container is waiting.',
        () =>
          containers()
            .filter(({ c }) => c.state?.waiting?.reason)
            .map(({ pod, c }) => ({
              labels: {
                namespace: pod.metadata.namespace,
                pod: pod.metadata.name,
                container: c.name,
                reason: c.state.waiting.reason,
              },
              value: 1,
            })),
      ),
      new Gauge(
        'kube_deployment_status_replicas_available',
        'Available replicas per Deployment.',
        () =>
          this.store.list(rt('Deployment')).map(d => ({
            labels: {
              namespace: d.metadata.namespace,
              deployment: d.metadata.name,
            },
            value: d.status?.availableReplicas ?? 0,
          })),
      ),
      new Gauge(
        'kube_deployment_spec_replicas',
        'Desired replicas per Deployment.',
        () =>
          this.store.list(rt('Deployment')).map(d => ({
            labels: {
              namespace: d.metadata.namespace,
              deployment: d.metadata.name,
            },
            value: d.spec?.replicas ?? 0,
          })),
      ),
    ];
  }

  close(): void {
    this.unsubscribe();
  }

  record(r: RequestRecord): void {
    const code = String(r.code);
    const workload = r.workload ?? 'unknown';
    const istio = {
      reporter: 'destination',
      source_workload: 'loadgen',
      destination_workload: workload,
      destination_workload_namespace: r.namespace,
      destination_service: `${r.service}.${r.namespace}.svc.cluster.local`,
      destination_service_name: r.service,
      destination_version: r.version ?? 'unknown',
      response_code: code,
    };
    this.istioRequests.inc(istio);
    this.istioDuration.observe(istio, r.latencyMs);
    // The client's sidecar reports the same request (reporter="source"), as
    // Istio does; Argo Rollouts' documented templates query these. Its
    // latency includes the hop between the two proxies.
    const source = {
      ...istio,
      reporter: 'source',
      source_workload_namespace: r.namespace,
    };
    this.istioRequests.inc(source);
    this.istioDuration.observe(source, r.latencyMs + 0.5);
    if (r.pod) {
      const app = {
        namespace: r.namespace,
        pod: r.pod,
        app: r.app ?? '',
        version: r.version ?? '',
      };
      this.httpRequests.inc({ ...app, method: 'GET', code });
      this.httpDuration.observe(app, r.latencyMs / 1000);
      const linkerd = {
        namespace: r.namespace,
        deployment: workload,
        direction: 'inbound',
      };
      this.linkerdResponses.inc({
        ...linkerd,
        classification: r.code >= 500 ? 'failure' : 'success',
        status_code: code,
      });
      this.linkerdLatency.observe(linkerd, r.latencyMs);
    }
    if (r.ingress) {
      this.nginxRequests.inc({
        namespace: r.namespace,
        ingress: r.ingress,
        service: r.service,
        status: code,
        canary: r.canaryService ?? '',
      });
      this.nginxDuration.observe(
        { namespace: r.namespace, ingress: r.ingress, service: r.service },
        r.latencyMs / 1000,
      );
    }
  }

  render(): string {
    return `${[
      this.istioRequests,
      this.istioDuration,
      this.httpRequests,
      this.httpDuration,
      this.nginxRequests,
      this.nginxDuration,
      this.linkerdResponses,
      this.linkerdLatency,
      ...this.kubeState,
    ]
      .map(m => m.render())
      .join('\n')}\n`;
  }
}
