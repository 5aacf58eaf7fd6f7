/*
 * Per-entity authorization with the real services, as a deployed backend has
 * them: Backstage's auth, httpAuth and httpRouter (static tokens with access
 * restrictions, user tokens from the guest provider), the permission backend
 * with the demo policy, the catalog backend (ownership conditions are applied
 * by the catalog), and the canary plugin against the sandbox cluster.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import request from 'supertest';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { authServiceFactory } from '@backstage/backend-defaults/auth';
import { httpAuthServiceFactory } from '@backstage/backend-defaults/httpAuth';
import { httpRouterServiceFactory } from '@backstage/backend-defaults/httpRouter';
import { permissionsServiceFactory } from '@backstage/backend-defaults/permissions';
import { permissionsRegistryServiceFactory } from '@backstage/backend-defaults/permissionsRegistry';
import { schedulerServiceFactory } from '@backstage/backend-defaults/scheduler';
import { userInfoServiceFactory } from '@backstage/backend-defaults/userInfo';
import authPlugin from '@backstage/plugin-auth-backend';
import guestProvider from '@backstage/plugin-auth-backend-module-guest-provider';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import permissionPlugin from '@backstage/plugin-permission-backend';
import canaryPlugin from '@coalmine/backstage-plugin-canary-backend';
import {
  argoRolloutsDemo,
  startSandbox,
  Sandbox,
  backstageKubernetesConfig,
} from '@coalmine/sandbox';
import demoPermissionPolicy from './modules/permissionPolicy';

jest.setTimeout(180_000);

const TOKENS = {
  /** The demo's recommendation for CI: the canary plugin only; read, create, abort. */
  ci: 'ci-restricted-token-1234',
  /** A token without restrictions: Backstage lets a service principal do everything. */
  admin: 'admin-unrestricted-token-1234',
  /** Restricted like ci, and limited to checkout by canary.servicePrincipals. */
  checkoutOnly: 'ci-checkout-only-token-1234',
  /** May promote but not approve. */
  promoter: 'promoter-token-1234',
  /** May retry but not start. */
  retrier: 'retrier-token-1234',
};

const ENTITIES = `
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: guest, namespace: development }
spec: { memberOf: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: platform-team }
spec: { type: team, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    backstage.io/kubernetes-id: checkout
    backstage.io/kubernetes-namespace: demo
    coalmine.io/policy: gated
spec: { type: service, lifecycle: production, owner: user:development/guest }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  annotations:
    backstage.io/kubernetes-id: payments
    backstage.io/kubernetes-namespace: demo
    coalmine.io/policy: gated
spec: { type: service, lifecycle: production, owner: group:default/platform-team }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: rollouts-demo
  annotations:
    backstage.io/kubernetes-id: rollouts-demo
    backstage.io/kubernetes-namespace: demo
    coalmine.io/policy: gated
    coalmine.io/controller: argo-rollouts
spec: { type: service, lifecycle: production, owner: group:default/platform-team }
`;

const canaryOnly = (permissions: string[]) => [
  { plugin: 'canary', permission: permissions },
];

