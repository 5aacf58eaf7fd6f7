import { JsonObject } from '@backstage/types';
import { Sandbox, startSandbox } from '@coalmine/sandbox';
import { AnalysisContext, AnalysisDecision, Analyzer } from './Analyzer';
import { createAnalyzer, MetricsProvider } from './index';
import { PrometheusClient } from './PrometheusClient';
import {
  RunningPrometheus,
  startPrometheus,
} from './__testUtils__/startPrometheus';

jest.setTimeout(240_000);

const NS = 'shop';

/** A service with a stable and a canary Deployment and an Istio 80/20 split. */
function world(service: string, canaryImageTag: string): string {
  const deployment = (version: string, tag: string, replicas: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${service}-${version}, namespace: ${NS} }
spec:
  replicas: ${replicas}
  selector: { matchLabels: { app: ${service}, version: ${version} } }
  template:
    metadata: { labels: { app: ${service}, version: ${version} } }
    spec:
      containers:
        - name: app
          image: shop/${service}:${tag}
`;
  return `
apiVersion: v1
kind: Service
metadata: { name: ${service}, namespace: ${NS} }
spec: { selector: { app: ${service} }, ports: [{ port: 80 }] }
---
${deployment('v1', 'v1', 2)}
---
${deployment('v2', canaryImageTag, 1)}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: { name: ${service}, namespace: ${NS} }
spec:
  host: ${service}
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: ${service}, namespace: ${NS} }
spec:
  hosts: [${service}]
  http:
    - route:
        - { destination: { host: ${service}, subset: v1 }, weight: 80 }
        - { destination: { host: ${service}, subset: v2 }, weight: 20 }
