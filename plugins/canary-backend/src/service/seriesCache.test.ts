import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster } from '../engine/__testUtils__/FakeCluster';
import {
  TestClock,
  createEngine,
  resolved,
} from '../engine/__testUtils__/harness';
import type { RolloutAnalyzer } from '../domain/ports';
import { SERIES_SPAN_MS } from './RolloutService';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

/** An analyzer that records every series question and answers once released. */
function countingAnalyzer() {
  const asked: Array<{ from: number; to: number }> = [];
  let fail = false;
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const analyzer: RolloutAnalyzer = {
    hasGates: () => false,
    evaluate: async () => {
      throw new Error('not used');
    },
    series: async request => {
      asked.push({ from: request.from, to: request.to });
      await gate;
      if (fail) throw new Error('connect ECONNREFUSED 10.0.0.9:9090');
      return [{ metric: 'error-rate', canary: [], stable: [] }];
    },
  };
  return {
    analyzer,
    asked,
    hold() {
      gate = new Promise(resolve => {
        release = resolve;
      });
    },
    release: () => release(),
    failing(on: boolean) {
      fail = on;
    },
  };
}

async function setUp() {
  const clock = new TestClock();
  const counting = countingAnalyzer();
  const { service, store } = await createEngine(
    await databases.init('SQLITE_3'),
    new FakeCluster('versioned-subsets'),
    { clock, analyzer: counting.analyzer },
  );
  const started = await service.start({
    resolved: resolved('component:default/app', {
      trafficProvider: 'istio',
      steps: [5, 25, 50, 75, 100],
      analysis: { interval: '10s' },
    }),
    cluster: 'c',
    startedBy: 'user:default/jane',
  });
  return { clock, service, store, counting, id: started.id };
}

describe('RolloutService.series', () => {
  it('asks Prometheus once per analysis interval however many viewers ask', async () => {
    const { clock, service, store, counting, id } = await setUp();
    clock.advance(25_000);
    const r = (await store.get(id))!;
    // Fifty viewers at once while the first answer is still on its way.
    counting.hold();
    const answers = Promise.all(
      Array.from({ length: 50 }, () => service.series(r)),
    );
    counting.release();
    expect((await answers).every(a => a[0].metric === 'error-rate')).toBe(true);
    expect(counting.asked).toHaveLength(1);
    // Later within the same interval: still the one answer.
    clock.advance(4_000);
    await service.series(r);
    expect(counting.asked).toHaveLength(1);
    // The next interval: one new question, ending at its start.
    clock.advance(10_000);
    await service.series(r);
    expect(counting.asked).toHaveLength(2);
    expect(counting.asked[1].to % 10_000).toBe(0);
  });

  it('covers a fixed span however old the rollout is', async () => {
    const { clock, service, store, counting, id } = await setUp();
    const r = (await store.get(id))!;
    clock.advance(30 * 60_000);
    await service.series(r);
    expect(counting.asked[0].from).toBe(r.createdAt);
    clock.advance(5 * 60 * 60_000);
    await service.series(r);
    const { from, to } = counting.asked[1];
    expect(to - from).toBe(SERIES_SPAN_MS);
  });

  it('shares a failure for the interval and answers it as Prometheus being unavailable', async () => {
    const { clock, service, store, counting, id } = await setUp();
    clock.advance(15_000);
    const r = (await store.get(id))!;
    counting.failing(true);
    await expect(service.series(r)).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
      message: expect.stringMatching(/Metrics for rollout .* are unavailable/),
    });
    await expect(service.series(r)).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
    });
    expect(counting.asked).toHaveLength(1);
    counting.failing(false);
    clock.advance(10_000);
    await expect(service.series(r)).resolves.toHaveLength(1);
    expect(counting.asked).toHaveLength(2);
  });
});
