import { AnalysisDecision } from './Analyzer';
import { createAnalyzer } from './index';
import { PrometheusClient } from './PrometheusClient';
import { Random } from './__testUtils__/random';
import {
  startScrapedService,
  waitForScrapes,
} from './__testUtils__/startPrometheus';

jest.setTimeout(180_000);

/**
 * A new version that exports its request counter with another status label
 * — `status` where the stable has `code` — and fails 10 % of its requests.
 * Application metrics (`http` provider) from three pods, scraped every
 * second by a real Prometheus. The error selector `code=~"5.."` matches
 * none of the canary's series; read as zero errors, the failing canary
 * would pass.
 */
describe('a canary whose request counter has another status label', () => {
  const pods = [
    { pod: 'app-v1-7d9f8b6c5-abcde', arm: 'stable', label: 'code', rate: 0.01 },
    { pod: 'app-v1-7d9f8b6c5-fghij', arm: 'stable', label: 'code', rate: 0.01 },
    {
      pod: 'app-v2-5c4b3a2d1-klmno',
      arm: 'canary',
      label: 'status',
      rate: 0.1,
    },
  ].map(p => ({ ...p, counts: {} as Record<string, number> }));
  let prometheus: { url: string; stop(): Promise<void> };
  const rng = new Random(5);

  beforeAll(async () => {
    const serve = () => {
      for (const p of pods) {
        for (let i = 0; i < (p.arm === 'canary' ? 10 : 30); i++) {
          const code = rng.next() < p.rate ? '500' : '200';
          p.counts[code] = (p.counts[code] ?? 0) + 1;
        }
      }
    };
    const render = () =>
      [
        '# TYPE http_requests_total counter',
        ...pods.flatMap(p =>
          Object.entries(p.counts).map(
            ([code, n]) =>
              `http_requests_total{namespace="shop",pod="${p.pod}",method="GET",${p.label}="${code}"} ${n}`,
          ),
        ),
        '',
      ].join('\n');
    prometheus = await startScrapedService(render, serve);
  });

  afterAll(async () => {
    await prometheus?.stop();
  });

  it('holds, naming the label, instead of passing a failing canary', async () => {
    const client = new PrometheusClient({ url: prometheus.url });
    await waitForScrapes(client, 'http_requests_total', 5);
    const analyzer = createAnalyzer({
      analysis: {
        provider: 'http',
        interval: '5s',
        metrics: [{ name: 'error-rate', judge: 'sequential' }],
      },
    });
    const startedAt = new Date(Date.now() - 20_000);
    const history: AnalysisDecision[] = [];
    let decision: AnalysisDecision | undefined;
    for (let tick = 0; tick < 15; tick++) {
      decision = await analyzer.evaluate({
        namespace: 'shop',
        service: 'app',
        stable: { name: 'app-v1', version: 'v1' },
        canary: { name: 'app-v2', version: 'v2' },
        startedAt,
        state: decision?.state,
        failedChecks: decision?.failedChecks ?? 0,
        prometheus: client,
      });
      history.push(decision);
      await new Promise(r => setTimeout(r, 2000));
    }
    // 15 ticks over 30 s of 100 canary requests/s: the error test would
    // have passed on zero canary errors long before.
    expect(history.map(d => d.action)).not.toContain('advance');
    const checks = history.map(d => d.checks[0]);
    expect(checks.some(c => c.verdict === 'pass')).toBe(false);
    const last = checks[checks.length - 1];
    expect(last.verdict).toBe('inconclusive');
    expect(last.evidence).toMatch(
      /the canary's http_requests_total series carry no "code" label, so its errors \(code=~"5\.\."\) cannot be counted/,
    );
  });
});
