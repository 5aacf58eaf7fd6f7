import * as k8s from '@kubernetes/client-node';
import { Sandbox, startApiSandbox } from '../sandbox';

// Real servers and timers on a shared, loaded machine: generous deadlines.
jest.setTimeout(60_000);

const NS = 'api-test';

function deployment(name: string, image = 'shop/checkout:v1') {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { app: name, tier: 'web' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'app', image, env: [{ name: 'A', value: '1' }] },
            { name: 'sidecar', image: 'proxy:1' },
          ],
        },
      },
    },
  };
}

/** The HTTP status and Status body of a failed client-node call. */
async function failure(
  p: Promise<unknown>,
): Promise<{ code: number; body: any }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof k8s.ApiException) {
      return { code: e.code, body: JSON.parse(String(e.body)) };
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}

describe('the sandbox API server with @kubernetes/client-node', () => {
  let sb: Sandbox;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;

  beforeAll(async () => {
    sb = await startApiSandbox();
    kc = new k8s.KubeConfig();
    kc.loadFromFile(sb.kubeconfigPath);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: NS } } });
  });

  afterAll(async () => {
    await sb?.stop();
  });

  it('serves discovery', async () => {
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.major).toBe('1');
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    const names = groups.groups.map(g => g.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'apps',
        'networking.istio.io',
        'gateway.networking.k8s.io',
        'split.smi-spec.io',
        'networking.k8s.io',
        'flagger.app',
        'argoproj.io',
      ]),
    );
    const resources = await apps.getAPIResources();
    expect(
      resources.resources.find(r => r.name === 'deployments/scale'),
    ).toMatchObject({
      group: 'autoscaling',
      version: 'v1',
      kind: 'Scale',
    });
  });

  it('creates objects with uid, creationTimestamp, generation and a growing resourceVersion', async () => {
    const a = await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('alpha'),
    });
    const b = await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('beta'),
    });
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(a.metadata?.generation).toBe(1);
    expect(Number(b.metadata?.resourceVersion)).toBeGreaterThan(
      Number(a.metadata?.resourceVersion),
    );
    const read = await apps.readNamespacedDeployment({
      name: 'alpha',
      namespace: NS,
    });
    expect(read.spec?.template.spec?.containers[0].image).toBe(
      'shop/checkout:v1',
    );
    const again = await failure(
      apps.createNamespacedDeployment({
        namespace: NS,
        body: deployment('alpha'),
      }),
    );
    expect(again.code).toBe(409);
    expect(again.body.reason).toBe('AlreadyExists');
  });

  it('answers 409 Conflict to an update with a stale resourceVersion', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('gamma'),
    });
    const first = await apps.readNamespacedDeployment({
      name: 'gamma',
      namespace: NS,
    });
    const second = await apps.readNamespacedDeployment({
      name: 'gamma',
      namespace: NS,
    });
    first.spec!.replicas = 5;
    const updated = await apps.replaceNamespacedDeployment({
      name: 'gamma',
      namespace: NS,
      body: first,
    });
    expect(updated.spec?.replicas).toBe(5);
    expect(updated.metadata?.generation).toBe(2);
    second.spec!.replicas = 7;
    const stale = await failure(
      apps.replaceNamespacedDeployment({
        name: 'gamma',
        namespace: NS,
        body: second,
      }),
    );
    expect(stale.code).toBe(409);
    expect(stale.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      details: { name: 'gamma', group: 'apps', kind: 'deployments' },
    });
    // Only labels changed: no new generation.
    const current = await apps.readNamespacedDeployment({
      name: 'gamma',
      namespace: NS,
    });
    current.metadata!.labels = { ...current.metadata!.labels, extra: 'yes' };
    const relabelled = await apps.replaceNamespacedDeployment({
      name: 'gamma',
      namespace: NS,
      body: current,
    });
    expect(relabelled.metadata?.generation).toBe(2);
  });

  it('applies merge, JSON and strategic merge patches', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: deployment('delta'),
    });
    const merged = await apps.patchNamespacedDeployment(
      {
        name: 'delta',
        namespace: NS,
        body: { spec: { replicas: 4 }, metadata: { labels: { tier: null } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(merged.spec?.replicas).toBe(4);
    expect(merged.metadata?.labels).toEqual({ app: 'delta' });

    const json = await apps.patchNamespacedDeployment(
      {
        name: 'delta',
        namespace: NS,
        body: [
          { op: 'test', path: '/spec/replicas', value: 4 },
          { op: 'replace', path: '/spec/replicas', value: 6 },
          { op: 'add', path: '/metadata/labels/track', value: 'canary' },
        ],
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
    );
    expect(json.spec?.replicas).toBe(6);
    expect(json.metadata?.labels?.track).toBe('canary');

    // Strategic merge: containers merged by name, env by name.
    const strategic = await apps.patchNamespacedDeployment(
      {
        name: 'delta',
        namespace: NS,
        body: {
          spec: {
            template: {
              spec: {
                containers: [
                  {
                    name: 'app',
                    image: 'shop/checkout:v2',
                    env: [{ name: 'B', value: '2' }],
                  },
                ],
              },
            },
          },
        },
      },
      k8s.setHeaderOptions(
        'Content-Type',
        k8s.PatchStrategy.StrategicMergePatch,
      ),
    );
    const containers = strategic.spec?.template.spec?.containers ?? [];
    expect(containers.map(c => [c.name, c.image])).toEqual([
      ['app', 'shop/checkout:v2'],
      ['sidecar', 'proxy:1'],
    ]);
    expect(containers[0].env?.map(e => e.name)).toEqual(['A', 'B']);
    expect(strategic.metadata?.generation).toBe(4);
  });

  it('rejects bad patches like a real API server', async () => {
    const malformed = await failure(
      apps.patchNamespacedDeployment(
        { name: 'delta', namespace: NS, body: { op: 'replace' } as any },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(malformed.code).toBe(400);
    expect(malformed.body.reason).toBe('BadRequest');

    const missingPath = await failure(
      apps.patchNamespacedDeployment(
        {
          name: 'delta',
          namespace: NS,
          body: [{ op: 'replace', path: '/spec/nothing/here', value: 1 }],
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect(missingPath.code).toBe(422);

    const stalePatch = await failure(
      apps.patchNamespacedDeployment(
        {
          name: 'delta',
          namespace: NS,
          body: { metadata: { resourceVersion: '1' }, spec: { replicas: 1 } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(stalePatch.code).toBe(409);

    const badReplicas = await failure(
      apps.patchNamespacedDeployment(
        { name: 'delta', namespace: NS, body: { spec: { replicas: -3 } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(badReplicas.code).toBe(422);
    expect(badReplicas.body.reason).toBe('Invalid');

    // Custom resources take no strategic merge patch.
    await custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1beta1',
      namespace: NS,
      plural: 'virtualservices',
      body: {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'vs' },
        spec: { hosts: ['x'] },
      },
    });
    const smp = await failure(
      custom.patchNamespacedCustomObject(
        {
          group: 'networking.istio.io',
          version: 'v1beta1',
          namespace: NS,
          plural: 'virtualservices',
          name: 'vs',
          body: { spec: {} },
        },
        k8s.setHeaderOptions(
          'Content-Type',
          k8s.PatchStrategy.StrategicMergePatch,
        ),
      ),
    );
    expect(smp.code).toBe(415);
  });

  it('answers bad input with the real status codes and Status bodies', async () => {
    const missing = await failure(
      apps.readNamespacedDeployment({ name: 'nope', namespace: NS }),
    );
    expect(missing).toEqual({
      code: 404,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'deployments.apps "nope" not found',
        reason: 'NotFound',
        details: { name: 'nope', group: 'apps', kind: 'deployments' },
        code: 404,
      },
    });
    const noName = await failure(
      core.createNamespacedConfigMap({ namespace: NS, body: { metadata: {} } }),
    );
    expect(noName.code).toBe(422);
    expect(noName.body.reason).toBe('Invalid');
    expect(noName.body.details.causes[0]).toMatchObject({
      field: 'metadata.name',
      reason: 'FieldValueRequired',
    });

    const withVersion = await failure(
      core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'copied', resourceVersion: '12' } },
      }),
    );
    expect(withVersion.code).toBe(500);
    expect(withVersion.body.message).toContain(
      'resourceVersion should not be set on objects to be created',
    );

    const unknown = await failure(
      custom.listNamespacedCustomObject({
        group: 'apps',
        version: 'v1',
        namespace: NS,
        plural: 'widgets',
      }),
    );
    expect(unknown.code).toBe(404);
    expect(unknown.body.reason).toBe('NotFound');

    const noNamespace = await failure(
      core.createNamespacedConfigMap({
        namespace: 'ghost',
        body: { metadata: { name: 'x' } },
      }),
    );
    expect(noNamespace.code).toBe(404);
    expect(noNamespace.body.message).toBe('namespaces "ghost" not found');

    const badSelector = await failure(
      apps.listNamespacedDeployment({
        namespace: NS,
        labelSelector: 'app in (alpha',
      }),
    );
    expect(badSelector.code).toBe(400);
    expect(badSelector.body.reason).toBe('BadRequest');

    const noToken = await fetch(`${sb.apiUrl}/api/v1/namespaces`);
    expect(noToken.status).toBe(401);
    expect((await noToken.json()).reason).toBe('Unauthorized');
    const anyToken = await fetch(`${sb.apiUrl}/api/v1/namespaces`, {
      headers: { authorization: 'Bearer whatever' },
    });
    expect(anyToken.status).toBe(200);
  });

  it('filters lists by equality and set-based label selectors', async () => {
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'cm-a', labels: { env: 'prod', team: 'a' } } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'cm-b', labels: { env: 'dev', team: 'b' } } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'cm-c', labels: { env: 'qa' } } },
    });
    const names = async (labelSelector: string) =>
      (
        await core.listNamespacedConfigMap({ namespace: NS, labelSelector })
      ).items.map(i => i.metadata?.name);
    expect(await names('env=prod')).toEqual(['cm-a']);
    expect(await names('env!=prod')).toEqual(['cm-b', 'cm-c']);
    expect(await names('env in (prod,dev)')).toEqual(['cm-a', 'cm-b']);
    expect(await names('env notin (prod),team')).toEqual(['cm-b']);
    expect(await names('!team')).toEqual(['cm-c']);
    const byField = await core.listNamespacedConfigMap({
      namespace: NS,
      fieldSelector: 'metadata.name=cm-b',
    });
    expect(byField.items.map(i => i.metadata?.name)).toEqual(['cm-b']);
  });

  it('streams every change to a watch, in order, from a resourceVersion', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: NS });
    const events: Array<[string, string, string | undefined]> = [];
    const watch = new k8s.Watch(kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${NS}/configmaps`,
      {
        resourceVersion: list.metadata?.resourceVersion,
        labelSelector: 'watched=yes',
      },
      (type, obj) => events.push([type, obj.metadata.name, obj.data?.n]),
      () => {},
    );
    try {
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: {
          metadata: { name: 'w1', labels: { watched: 'yes' } },
          data: { n: '0' },
        },
      });
      for (let i = 1; i <= 5; i++) {
        await core.patchNamespacedConfigMap(
          { name: 'w1', namespace: NS, body: { data: { n: String(i) } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      }
      // Leaving the selector is a DELETED for this watcher.
      await core.patchNamespacedConfigMap(
        {
          name: 'w1',
          namespace: NS,
          body: { metadata: { labels: { watched: 'no' } } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await core.createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'w2', labels: { watched: 'yes' } } },
      });
      await core.deleteNamespacedConfigMap({ name: 'w2', namespace: NS });
      const deadline = Date.now() + 10_000;
      while (events.length < 9 && Date.now() < deadline)
        await new Promise(r => setTimeout(r, 20));
    } finally {
      controller.abort();
    }
    expect(events).toEqual([
      ['ADDED', 'w1', '0'],
      ['MODIFIED', 'w1', '1'],
      ['MODIFIED', 'w1', '2'],
      ['MODIFIED', 'w1', '3'],
      ['MODIFIED', 'w1', '4'],
      ['MODIFIED', 'w1', '5'],
      ['DELETED', 'w1', '5'],
      ['ADDED', 'w2', undefined],
      ['DELETED', 'w2', undefined],
    ]);
  });

  it('answers a streaming list with initial events and an initial-events-end bookmark', async () => {
    const res = await fetch(
      `${sb.apiUrl}/api/v1/namespaces/${NS}/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&labelSelector=env%3Dprod&timeoutSeconds=1`,
      { headers: { authorization: `Bearer ${sb.token}` } },
    );
    const events = (await res.text())
      .trim()
      .split('\n')
      .map(l => JSON.parse(l));
    expect(events.map(e => [e.type, e.object.metadata.name])).toEqual([
      ['ADDED', 'cm-a'],
      ['BOOKMARK', undefined],
    ]);
    expect(events[1].object.metadata.annotations).toEqual({
      'k8s.io/initial-events-end': 'true',
    });
  });

  it('feeds a client-node informer (list, then watch from the list resourceVersion)', async () => {
    const informer = k8s.makeInformer(
      kc,
      `/apis/apps/v1/namespaces/${NS}/deployments`,
      () => apps.listNamespacedDeployment({ namespace: NS }),
    );
    const seen: string[] = [];
    informer.on('add', d => seen.push(`add ${d.metadata?.name}`));
    informer.on('update', d =>
      seen.push(`update ${d.metadata?.name} ${d.spec?.replicas}`),
    );
    informer.on('delete', d => seen.push(`delete ${d.metadata?.name}`));
    await informer.start();
    try {
      await apps.createNamespacedDeployment({
        namespace: NS,
        body: deployment('informed'),
      });
      await apps.patchNamespacedDeploymentScale(
        { name: 'informed', namespace: NS, body: { spec: { replicas: 5 } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      await apps.deleteNamespacedDeployment({
        name: 'informed',
        namespace: NS,
      });
      const deadline = Date.now() + 10_000;
      while (!seen.includes('delete informed') && Date.now() < deadline) {
        await new Promise(r => setTimeout(r, 20));
      }
    } finally {
      await informer.stop();
    }
    expect(seen.filter(e => e.includes('informed'))).toEqual([
      'add informed',
      'update informed 5',
      'delete informed',
    ]);
    expect(informer.list(NS).map(d => d.metadata?.name)).not.toContain(
      'informed',
    );
  });

  it('serves custom resources under every served version and records every write', async () => {
    const vs = {
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'VirtualService',
      metadata: { name: 'checkout', namespace: NS },
      spec: {
        hosts: ['checkout'],
        http: [
          {
            route: [
              { destination: { host: 'checkout', subset: 'v1' }, weight: 100 },
            ],
          },
        ],
      },
    };
    await custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1alpha3',
      namespace: NS,
      plural: 'virtualservices',
      body: vs,
    });
    for (const weight of [5, 25]) {
      await custom.patchNamespacedCustomObject(
        {
          group: 'networking.istio.io',
          version: 'v1',
          namespace: NS,
          plural: 'virtualservices',
          name: 'checkout',
          body: [
            {
              op: 'replace',
              path: '/spec/http/0/route',
              value: [
                {
                  destination: { host: 'checkout', subset: 'v1' },
                  weight: 100 - weight,
                },
                { destination: { host: 'checkout', subset: 'v2' }, weight },
              ],
            },
          ],
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch),
      );
    }
    const v1 = (await custom.getNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1',
      namespace: NS,
      plural: 'virtualservices',
      name: 'checkout',
    })) as any;
    expect(v1.apiVersion).toBe('networking.istio.io/v1');
    expect(v1.metadata.generation).toBe(3);
    const weights = sb
      .writes({
        group: 'networking.istio.io',
        kind: 'VirtualService',
        namespace: NS,
        name: 'checkout',
      })
      .map(w => w.spec.http[0].route.map((r: any) => r.weight ?? 100));
    expect(weights).toEqual([[100], [95, 5], [75, 25]]);
  });

  it('scales through the scale subresource', async () => {
    const scale = await apps.readNamespacedDeploymentScale({
      name: 'alpha',
      namespace: NS,
    });
    expect(scale.spec?.replicas).toBe(2);
    expect(scale.status?.selector).toBe('app=alpha');
    await apps.patchNamespacedDeploymentScale(
      { name: 'alpha', namespace: NS, body: { spec: { replicas: 3 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const d = await apps.readNamespacedDeployment({
      name: 'alpha',
      namespace: NS,
    });
    expect(d.spec?.replicas).toBe(3);
  });

  it('keeps status and spec apart through the status subresource', async () => {
    const d = await apps.readNamespacedDeployment({
      name: 'beta',
      namespace: NS,
    });
    d.status = { observedGeneration: 1, replicas: 9 };
    const written = await apps.replaceNamespacedDeploymentStatus({
      name: 'beta',
      namespace: NS,
      body: d,
    });
    expect(written.status?.replicas).toBe(9);
    expect(written.metadata?.generation).toBe(1);
    written.status = { replicas: 1 };
    const viaMain = await apps.replaceNamespacedDeployment({
      name: 'beta',
      namespace: NS,
      body: written,
    });
    expect(viaMain.status?.replicas).toBe(9);
  });

  it('fails the next matching requests when told to', async () => {
    sb.failNext({
      verb: 'get',
      resource: 'deployments',
      status: 503,
      count: 2,
    });
    expect(
      (
        await failure(
          apps.readNamespacedDeployment({ name: 'alpha', namespace: NS }),
        )
      ).code,
    ).toBe(503);
    expect(
      (
        await failure(
          apps.readNamespacedDeployment({ name: 'alpha', namespace: NS }),
        )
      ).code,
    ).toBe(503);
    await expect(
      apps.readNamespacedDeployment({ name: 'alpha', namespace: NS }),
    ).resolves.toBeDefined();
  });

  it('deletes objects and whole namespaces', async () => {
    await apps.deleteNamespacedDeployment({ name: 'beta', namespace: NS });
    expect(
      (
        await failure(
          apps.readNamespacedDeployment({ name: 'beta', namespace: NS }),
        )
      ).code,
    ).toBe(404);
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({
      namespace: 'doomed',
      body: { metadata: { name: 'x' } },
    });
    await core.deleteNamespace({ name: 'doomed' });
    expect(
      (
        await failure(
          core.readNamespacedConfigMap({ name: 'x', namespace: 'doomed' }),
        )
      ).code,
    ).toBe(404);
  });
});
