import { startSandbox, Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import { createBackendModule } from '@backstage/backend-plugin-api';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import {
  canaryEntitySignalChannel,
  canaryRolloutSignalChannel,
} from '@coalmine/backstage-plugin-canary-common';
import {
  startHeldCheckoutBackend,
  waitForRollout,
} from '../__testUtils__/sandboxBackend';

jest.setTimeout(120_000);

interface Heard {
  channel: string;
  message: { type: string; rolloutId?: string; rolloutIds?: string[] };
  recipients: unknown;
  at: number;
}

/**
 * What the signals backend would hear: the real signals service of
 * @backstage/plugin-signals-node (its default factory, as in an app) publishes
 * through the real events service, which this module listens to.
 */
function signalListener(heard: Heard[]) {
  return createBackendModule({
    pluginId: 'canary',
    moduleId: 'test-signal-listener',
    register(env) {
      env.registerInit({
        deps: { events: eventsServiceRef },
        async init({ events }) {
          await events.subscribe({
            id: 'test-signal-listener',
            topics: ['signals'],
            onEvent: async event => {
              heard.push({ ...(event.eventPayload as any), at: Date.now() });
            },
          });
        },
      });
    },
  });
}

async function until<T>(what: string, probe: () => T | undefined) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within 60 s`);
    await new Promise(r => setTimeout(r, 50));
  }
}

describe('live updates through Backstage Signals', () => {
  let sb: Sandbox;
  let server: any;
  let stopBackend: () => Promise<void>;
  const heard: Heard[] = [];

  beforeAll(async () => {
    sb = await startSandbox({ prometheus: false, readinessDelayMs: 200 });
    await sb.applyDemoWorld();
    const backend = await startHeldCheckoutBackend(sb, [signalListener(heard)]);
    server = backend.server;
    stopBackend = () => backend.stop();
  });

  afterAll(async () => {
    await stopBackend?.();
    await sb?.stop();
  });

  it("signals the entity's and the rollout's channel on every change, with only the rollout id", async () => {
    const entityChannel = canaryEntitySignalChannel(
      'component:default/checkout',
    );
    const res = await request(server)
      .post('/api/canary/rollouts')
      .send({ entityRef: 'component:default/checkout', version: 'v2' });
    expect(res.status).toBe(201);
    const id: string = res.body.id;
    const rolloutChannel = canaryRolloutSignalChannel(id);

    // The start itself is signalled.
    await until('signal of the start', () =>
      heard.find(h => h.channel === entityChannel) ? true : undefined,
    );
    await waitForRollout(server, id, r => r.weight === 10);

    // A control: the signal follows its commit, before the next loop would.
    const before = heard.length;
    const pressed = Date.now();
    const pause = await request(server)
      .post(`/api/canary/rollouts/${id}/pause`)
      .send({ reason: 'look at the charts' });
    expect(pause.status).toBe(200);
    const afterPause = await until('signal after the pause', () =>
      heard.slice(before).find(h => h.channel === entityChannel),
    );
    expect(afterPause.at).toBeGreaterThanOrEqual(pressed);
    expect(heard.slice(before).some(h => h.channel === rolloutChannel)).toBe(
      true,
    );

    // Anyone signed in may listen on a channel: a signal names the rollout, nothing else.
    const orgWide = heard.filter(h => h.channel === 'canary:rollouts');
    const perRollout = heard.filter(h => h.channel !== 'canary:rollouts');
    for (const h of perRollout) {
      expect(h.recipients).toEqual({ type: 'broadcast' });
      expect(h.message).toEqual({ type: 'rollout-changed', rolloutId: id });
      expect([entityChannel, rolloutChannel]).toContain(h.channel);
    }
    // The organisation's page: which rollouts changed, ids only.
    for (const h of orgWide) {
      expect(h.recipients).toEqual({ type: 'broadcast' });
      expect(h.message).toEqual({ type: 'rollouts-changed', rolloutIds: [id] });
    }
    expect(orgWide.length).toBeGreaterThan(0);

    // Abort: signalled through to the end of the rollback.
    const beforeAbort = heard.length;
    expect(
      (await request(server).post(`/api/canary/rollouts/${id}/abort`).send({}))
        .status,
    ).toBe(200);
    await waitForRollout(server, id, r => r.phase === 'Aborted');
    await until('signal of the end', () =>
      heard.slice(beforeAbort).filter(h => h.channel === entityChannel).length >
      0
        ? true
        : undefined,
    );
    // The last signal comes after the rollout ended (a burst ends with one).
    const ended = Date.now();
    await new Promise(r => setTimeout(r, 500));
    const last = heard.filter(h => h.channel === entityChannel).pop()!;
    const details = await request(server).get(`/api/canary/rollouts/${id}`);
    const finishedAt = Date.parse(details.body.rollout.finishedAt);
    expect(last.at).toBeGreaterThanOrEqual(finishedAt);
    expect(last.at).toBeLessThanOrEqual(ended + 500);
  });
});
