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

  it('does not wait again, nor ask again, for a Deployment whose read the cluster has not answered', async () => {
    const cluster = new FakeCluster('versioned-subsets');
    const commands = await service(cluster);
    const readiness = cluster.readiness.bind(cluster);
    let release: () => void = () => {};
    const hanging = new Promise<void>(resolve => (release = resolve));
    const asked: string[] = [];
    cluster.readiness = async (ns: string, name: string) => {
      asked.push(name);
      if (name === 'app-v2') await hanging;
      return readiness(ns, name);
    };
    const first = Date.now();
    expect(await commands.pods(rollout)).toEqual({
      stable: { desired: 3, available: 3 },
    });
    expect(Date.now() - first).toBeGreaterThanOrEqual(PODS_WAIT_MS - 50);
    // The canary's read still hangs: the next status leaves it out without
    // another request, and without waiting for it (only the stable is read).
    const second = Date.now();
    expect(await commands.pods(rollout)).toEqual({
      stable: { desired: 3, available: 3 },
    });
    expect(Date.now() - second).toBeLessThan(PODS_WAIT_MS);
    expect(asked).toEqual(['app-v1', 'app-v2', 'app-v1']);
    // Once the cluster answers, the side is read again.
    release();
    await hanging;
    await new Promise(resolve => setImmediate(resolve));
    expect(await commands.pods(rollout)).toEqual({
      stable: { desired: 3, available: 3 },
      canary: { desired: 2, available: 2 },
    });
    expect(asked).toEqual(['app-v1', 'app-v2', 'app-v1', 'app-v1', 'app-v2']);
  });
});
