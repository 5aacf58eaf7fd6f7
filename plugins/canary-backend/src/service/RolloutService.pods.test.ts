import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from '../engine/__testUtils__/FakeCluster';
import { createEngine } from '../engine/__testUtils__/harness';
import { PODS_WAIT_MS } from './RolloutService';

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

async function service(cluster: FakeCluster) {
  const db = await databases.init('SQLITE_3');
  return (await createEngine(db, cluster)).service;
}

const rollout = {
  cluster: 'c',
  namespace: 'default',
  stable: { name: 'app-v1' },
  canary: { name: 'app-v2' },
};

describe('RolloutService.pods (what the tab shows under each version)', () => {
  it("reads both Deployments' desired and available pods", async () => {
    const cluster = new FakeCluster('versioned-subsets');
    cluster.deployments.get('app-v1')!.replicas = 8;
    cluster.deployments.get('app-v2')!.replicas = 4;
    cluster.deployments.get('app-v2')!.availableCap = 3;
    expect(await (await service(cluster)).pods(rollout)).toEqual({
      stable: { desired: 8, available: 8 },
      canary: { desired: 4, available: 3 },
    });
  });

  it('leaves out a side the cluster refuses, and answers without one it does not answer in time', async () => {
    const cluster = new FakeCluster('versioned-subsets');
    const commands = await service(cluster);
    const readiness = cluster.readiness.bind(cluster);
    cluster.readiness = async (ns: string, name: string) => {
      if (name === 'app-v2') throw new Error('503 from the API server');
      return readiness(ns, name);
    };
    expect(await commands.pods(rollout)).toEqual({
      stable: { desired: 3, available: 3 },
    });
    // A cluster that hangs: the status still answers (after PODS_WAIT_MS,
    // well within this test's 5 s), without pods.
    cluster.readiness = () => new Promise(() => {});
    expect(PODS_WAIT_MS).toBeLessThan(5000);
    expect(await commands.pods(rollout)).toEqual({});
  });
});
