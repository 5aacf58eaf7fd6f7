import { startSandbox, Sandbox } from '@coalmine/sandbox';
import request from 'supertest';
import knexFactory, { Knex } from 'knex';
import {
  TestDatabases,
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import eventsPlugin from '@backstage/plugin-events-backend';
import signalsPlugin from '@backstage/plugin-signals-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import {
  CANARY_ROLLOUTS_SIGNAL_CHANNEL,
  canaryEntitySignalChannel,
} from '@coalmine/backstage-plugin-canary-common';
import {
  startHeldCheckoutBackend,
  waitForRollout,
} from '../__testUtils__/sandboxBackend';

jest.setTimeout(180_000);

/*
 * Two backend replicas on one PostgreSQL database, as a deployment with
 * several instances runs them. Replica A runs the canary plugin; replica B
 * runs only the events and signals backends, with a browser-like WebSocket
 * client connected to it. Every canary signal B's client receives was
 * published on A and crossed over through the events backend's database
 * bus (`@backstage/plugin-events-backend` on PostgreSQL): B has no canary
 * plugin that could have published it.
 */

const PG = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const databases = TestDatabases.create({ ids: ['POSTGRES_15'] });

/**
 * A WebSocket to a signals backend, as the app's Signals API opens it. The
 * signals backend starts listening for upgrades on the first upgrade request
 * it sees and leaves that one unanswered; the app's client reconnects after
 * a timeout, and so does this.
 */
async function signalsClient(baseUrl: string, channels: string[]) {
  const received: Array<{ channel: string; message: any }> = [];
  let ws: WebSocket | undefined;
  for (let attempt = 1; !ws; attempt++) {
    const socket = new WebSocket(
      `${baseUrl.replace(/^http/, 'ws')}/api/signals`,
      // The app sends the user's token as the WebSocket protocol.
      mockCredentials.user.token(),
    );
    const opened = await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => resolve(false), 3000);
      socket.addEventListener('open', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.addEventListener('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (opened) {
      ws = socket;
    } else {
      socket.close();
      if (attempt === 5) {
        throw new Error(`no WebSocket to ${baseUrl}/api/signals after 5 tries`);
      }
    }
  }
  ws.addEventListener('message', event =>
    received.push(JSON.parse(String(event.data))),
  );
  for (const channel of channels) {
    ws.send(JSON.stringify({ action: 'subscribe', channel }));
  }
  const open = ws;
  return { received, close: () => open.close() };
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

describe('Signals across two backend replicas on PostgreSQL', () => {
  if (!PG) {
    it('needs PostgreSQL', () => {
      // The events backend shares signals between replicas only through PostgreSQL.
      expect(
        'BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING unset (./dev test sets it)',
      ).toBe('a PostgreSQL connection string');
    });
    return;
  }

  let sb: Sandbox;
  let knexA: Knex;
  let knexB: Knex;
  let replicaA: Awaited<ReturnType<typeof startHeldCheckoutBackend>>;
  let replicaB: Awaited<ReturnType<typeof startTestBackend>>;

  beforeAll(async () => {
    sb = await startSandbox({ prometheus: false, readinessDelayMs: 200 });
    await sb.applyDemoWorld();
    knexA = await databases.init('POSTGRES_15');
    // A second pool to the same database: what another instance would open.
    knexB = knexFactory({
      client: 'pg',
      connection: (knexA.client as any).config.connection,
    });
    replicaA = await startHeldCheckoutBackend(sb, [
      mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
      mockServices.database.factory({ knex: knexA }),
      // The events service a real backend has (the test backend's default
      // is an in-process mock): it relays through the events backend.
      eventsServiceFactory,
      eventsPlugin,
      signalsPlugin,
    ]);
    replicaB = await startTestBackend({
      features: [
        mockServices.database.factory({ knex: knexB }),
        eventsServiceFactory,
        eventsPlugin,
        signalsPlugin,
      ],
    });
  });

  afterAll(async () => {
    await replicaB?.stop();
    await replicaA?.stop();
    await knexB?.destroy();
    await sb?.stop();
  });

  it('a change made on replica A reaches a browser connected to replica B', async () => {
    const entityChannel = canaryEntitySignalChannel(
      'component:default/checkout',
    );
    const onB = await signalsClient(
      `http://localhost:${replicaB.server.port()}`,
      [entityChannel, CANARY_ROLLOUTS_SIGNAL_CHANNEL],
    );
    const onA = await signalsClient(
      `http://localhost:${replicaA.server.port()}`,
      [entityChannel],
    );
    try {
      const started = await request(replicaA.server)
        .post('/api/canary/rollouts')
        .send({ entityRef: 'component:default/checkout', version: 'v2' });
      expect(started.status).toBe(201);
      const id = started.body.id;
      await waitForRollout(replicaA.server, id, r => r.weight === 10);

      // The entity's channel and the organisation's, each with the rollout id only.
      const entitySignal = await until('entity signal on replica B', () =>
        onB.received.find(s => s.channel === entityChannel),
      );
      expect(entitySignal.message).toEqual({
        type: 'rollout-changed',
        rolloutId: id,
      });
      const orgSignal = await until('organisation signal on replica B', () =>
        onB.received.find(s => s.channel === CANARY_ROLLOUTS_SIGNAL_CHANNEL),
      );
      expect(orgSignal.message).toEqual({
        type: 'rollouts-changed',
        rolloutIds: [id],
      });
      // A's own browser gets it too (locally, not twice through the bus).
      await until('entity signal on replica A', () =>
        onA.received.find(s => s.channel === entityChannel),
      );

      // A control pressed on A: B's browser hears about it as well.
      const before = onB.received.length;
      const paused = await request(replicaA.server)
        .post(`/api/canary/rollouts/${id}/pause`)
        .send({ reason: 'replicas' });
      expect(paused.status).toBe(200);
      await until('signal after the pause on replica B', () =>
        onB.received.slice(before).find(s => s.channel === entityChannel),
      );
    } finally {
      onA.close();
      onB.close();
    }
  });
});
