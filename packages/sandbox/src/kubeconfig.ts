import { stringify } from 'yaml';

/**
 * A kubeconfig for kubectl and @kubernetes/client-node pointing at the
 * sandbox over TLS (kubectl drops bearer tokens on plain HTTP).
 */
export function kubeconfigYaml(options: {
  server: string;
  token: string;
  caPem: string;
  namespace?: string;
}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'sandbox',
        cluster: {
          server: options.server,
          'certificate-authority-data': Buffer.from(options.caPem).toString(
            'base64',
          ),
        },
      },
    ],
    users: [{ name: 'sandbox', user: { token: options.token } }],
    contexts: [
      {
        name: 'sandbox',
        context: {
          cluster: 'sandbox',
          user: 'sandbox',
          namespace: options.namespace ?? 'default',
        },
      },
    ],
    'current-context': 'sandbox',
    preferences: {},
  });
}

/**
 * The `kubernetes` section of a Backstage app-config naming sandbox API
 * servers (plain HTTP, service-account bearer token), as a backend under test
 * or a benchmark configures them.
 */
export function backstageKubernetesConfig(
  clusters: Array<{ name?: string; url: string; token: string }>,
) {
  return {
    clusterLocatorMethods: [
      {
        type: 'config',
        clusters: clusters.map(c => ({
          name: c.name ?? 'sandbox',
          url: c.url,
          authProvider: 'serviceAccount',
          serviceAccountToken: c.token,
          skipTLSVerify: true,
        })),
      },
    ],
  };
}
