import { AnalysisDecision, Analyzer } from './Analyzer';
import { createTemplateRegistry } from './config';
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
const LAG_MS = 45_000;

/**
 * Evaluates `app` and `bad` every 2 s, 45 s ahead of the store (as the
 * analysis counts time), until the healthy one has advanced and the
 * failing one is rolled back, and for at least `minMs`; at most 150 s more.
 */
async function readAheadUntilDecided(
  analyzer: Analyzer,
  client: PrometheusClient,
  minMs = 0,
): Promise<History> {
  // The rollouts start now (the time of the store's newest samples), as
  // the analysis counts time: 45 s ago.
  const startedAt = new Date(Date.now() - 5_000);
  const history: History = { app: [], bad: [] };
  const until = Date.now() + minMs;
  const deadline = until + 150_000;
  const done = () =>
    history.app.some(d => d.action === 'advance') &&
    history.bad.some(d => d.action === 'rollback');
  while ((!done() || Date.now() < until) && Date.now() < deadline) {
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
  return history;
}

type History = Record<'app' | 'bad', AnalysisDecision[]>;

/** `action` if a decision took it, else what the last checks said (shown on failure). */
function outcome(history: History, service: 'app' | 'bad', action: string) {
  return history[service].some(d => d.action === action)
    ? action
    : history[service]
        .slice(-3)
        .map(d => d.checks[0]?.evidence ?? '')
        .join(' | ');
}

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
    const history = await readAheadUntilDecided(analyzer, client);
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
    // Custom count templates Prometheus computes itself (`or vector(0)`:
    // not a plain sum of increase(), so read as written, over windows that
    // tile time).
    const count = (errors: boolean) =>
      `sum(increase(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-[a-z0-9]+-[a-z0-9]+"${
        errors ? ',code=~"5.."' : ''
      }}[{{ elapsed }}])) or vector(0)`;
    const analyzer = createAnalyzer({
      templates: createTemplateRegistry({
        'shop-errors': { query: count(true), kind: 'count' },
        'shop-requests': { query: count(false), kind: 'count' },
      }),
      analysis: {
        interval: '5s',
        trafficSplit: false,
        metrics: [
          {
            name: 'error-rate',
            judge: 'sequential',
            errors: 'shop-errors',
            requests: 'shop-requests',
          },
        ],
      },
    });
    const history = await readAheadUntilDecided(analyzer, client, 150_000);
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
