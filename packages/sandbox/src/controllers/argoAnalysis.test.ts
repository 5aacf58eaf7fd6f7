import { Sandbox, startSandbox } from '../sandbox';
import { findResourceTypeByKind } from '../api/resourceTypes';

// A real Prometheus scraping the sandbox, on a loaded machine: generous deadlines.
jest.setTimeout(120_000);

const ROLLOUT = findResourceTypeByKind('Rollout', 'argoproj.io')!;
const RUN = findResourceTypeByKind('AnalysisRun', 'argoproj.io')!;

// The Istio success-rate template of the Argo Rollouts documentation (reporter="source"),
// with a short interval and count so the test finishes.
const template = `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
  namespace: shop
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    initialDelay: 3s
    interval: 2s
    count: 3
    successCondition: result[0] >= 0.95
    failureLimit: 1
    provider:
      prometheus:
        address: http://prometheus.example.com:9090
        query: |
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}",response_code!~"5.*"}[1m]
          )) /
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}"}[1m]
          ))
`;

const rollout = (image: string) => `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: { name: guestbook, namespace: shop }
spec:
  replicas: 4
  selector: { matchLabels: { app: guestbook } }
  template:
    metadata: { labels: { app: guestbook } }
    spec: { containers: [{ name: guestbook, image: "${image}" }] }
  strategy:
    canary:
      steps:
      - setWeight: 50
      - analysis:
          templates:
          - templateName: success-rate
          args:
          - name: service-name
            value: guestbook.shop.svc.cluster.local
      - pause: {}
`;

describe('Argo AnalysisRuns measured against the sandbox Prometheus', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ prometheus: true, readinessDelayMs: 100 });
    await sb.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Service
metadata:
  name: guestbook
  namespace: shop
  annotations: { coalmine.io/sandbox-traffic: "100" }
spec:
  selector: { app: guestbook }
  ports: [{ port: 80 }]
`);
    await sb.apply(template);
  });
  afterAll(() => sb?.stop());

  const until = async <T>(
    what: string,
    f: () => T | undefined | false,
    ms = 60_000,
  ) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > deadline)
        throw new Error(
          `${what} did not happen in time: ${JSON.stringify({
            status: sb.store.get(ROLLOUT, 'shop', 'guestbook')?.status,
            runs: sb.store.list(RUN, 'shop').map(r => r.status),
          })}`,
        );
      await new Promise(r => setTimeout(r, 200));
    }
  };
  const ro = () => sb.store.get(ROLLOUT, 'shop', 'guestbook')!;

  it('the annotated Service gets traffic reported by both sidecars', async () => {
    await sb.apply(rollout('shop/guestbook:v1'));
    expect(sb.traffic.running()).toEqual([
      expect.objectContaining({
        service: 'guestbook',
        namespace: 'shop',
        rps: 100,
      }),
    ]);
    // Once pods are ready, both sidecars report every request.
    await until('source-reported series of the guestbook pods', () =>
      /istio_requests_total\{reporter="source",source_workload="loadgen",destination_workload="guestbook-\w+".*source_workload_namespace="shop"\} \d+/.test(
        sb.metricsText(),
      ),
    );
  });

  it('passes a healthy canary and aborts a failing one, with the measurements in the AnalysisRun', async () => {
    await sb.apply(rollout('shop/guestbook:v2'));
    await until(
      'the healthy canary to pass analysis and pause',
      () =>
        ro().status?.currentStepIndex === 2 && ro().status.phase === 'Paused',
    );
    const passed = sb.store
      .list(RUN, 'shop')
      .find(r => r.status?.phase === 'Successful')!;
    // The first measurement may come before Prometheus has two samples (an Error, as in Argo).
    expect(passed.status.metricResults[0]).toMatchObject({
      name: 'success-rate',
      phase: 'Successful',
      count: 3,
      failed: 0,
    });
    expect(passed.status.metricResults[0].successful).toBeGreaterThanOrEqual(2);
    expect(passed.spec.args).toEqual([
      { name: 'service-name', value: 'guestbook.shop.svc.cluster.local' },
    ]);
    const values = passed.status.metricResults[0].measurements
      .filter((m: any) => m.phase === 'Successful')
      .map((m: any) => Number(m.value.replace(/[[\]]/g, '')));
    expect(Math.min(...values)).toBeGreaterThan(0.95);

    await sb.apply(rollout('shop/guestbook:v3-errors60'));
    await until(
      'the failing canary to be aborted',
      () => ro().status?.abort === true && ro().status.phase === 'Degraded',
    );
    expect(ro().status.message).toMatch(
      /^RolloutAborted: Rollout aborted update to revision 3: Metric "success-rate" assessed Failed due to failed \(2\) > failureLimit \(1\)/,
    );
    expect(ro().status.canary.weights.canary.weight).toBe(0);
  });
});
