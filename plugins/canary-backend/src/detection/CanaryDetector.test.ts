import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from '../config/CanaryConfig';
import { CanaryDetector, DETECTOR_ACTOR } from './CanaryDetector';
import { FakeCluster } from '../engine/__testUtils__/FakeCluster';
import { createEngine } from '../engine/__testUtils__/harness';

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const entity = (name: string, policy: string) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name,
    annotations: {
      'coalmine.io/policy': policy,
      'backstage.io/kubernetes-id': 'app',
    },
  },
  spec: {},
});

describe('CanaryDetector', () => {
  it('starts a rollout when the canary gets a new pod template, only for autoStart policies', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('fixed-subsets');
    // The Service is bound to auto-app (coalmine.io/entity).
    cluster.boundEntities = ['component:default/auto-app'];
    const { engine, service, store } = await createEngine(db, cluster);
    const config = readCanaryConfig(
      new ConfigReader({
        kubernetes: {
          clusterLocatorMethods: [
            { type: 'config', clusters: [{ name: 'c', url: 'http://x' }] },
          ],
        },
        canary: {
          policies: {
            auto: { trafficProvider: 'istio', autoStart: true },
            manual: { trafficProvider: 'istio' },
          },
        },
      }),
    );
    const detector = new CanaryDetector({
      catalog: catalogServiceMock({
        entities: [entity('auto-app', 'auto'), entity('manual-app', 'manual')],
      }),
      auth: mockServices.auth(),
      store,
      rollouts: service,
      clusters: cluster,
      config,
      logger: mockServices.logger.mock(),
    });
    await detector.run();
    expect(await store.list()).toEqual([]);
    await detector.run();
    expect(await store.list()).toEqual([]);
    // CI applies a new canary template.
    const canary = cluster.deployments.get('app-canary')!;
    canary.image = 'reg/app:v9';
    canary.template++;
    await detector.run();
    await engine.idle();
    const rollouts = await store.list();
    expect(rollouts.map(r => [r.entityRef, r.startedBy])).toEqual([
      ['component:default/auto-app', DETECTOR_ACTOR],
    ]);
    await detector.run();
    expect(await store.list()).toHaveLength(1);
  });
});
