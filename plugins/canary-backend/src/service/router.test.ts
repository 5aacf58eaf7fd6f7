import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import { canaryPlugin } from '../plugin';
import { testDatabaseServiceFactory } from '../__testUtils__/testDatabase';

const checkout = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'checkout',
    namespace: 'default',
    annotations: {
      'coalmine.io/policy': 'standard',
      'backstage.io/kubernetes-id': 'my-app-service',
    },
  },
  spec: { type: 'service', lifecycle: 'production', owner: 'team-a' },
};

const broken = {
  ...checkout,
  metadata: {
    name: 'broken',
    namespace: 'default',
    annotations: {
      'coalmine.io/policy': 'nope',
      'coalmine.io/cluster': 'elsewhere',
      'coalmine.io/overrides': 'steps=10,5; colour=blue',
    },
  },
};

const config = {
  kubernetes: {
    clusterLocatorMethods: [
      {
        type: 'config',
        clusters: [
          {
            name: 'sandbox',
            url: 'http://127.0.0.1:1',
            authProvider: 'serviceAccount',
            skipTLSVerify: true,
            serviceAccountToken: 'token',
          },
        ],
      },
    ],
  },
  canary: {
    policies: {
      standard: { trafficProvider: 'istio', steps: [5, 25, 50, 75, 100] },
    },
  },
};

async function start(
  permission:
    | AuthorizeResult.ALLOW
    | AuthorizeResult.DENY = AuthorizeResult.ALLOW,
) {
  const auditor = mockServices.auditor.mock();
  const events: Array<{ eventId: string; outcome?: string }> = [];
  auditor.createEvent.mockImplementation(async opts => {
    const entry: { eventId: string; outcome?: string } = {
      eventId: opts.eventId,
    };
    events.push(entry);
    return {
      success: async () => {
        entry.outcome = 'success';
      },
      fail: async () => {
        entry.outcome = 'fail';
      },
    };
  });
  const { server } = await startTestBackend({
    features: [
      canaryPlugin,
      mockServices.rootConfig.factory({ data: config }),
      mockServices.permissions.factory({ result: permission }),
      catalogServiceMock.factory({ entities: [checkout, broken] }),
      auditor.factory,
      testDatabaseServiceFactory,
    ],
  });
  return { server, events };
}

describe('canary router', () => {
  it('warns at start-up of a custom count template it will read as written', async () => {
    const logger = mockServices.logger.mock();
    logger.child.mockReturnValue(logger);
    const byPod =
      'sum by (pod) (increase(http_requests_total{pod=~"{{ workload }}-.*"}[{{ elapsed }}]))';
    await startTestBackend({
      features: [
        canaryPlugin,
        logger.factory,
        mockServices.rootConfig.factory({
          data: {
            ...config,
            canary: {
              ...config.canary,
              prometheus: { url: 'http://127.0.0.1:1' },
              templates: { 'pod-count': { kind: 'count', query: byPod } },
            },
          },
        }),
        catalogServiceMock.factory({ entities: [] }),
        testDatabaseServiceFactory,
      ],
    });
    const warnings = logger.warn.mock.calls.map(([message]) => message);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^canary\.templates\.pod-count: this count template is read as written/,
      ),
    ]);
  });

  it('serves /health without credentials', async () => {
    const { server } = await start();
    const res = await request(server)
      .get('/api/canary/health')
      .set('Authorization', mockCredentials.none.header());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('requires credentials for entity status', async () => {
    const { server } = await start();
    const res = await request(server)
      .get('/api/canary/entities/component/default/checkout')
      .set('Authorization', mockCredentials.none.header());
    expect(res.status).toBe(401);
  });

  it('resolves a component with two annotations into a target', async () => {
    const { server } = await start();
    const res = await request(server).get(
      '/api/canary/entities/component/default/checkout',
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      entityRef: 'component:default/checkout',
      target: {
        entityRef: 'component:default/checkout',
        policy: 'standard',
        clusters: ['sandbox'],
        namespace: 'default',
        workload: 'my-app-service',
        trafficProvider: 'istio',
        steps: [5, 25, 50, 75, 100].map(weight => ({ weight })),
      },
      // The test backend's cluster does not answer; that is reported, not
      // thrown, and its address is not shown.
      problems: [
        {
          key: 'kubernetes.clusterLocatorMethods',
          message: expect.stringMatching(
            /^Cluster sandbox could not be checked/,
          ),
        },
      ],
      active: null,
      history: [],
    });
    expect(JSON.stringify(res.body)).not.toMatch(/127\.0\.0\.1/);
  });

  it('reports wrong annotations as problems naming the key, not a 500', async () => {
    const { server } = await start();
    const res = await request(server).get(
      '/api/canary/entities/component/default/broken',
    );
    expect(res.status).toBe(200);
    expect(res.body.target).toBeNull();
    const keys = res.body.problems.map((p: { key: string }) => p.key);
    expect(keys).toEqual(
      expect.arrayContaining([
        'coalmine.io/policy',
        'coalmine.io/cluster',
        'coalmine.io/workload',
        'coalmine.io/overrides',
      ]),
    );
    expect(JSON.stringify(res.body.problems)).toContain('standard');
    expect(JSON.stringify(res.body.problems)).toContain('colour');
  });

  it('answers 404 for an unknown entity and 403 without the read permission', async () => {
    const { server } = await start();
    expect(
      (
        await request(server).get(
          '/api/canary/entities/component/default/missing',
        )
      ).status,
    ).toBe(404);
    const denied = await start(AuthorizeResult.DENY);
    expect(
      (
        await request(denied.server).get(
          '/api/canary/entities/component/default/checkout',
        )
      ).status,
    ).toBe(403);
  });
});

