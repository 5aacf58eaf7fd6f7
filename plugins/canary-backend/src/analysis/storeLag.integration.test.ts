import { createAnalyzer } from './index';
import { PrometheusClient } from './PrometheusClient';
import { Random } from './__testUtils__/random';
import {
  shopCountAnalyzer,
  outcome,
  readUntilDecided,
} from './__testUtils__/readUntilDecided';
import {
  HEALTHY_AND_FAILING,
  startPodTraffic,
  waitForScrapes,
} from './__testUtils__/startPrometheus';

jest.setTimeout(240_000);

/**
 * A store that is behind, as remote write makes it (Mimir, Cortex, Thanos
 * Receive, a managed Prometheus): the analysis runs 45 s ahead of a real
 * Prometheus scraping every 5 s, so each query — evaluated at the
 * analysis's time — has samples up to 45 s old, nine scrape intervals.
 * Measured from the analysis's time every series would be stale at every
 * reading (the gate inconclusive forever); measured from the time the store
 * is behind by, a healthy canary passes and one failing 30 % of its
 * requests is rolled back.
 */
const LAG_MS = 45_000;

/**
 * The analysis 45 s ahead of the store; the rollouts start now (the time
 * of the store's newest samples), as the analysis counts time: 45 s ago.
 */
const readAhead = () => ({
  startedAt: new Date(Date.now() - 5_000),
  aheadMs: LAG_MS,
});

describe('Prometheus samples that arrive 45 s late (remote write)', () => {
  let prometheus: { url: string; stop(): Promise<void> };
  const rng = new Random(45);

  beforeAll(async () => {
    prometheus = await startPodTraffic(HEALTHY_AND_FAILING, rng, {
      scrapeInterval: '5s',
    });
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('judges on the samples the store has: passes a healthy canary, rolls back a failing one', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    await waitForScrapes(client, 'http_requests_total', 6, {
      timeoutMs: 90_000,
    });
    const analyzer = createAnalyzer({
      analysis: {
        provider: 'http',
        interval: '5s',
        metrics: [{ name: 'error-rate', judge: 'sequential' }],
      },
    });
    const history = await readUntilDecided(analyzer, client, readAhead());
    // The healthy canary passes: its counts were read, not stale.
    expect(outcome(history, 'app', 'advance')).toBe('advance');
    expect(history.app.map(d => d.action)).not.toContain('rollback');
    // The failing canary is rolled back on the sequential test.
    expect(outcome(history, 'bad', 'rollback')).toBe('rollback');
    const rolledBack = history.bad.find(d => d.action === 'rollback')!;
    expect(rolledBack.checks[0].verdict).toBe('fail');
    expect(rolledBack.checks[0].evidence).not.toMatch(/stale/);
    // The check says how far behind Prometheus is (what the tab shows).
    expect(rolledBack.checks[0].evidence).toMatch(
      /Prometheus's newest samples are about \d+ s old \(remote write\), so this reads that far back/,
    );
    expect(rolledBack.checks[0].details?.storeLagSeconds).toBeGreaterThan(40);
  });

  it('reads count templates as written up to the samples the store has, losing none between windows', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    await waitForScrapes(client, 'http_requests_total', 6, {
      timeoutMs: 90_000,
    });
    const analyzer = shopCountAnalyzer('5s');
    const history = await readUntilDecided(analyzer, client, {
      ...readAhead(),
      minMs: 150_000,
    });
    expect(outcome(history, 'app', 'advance')).toBe('advance');
    expect(history.app.map(d => d.action)).not.toContain('rollback');
    expect(outcome(history, 'bad', 'rollback')).toBe('rollback');
    // Where the windows ended (the analysis's state: counted up to).
    type Counted = { gates: Record<string, { counted?: { at: number } }> };
    const ends = [
      ...new Set(
        history.app.flatMap(d => {
          const at = (d.state as Counted).gates['error-rate']?.counted?.at;
          return at === undefined ? [] : [at];
        }),
      ),
    ];
    expect(ends.length).toBeGreaterThanOrEqual(2);
    // Each window ended at the store's newest sample, about 45 s before
    // the analysis's time, and the judged counts are what the canary pod
    // served from the first window's end to the last's (its counter in
    // Prometheus), not the quarter of it windows ending at the analysis's
    // time would see.
    const last = history.app[history.app.length - 1].checks[0];
    const served = async (at: number) =>
      client.queryValue(
        'sum(http_requests_total{namespace="shop",pod=~"app-v2-.*"})',
        { time: new Date(at * 1000) },
      );
    const truth =
      (await served(ends[ends.length - 1])) - (await served(ends[0]));
    const judged = Number(last.details?.canaryRequests);
    expect(judged).toBeGreaterThan(0.9 * truth);
    expect(judged).toBeLessThan(1.1 * truth);
    expect(last.details?.storeLagSeconds).toBeGreaterThanOrEqual(40);
  });
});
