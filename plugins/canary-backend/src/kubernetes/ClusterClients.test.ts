import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ConfigReader } from '@backstage/config';
import { ClusterClients } from './ClusterClients';
import { callCluster } from './errors';
import {
  ClusterUnavailableError,
  ConfigurationError,
  KubernetesObjectNotFoundError,
} from './types';

interface Seen {
  method?: string;
  url?: string;
  authorization?: string;
}

async function startServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>(resolve =>
    server.listen(0, '127.0.0.1', () => resolve()),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise(resolve => server.close(() => resolve())),
  };
}

function configFor(url: string) {
  return new ConfigReader({
    kubernetes: {
      serviceLocatorMethod: { type: 'multiTenant' },
      clusterLocatorMethods: [
        { type: 'catalog' },
        {
          type: 'config',
          clusters: [
            {
              name: 'local',
              url,
              authProvider: 'serviceAccount',
              serviceAccountToken: 'secret-token-123',
              skipTLSVerify: true,
            },
          ],
        },
      ],
    },
  });
}

describe('ClusterClients', () => {
  it('lists the clusters of kubernetes.clusterLocatorMethods and refuses unknown ones', () => {
    const clients = ClusterClients.fromConfig(configFor('http://127.0.0.1:1'));
    expect(clients.clusterNames()).toEqual(['local']);
    expect(() => clients.forCluster('prod')).toThrow(ConfigurationError);
    expect(() => clients.forCluster('prod')).toThrow(
      /kubernetes\.clusterLocatorMethods/,
    );
  });

  it('refuses auth providers that act for a user', () => {
    const clients = new ClusterClients([
      { name: 'gke', url: 'https://example.invalid', authProvider: 'google' },
    ]);
    expect(() => clients.forCluster('gke')).toThrow(
      /authProvider: serviceAccount/,
    );
  });

  it('says to set skipTLSVerify for a plain http url', () => {
    const clients = new ClusterClients([
      {
        name: 'dev',
        url: 'http://127.0.0.1:1',
        authProvider: 'serviceAccount',
        serviceAccountToken: 't',
      },
    ]);
    expect(() => clients.forCluster('dev')).toThrow(/skipTLSVerify: true/);
  });

  it('sends the token and maps 404 and 5xx without leaking it', async () => {
    const seen: Seen[] = [];
    let status = 404;
    const server = await startServer((req, res) => {
      seen.push({
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization,
      });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: `status ${status}`,
          code: status,
        }),
      );
    });
    try {
      const apis = ClusterClients.fromConfig(configFor(server.url)).forCluster(
        'local',
      );
      const what = { kind: 'Deployment', namespace: 'demo', name: 'web' };
      const notFound = await callCluster(what, () =>
        apis.apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' }),
      ).catch(e => e);
      expect(notFound).toBeInstanceOf(KubernetesObjectNotFoundError);
      expect(seen[0]).toEqual({
        method: 'GET',
        url: '/apis/apps/v1/namespaces/demo/deployments/web',
        authorization: 'Bearer secret-token-123',
      });

      status = 503;
      const unavailable = await callCluster(what, () =>
        apis.apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' }),
      ).catch(e => e);
      expect(unavailable).toBeInstanceOf(ClusterUnavailableError);
      expect(unavailable.message).toContain('503');
      expect(unavailable.message).not.toContain('secret-token-123');
    } finally {
      await server.close();
    }
  });

  it('treats a refused connection as an unavailable cluster', async () => {
    const server = await startServer((_req, res) => res.end());
    const url = server.url;
    await server.close();
    const apis = ClusterClients.fromConfig(configFor(url)).forCluster('local');
    const error = await callCluster(
      { kind: 'Service', namespace: 'demo', name: 'web' },
      () => apis.core.readNamespacedService({ namespace: 'demo', name: 'web' }),
    ).catch(e => e);
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    expect(error.message).not.toContain('secret-token-123');
  });

  it('times out a hanging server as unavailable', async () => {
    const server = await startServer(() => {
      // never answers
    });
    try {
      const apis = new ClusterClients(
        [
          {
            name: 'slow',
            url: server.url,
            authProvider: 'serviceAccount',
            serviceAccountToken: 't',
            skipTLSVerify: true,
          },
        ],
        { requestTimeoutMs: 300 },
      ).forCluster('slow');
      const error = await callCluster(
        { kind: 'Service', namespace: 'demo', name: 'web' },
        () =>
          apis.core.readNamespacedService({ namespace: 'demo', name: 'web' }),
      ).catch(e => e);
      expect(error).toBeInstanceOf(ClusterUnavailableError);
    } finally {
      server.close();
    }
  });

  it('asks the server which version of an API group to use', async () => {
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'APIGroupList',
          apiVersion: 'v1',
          groups: [
            {
              name: 'networking.istio.io',
              versions: [
                { groupVersion: 'networking.istio.io/v1', version: 'v1' },
              ],
              preferredVersion: {
                groupVersion: 'networking.istio.io/v1',
                version: 'v1',
              },
            },
          ],
        }),
      );
      expect(req.url).toBe('/apis');
    });
    try {
      const apis = ClusterClients.fromConfig(configFor(server.url)).forCluster(
        'local',
      );
      await expect(
        apis.preferredVersion('networking.istio.io', 'v1beta1'),
      ).resolves.toBe('v1');
      await expect(
        apis.preferredVersion('split.smi-spec.io', 'v1alpha4'),
      ).resolves.toBe('v1alpha4');
    } finally {
      await server.close();
    }
  });
});
