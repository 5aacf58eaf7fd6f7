import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from '../__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from '../__testUtils__/harness';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const policy = {
  trafficProvider: 'istio',
  steps: [20, 50, 100],
  analysis: { interval: '10s' },
  allowedImages: ['reg/'],
};

async function setup(bindingRecheckMs?: number) {
  const db = await databases.init('SQLITE_3');
  const cluster = new FakeCluster('versioned-subsets');
  const clock = new TestClock();
  const harness = await createEngine(db, cluster, { clock, bindingRecheckMs });
  return { cluster, clock, ...harness };
}

describe('binding', () => {
  it('refuses a start before any write when the Service is not bound to the component', async () => {
    const { cluster, service, store } = await setup();
    await expect(
      service.start({
        resolved: resolved('component:default/intruder', policy),
        cluster: 'c',
        image: 'reg/app:v2',
        startedBy: 'user:default/mallory',
      }),
    ).rejects.toMatchObject({
      name: 'NotAllowedError',
      message: expect.stringContaining(
        'add the annotation coalmine.io/entity: component:default/intruder',
      ),
    });
    expect(await store.list()).toEqual([]);
    expect(cluster.routeWrites).toEqual([]);
    expect(cluster.scaleWrites).toEqual([]);
  });

  it("refuses an image outside the policy's allowedImages with 400 naming the field", async () => {
    const { service, store } = await setup();
    await expect(
      service.start({
        resolved: resolved('component:default/app', policy),
        cluster: 'c',
        image: 'evil.example/x:1',
        startedBy: 'u',
      }),
    ).rejects.toMatchObject({
      name: 'InputError',
      message: expect.stringMatching(
        /^body field image: "evil\.example\/x:1" is not allowed by canary\.policies\.test-\d+\.allowedImages \(reg\/\)$/,
      ),
    });
    expect(await store.list()).toEqual([]);
  });

  it('aborts to stable at the next pass when the binding is removed', async () => {
    const { cluster, clock, engine, service, store } = await setup();
    const { id } = await service.start({
      resolved: resolved('component:default/app', policy),
      cluster: 'c',
      image: 'reg/app:v2',
      startedBy: 'u',
    });
    await engine.idle();
    expect((await store.get(id))!.weight).toBe(20);
    cluster.boundEntities = ['component:default/someone-else'];
    clock.advance(10_000);
    await engine.tick();
    await engine.idle();
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await engine.tick();
      await engine.idle();
    }
    const r = (await store.get(id))!;
    expect(r.phase).toBe('Aborted');
    expect(r.message).toMatch(/no longer bound to component:default\/app/);
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([20, 0]);
  });

  it('checks the binding before every forward write even when looking passes trust a recent check', async () => {
    const { cluster, clock, engine, service, store } = await setup(600_000);
    const { id } = await service.start({
      resolved: resolved('component:default/app', {
        ...policy,
        steps: [{ weight: 20, pause: '1m' }, 50, 100],
      }),
      cluster: 'c',
      image: 'reg/app:v2',
      startedBy: 'u',
    });
    await engine.idle();
    expect((await store.get(id))!.weight).toBe(20);
    cluster.boundEntities = ['component:default/someone-else'];
    // Passes that only look trust the check of ten minutes: the canary keeps 20 %.
    for (let i = 0; i < 3; i++) {
      clock.advance(10_000);
      await engine.tick();
      await engine.idle();
    }
    expect((await store.get(id))!.phase).toBe('Progressing');
    // The next step is a forward write: it checks, finds the binding gone and aborts.
    for (let i = 0; i < 6; i++) {
      clock.advance(10_000);
      await engine.tick();
      await engine.idle();
    }
    const r = (await store.get(id))!;
    expect(r.phase).toBe('Aborted');
    expect(r.message).toMatch(/no longer bound to component:default\/app/);
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([20, 0]);
  });
});