`;
}

/**
 * The Analyzer against the sandbox: simulated Istio traffic, scraped every
 * second by a real Prometheus, judged through the real HTTP API.
 */
describe('Analyzer on the sandbox', () => {
  let sandbox: Sandbox;
  let prometheus: PrometheusClient;
  let startedAt: Date;

  beforeAll(async () => {
    sandbox = await startSandbox({
      prometheus: true,
      readinessDelayMs: 100,
      seed: 7,
    });
    await sandbox.apply(
      `apiVersion: v1\nkind: Namespace\nmetadata: { name: ${NS} }\n`,
    );
    for (const [service, tag] of [
      ['healthy', 'v2'],
      ['faulty', 'v2-errors10'],
      ['slow', 'v2-slow100'],
      ['slow3x', 'v2-slow200'],
    ]) {
      await sandbox.apply(world(service, tag));
      await sandbox.waitForDeployment(NS, `${service}-v1`);
      await sandbox.waitForDeployment(NS, `${service}-v2`);
      sandbox.traffic.start({ service, namespace: NS, rps: 200 });
    }
    startedAt = new Date();
    prometheus = new PrometheusClient({ url: sandbox.prometheusUrl! });
  });

  afterAll(async () => {
    await sandbox?.stop();
  });

  function context(
    service: string,
    previous?: AnalysisDecision,
    provider: MetricsProvider = 'istio',
  ): AnalysisContext {
    return {
      namespace: NS,
      service,
      route: service,
      stable: { name: `${service}-v1`, version: 'v1' },
      canary: { name: `${service}-v2`, version: 'v2' },
      provider,
      startedAt,
      state: previous?.state as JsonObject | undefined,
      failedChecks: previous?.failedChecks ?? 0,
      prometheus,
    };
  }

  /** Ticks every second until `until` holds for a decision or the deadline passes. */
  async function tickUntil(
    analyzer: Analyzer,
    service: string,
    until: (d: AnalysisDecision) => boolean,
    timeoutMs = 120_000,
    provider: MetricsProvider = 'istio',
  ): Promise<{ decision: AnalysisDecision; history: AnalysisDecision[] }> {
    const history: AnalysisDecision[] = [];
    const deadline = Date.now() + timeoutMs;
    let decision: AnalysisDecision | undefined;
    for (;;) {
      decision = await analyzer.evaluate(context(service, decision, provider));
      history.push(decision);
      if (until(decision) || decision.action === 'rollback')
        return { decision, history };
      if (Date.now() > deadline) return { decision, history };
      await new Promise(r => setTimeout(r, 1000));
    }
  }

  it('rolls back a canary with 10 % errors, naming the failing check', async () => {
    const analyzer = createAnalyzer({ analysis: {} });
    const { decision } = await tickUntil(analyzer, 'faulty', () => false);
    expect(decision.action).toBe('rollback');
    const failing = decision.checks.find(c => c.verdict === 'fail')!;
    expect(failing.metric).toBe('error-rate');
    expect(failing.judge).toBe('sequential');
    expect(failing.evidence).toMatch(
      /^canary error rate \d+(\.\d+)? % \(\d+ of \d+\) vs stable \d+(\.\d+)? % /,
    );
    expect(decision.reason).toMatch(/^hard stop — error-rate: /);
  });

  it('advances a healthy canary and never rolls it back on the way', async () => {
    const analyzer = createAnalyzer({ analysis: {} });
    let advances = 0;
    const { decision, history } = await tickUntil(analyzer, 'healthy', d => {
      if (d.action === 'advance') advances++;
      return advances >= 5;
    });
    expect(history.every(d => d.action !== 'rollback')).toBe(true);
    expect(advances).toBe(5);
    expect(decision.action).toBe('advance');
    expect(decision.checks.map(c => [c.metric, c.verdict])).toEqual([
      ['error-rate', 'pass'],
      ['latency', 'pass'],
    ]);
    expect(decision.checks[1].evidence).toMatch(
      /^canary share of requests slower than \d+ ms /,
    );
  });

  it('rolls back a canary with 3× the latency within two 10 s analysis intervals of its first reading', async () => {
    const analyzer = createAnalyzer({ analysis: { interval: '10s' } });
    // A fresh rollout: the weight applies now, the engine asks every 10 s.
    const begin = new Date();
    let decision: AnalysisDecision | undefined;
    const actions: string[] = [];
    for (let tick = 0; tick < 3; tick++) {
      if (tick > 0) await new Promise(r => setTimeout(r, 10_000));
      decision = await analyzer.evaluate({
        ...context('slow3x', decision),
        startedAt: begin,
        stepStartedAt: begin,
        weight: 20,
      });
      actions.push(decision.action);
      if (decision.action === 'rollback') break;
    }
    // The first reading starts the first slice; at most two more decide.
    expect(actions[actions.length - 1]).toBe('rollback');
    expect(actions.length).toBeLessThanOrEqual(3);
    expect(decision!.reason).toMatch(/^hard stop — latency: /);
  });

  it('fails the relative p99 gate for a canary twice as slow', async () => {
    const analyzer = createAnalyzer({
      analysis: {
        interval: '1s',
        metrics: [
          {
            name: 'request-duration',
            interval: '15s',
            relative: { maxRatio: 1.2, minRequests: 50 },
          },
        ],
      },
    });
    const { decision } = await tickUntil(
      analyzer,
      'slow',
      d => d.checks[0]?.verdict === 'fail',
    );
    const check = decision.checks[0];
    expect(check.verdict).toBe('fail');
    expect(check.canaryValue!).toBeGreaterThan(1.2 * check.stableValue!);
    expect(check.evidence).toMatch(
      /^canary request duration \d+(\.\d+)? ms vs stable \d+(\.\d+)? ms .* is above the bound ≤ 1\.2 × stable/,
    );
    expect(decision.action).toBe('hold');
    expect(decision.failedChecks).toBe(1);

    // The default policy's latency gate stops the same canary outright.
    const defaults = createAnalyzer({ analysis: {} });
    const stopped = await tickUntil(defaults, 'slow', () => false);
    expect(stopped.decision.action).toBe('rollback');
    expect(stopped.decision.reason).toMatch(
      /^hard stop — latency: canary share of requests slower than 250 ms/,
    );
  });

  it.each(['http', 'linkerd'] as const)(
    'judges with the %s templates too: errors and slowness roll back, healthy advances',
    async provider => {
      const analyzer = createAnalyzer({ analysis: { provider } });
      const faulty = await tickUntil(
        analyzer,
        'faulty',
        () => false,
        120_000,
        provider,
      );
      expect(faulty.decision.reason).toMatch(
        /^hard stop — error-rate: canary error rate/,
      );
      const slow = await tickUntil(
        analyzer,
        'slow',
        () => false,
        120_000,
        provider,
      );
      expect(slow.decision.reason).toMatch(
        /^hard stop — latency: canary share of requests slower than [\d.]+ m?s /,
      );
      const healthy = await tickUntil(
        analyzer,
        'healthy',
        d => d.action === 'advance',
        120_000,
        provider,
      );
      expect(healthy.decision.action).toBe('advance');
      expect(healthy.history.every(d => d.action !== 'rollback')).toBe(true);
    },
  );

  it('holds with inconclusive checks when Prometheus stops', async () => {
    let own: RunningPrometheus | undefined = await startPrometheus([
      new URL(sandbox.metricsUrl).host,
    ]);
    try {
      const client = new PrometheusClient({ url: own.url, timeoutMs: 2000 });
      const analyzer = createAnalyzer({ analysis: {} });
      // While it runs the checks read data…
      let decision: AnalysisDecision | undefined;
      const deadline = Date.now() + 60_000;
      do {
        await new Promise(r => setTimeout(r, 1000));
        decision = await analyzer.evaluate({
          ...context('healthy', decision),
          prometheus: client,
        });
      } while (
        decision.checks[0].details?.canaryRequests === 0 &&
        Date.now() < deadline
      );
      expect(decision.checks[0].details?.canaryRequests).toBeGreaterThan(0);

      // …then Prometheus goes away.
      await own.stop();
      own = undefined;
      const down = await analyzer.evaluate({
        ...context('healthy', decision),
        prometheus: client,
      });
      expect(down.action).toBe('hold');
      expect(down.checks.map(c => c.verdict)).toEqual([
        'inconclusive',
        'inconclusive',
      ]);
      expect(down.checks[0].evidence).toMatch(
        /error rate counts unavailable \(Prometheus at http:\/\/127\.0\.0\.1:\d+\/ is unreachable: ECONNREFUSED\)/,
      );
      expect(down.reason).toMatch(/^inconclusive — /);
    } finally {
      await own?.stop();
    }
  });
});
