import { createAnalyzer } from './index';
import { PrometheusClient } from './PrometheusClient';
import { Random } from './__testUtils__/random';
import { outcome, readUntilDecided } from './__testUtils__/readUntilDecided';
import {
  HEALTHY_AND_FAILING,
  RunningPrometheus,
  startPrometheus,
  startPodTraffic,
  waitForScrapes,
} from './__testUtils__/startPrometheus';

jest.setTimeout(300_000);

/**
 * The analysis reading a store fed by real remote write: one Prometheus
 * scrapes six pods every 5 s and sends its samples by remote write, in
 * batches that wait up to 30 s, to a second Prometheus (the receiver, as
 * Mimir, Cortex or Thanos Receive would be), which the analysis queries at
 * the real time. The receiver's newest samples are 0 to about 30 s old, a
 * sawtooth with each batch — not the steady lag of the store-lag test: at
 * some readings every series is older than 2.5 scrape intervals. A healthy
 * canary must still pass and one failing 30 % of its requests must still be
 * rolled back.
 */
describe('a store fed by remote write in 30 s batches', () => {
  let receiver: RunningPrometheus;
  let scraper: { url: string; stop(): Promise<void> };
  const rng = new Random(30);

  beforeAll(async () => {
    receiver = await startPrometheus([], {
      flags: ['--web.enable-remote-write-receiver'],
    });
    scraper = await startPodTraffic(HEALTHY_AND_FAILING, rng, {
      scrapeInterval: '5s',
      remoteWrite: {
        url: `${receiver.url}/api/v1/write`,
        batchSendDeadline: '30s',
      },
    });
  });

  afterAll(async () => {
    await scraper?.stop();
    await receiver?.stop();
  });

  it('passes a healthy canary and rolls back a failing one, reading the receiver', async () => {
    const client = new PrometheusClient({ url: receiver.url });
    await waitForScrapes(client, 'http_requests_total', 6, {
      timeoutMs: 120_000,
    });
    const analyzer = createAnalyzer({
      analysis: {
        provider: 'http',
        interval: '5s',
        metrics: [{ name: 'error-rate', judge: 'sequential' }],
      },
    });
    const startedAt = new Date();
    /** How old the receiver's newest sample is, at each reading. */
    const ages: number[] = [];
    // Read for 100 s (three batches or more), and until both are decided.
    const history = await readUntilDecided(analyzer, client, {
      startedAt,
      minMs: 100_000,
      moreMs: 120_000,
      onReading: async () => {
        const newest = await client.queryValue(
          'max(timestamp(http_requests_total))',
        );
        ages.push(Date.now() / 1000 - newest);
      },
    });
    // The store was behind by a batch at some readings: remote write really
    // held the samples back.
    expect(Math.max(...ages)).toBeGreaterThan(20);
    expect(outcome(history, 'app', 'advance')).toBe('advance');
    expect(history.app.map(d => d.action)).not.toContain('rollback');
    // Between batches the newest samples grow older than 2.5 scrape
    // intervals and the check holds; each batch is counted when it comes,
    // none lost: the canary requests judged keep growing, batch by batch.
    const judged = history.app
      .filter(d => d.action === 'advance')
      .map(d => Number(d.checks[0].details?.canaryRequests));
    expect(judged[judged.length - 1]).toBeGreaterThanOrEqual(2 * judged[0]);
    // Those holds say why: the samples come late, not that the pods are gone.
    const holds = history.app
      .map(d => d.checks[0].evidence)
      .filter(e => /no fresh canary samples/.test(e));
    expect(holds.length).toBeGreaterThan(0);
    for (const evidence of holds) {
      expect(evidence).toMatch(
        /or their samples come late: samples have reached Prometheus up to \d+ s after they were scraped in the last 5 minutes \(remote write in batches\?\); the check holds until they come/,
      );
    }
    expect(outcome(history, 'bad', 'rollback')).toBe('rollback');
    const rolledBack = history.bad.find(d => d.action === 'rollback')!;
    expect(rolledBack.checks[0].verdict).toBe('fail');
    expect(rolledBack.checks[0].evidence).toMatch(
      /the canary is worse than stable/,
    );
  });
});
