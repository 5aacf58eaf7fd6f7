import { kubectlMergePatch } from './manualRestore';
import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import type { V1Ingress } from '@kubernetes/client-node';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import { checkTargetNames, workloadsBehindBackends } from './discovery';
import {
  callCluster,
  isNotFound,
  toClusterError,
  withConflictRetry,
} from './errors';
import { stableServiceNames } from './GatewayApiTrafficProvider';
import { DEFAULT_STICKY_HEADER } from './istioRoutes';
import { assertDnsSubdomain } from './names';
import {
  applyNginxSplit,
  deriveCanaryIngress,
  ingressServices,
  isCanaryIngress,
  readNginxSplit,
  NGINX_CANARY_BY_HEADER,
  NGINX_CANARY_BY_HEADER_VALUE,
  NGINX_CANARY_WEIGHT,
} from './nginxCanary';
import { Ingress } from './objects';
import { cachedGet, INGRESSES, writeThrough } from './watchCache';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
  TrafficSplit,
  TrafficTopology,
} from './types';

const INGRESS_API = 'networking.k8s.io/v1';

function asIngress(i: V1Ingress): Ingress {
  return JSON.parse(JSON.stringify(i)) as Ingress;
}

/**
 * NGINX Ingress: the primary Ingress keeps sending traffic to the stable
 * Service; a canary Ingress (same hosts and paths, canary Service, created on
 * the first setSplit when missing) carries the `canary-weight` and
 * `canary-by-header` annotations the controller splits by.
 */
export class NginxIngressTrafficProvider implements TrafficProvider {
  readonly name = 'nginx' as const;