describe('authorization with the real auth and permission services', () => {
  let sb: Sandbox;
  let server: any;
  let stop: () => Promise<void>;
  let dir: string;
  let guestToken: string;

  beforeAll(async () => {
    sb = await startSandbox({ prometheus: false, readinessDelayMs: 100 });
    await sb.applyDemoWorld();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coalmine-authz-'));
    fs.writeFileSync(path.join(dir, 'entities.yaml'), ENTITIES);
    const backend = await startTestBackend({
      features: [
        authPlugin,
        guestProvider,
        catalogPlugin,
        permissionPlugin,
        demoPermissionPolicy,
        canaryPlugin,
        authServiceFactory,
        httpAuthServiceFactory,
        httpRouterServiceFactory,
        permissionsServiceFactory,
        permissionsRegistryServiceFactory,
        schedulerServiceFactory,
        userInfoServiceFactory,
        mockServices.rootConfig.factory({
          data: {
            app: { baseUrl: 'http://localhost:3000' },
            backend: {
              baseUrl: 'http://localhost:7007',
              auth: {
                externalAccess: [
                  {
                    type: 'static',
                    options: { token: TOKENS.ci, subject: 'ci-pipeline' },
                    accessRestrictions: canaryOnly([
                      'canary.rollout.read',
                      'canary.rollout.create',
                      'canary.rollout.abort',
                    ]),
                  },
                  {
                    type: 'static',
                    options: { token: TOKENS.admin, subject: 'admin-script' },
                  },
                  {
                    type: 'static',
                    options: {
                      token: TOKENS.checkoutOnly,
                      subject: 'ci-checkout',
                    },
                    accessRestrictions: canaryOnly([
                      'canary.rollout.read',
                      'canary.rollout.create',
                      'canary.rollout.abort',
                    ]),
                  },
                  {
                    type: 'static',
                    options: { token: TOKENS.retrier, subject: 'retrier' },
                    accessRestrictions: canaryOnly([
                      'canary.rollout.read',
                      'canary.rollout.retry',
                    ]),
                  },
                  {
                    type: 'static',
                    options: { token: TOKENS.promoter, subject: 'promoter' },
                    accessRestrictions: canaryOnly([
                      'canary.rollout.read',
                      'canary.rollout.promote',
                    ]),
                  },
                ],
              },
            },
            auth: {
              environment: 'development',
              providers: {
                guest: { dangerouslyAllowOutsideDevelopment: true },
              },
            },
            permission: { enabled: true },
            catalog: {
              rules: [{ allow: ['Component', 'User', 'Group'] }],
              locations: [
                { type: 'file', target: path.join(dir, 'entities.yaml') },
              ],
            },
            kubernetes: backstageKubernetesConfig([
              { url: sb.apiUrl, token: sb.token },
            ]),
            canary: {
              loop: { frequency: '300ms' },
              servicePrincipals: {
                'ci-checkout': { entities: ['component:default/checkout'] },
              },
              policies: {
                gated: {
                  trafficProvider: 'istio',
                  steps: [
                    { weight: 10, pause: '10m' },
                    { weight: 50, approval: true },
                    100,
                  ],
                  analysis: { interval: '1s', metrics: [] },
                },
              },
            },
          },
        }),
      ],
    });
    server = backend.server;
    stop = () => backend.stop();

    // The guest signs in like the app does.
    const refresh = await request(server)
      .get('/api/auth/guest/refresh?env=development')
      .set('X-Requested-With', 'XMLHttpRequest');
    if (refresh.status !== 200) {
      throw new Error(
        `guest sign-in failed: ${refresh.status} ${refresh.text}`,
      );
    }
    guestToken = refresh.body.backstageIdentity.token;

    // Wait for the catalog to ingest the entities.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await request(server)
        .get('/api/catalog/entities/by-name/component/default/payments')
        .set('Authorization', `Bearer ${TOKENS.admin}`);
      if (res.status === 200) break;
      if (Date.now() > deadline) throw new Error('catalog did not ingest');
      await new Promise(r => setTimeout(r, 250));
    }
  });

  afterAll(async () => {
    await stop?.();
    await sb?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const as = (token: string) => ({
    post: (url: string, body: object = {}) =>
      request(server)
        .post(`/api/canary${url}`)
        .set('Authorization', `Bearer ${token}`)
        .send(body),
    get: (url: string) =>
      request(server).get(url).set('Authorization', `Bearer ${token}`),
  });

  async function waitFor(token: string, id: string, done: (r: any) => boolean) {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const res = await as(token).get(`/api/canary/rollouts/${id}`);
      if (res.status === 200 && done(res.body.rollout)) return res.body.rollout;
      if (Date.now() > deadline) {
        throw new Error(`rollout ${id}: ${JSON.stringify(res.body.rollout)}`);
      }
      await new Promise(r => setTimeout(r, 200));
    }
  }

  it('owner and non-owner: the user may act on what they own, only', async () => {
    const denied = await as(guestToken).post('/rollouts', {
      entityRef: 'component:default/payments',
    });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/canary\.rollout\.create/);

    const started = await as(guestToken).post('/rollouts', {
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v2',
      version: 'v2',
    });
    expect(started.status).toBe(201);
    expect(started.body.startedBy).toBe('user:development/guest');
    const abort = await as(guestToken).post(
      `/rollouts/${started.body.id}/abort`,
    );
    expect(abort.status).toBe(200);
    await waitFor(guestToken, started.body.id, r => r.phase === 'Aborted');
  });

  it('restricted CI token: read, create and abort on any component; not promote, approve, retry; no catalog', async () => {
    const ci = as(TOKENS.ci);
    const started = await ci.post('/rollouts', {
      entityRef: 'component:default/payments',
      image: 'shop/payments:1.5.0',
    });
    expect(started.status).toBe(201);
    const id = started.body.id;
    await waitFor(TOKENS.ci, id, r => r.weight === 10);
    for (const control of ['promote', 'approve', 'pause']) {
      const res = await ci.post(`/rollouts/${id}/${control}`);
      expect(res.status).toBe(403);
      expect(res.body.error.message).toMatch(`canary.rollout.${control}`);
    }
    // CI reads everything a person reads: the organisation's list (which
    // also holds the Flagger and Argo rollouts, read from the catalog by the
    // plugin), the component's status, the rollout with its history and
    // its charts.
    const list = await ci.get('/api/canary/rollouts?active=true');
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: any) => r.id)).toContain(id);
    const status = await ci.get(
      '/api/canary/entities/component/default/payments',
    );
    expect(status.status).toBe(200);
    expect(status.body.active.id).toBe(id);
    for (const read of ['', '/events', '/analysis']) {
      const res = await ci.get(`/api/canary/rollouts/${id}${read}`);
      expect({ read, status: res.status }).toEqual({ read, status: 200 });
    }
    // And through the plugin's actions (Backstage's actions registry, as an
    // MCP client or a pipeline calls them).
    const action = await request(server)
      .post(
        '/api/canary/.backstage/actions/v1/actions/canary:get-canary-status/invoke',
      )
      .set('Authorization', `Bearer ${TOKENS.ci}`)
      .send({ entityRef: 'component:default/payments' });
    expect(action.status).toBe(200);
    expect(action.body.output.active.id).toBe(id);
    // Past the read check; this backend has no Prometheus to chart from.
    const series = await ci.get(`/api/canary/rollouts/${id}/series`);
    expect(series.status).toBe(503);
    expect(series.body.error.message).toMatch(/No Prometheus for cluster/);
    expect((await ci.post(`/rollouts/${id}/abort`)).status).toBe(200);
    await waitFor(TOKENS.ci, id, r => r.phase === 'Aborted');
    const retry = await ci.post(`/rollouts/${id}/retry`);
    expect(retry.status).toBe(403);
    expect(retry.body.error.message).toMatch(/canary\.rollout\.retry/);
    // A retry starts a rollout: it needs canary.rollout.create as well.
    const retrier = await as(TOKENS.retrier).post(`/rollouts/${id}/retry`);
    expect(retrier.status).toBe(403);
    expect(retrier.body.error.message).toBe(
      'You may not retry rollouts of component:default/payments: it needs canary.rollout.create',
    );
    // The token is for the canary plugin alone.
    const catalog = await ci.get(
      '/api/catalog/entities/by-name/component/default/payments',
    );
    expect(catalog.status).toBe(403);
    expect(catalog.body.error.message).toMatch(
      /access is restricted to plugin\(s\) 'canary'/,
    );
  });

  it('restricted CI token on an Argo Rollout: lists, reads and aborts it; may not promote', async () => {
    const ci = as(TOKENS.ci);
    const statusUntil = async (what: string, done: (s: any) => boolean) => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const res = await ci.get(
          '/api/canary/entities/component/default/rollouts-demo',
        );
        if (res.status === 200 && done(res.body)) return res.body;
        if (Date.now() > deadline)
          throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
        await new Promise(r => setTimeout(r, 250));
      }
    };
    await sb.apply(
      argoRolloutsDemo('argoproj/rollouts-demo:blue', { service: true }),
    );
    const rolloutInCluster = async () =>
      (
        await fetch(
          `${sb.apiUrl}/apis/argoproj.io/v1alpha1/namespaces/demo/rollouts/rollouts-demo`,
          { headers: { authorization: `Bearer ${sb.token}` } },
        )
      ).json();
    await statusUntil(
      'the Rollout found and healthy',
      s => s.history[0]?.phase === 'Succeeded',
    );
    // Its first revision is stable before the update.
    const stableBy = Date.now() + 30_000;
    while (!(await rolloutInCluster()).status?.stableRS) {
      if (Date.now() > stableBy) throw new Error('no stable ReplicaSet');
      await new Promise(r => setTimeout(r, 100));
    }
    await sb.apply(
      argoRolloutsDemo('argoproj/rollouts-demo:yellow', { service: true }),
    );
    const { active } = await statusUntil(
      'the update paused at its first step',
      s => s.active?.phase === 'AwaitingApproval',
    );
    // The organisation's list reads other controllers' rollouts across the
    // catalog and the clusters, and answers a caller's last list for up to
    // 10 s while it reads again.
    const listedBy = Date.now() + 15_000;
    for (;;) {
      const list = await ci.get('/api/canary/rollouts?active=true');
      expect(list.status).toBe(200);
      if (list.body.items.some((r: any) => r.id === active.id)) break;
      if (Date.now() > listedBy)
        throw new Error(`not listed: ${JSON.stringify(list.body.items)}`);
      await new Promise(r => setTimeout(r, 500));
    }
    const details = await ci.get(`/api/canary/rollouts/${active.id}`);
    expect(details.status).toBe(200);
    expect(details.body.rollout.canary.image).toBe(
      'argoproj/rollouts-demo:yellow',
    );
    const promote = await ci.post(`/rollouts/${active.id}/promote`);
    expect(promote.status).toBe(403);
    expect(promote.body.error.message).toMatch(/canary\.rollout\.promote/);
    const abort = await ci.post(`/rollouts/${active.id}/abort`, {
      reason: 'CI: the smoke test failed',
    });
    expect(abort.status).toBe(200);
    expect((await rolloutInCluster()).status.abort).toBe(true);
  });

  it('unrestricted token: Backstage allows a service principal everything', async () => {
    const admin = as(TOKENS.admin);
    const started = await admin.post('/rollouts', {
      entityRef: 'component:default/payments',
      image: 'shop/payments:1.5.1',
    });
    expect(started.status).toBe(201);
    await waitFor(TOKENS.admin, started.body.id, r => r.weight === 10);
    expect(
      (await admin.post(`/rollouts/${started.body.id}/pause`)).status,
    ).toBe(200);
    expect(
      (await admin.post(`/rollouts/${started.body.id}/abort`)).status,
    ).toBe(200);
    await waitFor(TOKENS.admin, started.body.id, r => r.phase === 'Aborted');
  });

  it('a token limited by canary.servicePrincipals acts only on its entities', async () => {
    const scoped = as(TOKENS.checkoutOnly);
    const other = await scoped.post('/rollouts', {
      entityRef: 'component:default/payments',
    });
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(
      /Service principal ci-checkout may not start rollouts of component:default\/payments: canary\.servicePrincipals\.ci-checkout/,
    );
    const own = await scoped.post('/rollouts', {
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v3',
      version: 'v3',
    });
    expect(own.status).toBe(201);
    expect((await scoped.post(`/rollouts/${own.body.id}/abort`)).status).toBe(
      200,
    );
    await waitFor(TOKENS.checkoutOnly, own.body.id, r => r.phase === 'Aborted');
  });

  it('an approval gate: promoting past it needs canary.rollout.approve too', async () => {
    const started = await as(guestToken).post('/rollouts', {
      entityRef: 'component:default/checkout',
      image: 'shop/checkout:v4',
      version: 'v4',
    });
    expect(started.status).toBe(201);
    const id = started.body.id;
    await waitFor(guestToken, id, r => r.weight === 10);
    const promoter = await as(TOKENS.promoter).post(`/rollouts/${id}/promote`);
    expect(promoter.status).toBe(403);
    expect(promoter.body.error.message).toBe(
      'You may not promote past an approval gate of rollouts of component:default/checkout: it needs canary.rollout.approve',
    );
    expect(
      (await as(guestToken).get(`/api/canary/rollouts/${id}`)).body.rollout
        .phase,
    ).toBe('Progressing');
    // The owner holds both permissions.
    const owner = await as(guestToken).post(`/rollouts/${id}/promote`);
    expect(owner.status).toBe(200);
    expect(owner.body.phase).toBe('Promoting');
    await waitFor(guestToken, id, r => r.phase === 'Succeeded');
  });
});
