/**
 * The providers and the workload manager against the sandbox's Kubernetes
 * API server, over HTTP with @kubernetes/client-node — the production code
 * path. The shapes are the four of the demo world; the scenarios are the
 * shared suite (__fixtures__/providerScenarios.ts).
 */
import { startApiSandbox, type Sandbox } from '@coalmine/sandbox';
import { parseAllDocuments } from 'yaml';
import { ClusterClients } from './ClusterClients';
import {
  CHECKOUT,
  PAYMENTS,
  SEARCH,
  STOREFRONT,
} from './__fixtures__/demoShapes';
import { providerScenarios } from './__fixtures__/providerScenarios';
import { createTrafficProvider } from './createTrafficProvider';
import { RolloutTarget } from './types';

// Real HTTP on a shared, busy machine.
jest.setTimeout(60_000);

function inDemo(yaml: string) {
  return parseAllDocuments(yaml).map(d => {
    const o = d.toJSON();
    o.metadata.namespace = 'demo';
    return o;
  });
}

// Every case twice: reads as GETs, and through the watch caches the engine
// uses by default (reads after writes must see the writes either way).
describe.each([
  ['GETs', false],
  ['watch caches', true],
])(
  'kubernetes access against the sandbox API server, reading with %s',
  (_, cached) => {
    let sb: Sandbox;
    let clients: ClusterClients;

    beforeEach(async () => {
      sb = await startApiSandbox();
      await sb.apply({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'demo' },
      });
      for (const shape of [CHECKOUT, PAYMENTS, SEARCH, STOREFRONT]) {
        await sb.apply(inDemo(shape));
      }
      clients = new ClusterClients(
        [
          {
            name: 'sandbox',
            url: sb.apiUrl,
            authProvider: 'serviceAccount',
            serviceAccountToken: sb.token,
            skipTLSVerify: true,
          },
        ],
        { watchCache: cached },
      );
    });
    afterEach(async () => {
      clients.close();
      await sb.stop();
    });

    providerScenarios(() => ({
      cluster: 'sandbox',
      clients,
      registry: 'coalmine',
      apply: async yaml => {
        await sb.apply(yaml);
      },
      lastWrite: ({ group, kind, name }) =>
        sb.writes({ group, kind, namespace: 'demo', name }).pop(),
      failNext: fault => sb.failNext(fault),
    }));

    const target = (service: string): RolloutTarget => ({
      cluster: 'sandbox',
      namespace: 'demo',
      service,
      provider: 'istio',
    });

    it('talks TLS to a cluster configured with caData', async () => {
      const tls = new ClusterClients([
        {
          name: 'tls',
          url: sb.apiTlsUrl,
          authProvider: 'serviceAccount',
          serviceAccountToken: sb.token,
          caData: Buffer.from(sb.caPem).toString('base64'),
        },
      ]);
      const istio = createTrafficProvider('istio', tls);
      await expect(
        istio.discover({ ...target('checkout'), cluster: 'tls' }),
      ).resolves.toMatchObject({ stable: { name: 'checkout-v1' } });
      const untrusted = new ClusterClients([
        {
          name: 'tls',
          url: sb.apiTlsUrl,
          authProvider: 'serviceAccount',
          serviceAccountToken: sb.token,
        },
      ]);
      await expect(
        createTrafficProvider('istio', untrusted).discover({
          ...target('checkout'),
          cluster: 'tls',
        }),
      ).rejects.toThrow(/TLS certificate was not accepted.*set caData/);
    });
  },
);
