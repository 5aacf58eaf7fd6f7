import request from 'supertest';
import {
  startDemoAt15sScrapes,
  waitForRollout,
  outcome,
} from '../__testUtils__/sandboxBackend';

jest.setTimeout(360_000);

/**
 * Whole rollouts judged the way production sees them: the sandbox's real
 * Prometheus scrapes every 15 s, the engine asks every 5 s, and the default
 * sequential error gate reads the raw counter samples (no phantom counts
 * from extrapolation, fresh evidence at each weight, no slice across a
 * weight change).
 */
const policies = {
  production: {
    trafficProvider: 'istio',
    steps: [{ weight: 10, pause: '1s' }, { weight: 50, pause: '1s' }, 100],
    analysis: {
      interval: '5s',
      metrics: [{ name: 'error-rate', judge: 'sequential' }],
    },
    progressDeadline: '120s',
  },
};

describe('rollouts judged through Prometheus scraping every 15 s', () => {
  let server: any;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startDemoAt15sScrapes({
      seed: 15,
      policies,
      services: ['checkout', 'payments'],
      policy: 'production',
    }));
  });

  afterAll(async () => {
    await stop?.();
  });

  it('promotes a healthy canary and rolls back one failing 30 % of requests, in parallel', async () => {
    const healthy = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v2',
      version: 'v2',
    });
    expect(healthy.status).toBe(201);
    const degraded = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/payments',
      image: 'shop/payments:1.5.0-errors30',
      version: '1.5.0',
    });
    expect([degraded.status, degraded.body.error?.message]).toEqual([
      201,
      undefined,
    ]);
    const finished = (r: any) =>
      ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase);

    const bad = await waitForRollout(
      server,
      degraded.body.id,
      finished,
      240_000,
    );
    expect(outcome(bad)).toMatchObject({ phase: 'RolledBack' });
    const failing = bad.analysis
      .flatMap((a: any) => a.checks)
      .find((c: any) => c.metric === 'error-rate' && c.verdict === 'fail');
    expect(failing.evidence).toMatch(/the canary is worse than stable/);
    // Counted from raw samples: whole requests, never extrapolated fractions.
    expect(Number.isInteger(failing.details.canaryRequests)).toBe(true);
    expect(failing.query).toMatch(/istio_requests_total\{[^}]*\}\[\d+s\]/);

    const good = await waitForRollout(
      server,
      healthy.body.id,
      finished,
      300_000,
    );
    expect(outcome(good)).toMatchObject({ phase: 'Succeeded' });
    const passes = good.analysis.filter((a: any) => a.action === 'advance');
    expect(passes.length).toBeGreaterThanOrEqual(2);
    // Every step passed on evidence read at its own weight.
    for (const weight of [10, 50]) {
      const atWeight = passes.find((a: any) => a.weight === weight);
      expect(atWeight).toBeDefined();
      const check = atWeight.checks.find((c: any) => c.metric === 'error-rate');
      expect(check.details.stepCanaryRequests).toBeGreaterThanOrEqual(20);
    }
  });
});
