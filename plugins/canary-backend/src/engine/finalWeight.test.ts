import { TestDatabases } from '@backstage/backend-test-utils';
import { isTerminalPhase } from '@coalmine/backstage-plugin-canary-common';
import { FakeCluster } from './__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from './__testUtils__/harness';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

/**
 * The weight a finished rollout shows is where the traffic ended: all of it
 * on the new version after a promotion, none after a rollback — whatever
 * step the rollout had reached.
 */
describe('the weight of a finished rollout', () => {
  async function run(
    shape: FakeCluster['shape'],
    policy: Record<string, unknown>,
    press?: { atWeight: number; control: 'promote' | 'abort' },
  ) {
    let control = press;
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster(shape);
    const clock = new TestClock();
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
    });
    const { id } = await service.start({
      resolved: resolved('component:default/app', policy),
      cluster: 'c',
      startedBy: 'user:default/jane',
    });
    for (let i = 0; i < 100; i++) {
      await engine.idle();
      await engine.tick();
      const r = (await store.get(id))!;
      if (isTerminalPhase(r.phase)) return r;
      if (
        control &&
        r.phase === 'Progressing' &&
        r.weight === control.atWeight
      ) {
        await service.control(id, control.control, 'user:default/jane');
        control = undefined;
      }
      clock.advance(10_000);
    }
    throw new Error('the rollout did not finish');
  }

  it('is 100 % for a replica-ratio rollout promoted at its last step of 50 %', async () => {
    const done = await run('replica-ratio', {
      trafficProvider: 'replicas',
      steps: [10, 50],
      analysis: { interval: '10s' },
    });
    expect(done.phase).toBe('Succeeded');
    expect(done.weight).toBe(100);
    expect(done.actualWeight).toBe(100);
  });

  it('is 100 % for a fixed-subsets rollout promoted by hand at 25 %', async () => {
    const done = await run(
      'fixed-subsets',
      {
        trafficProvider: 'istio',
        steps: [5, 25, 50, 100],
        analysis: { interval: '10s' },
      },
      { atWeight: 25, control: 'promote' },
    );
    expect(done.phase).toBe('Succeeded');
    expect(done.weight).toBe(100);
  });

  it('is 0 % for a replica-ratio rollout aborted at 50 %', async () => {
    const done = await run(
      'replica-ratio',
      {
        trafficProvider: 'replicas',
        steps: [10, 50, 100],
        analysis: { interval: '10s' },
      },
      { atWeight: 50, control: 'abort' },
    );
    expect(done.phase).toBe('Aborted');
    expect(done.weight).toBe(0);
    expect(done.actualWeight ?? 0).toBe(0);
  });
});
