import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import { canaryPlugin } from '../plugin';

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
        clusters: [{ name: 'sandbox', url: 'http://127.0.0.1:1', authProvider: 'serviceAccount' }],
      },
    ],
  },
  canary: {
    policies: {
      standard: { trafficProvider: 'istio', steps: [5, 25, 50, 75, 100] },
    },
  },
};

async function start(permission: AuthorizeResult.ALLOW | AuthorizeResult.DENY = AuthorizeResult.ALLOW) {
  const auditor = mockServices.auditor.mock();
  const events: Array<{ eventId: string; outcome?: string }> = [];
  auditor.createEvent.mockImplementation(async opts => {
    const entry: { eventId: string; outcome?: string } = { eventId: opts.eventId };
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
    ],
  });
  return { server, events };
}

describe('canary router', () => {
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
    const res = await request(server).get('/api/canary/entities/component/default/checkout');
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
      problems: [],
      active: null,
      history: [],
    });
  });

  it('reports wrong annotations as problems naming the key, not a 500', async () => {
    const { server } = await start();
    const res = await request(server).get('/api/canary/entities/component/default/broken');
    expect(res.status).toBe(200);
    expect(res.body.target).toBeNull();
    const keys = res.body.problems.map((p: { key: string }) => p.key);
    expect(keys).toEqual(
      expect.arrayContaining(['coalmine.io/policy', 'coalmine.io/cluster', 'coalmine.io/workload', 'coalmine.io/overrides']),
    );
    expect(JSON.stringify(res.body.problems)).toContain('standard');
    expect(JSON.stringify(res.body.problems)).toContain('colour');
  });

  it('answers 404 for an unknown entity and 403 without the read permission', async () => {
    const { server } = await start();
    expect((await request(server).get('/api/canary/entities/component/default/missing')).status).toBe(404);
    const denied = await start(AuthorizeResult.DENY);
    expect((await request(denied.server).get('/api/canary/entities/component/default/checkout')).status).toBe(403);
  });
});
