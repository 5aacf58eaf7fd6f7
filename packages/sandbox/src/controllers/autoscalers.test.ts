import { startSandbox, Sandbox } from '../sandbox';

const DEPLOYMENT = `apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: shop/web:1 }] }
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web, namespace: shop }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 2
  maxReplicas: 4
  metrics:
    - type: Resource
      resource: { name: cpu, target: { type: Utilization, averageUtilization: 80 } }
`;

describe('the HorizontalPodAutoscaler stand-in', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox({ autoscalerSyncMs: 50, readinessDelayMs: 0 });
    await sb.apply(DEPLOYMENT);
  });
  afterAll(() => sb?.stop());

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${sb.apiUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${sb.token}`,
        'content-type': 'application/merge-patch+json',
        ...(init.headers ?? {}),
      },
    });
  const scaleTo = (replicas: number) =>
    api('/apis/apps/v1/namespaces/shop/deployments/web/scale', {
      method: 'PATCH',
      body: JSON.stringify({ spec: { replicas } }),
    });
  const replicas = async () =>
    (await (await api('/apis/apps/v1/namespaces/shop/deployments/web')).json())
      .spec.replicas;
  async function settled(wanted: number) {
    for (let i = 0; i < 100 && (await replicas()) !== wanted; i++) {
      await new Promise(r => setTimeout(r, 20));
    }
    return replicas();
  }

  it('holds its Deployment within minReplicas and maxReplicas through the scale subresource, and says so in its status', async () => {
    const discovery = await (await api('/apis/autoscaling/v2')).json();
    expect(discovery.resources.map((r: any) => r.name)).toContain(
      'horizontalpodautoscalers',
    );
    expect((await scaleTo(6)).status).toBe(200);
    expect(await settled(4)).toBe(4);
    const hpa = await (
      await api(
        '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web',
      )
    ).json();
    expect(hpa.status).toMatchObject({ desiredReplicas: 4 });
    expect(hpa.status.lastScaleTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    // Within the bounds the count stays (the metrics read at their target).
    await scaleTo(3);
    await new Promise(r => setTimeout(r, 200));
    expect(await replicas()).toBe(3);
    await scaleTo(1);
    expect(await settled(2)).toBe(2);
    // Scaled to zero, autoscaling is off.
    await scaleTo(0);
    await new Promise(r => setTimeout(r, 200));
    expect(await replicas()).toBe(0);
  });

  it('prints as `kubectl get hpa` does', async () => {
    const table = await (
      await api(
        '/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers',
        {
          headers: {
            accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
          },
        },
      )
    ).json();
    expect(table.kind).toBe('Table');
    expect(table.columnDefinitions.map((c: any) => c.name)).toEqual([
      'Name',
      'Reference',
      'Targets',
      'MinPods',
      'MaxPods',
      'Replicas',
      'Age',
    ]);
    // No metrics are read, as with a metrics server that does not answer.
    expect(table.rows[0].cells.slice(0, 5)).toEqual([
      'web',
      'Deployment/web',
      'cpu: <unknown>/80%',
      2,
      4,
    ]);
  });
});
