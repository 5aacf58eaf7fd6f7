import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from './__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from './__testUtils__/harness';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const REASON =
  'hard stop — error-rate: canary 36.4 % (4 of 11) vs stable 1.1 %';

/** An analyzer that holds once, then fails the canary. */
function failingAnalyzer() {
  let call = 0;
  return {
    hasGates: () => true,
    evaluate: jest.fn(async () => {
      const action = call++ === 0 ? ('hold' as const) : ('rollback' as const);
      return {
        action,
        reason: action === 'rollback' ? REASON : 'too little traffic yet',
        checks: [],
        failedChecks: action === 'rollback' ? 1 : 0,
        state: {},
      };
    }),
    series: async () => [],
  };
}

describe('the timeline of a rollback by the analysis', () => {
  it('tells the failed verdict once before the rollback ends, in the "Rolling back" phase event', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('versioned-subsets');
    const clock = new TestClock();
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
      analyzer: failingAnalyzer(),
    });
    const { id } = await service.start({
      resolved: resolved('component:default/app', {
        trafficProvider: 'istio',
        steps: [5, 50, 100],
        analysis: { interval: '10s' },
      }),
      cluster: 'c',
      startedBy: 'user:default/jane',
    });
    for (let i = 0; i < 30; i++) {
      await engine.idle();
      await engine.tick();
      if ((await store.get(id))!.phase === 'RolledBack') break;
      clock.advance(10_000);
    }
    expect((await store.get(id))!.phase).toBe('RolledBack');

    const events = await store.events(id);
    const rollingBack = events.filter(e =>
      e.message.startsWith('Rolling back:'),
    );
    expect(rollingBack).toHaveLength(1);
    expect(rollingBack[0].type).toBe('phase');
    expect(rollingBack[0].message).toContain(REASON);
    // Until the rollback ends, no other event repeats the verdict.
    const beforeEnd = events.filter(
      e => e.type !== 'phase' || e.data?.to !== 'RolledBack',
    );
    expect(beforeEnd.filter(e => e.message.includes(REASON))).toEqual([
      rollingBack[0],
    ]);
    // The analysis that failed is still stored, with its verdict.
    expect((await store.analysis(id)).map(a => a.action)).toEqual([
      'hold',
      'rollback',
    ]);
    // Other changes of verdict keep their event.
    expect(
      events.filter(e => e.type === 'analysis').map(e => e.data?.action),
    ).toEqual(['hold']);
  });
});
