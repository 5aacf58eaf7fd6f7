import { ObjectStore, K8sObject } from '../api/store';
import { RESOURCE_TYPES, ResourceType } from '../api/resourceTypes';
import { matchesMap } from '../api/labelSelector';
import { isPodReady } from '../workloads/podStatus';
import { Random } from './random';

export type Headers = Record<string, string>;

/** Where one request went, as the mesh would report it. */
export interface RouteDecision {
  /** Which kind of routing object decided: istio, gateway-api, smi, nginx or service. */
  via: 'istio' | 'gateway-api' | 'smi' | 'nginx' | 'service';
  /** Kubernetes Service the request was sent to. */
  service: string;
  pod?: K8sObject;
  /** Deployment owning the pod. */
  workload?: string;
  /** NGINX: the primary Ingress, and whether the canary Ingress took the request. */
  ingress?: string;
  canaryService?: string;
}

interface Backend {
  service: string;
  subsetLabels?: Record<string, string>;
  weight: number;
  /** NGINX: set on the canary Ingress's backend. */
  canary?: boolean;
}

interface Rule {
  matches: (headers: Headers) => boolean;
  backends: Backend[];
}

interface Plan {
  via: RouteDecision['via'];
  rules: Rule[];
  ingress?: string;
  /** NGINX canary-by-header decides before the weight. */
  headerDecision?: (headers: Headers) => 'canary' | 'primary' | undefined;
}

function rt(kind: string): ResourceType {
  return RESOURCE_TYPES.find(t => t.kind === kind)!;
}

/** `checkout`, `checkout.demo`, `checkout.demo.svc.cluster.local` all name Service checkout in demo. */
function hostToService(host: string, namespace: string): string | undefined {
  const parts = host.split('.');
  if (parts.length === 1) return host;
  if (parts[1] !== namespace) return undefined;
  return parts[0];
}

