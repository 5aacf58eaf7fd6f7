import {
  mockCredentials,
  mockServices,
  registerMswTestHooks,
} from '@backstage/backend-test-utils';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { createCanaryStartAction } from './canaryStart';

const server = setupServer();
registerMswTestHooks(server);

const discovery = mockServices.discovery();
const action = createCanaryStartAction({
  discovery,
  auth: mockServices.auth(),
});

describe('canary:start', () => {
  it("starts a rollout through the canary API on the template user's behalf", async () => {
    const seen: Array<{ auth: string | null; body: unknown }> = [];
    server.use(
      http.post(
        'http://localhost:0/api/canary/rollouts',
        async ({ request }) => {
          seen.push({
            auth: request.headers.get('authorization'),
            body: await request.json(),
          });
          return HttpResponse.json(
            {
              id: 'r-1',
              entityRef: 'component:default/checkout',
              cluster: 'prod-eu',
              phase: 'Pending',
            },
            { status: 201 },
          );
        },
      ),
    );
    const ctx = {
      ...createMockActionContext({
        input: {
          entityRef: 'component:default/checkout',
          image: 'shop/checkout:v2',
          version: 'v2',
        },
      }),
      getInitiatorCredentials: async () =>
        mockCredentials.user('user:default/jane'),
    };
    await action.handler(ctx);
    expect(seen).toEqual([
      {
        // A token for the canary plugin on jane's behalf, not the scaffolder's own.
        auth: mockCredentials.service.header({
          onBehalfOf: mockCredentials.user('user:default/jane'),
          targetPluginId: 'canary',
        }),
        body: {
          entityRef: 'component:default/checkout',
          image: 'shop/checkout:v2',
          version: 'v2',
        },
      },
    ]);
    expect(ctx.output).toHaveBeenCalledWith('rolloutId', 'r-1');
    expect(ctx.output).toHaveBeenCalledWith('phase', 'Pending');
    expect(ctx.output).toHaveBeenCalledWith('cluster', 'prod-eu');
  });

  it("fails the step with the canary backend's reason", async () => {
    server.use(
      http.post('http://localhost:0/api/canary/rollouts', () =>
        HttpResponse.json(
          {
            error: {
              name: 'NotAllowedError',
              message:
                'You may not start rollouts of component:default/storefront',
            },
            request: { method: 'POST', url: '/api/canary/rollouts' },
            response: { statusCode: 403 },
          },
          { status: 403 },
        ),
      ),
    );
    const ctx = createMockActionContext({
      input: { entityRef: 'component:default/storefront' },
    });
    await expect(action.handler(ctx)).rejects.toThrow(
      'Could not start a canary rollout of component:default/storefront: You may not start rollouts of component:default/storefront',
    );
    expect(ctx.output).not.toHaveBeenCalled();
  });

  it('does nothing in a dry run', async () => {
    const ctx = {
      ...createMockActionContext({
        input: { entityRef: 'component:default/checkout' },
      }),
      isDryRun: true,
    };
    await action.handler(ctx);
    expect(ctx.output).toHaveBeenCalledWith('rolloutId', 'dry-run');
  });
});
