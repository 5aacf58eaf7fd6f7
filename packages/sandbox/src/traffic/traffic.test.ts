import { Sandbox, startSandbox } from '../sandbox';
import { findResourceTypeByKind } from '../api/resourceTypes';

// Real servers and timers on a shared, loaded machine: generous deadlines.
jest.setTimeout(60_000);

function share(
  counters: Record<string, { requests: number }>,
  workload: string,
): number {
  const total = Object.values(counters).reduce((n, c) => n + c.requests, 0);
  return (counters[workload]?.requests ?? 0) / total;
}

function delta(
  before: Record<string, { requests: number; errors: number }>,
  after: Record<string, { requests: number; errors: number }>,
) {
  const out: Record<string, { requests: number; errors: number }> = {};
  for (const [w, c] of Object.entries(after)) {
    out[w] = {
      requests: c.requests - (before[w]?.requests ?? 0),
      errors: c.errors - (before[w]?.errors ?? 0),
    };
  }
  return out;
}

describe('traffic routing and mesh metrics', () => {
  let sb: Sandbox;

  beforeAll(async () => {
    sb = await startSandbox({ readinessDelayMs: 100, seed: 7 });
    await sb.applyDemoWorld();
    for (const d of [
      'checkout-v1',
      'payments-stable',
      'search-stable',
      'storefront-stable',
    ]) {
      await sb.waitForDeployment('demo', d);
    }
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it('splits by VirtualService weights over DestinationRule subsets', async () => {
    const t = { service: 'checkout', namespace: 'demo' };
    let before = sb.counters(t);
    sb.traffic.burst(t, 1000);
    expect(Object.keys(delta(before, sb.counters(t)))).toEqual(['checkout-v1']);

    await sb.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: checkout-v2, namespace: demo }
spec:
  replicas: 2
  selector: { matchLabels: { app: checkout, version: v2 } }
  template:
    metadata: { labels: { app: checkout, version: v2 } }
    spec: { containers: [{ name: app, image: "shop/checkout:v2" }] }
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: checkout, namespace: demo }
spec:
  hosts: [checkout]
  http:
    - route:
        - destination: { host: checkout, subset: v1 }
          weight: 75
        - destination: { host: checkout, subset: v2 }
          weight: 25
`);
    await sb.waitForDeployment('demo', 'checkout-v2');
    before = sb.counters(t);
    sb.traffic.burst(t, 8000);
    const d = delta(before, sb.counters(t));
    expect(share(d, 'checkout-v2')).toBeGreaterThan(0.23);
    expect(share(d, 'checkout-v2')).toBeLessThan(0.27);
  });

  it('sends sticky requests to the canary subset and the rest by weight', async () => {
    const t = { service: 'payments', namespace: 'demo', stickyShare: 0.1 };
    // No canary pod yet: sticky requests find no healthy upstream.
    let before = sb.counters(t);
    sb.traffic.burst(t, 2000);
    let d = delta(before, sb.counters(t));
    expect(d.unknown.errors).toBe(d.unknown.requests);
    expect(d.unknown.requests / 2000).toBeGreaterThan(0.07);
    expect(d.unknown.requests / 2000).toBeLessThan(0.13);

    await sb.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: payments-canary, namespace: demo, labels: { app: payments, version: canary } }
spec:
  replicas: 1
  selector: { matchLabels: { app: payments, version: canary } }
  template:
    metadata: { labels: { app: payments, version: canary, track: canary } }
    spec: { containers: [{ name: payments, image: "shop/payments:1.5.0" }] }
`);
    await sb.waitForDeployment('demo', 'payments-canary');
    before = sb.counters(t);
    sb.traffic.burst(t, 4000);
    d = delta(before, sb.counters(t));
    expect(d.unknown?.requests ?? 0).toBe(0);
    expect(share(d, 'payments-canary')).toBeGreaterThan(0.08);
    expect(share(d, 'payments-canary')).toBeLessThan(0.12);
  });

  it('splits by ready replicas when there is no routing object', async () => {
    await sb.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: search-canary, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: search, version: canary } }
  template:
    metadata: { labels: { app: search, version: canary } }
    spec: { containers: [{ name: search, image: "shop/search:2.1.0" }] }
`);
    await sb.waitForDeployment('demo', 'search-canary');
    const t = { service: 'search', namespace: 'demo' };
    const before = sb.counters(t);
    sb.traffic.burst(t, 5000);
    const d = delta(before, sb.counters(t));
    expect(share(d, 'search-canary')).toBeGreaterThan(0.08);
    expect(share(d, 'search-canary')).toBeLessThan(0.12);
  });

  it('routes only to ready pods: a crash-looping canary gets nothing', async () => {
    await sb.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: search-canary, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: search, version: canary } }
  template:
    metadata: { labels: { app: search, version: canary } }
    spec: { containers: [{ name: search, image: "shop/search:2.2.0-crash" }] }
`);
    // The rollout is stuck: the old pod stays, the new one never gets ready.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pods = sb.store
        .list(findResourceTypeByKind('Pod')!, 'demo')
        .filter(p => p.spec.containers[0].image === 'shop/search:2.2.0-crash');
      if (
        pods.some(
          p =>
            p.status?.containerStatuses?.[0]?.state?.waiting?.reason ===
            'CrashLoopBackOff',
        )
      )
        break;
      if (Date.now() > deadline) throw new Error('no crash loop');
      await new Promise(r => setTimeout(r, 25));
    }
    const text = sb.metricsText();
    expect(text).toMatch(
      /kube_pod_container_status_waiting_reason\{namespace="demo",pod="search-canary-[a-z0-9]+-[a-z0-9]+",container="search",reason="CrashLoopBackOff"\} 1/,
    );
    expect(text).toMatch(
      /kube_pod_container_status_restarts_total\{namespace="demo",pod="search-canary-[a-z0-9]+-[a-z0-9]+",container="search"\} [1-9]/,
    );
  });

  it('splits by HTTPRoute backendRef weights', async () => {
    await sb.apply(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: storefront-canary, namespace: demo }
spec:
  replicas: 1
  selector: { matchLabels: { app: storefront, version: canary } }
  template:
    metadata: { labels: { app: storefront, version: canary } }
    spec: { containers: [{ name: storefront, image: "shop/storefront:5.2.0-errors50" }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: storefront, namespace: demo }
spec:
  parentRefs: [{ name: shop-gateway }]
  rules:
    - backendRefs:
        - { name: storefront-stable, port: 80, weight: 80 }
        - { name: storefront-canary, port: 80, weight: 20 }
`);
    await sb.waitForDeployment('demo', 'storefront-canary');
    const t = { service: 'storefront', namespace: 'demo' };
    const before = sb.counters(t);
    sb.traffic.burst(t, 5000);
    const d = delta(before, sb.counters(t));
    expect(share(d, 'storefront-canary')).toBeGreaterThan(0.18);
    expect(share(d, 'storefront-canary')).toBeLessThan(0.22);
    const errorRate =
      d['storefront-canary'].errors / d['storefront-canary'].requests;
    expect(errorRate).toBeGreaterThan(0.45);
    expect(errorRate).toBeLessThan(0.55);
    expect(sb.metricsText()).toMatch(
      /istio_requests_total\{reporter="destination",source_workload="loadgen",destination_workload="storefront-canary",destination_workload_namespace="demo",destination_service="storefront-canary.demo.svc.cluster.local",destination_service_name="storefront-canary",destination_version="canary",response_code="500"\} \d+/,
    );
  });

  it('splits by SMI TrafficSplit and NGINX canary Ingress', async () => {
    await sb.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: edge }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: edge }
spec: { selector: { app: api }, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api-primary, namespace: edge }
spec: { selector: { app: api, track: primary }, ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api-canary, namespace: edge }
spec: { selector: { app: api, track: canary }, ports: [{ port: 80 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api-primary, namespace: edge }
spec:
  replicas: 2
  selector: { matchLabels: { app: api, track: primary } }
  template:
    metadata: { labels: { app: api, track: primary } }
    spec: { containers: [{ name: api, image: "shop/api:1" }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api-canary, namespace: edge }
spec:
  replicas: 1
  selector: { matchLabels: { app: api, track: canary } }
  template:
    metadata: { labels: { app: api, track: canary } }
    spec: { containers: [{ name: api, image: "shop/api:2" }] }
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: { name: api, namespace: edge }
spec:
  service: api
  backends:
    - { service: api-primary, weight: 70 }
    - { service: api-canary, weight: 30 }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: edge }
spec:
  ingressClassName: nginx
  rules:
    - host: web.example
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: api-primary, port: { number: 80 } } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  namespace: edge
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "40"
    nginx.ingress.kubernetes.io/canary-by-header: x-canary-user
    nginx.ingress.kubernetes.io/canary-by-header-value: "true"
spec:
  ingressClassName: nginx
  rules:
    - host: web.example
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: api-canary, port: { number: 80 } } } }
`);
    await sb.waitForDeployment('edge', 'api-primary');
    await sb.waitForDeployment('edge', 'api-canary');
    const smi = { service: 'api', namespace: 'edge' };
    sb.traffic.burst(smi, 5000);
    const s = sb.counters(smi);
    expect(share(s, 'api-canary')).toBeGreaterThan(0.27);
    expect(share(s, 'api-canary')).toBeLessThan(0.33);

    const nginx = {
      service: 'api-primary',
      namespace: 'edge',
      stickyShare: 0.5,
    };
    sb.traffic.burst(nginx, 5000);
    const n = sb.counters(nginx);
    // Half carry the header (all canary), half split 60/40: 50 % + 20 % = 70 %.
    expect(share(n, 'api-canary')).toBeGreaterThan(0.67);
    expect(share(n, 'api-canary')).toBeLessThan(0.73);
    const text = sb.metricsText();
    expect(text).toMatch(
      /nginx_ingress_controller_requests\{namespace="edge",ingress="web",service="api-canary",status="200",canary="api-canary"\} \d+/,
    );
    expect(text).toMatch(
      /nginx_ingress_controller_requests\{namespace="edge",ingress="web",service="api-primary",status="200",canary=""\} \d+/,
    );
    expect(text).toMatch(
      /nginx_ingress_controller_request_duration_seconds_bucket\{namespace="edge",ingress="web",service="api-primary",le="0.05"\} \d+/,
    );
    expect(text).toMatch(
      /response_total\{namespace="edge",deployment="api-canary",direction="inbound",classification="success",status_code="200"\} \d+/,
    );
    expect(text).toMatch(
      /response_latency_ms_bucket\{namespace="edge",deployment="api-canary",direction="inbound",le="50"\} \d+/,
    );
    expect(text).toMatch(
      /http_requests_total\{namespace="edge",pod="api-canary-[a-z0-9]+-[a-z0-9]+",app="api",version="",method="GET",code="200"\} \d+/,
    );
    expect(text).toMatch(
      /http_request_duration_seconds_bucket\{namespace="edge",pod="api-canary-[a-z0-9]+-[a-z0-9]+",app="api",version="",le="0.1"\} \d+/,
    );
    expect(text).toMatch(
      /istio_request_duration_milliseconds_bucket\{reporter="destination",.*destination_workload="api-canary",.*response_code="200",le="250"\} \d+/,
    );
    expect(text).toMatch(
      /kube_deployment_status_replicas_available\{namespace="edge",deployment="api-primary"\} 2/,
    );
  });

  it('generates traffic at the configured rate over time', async () => {
    const t = { service: 'checkout', namespace: 'demo', rps: 400 };
    const before = sb.counters(t);
    const started = Date.now();
    sb.traffic.start(t);
    await new Promise(r => setTimeout(r, 1500));
    sb.traffic.stop(t);
    const elapsed = (Date.now() - started) / 1000;
    const d = delta(before, sb.counters(t));
    const total = Object.values(d).reduce((n, c) => n + c.requests, 0);
    expect(total / elapsed).toBeGreaterThan(300);
    expect(total / elapsed).toBeLessThan(440);
    // Services annotated for traffic in the demo world keep theirs.
    expect(sb.traffic.running().filter(s => s.service === 'checkout')).toEqual(
      [],
    );
  });
});
