/**
 * Lookups every provider's `discover` needs, with 404s turned into
 * ConfigurationErrors that say which annotation to set or what to create.
 */
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import {
  CANARY_NAMESPACE_ANNOTATION,
  CANARY_ROUTE_ANNOTATION,
  CANARY_WORKLOAD_ANNOTATION,
} from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis } from './ClusterClients';
import { podsMatch, workloadRef } from './deployments';
import { callCluster, isNotFound, toClusterError } from './errors';
import { assertDnsLabel, assertDnsSubdomain } from './names';
import { ConfigurationError, RolloutTarget, WorkloadRef } from './types';

/** Checks the names of a target before any of them reaches the API. */
export function checkTargetNames(target: RolloutTarget): void {
  assertDnsLabel(target.namespace, 'Namespace', CANARY_NAMESPACE_ANNOTATION);
  assertDnsLabel(target.service, 'Service name', CANARY_WORKLOAD_ANNOTATION);
  if (target.route !== undefined) {
    assertDnsSubdomain(
      target.route,
      'Route object name',
      CANARY_ROUTE_ANNOTATION,
    );
  }
}

/** Reads a Service; a missing one is a configuration problem. */
export async function readServiceOrExplain(
  apis: ClusterApis,
  namespace: string,
  name: string,
  hint = `set ${CANARY_WORKLOAD_ANNOTATION} (or backstage.io/kubernetes-id) to the component's Service, or create it`,
): Promise<V1Service> {
  assertDnsLabel(name, 'Service name', CANARY_WORKLOAD_ANNOTATION);
  try {
    return await apis.core.readNamespacedService({ namespace, name });
  } catch (error) {
    if (isNotFound(error)) {
      throw new ConfigurationError(
        `Service ${namespace}/${name} not found: ${hint}`,
        CANARY_WORKLOAD_ANNOTATION,
      );
    }
    throw toClusterError(error, {
      kind: 'Service',
      namespace,
      name,
      verb: 'read',
    });
  }
}

export async function listDeployments(
  apis: ClusterApis,
  namespace: string,
): Promise<V1Deployment[]> {
  const list = await callCluster(
    { kind: 'Deployments', namespace, verb: 'list' },
    () => apis.apps.listNamespacedDeployment({ namespace }),
  );
  return list.items;
}

/**
 * Reads a custom object named by annotation or convention; a 404 becomes a
 * ConfigurationError saying to set the route annotation or create the object.
 */
export async function readCustomObjectOrExplain<T>(
  apis: ClusterApis,
  ref: { group: string; version: string; plural: string; kind: string },
  namespace: string,
  name: string,
): Promise<T> {
  assertDnsSubdomain(name, `${ref.kind} name`, CANARY_ROUTE_ANNOTATION);
  try {
    return (await apis.custom.getNamespacedCustomObject({
      group: ref.group,
      version: ref.version,
      plural: ref.plural,
      namespace,
      name,
    })) as T;
  } catch (error) {
    if (isNotFound(error)) {
      throw new ConfigurationError(
        `${ref.kind} ${namespace}/${name} not found: set ${CANARY_ROUTE_ANNOTATION} or create it`,
        CANARY_ROUTE_ANNOTATION,
      );
    }
    throw toClusterError(error, {
      kind: ref.kind,
      namespace,
      name,
      verb: 'read',
    });
  }
}

export async function listCustomObjects<T>(
  apis: ClusterApis,
  ref: { group: string; version: string; plural: string; kind: string },
  namespace: string,
): Promise<T[]> {
  try {
    const list = (await apis.custom.listNamespacedCustomObject({
      group: ref.group,
      version: ref.version,
      plural: ref.plural,
      namespace,
    })) as { items?: T[] };
    return list.items ?? [];
  } catch (error) {
    if (isNotFound(error)) {
      // The CRD is not installed: nothing of this kind can route the service.
      throw new ConfigurationError(
        `The cluster does not serve ${ref.plural}.${ref.group}/${ref.version}: install it, or choose another traffic provider in the policy`,
      );
    }
    throw toClusterError(error, { kind: ref.kind, namespace, verb: 'list' });
  }
}

/**
 * The Deployment whose pods a label set (a Service selector, a subset's
 * labels) selects. When several do, the one named `preferredName` wins; when
 * none does, the one named `preferredName`, if any.
 */
export function deploymentSelectedBy(
  deployments: V1Deployment[],
  selector: Record<string, string>,
  preferredName: string,
): V1Deployment | undefined {
  const matching = Object.keys(selector).length
    ? deployments.filter(d => podsMatch(d, selector))
    : [];
  return (
    matching.find(d => d.metadata?.name === preferredName) ??
    (matching.length === 1 ? matching[0] : undefined) ??
    deployments.find(d => d.metadata?.name === preferredName)
  );
}

/** A canary that does not exist yet: prepareCanary will create it. */
export function plannedWorkload(name: string, version?: string): WorkloadRef {
  return { name, version, replicas: 0 };
}

/**
 * The Deployment behind a Service (Gateway API, SMI, NGINX backends):
 * selected by the Service's selector, preferably named like the Service.
 */
export async function deploymentBehindService(
  apis: ClusterApis,
  namespace: string,
  serviceName: string,
  deployments: V1Deployment[],
  hint: string,
): Promise<V1Deployment | undefined> {
  const service = await readServiceOrExplain(
    apis,
    namespace,
    serviceName,
    hint,
  );
  return deploymentSelectedBy(
    deployments,
    service.spec?.selector ?? {},
    serviceName,
  );
}

/**
 * Stable and canary workloads behind a pair of backend Services — the shape
 * Gateway API, SMI and NGINX share. A missing canary Deployment is planned,
 * not an error: prepareCanary creates it.
 */
export async function workloadsBehindBackends(
  apis: ClusterApis,
  target: RolloutTarget,
  backends: { stable: string; canary: string },
  hints: { stable: string; canary: string },
): Promise<{ stable: WorkloadRef; canary: WorkloadRef }> {
  const { namespace, service } = target;
  const deployments = await listDeployments(apis, namespace);
  const stable = await deploymentBehindService(
    apis,
    namespace,
    backends.stable,
    deployments,
    hints.stable,
  );
  if (!stable) {
    throw new ConfigurationError(
      `No Deployment in ${namespace} runs the pods of Service ${backends.stable}: create one its selector matches`,
    );
  }
  const canary = await deploymentBehindService(
    apis,
    namespace,
    backends.canary,
    deployments,
    hints.canary,
  );
  return {
    stable: workloadRef(stable, 'stable'),
    canary: canary
      ? workloadRef(canary, 'canary')
      : plannedWorkload(`${service}-canary`, 'canary'),
  };
}
