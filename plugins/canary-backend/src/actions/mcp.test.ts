import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { AddressInfo } from 'net';
import mcpActionsPlugin from '@backstage/plugin-mcp-actions-backend';
import { canaryPlugin } from '../plugin';
import { testDatabaseServiceFactory } from '../__testUtils__/testDatabase';
import { checkout, storefront } from './__testUtils__/fixtures';

jest.setTimeout(60_000);

const config = {
  backend: { actions: { pluginSources: ['canary'] } },
  kubernetes: {
    clusterLocatorMethods: [
      {
        type: 'config',
        clusters: [{ name: 'sandbox', url: 'http://127.0.0.1:1' }],
      },
    ],
  },
  canary: {
    notifications: { enabled: false },
    policies: { standard: { trafficProvider: 'istio', steps: [10, 50, 100] } },
  },
};

/** An owner-only policy: everyone reads, only checkout's owner acts. */
const permissions = mockServices.permissions.mock({
  authorize: async (requests: any[]) =>
    requests.map(r => ({
      result:
        r.permission.name === 'canary.rollout.read' ||
        r.resourceRef === 'component:default/checkout'
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY,
    })) as any,
});

describe('canary actions over MCP (@backstage/plugin-mcp-actions-backend)', () => {
  it('lists the tools and answers a real MCP client with the caller’s permissions', async () => {
    const { server } = await startTestBackend({
      features: [
        canaryPlugin,
        mcpActionsPlugin,
        mockServices.rootConfig.factory({ data: config }),
        permissions.factory,
        catalogServiceMock.factory({ entities: [checkout, storefront] }),
        testDatabaseServiceFactory,
      ],
    });
    const { port } = server.address() as AddressInfo;
    const client = new Client({ name: 'coalmine-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(
        new URL(`http://localhost:${port}/api/mcp-actions/v1`),
        {
          requestInit: {
            headers: {
              Authorization: mockCredentials.user.header('user:default/jane'),
            },
          },
        },
      ),
    );
    try {
      const { tools } = await client.listTools();
      const names = tools.map(t => t.name);
      for (const name of [
        'get-canary-status',
        'list-active-rollouts',
        'start-rollout',
        'promote-rollout',
        'abort-rollout',
        'approve-rollout',
      ]) {
        expect(names.some(n => n.endsWith(name))).toBe(true);
      }
      const tool = (name: string) => names.find(n => n.endsWith(name))!;
      expect(
        tools.find(t => t.name === tool('get-canary-status')),
      ).toMatchObject({
        annotations: expect.objectContaining({ readOnlyHint: true }),
      });

      const status = await client.callTool({
        name: tool('get-canary-status'),
        arguments: { entityRef: 'checkout' },
      });
      expect(status.isError).toBeFalsy();
      const text = (status.content as Array<{ type: string; text: string }>)
        .map(c => c.text)
        .join('');
      expect(text).toContain('component:default/checkout');
      expect(text).toContain('/catalog/default/component/checkout/canary');

      // Someone else's component: refused with the REST API's reason.
      const refused = await client.callTool({
        name: tool('start-rollout'),
        arguments: { entityRef: 'storefront' },
      });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toContain(
        'You may not start rollouts of component:default/storefront',
      );
    } finally {
      await client.close();
    }
  });
});