  constructor(
    private readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  private async list(apis: ClusterApis, namespace: string): Promise<Ingress[]> {
    const list = await callCluster(
      { kind: 'Ingresses', namespace, verb: 'list' },
      () => apis.networking.listNamespacedIngress({ namespace }),
    );
    return list.items.map(asIngress);
  }

  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const all = await this.list(apis, namespace);
    const stableNames = stableServiceNames(service);
    const canaryService = `${service}-canary`;
    const routesStable = (i: Ingress) =>
      !isCanaryIngress(i) &&
      ingressServices(i).some(s => stableNames.includes(s));
    let primary: Ingress | undefined;
    if (target.route) {
      primary = all.find(i => i.metadata.name === target.route);
      if (!primary) {
        throw new ConfigurationError(
          `Ingress ${namespace}/${target.route} not found: set ${CANARY_ROUTE_ANNOTATION} or create it`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
      if (!routesStable(primary)) {
        throw new ConfigurationError(
          `Ingress ${namespace}/${
            target.route
          } does not send traffic to Service ${stableNames.join(
            ' or ',
          )}: set ${CANARY_ROUTE_ANNOTATION} to the Ingress of ${service}`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
    } else {
      const routing = all.filter(routesStable);
      primary =
        routing.length === 1
          ? routing[0]
          : routing.find(i => i.metadata.name === service);
      if (!primary) {
        throw new ConfigurationError(
          routing.length === 0
            ? `Ingress ${namespace}/${service} not found (no Ingress in ${namespace} routes to Service ${stableNames.join(
                ' or ',
              )}): set ${CANARY_ROUTE_ANNOTATION} or create it`
            : `Several Ingresses in ${namespace} route to ${service} (${routing
                .map(i => i.metadata.name)
                .join(
                  ', ',
                )}): set ${CANARY_ROUTE_ANNOTATION} to the one to split`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
    }
    const primaryName = primary.metadata.name!;
    const stableService = ingressServices(primary).find(s =>
      stableNames.includes(s),
    )!;
    const existingCanary = all.find(
      i => isCanaryIngress(i) && ingressServices(i).includes(canaryService),
    );
    const canaryIngressName =
      existingCanary?.metadata.name ?? `${primaryName}-canary`;
    assertDnsSubdomain(canaryIngressName, 'Canary Ingress name');

    const workloads = await workloadsBehindBackends(
      apis,
      target,
      { stable: stableService, canary: canaryService },
      {
        stable: `the Ingress ${primaryName} points at it; create it`,
        canary:
          'create it with a selector for the canary pods (the canary Ingress sends the canary share to it)',
      },
    );
    return {
      target,
      shape: 'fixed-subsets',
      ...workloads,
      routeObject: {
        apiVersion: INGRESS_API,
        kind: 'Ingress',
        name: primaryName,
      },
      canaryRouteObject: {
        apiVersion: INGRESS_API,
        kind: 'Ingress',
        name: canaryIngressName,
      },
      backends: { stable: stableService, canary: canaryService },
    };
  }

  private parts(topology: TrafficTopology) {
    if (
      !topology.routeObject ||
      !topology.canaryRouteObject ||
      !topology.backends
    ) {
      throw new Error(
        'NGINX topology without Ingresses and backends; run discover first',
      );
    }
    return {
      apis: this.clients.forCluster(topology.target.cluster),
      namespace: topology.target.namespace,
      primary: topology.routeObject.name,
      canary: topology.canaryRouteObject.name,
      backends: topology.backends,
    };
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const { apis, namespace, canary } = this.parts(topology);
    try {
      const ingress = await cachedGet(apis, INGRESSES, namespace, canary, () =>
        apis.networking.readNamespacedIngress({ namespace, name: canary }),
      );
      return readNginxSplit(asIngress(ingress), topology.target.stickyHeader);
    } catch (error) {
      // No canary Ingress yet: all traffic goes to the primary one.
      if (isNotFound(error)) return { canaryWeight: 0, headerRoute: false };
      throw toClusterError(error, {
        kind: 'Ingress',
        namespace,
        name: canary,
        verb: 'read',
      });
    }
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    const { apis, namespace, primary, canary, backends } = this.parts(topology);
    const header = topology.target.stickyHeader ?? DEFAULT_STICKY_HEADER;
    const stored = await withConflictRetry(
      { kind: 'Ingress', namespace, name: canary, verb: 'update' },
      async () => {
        let current: Ingress | undefined;
        try {
          current = asIngress(
            await apis.networking.readNamespacedIngress({
              namespace,
              name: canary,
            }),
          );
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        if (!current) {
          const base = asIngress(
            await apis.networking.readNamespacedIngress({
              namespace,
              name: primary,
            }),
          );
          const body = applyNginxSplit(
            deriveCanaryIngress(base, canary, backends.stable, backends.canary),
            split,
            header,
          );
          // A 409 here means someone created it meanwhile: the retry updates it.
          return asIngress(
            await writeThrough(apis, INGRESSES, namespace, canary, () =>
              apis.networking.createNamespacedIngress({
                namespace,
                body: body as V1Ingress,
              }),
            ),
          );
        }
        const next = applyNginxSplit(current, split, header);
        if (
          JSON.stringify(next.metadata) === JSON.stringify(current.metadata)
        ) {
          return current;
        }
        return asIngress(
          await writeThrough(apis, INGRESSES, namespace, canary, () =>
            apis.networking.replaceNamespacedIngress({
              namespace,
              name: canary,
              body: next as V1Ingress,
            }),
          ),
        );
      },
      { attempts: this.options.conflictAttempts },
    );
    return readNginxSplit(stored, header);
  }

  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    // Fixed subsets: stable runs the promoted template; the canary Ingress
    // stays (weight 0, no header) for the next rollout.
    const { apis, namespace, canary } = this.parts(topology);
    try {
      await apis.networking.readNamespacedIngress({ namespace, name: canary });
    } catch (error) {
      if (isNotFound(error)) return;
      throw toClusterError(error, {
        kind: 'Ingress',
        namespace,
        name: canary,
        verb: 'read',
      });
    }
    await this.setSplit(topology, { canaryWeight: 0, headerRoute: false });
  }

  async manualRestore(topology: TrafficTopology): Promise<string[]> {
    const { namespace, canary } = this.parts(topology);
    return [
      kubectlMergePatch({
        cluster: topology.target.cluster,
        namespace,
        resource: 'ingresses.networking.k8s.io',
        name: canary,
        patch: {
          metadata: {
            annotations: {
              [NGINX_CANARY_WEIGHT]: '0',
              [NGINX_CANARY_BY_HEADER]: null,
              [NGINX_CANARY_BY_HEADER_VALUE]: null,
            },
          },
        },
      }),
    ];
  }
}
