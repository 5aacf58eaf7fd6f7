import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from './__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from './__testUtils__/harness';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

describe('analysis results at scale', () => {
  it('keeps a result on every change of verdict and as a sample, and always the latest check', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('versioned-subsets');
    const clock = new TestClock();
    // The gate's verdict over the run: inconclusive, then passing, one failure, passing again.
    const script = [
      ...Array(7).fill('inconclusive'),
      ...Array(5).fill('pass'),
      'fail',
      ...Array(4).fill('pass'),
    ] as Array<'inconclusive' | 'pass' | 'fail'>;
    let call = 0;
    const analyzer = {
      hasGates: () => true,
      evaluate: jest.fn(async () => {
        const n = call++;
        const verdict = script[Math.min(n, script.length - 1)];
        return {
          action: 'hold' as const,
          reason: `check ${n + 1}: ${verdict}`,
          checks: [
            {
              metric: 'error-rate',
              judge: 'sequential' as const,
              canaryValue: 0,
              stableValue: 0,
              verdict,
              evidence: `check ${n + 1}`,
            },
          ],
          failedChecks: 0,
          state: {},
        };
      }),
      series: async () => [],
    };
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
      analyzer,
      analysisSampleMs: 30_000,
    });
    const { id } = await service.start({
      resolved: resolved('component:default/app', {
        trafficProvider: 'istio',
        steps: [10, 100],
        analysis: { interval: '10s' },
      }),
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    for (let i = 0; i < script.length; i++) {
      clock.advance(10_000);
      await engine.tick();
    }
    await engine.idle();
    const checks = analyzer.evaluate.mock.calls.length;
    expect(checks).toBe(script.length);
    const rows = (await store.analysis(id)).map(r => r.reason);
    expect(rows).toEqual([
      'check 1: inconclusive', // the first
      'check 4: inconclusive', // a sample 30 s later
      'check 7: inconclusive', // another
      'check 8: pass', // the verdict changed
      'check 11: pass', // a sample
      'check 13: fail', // changed
      'check 14: pass', // changed back
      `check ${checks}: pass`, // the latest, whatever came in between
    ]);
    // The phase events are untouched by this: a hold never adds an event after the first.
    const analysisEvents = (await store.events(id)).filter(
      e => e.type === 'analysis',
    );
    expect(analysisEvents).toHaveLength(1);
  });
});
