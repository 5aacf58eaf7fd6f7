import { startSandbox, Sandbox } from '../sandbox';

describe('the scale world', () => {
  let sb: Sandbox;

  afterEach(async () => {
    await sb?.stop();
  });

  async function get(path: string) {
    const res = await fetch(`${sb.apiUrl}${path}`, {
      headers: { Authorization: `Bearer ${sb.token}` },
    });
    return { status: res.status, body: await res.json() };
  }

  it('holds many bound services with ready pods and exports their traffic by weight', async () => {
    sb = await startSandbox({
      scale: { services: 30, perNamespace: 20, rps: 50 },
    });
    expect(sb.scaleServices).toHaveLength(30);
    expect(sb.scaleServices[29]).toEqual({
      namespace: 'scale-001',
      service: 'svc0029',
      entityRef: 'component:default/svc0029',
    });
    const svc = await get('/api/v1/namespaces/scale-001/services/svc0029');
    expect(svc.body.metadata.annotations['coalmine.io/entity']).toBe(
      'component:default/svc0029',
    );
    const v1 = await get(
      '/apis/apps/v1/namespaces/scale-000/deployments/svc0003-v1',
    );
    expect(v1.body.status).toMatchObject({
      availableReplicas: 1,
      readyReplicas: 1,
    });

    // A canary as the engine creates it: ready at once, and its pods listed by label.
    await sb.apply([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'svc0003-v2', namespace: 'scale-000' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'svc0003', version: 'v2' } },
          template: {
            metadata: { labels: { app: 'svc0003', version: 'v2' } },
            spec: {
              containers: [{ name: 'app', image: 'shop/svc0003:errors30' }],
            },
          },
        },
      },
    ]);
    await new Promise(r => setTimeout(r, 10));
    const v2 = await get(
      '/apis/apps/v1/namespaces/scale-000/deployments/svc0003-v2',
    );
    expect(v2.body.status).toMatchObject({
      availableReplicas: 2,
      observedGeneration: 1,
    });
    const pods = await get(
      '/api/v1/namespaces/scale-000/pods?labelSelector=app%3Dsvc0003%2Cversion%3Dv2',
    );
    expect(pods.body.items).toHaveLength(2);
    expect(pods.body.items[0].status.conditions).toEqual([
      { type: 'Ready', status: 'True' },
    ]);

    // Half the traffic to the failing canary.
    await sb.apply([
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'svc0003', namespace: 'scale-000' },
        spec: {
          hosts: ['svc0003'],
          http: [
            {
              route: [
                { destination: { host: 'svc0003', subset: 'v1' }, weight: 50 },
                { destination: { host: 'svc0003', subset: 'v2' }, weight: 50 },
              ],
            },
          ],
        },
      },
    ]);
    await new Promise(r => setTimeout(r, 2300));
    const text = sb.metricsText();
    const count = (workload: string, code: string) =>
      Number(
        text
          .split('\n')
          .find(
            l =>
              l.startsWith('istio_requests_total{') &&
              l.includes(`destination_workload="${workload}"`) &&
              l.includes(`response_code="${code}"`),
          )
          ?.split(' ')
          .at(-1) ?? 0,
      );
    expect(count('svc0003-v1', '200')).toBeGreaterThan(20);
    expect(
      count('svc0003-v2', '200') + count('svc0003-v2', '500'),
    ).toBeGreaterThan(20);
    // `:errors30` fails 30 % of its requests; the stable (0.2 %) far fewer.
    expect(count('svc0003-v2', '500')).toBeGreaterThan(
      count('svc0003-v1', '500'),
    );
    // An idle service's traffic goes to its stable only.
    expect(count('svc0010-v1', '200')).toBeGreaterThan(40);
    expect(sb.apiRequests().GET).toBeGreaterThanOrEqual(4);
  });
});
