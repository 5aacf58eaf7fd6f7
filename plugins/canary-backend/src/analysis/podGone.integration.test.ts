import type { Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import {
  startDemoAt15sScrapes,
  waitForRollout,
  outcome,
} from '../__testUtils__/sandboxBackend';

jest.setTimeout(420_000);

/**
 * A canary pod deleted mid-rollout (an eviction, a node drain): its series
 * stop and go stale in Prometheus (scraping every 15 s), and a new pod with
 * a new name takes its place. The analysis reads the application's own
 * metrics (`http` provider: series labelled with their pod), asks the
 * sandbox's Kubernetes API for the canary's pods, finds the old one gone,
 * and reads on — without the pod list it would hold its reading at the
 * deleted pod's last sample for two minutes (a scrape outage looks alike).
 */
const policies = {
  production: {
    trafficProvider: 'istio',
    steps: [{ weight: 50, pause: '200s' }, 100],
    analysis: {
      provider: 'http',
      interval: '5s',
      metrics: [{ name: 'error-rate', judge: 'sequential' }],
    },
    progressDeadline: '120s',
  },
};

describe('a canary pod deleted mid-rollout, Prometheus scraping every 15 s', () => {
  let sb: Sandbox;
  let server: any;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ sb, server, stop } = await startDemoAt15sScrapes({
      seed: 23,
      policies,
      services: ['checkout'],
      policy: 'production',
    }));
  });

  afterAll(async () => {
    await stop?.();
  });

  /** The sandbox's Kubernetes API over HTTP, with its token. */
  function kube(path: string, init: RequestInit = {}) {
    return fetch(`${sb.apiUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${sb.token}` },
    });
  }

  async function podNames(labelSelector: string): Promise<string[]> {
    const res = await kube(
      `/api/v1/namespaces/demo/pods?labelSelector=${encodeURIComponent(
        labelSelector,
      )}`,
    );
    const body = await res.json();
    return body.items.map((p: any) => p.metadata.name);
  }

  /** The canary requests the latest error-rate check counted. */
  async function counted(id: string): Promise<number | undefined> {
    const res = await request(server).get(`/api/canary/rollouts/${id}`);
    const latest = res.body.analysis?.[res.body.analysis.length - 1];
    const check = latest?.checks?.find((c: any) => c.metric === 'error-rate');
    const n = check?.details?.canaryRequests;
    return typeof n === 'number' ? n : undefined;
  }

  it('reads on once the deleted pod is stale, and promotes the healthy canary', async () => {
    const started = await request(server).post('/api/canary/rollouts').send({
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v2',
      version: 'v2',
    });
    expect(started.status).toBe(201);
    const { id } = started.body;

    // At 50 % with canary requests counted: the analysis reads the canary.
    await waitForRollout(
      server,
      id,
      r => r.weight === 50 && r.phase === 'Progressing',
      120_000,
    );
    let before: number | undefined;
    for (let i = 0; i < 120 && !((before ?? 0) > 100); i++) {
      before = await counted(id);
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(before).toBeGreaterThan(100);

    // As kubectl would: list the canary's pods, delete one.
    const canaryPods = await podNames('app=checkout,version=v2');
    expect(canaryPods.length).toBeGreaterThan(0);
    const victim = canaryPods[0];
    const deleted = await kube(`/api/v1/namespaces/demo/pods/${victim}`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(200);
    const deletedAt = Date.now();
    const atDeletion = (await counted(id))!;

    // The reading stops at the deleted pod's last sample; it goes stale
    // after 2.5 scrape intervals (37.5 s), and then — its pod no longer
    // listed — is gone. Without the list, not before 120 s after its last
    // sample (≥ 105 s after the deletion).
    let resumedAfter: number | undefined;
    while (Date.now() - deletedAt < 95_000) {
      const n = await counted(id);
      if (n !== undefined && n > atDeletion + 200) {
        resumedAfter = Date.now() - deletedAt;
        break;
      }
      await new Promise(r => setTimeout(r, 2000));
    }
    expect(resumedAfter).toBeDefined();

    const done = await waitForRollout(
      server,
      id,
      r => ['Succeeded', 'RolledBack', 'Failed', 'Aborted'].includes(r.phase),
      300_000,
    );
    expect(outcome(done)).toMatchObject({ phase: 'Succeeded' });
    // A new pod took the deleted one's place, with another name.
    expect(await podNames('app=checkout')).not.toContain(victim);
  });
});
