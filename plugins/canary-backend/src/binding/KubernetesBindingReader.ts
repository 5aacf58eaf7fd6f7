import type { ClusterClients } from '../kubernetes/ClusterClients';
import { readOnce } from '../domain/passScope';
import { isNotFound, toClusterError } from '../kubernetes/errors';
import { cachedGet, DEPLOYMENTS, SERVICES } from '../kubernetes/watchCache';
import type { BindingObjectReader } from './WorkloadBinding';

/** Reads Services and Deployments for the binding check through @kubernetes/client-node. */
export class KubernetesBindingReader implements BindingObjectReader {
  constructor(private readonly clients: ClusterClients) {}

  async service(cluster: string, namespace: string, name: string) {
    try {
      const apis = this.clients.forCluster(cluster);
      const svc = await readOnce(apis, `Service/${namespace}/${name}`, () =>
        cachedGet(apis, SERVICES, namespace, name, () =>
          apis.core.readNamespacedService({ namespace, name }),
        ),
      );
      return {
        annotations: svc.metadata?.annotations ?? {},
        selector: svc.spec?.selector ?? {},
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toClusterError(error, {
        kind: 'Service',
        namespace,
        name,
        verb: 'read',
      });
    }
  }

  async deployment(cluster: string, namespace: string, name: string) {
    try {
      const apis = this.clients.forCluster(cluster);
      // Shared with the workload manager's reads of this transition.
      const d = await readOnce(apis, `Deployment/${namespace}/${name}`, () =>
        cachedGet(apis, DEPLOYMENTS, namespace, name, () =>
          apis.apps.readNamespacedDeployment({ namespace, name }),
        ),
      );
      return {
        annotations: d.metadata?.annotations ?? {},
        podLabels: d.spec?.template?.metadata?.labels ?? {},
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw toClusterError(error, {
        kind: 'Deployment',
        namespace,
        name,
        verb: 'read',
      });
    }
  }
}