function headerMatch(spec: any, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (spec?.exact !== undefined) return value === String(spec.exact);
  if (spec?.prefix !== undefined) return value.startsWith(String(spec.prefix));
  if (spec?.regex !== undefined) {
    try {
      return new RegExp(`^(?:${spec.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}

function uriMatch(spec: any): boolean {
  // Generated requests are `GET /`.
  if (!spec) return true;
  if (spec.exact !== undefined) return spec.exact === '/';
  if (spec.prefix !== undefined) return '/'.startsWith(spec.prefix);
  if (spec.regex !== undefined) {
    try {
      return new RegExp(`^(?:${spec.regex})$`).test('/');
    } catch {
      return false;
    }
  }
  return true;
}

function weightOf(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number') return value;
  const s = String(value);
  if (s.endsWith('m')) return Number(s.slice(0, -1)) / 1000;
  const n = Number(s);
  return Number.isFinite(n) ? n : 0;
}

function lower(headers: Headers): Headers {
  const out: Headers = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * Sends each request where the mesh would: by VirtualService, HTTPRoute,
 * TrafficSplit or NGINX canary Ingress when one covers the target, else to
 * the ready pods behind the Service. Plans are rebuilt after any change to
 * the objects they depend on, so a new weight applies to the next request.
 */
export class Router {
  private plans = new Map<string, Plan>();
  private endpoints = new Map<string, K8sObject[]>();
  private readonly owners = new Map<string, string | undefined>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: ObjectStore,
    private readonly random: Random,
  ) {
    this.unsubscribe = store.subscribe(e => {
      if (e.rt.kind === 'Pod' || e.rt.kind === 'Service')
        this.endpoints.clear();
      if (e.rt.kind === 'Pod' && e.type === 'DELETED')
        this.owners.delete(e.object.metadata.uid);
      if (
        !['Pod', 'ReplicaSet', 'Deployment', 'ConfigMap', 'Namespace'].includes(
          e.rt.kind,
        )
      ) {
        this.plans.clear();
      }
    });
  }

  close(): void {
    this.unsubscribe();
  }

  route(
    namespace: string,
    target: string,
    headers: Headers = {},
  ): RouteDecision {
    const key = `${namespace}/${target}`;
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.buildPlan(namespace, target);
      this.plans.set(key, plan);
    }
    const h = lower(headers);
    let backend: Backend | undefined;
    const decision = plan.headerDecision?.(h);
    const rule = plan.rules.find(r => r.matches(h));
    if (rule) {
      if (decision) {
        backend = rule.backends.find(
          b => Boolean(b.canary) === (decision === 'canary'),
        );
      } else {
        backend = this.pickWeighted(rule.backends);
      }
    }
    if (!backend) {
      return { via: plan.via, service: target, ingress: plan.ingress };
    }
    const pods = this.readyPods(
      namespace,
      backend.service,
      backend.subsetLabels,
    );
    const pod = pods.length
      ? pods[Math.floor(this.random() * pods.length)]
      : undefined;
    return {
      via: plan.via,
      service: backend.service,
      pod,
      workload: pod ? this.workloadOf(pod) : undefined,
      ingress: plan.ingress,
      canaryService: backend.canary ? backend.service : undefined,
    };
  }

  private pickWeighted(backends: Backend[]): Backend | undefined {
    const total = backends.reduce((n, b) => n + Math.max(0, b.weight), 0);
    if (total <= 0) return undefined;
    let x = this.random() * total;
    for (const b of backends) {
      x -= Math.max(0, b.weight);
      if (x < 0) return b;
    }
    return backends[backends.length - 1];
  }

  /** Ready pods behind a Service, optionally narrowed to a subset's labels. */
  readyPods(
    namespace: string,
    service: string,
    subset?: Record<string, string>,
  ): K8sObject[] {
    const key = `${namespace}/${service}/${JSON.stringify(subset ?? {})}`;
    let pods = this.endpoints.get(key);
    if (!pods) {
      const svc = this.store.get(rt('Service'), namespace, service);
      pods = svc
        ? this.store
            .list(rt('Pod'), namespace)
            .filter(
              p =>
                isPodReady(p) &&
                matchesMap(svc.spec?.selector, p.metadata.labels) &&
                Object.entries(subset ?? {}).every(
                  ([k, v]) => p.metadata.labels?.[k] === v,
                ),
            )
        : [];
      this.endpoints.set(key, pods);
    }
    return pods;
  }

  workloadOf(pod: K8sObject): string | undefined {
    if (this.owners.has(pod.metadata.uid))
      return this.owners.get(pod.metadata.uid);
    const rsRef = (pod.metadata.ownerReferences ?? []).find(
      (r: K8sObject) => r.kind === 'ReplicaSet',
    );
    let workload: string | undefined;
    if (rsRef) {
      const rs = this.store.get(
        rt('ReplicaSet'),
        pod.metadata.namespace,
        rsRef.name,
      );
      const dRef = (rs?.metadata.ownerReferences ?? []).find(
        (r: K8sObject) => r.kind === 'Deployment',
      );
      workload = dRef?.name ?? rsRef.name;
    }
    this.owners.set(pod.metadata.uid, workload);
    return workload;
  }

  private buildPlan(namespace: string, target: string): Plan {
    return (
      this.istioPlan(namespace, target) ??
      this.gatewayPlan(namespace, target) ??
      this.smiPlan(namespace, target) ??
      this.nginxPlan(namespace, target) ?? {
        via: 'service',
        rules: [
          { matches: () => true, backends: [{ service: target, weight: 1 }] },
        ],
      }
    );
  }

  private subsetLabels(namespace: string, service: string, subset: string) {
    for (const dr of this.store.list(rt('DestinationRule'), namespace)) {
      if (hostToService(String(dr.spec?.host ?? ''), namespace) !== service)
        continue;
      const s = (dr.spec?.subsets ?? []).find(
        (x: K8sObject) => x.name === subset,
      );
      if (s) return s.labels ?? {};
    }
    // An unknown subset selects nothing, like Envoy's empty cluster.
    return { 'sandbox.coalmine.dev/unknown-subset': subset };
  }

  private istioPlan(namespace: string, target: string): Plan | undefined {
    const vs = this.store
      .list(rt('VirtualService'), namespace)
      .find(
        v =>
          (v.spec?.hosts ?? []).some(
            (h: string) => hostToService(h, namespace) === target,
          ) || v.metadata.name === target,
      );
    if (!vs) return undefined;
    const rules: Rule[] = (vs.spec?.http ?? []).map((http: K8sObject) => {
      const matchList: K8sObject[] = http.match ?? [];
      const routes: K8sObject[] = http.route ?? [];
      return {
        matches: (h: Headers) =>
          matchList.length === 0 ||
          matchList.some(
            m =>
              uriMatch(m.uri) &&
              Object.entries(m.headers ?? {}).every(([name, spec]) =>
                headerMatch(spec, h[name.toLowerCase()]),
              ) &&
              Object.entries(m.withoutHeaders ?? {}).every(
                ([name, spec]) => !headerMatch(spec, h[name.toLowerCase()]),
              ),
          ),
        backends: routes.map(r => {
          const service =
            hostToService(String(r.destination?.host ?? ''), namespace) ?? '';
          return {
            service,
            subsetLabels: r.destination?.subset
              ? this.subsetLabels(namespace, service, r.destination.subset)
              : undefined,
            weight: weightOf(r.weight, routes.length === 1 ? 100 : 0),
          };
        }),
      };
    });
    return { via: 'istio', rules };
  }

  private gatewayPlan(namespace: string, target: string): Plan | undefined {
    const route = this.store
      .list(rt('HTTPRoute'), namespace)
      .find(
        r =>
          r.metadata.name === target ||
          (r.spec?.rules ?? []).some((rule: K8sObject) =>
            (rule.backendRefs ?? []).some((b: K8sObject) => b.name === target),
          ),
      );
    if (!route) return undefined;
    const withHeaders = (rule: K8sObject) =>
      (rule.matches ?? []).some((m: K8sObject) => (m.headers ?? []).length > 0);
    // Header matches are more specific than a bare path match, so they go first.
    const ordered = [...(route.spec?.rules ?? [])].sort(
      (a, b) => Number(withHeaders(b)) - Number(withHeaders(a)),
    );
    const rules: Rule[] = ordered.map((rule: K8sObject) => ({
      matches: (h: Headers) =>
        (rule.matches ?? []).length === 0 ||
        (rule.matches as K8sObject[]).some(m =>
          (m.headers ?? []).every((hm: K8sObject) => {
            const value = h[String(hm.name).toLowerCase()];
            if (hm.type === 'RegularExpression')
              return headerMatch({ regex: hm.value }, value);
            return value === hm.value;
          }),
        ),
      backends: (rule.backendRefs ?? [])
        .filter((b: K8sObject) => (b.kind ?? 'Service') === 'Service')
        .map((b: K8sObject) => ({
          service: b.name,
          weight: weightOf(b.weight, 1),
        })),
    }));
    return { via: 'gateway-api', rules };
  }

  private smiPlan(namespace: string, target: string): Plan | undefined {
    const split = this.store
      .list(rt('TrafficSplit'), namespace)
      .find(
        s =>
          hostToService(String(s.spec?.service ?? ''), namespace) === target ||
          s.metadata.name === target,
      );
    if (!split) return undefined;
    return {
      via: 'smi',
      rules: [
        {
          matches: () => true,
          backends: (split.spec?.backends ?? []).map((b: K8sObject) => ({
            service: b.service,
            weight: weightOf(b.weight, 0),
          })),
        },
      ],
    };
  }

  private nginxPlan(namespace: string, target: string): Plan | undefined {
    const ingresses = this.store.list(rt('Ingress'), namespace);
    const isCanary = (i: K8sObject) =>
      i.metadata.annotations?.['nginx.ingress.kubernetes.io/canary'] === 'true';
    const backendsOf = (i: K8sObject): string[] => [
      ...(i.spec?.defaultBackend?.service?.name
        ? [i.spec.defaultBackend.service.name]
        : []),
      ...(i.spec?.rules ?? []).flatMap((r: K8sObject) =>
        (r.http?.paths ?? [])
          .map((p: K8sObject) => p.backend?.service?.name)
          .filter(Boolean),
      ),
    ];
    const hostsOf = (i: K8sObject): string[] =>
      (i.spec?.rules ?? []).map((r: K8sObject) => r.host ?? '*');
    const primary = ingresses.find(
      i =>
        !isCanary(i) &&
        (backendsOf(i).includes(target) || i.metadata.name === target),
    );
    if (!primary) return undefined;
    const primaryService = backendsOf(primary)[0];
    const canary = ingresses.find(
      i => isCanary(i) && hostsOf(i).some(h => hostsOf(primary).includes(h)),
    );
    const backends: Backend[] = [];
    let headerDecision: Plan['headerDecision'];
    if (canary) {
      const a = canary.metadata.annotations ?? {};
      const total = weightOf(
        a['nginx.ingress.kubernetes.io/canary-weight-total'],
        100,
      );
      const weight = Math.min(
        total,
        weightOf(a['nginx.ingress.kubernetes.io/canary-weight'], 0),
      );
      backends.push({ service: primaryService, weight: total - weight });
      backends.push({ service: backendsOf(canary)[0], weight, canary: true });
      const header =
        a['nginx.ingress.kubernetes.io/canary-by-header']?.toLowerCase();
      const headerValue =
        a['nginx.ingress.kubernetes.io/canary-by-header-value'];
      if (header) {
        headerDecision = h => {
          const v = h[header];
          if (v === undefined) return undefined;
          if (headerValue !== undefined)
            return v === headerValue ? 'canary' : undefined;
          if (v === 'always') return 'canary';
          if (v === 'never') return 'primary';
          return undefined;
        };
      }
    } else {
      backends.push({ service: primaryService, weight: 1 });
    }
    return {
      via: 'nginx',
      ingress: primary.metadata.name,
      headerDecision,
      rules: [{ matches: () => true, backends }],
    };
  }
}
