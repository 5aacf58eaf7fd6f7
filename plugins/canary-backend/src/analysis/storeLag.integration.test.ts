import { AnalysisDecision } from './Analyzer';
import { createAnalyzer } from './index';
import { PrometheusClient } from './PrometheusClient';
import { Random } from './__testUtils__/random';
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
describe('Prometheus samples that arrive 45 s late (remote write)', () => {
  const LAG_MS = 45_000;
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
    // The rollouts start now (the time of the store's newest samples), as
    // the analysis counts time: 45 s ago.
    const startedAt = new Date(Date.now() - 5_000);
    const history: Record<'app' | 'bad', AnalysisDecision[]> = {
      app: [],
      bad: [],
    };
    const deadline = Date.now() + 150_000;
    const done = () =>
      history.app.some(d => d.action === 'advance') &&
      history.bad.some(d => d.action === 'rollback');
    while (!done() && Date.now() < deadline) {
      for (const service of ['app', 'bad'] as const) {
        const previous = history[service][history[service].length - 1];
        history[service].push(
          await analyzer.evaluate({
            namespace: 'shop',
            service,
            stable: { name: `${service}-v1`, version: 'v1' },
            canary: { name: `${service}-v2`, version: 'v2' },
            startedAt,
            now: new Date(Date.now() + LAG_MS),
            state: previous?.state,
            failedChecks: previous?.failedChecks ?? 0,
            prometheus: client,
          }),
        );
      }
      await new Promise(r => setTimeout(r, 2000));
    }
    // On failure, what the last checks said.
    const outcome = (service: 'app' | 'bad', action: string) =>
      history[service].some(d => d.action === action)
        ? action
        : history[service]
            .slice(-3)
            .map(d => d.checks[0]?.evidence ?? '')
            .join(' | ');
    // The healthy canary passes: its counts were read, not stale.
    expect(outcome('app', 'advance')).toBe('advance');
    expect(history.app.map(d => d.action)).not.toContain('rollback');
    // The failing canary is rolled back on the sequential test.
    expect(outcome('bad', 'rollback')).toBe('rollback');
    const rolledBack = history.bad.find(d => d.action === 'rollback')!;
    expect(rolledBack.checks[0].verdict).toBe('fail');
    expect(rolledBack.checks[0].evidence).not.toMatch(/stale/);
    // The check says how far behind Prometheus is (what the tab shows).
    expect(rolledBack.checks[0].evidence).toMatch(
      /Prometheus's newest samples are about \d+ s old \(remote write\), so this reads that far back/,
    );
    expect(rolledBack.checks[0].details?.storeLagSeconds).toBeGreaterThan(40);
  });
});