describe('canary router: mutating calls', () => {
  it('answers malformed bodies with 400 naming the field', async () => {
    const { server, events } = await start();
    let res = await request(server)
      .post('/api/canary/rollouts')
      .send({ cluster: 'sandbox' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/entityRef/);
    res = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout',
      version: 'not a label!',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/version/);
    res = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/checkout', colour: 'blue' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/colour/);
    res = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/broken' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/coalmine\.io\/policy/);
    res = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/checkout', cluster: 'elsewhere' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/cluster/);
    expect(
      events
        .filter(e => e.eventId === 'rollout-start')
        .every(e => e.outcome === 'fail'),
    ).toBe(true);
    expect(events).toHaveLength(5);
  });

  it('answers unknown rollouts with 404 and unknown controls with 400', async () => {
    const { server } = await start();
    expect(
      (await request(server).get('/api/canary/rollouts/nope')).status,
    ).toBe(404);
    expect(
      (await request(server).get('/api/canary/rollouts/nope/series')).status,
    ).toBe(404);
    expect(
      (await request(server).post('/api/canary/rollouts/nope/promote').send({}))
        .status,
    ).toBe(404);
    const res = await request(server)
      .post('/api/canary/rollouts/nope/frobnicate')
      .send({});
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/control/);
    const bad = await request(server)
      .post('/api/canary/rollouts/nope/abort')
      .send({ reason: 7 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/reason/);
  });

  it('audits malformed JSON (400) and oversized bodies (413) like any refused attempt', async () => {
    const { server, events } = await start();
    const malformed = await request(server)
      .post('/api/canary/rollouts')
      .set('Content-Type', 'application/json')
      .send('{"entityRef": "component:default/checkout",');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.message).toMatch(/not valid JSON/);
    const huge = await request(server)
      .post('/api/canary/rollouts/some-id/abort')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ reason: 'x'.repeat(200_000) }));
    expect(huge.status).toBe(413);
    expect(events).toEqual([
      { eventId: 'rollout-start', outcome: 'fail' },
      { eventId: 'rollout-control', outcome: 'fail' },
    ]);
  });

  it('denies a start without the permission and audits the attempt', async () => {
    const { server, events } = await start(AuthorizeResult.DENY);
    const res = await request(server)
      .post('/api/canary/rollouts')
      .set('Authorization', mockCredentials.user.header('user:default/mallory'))
      .send({ entityRef: 'component:default/checkout' });
    expect(res.status).toBe(403);
    expect(events).toEqual([{ eventId: 'rollout-start', outcome: 'fail' }]);
  });

  it('validates list filters', async () => {
    const { server } = await start();
    const res = await request(server).get(
      '/api/canary/rollouts?phase=Progressing,Sleeping',
    );
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/phase/);
    const ok = await request(server).get(
      '/api/canary/rollouts?phase=Progressing&phase=Paused&active=true&limit=5',
    );
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ items: [], nextCursor: null });
  });

  it('serves its OpenAPI document', async () => {
    const { server } = await start();
    const res = await request(server).get('/api/canary/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    // Every route of the router is described.
    expect(Object.keys(res.body.paths).sort()).toEqual([
      '/entities/{kind}/{namespace}/{name}',
      '/flagger/gates/{cluster}/{type}',
      '/health',
      '/openapi.json',
      '/rollouts',
      '/rollouts/{id}',
      '/rollouts/{id}/analysis',
      '/rollouts/{id}/events',
      '/rollouts/{id}/series',
      '/rollouts/{id}/{control}',
    ]);
  });
});
