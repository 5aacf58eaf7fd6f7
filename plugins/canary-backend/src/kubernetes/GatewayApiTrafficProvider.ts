import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import type { ClusterApis, ClusterClients } from './ClusterClients';
import {
  CustomKind,
  readCustomObject,
  updateCustomObject,
} from './customObjects';
import {
  checkTargetNames,
  workloadsBehindBackends,
  listCustomObjects,
  readCustomObjectOrExplain,
} from './discovery';
import {
  applyHttpRouteSplit,
  BackendPair,
  finalizeHttpRoute,
  readHttpRouteSplit,
  weightedRuleIndex,
} from './gatewayRoutes';
import { DEFAULT_STICKY_HEADER } from './istioRoutes';
import { HTTPRoute } from './objects';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
  TrafficSplit,
  TrafficTopology,
} from './types';

const GROUP = 'gateway.networking.k8s.io';

/** Names the stable Service of `<svc>` may have, in order of preference. */
export function stableServiceNames(service: string): string[] {
  return [`${service}-stable`, `${service}-primary`, service];
}

/** Which of the route's Services are stable and canary, if it routes the component at all. */
export function httpRouteBackends(
  route: HTTPRoute,
  service: string,
): BackendPair | undefined {
  const canary = `${service}-canary`;
  for (const stable of stableServiceNames(service)) {
    if (weightedRuleIndex(route, { stable, canary }) >= 0)
      return { stable, canary };
  }
  return undefined;
}

/**
 * Gateway API: the split is the weights of the stable and canary Service
 * backendRefs of an HTTPRoute rule (`<svc>-stable` / `<svc>-canary`).
 * Promotion copies the canary's template into stable and routes 100 % to it.
 */
export class GatewayApiTrafficProvider implements TrafficProvider {
  readonly name = 'gateway-api' as const;

  constructor(
    private readonly clients: ClusterClients,
    private readonly options: { conflictAttempts?: number } = {},
  ) {}

  private async kind(apis: ClusterApis): Promise<CustomKind> {
    const version = await apis.preferredVersion(GROUP, 'v1');
    return { group: GROUP, version, plural: 'httproutes', kind: 'HTTPRoute' };
  }

  async discover(target: RolloutTarget): Promise<TrafficTopology> {
    checkTargetNames(target);
    const { namespace, service } = target;
    const apis = this.clients.forCluster(target.cluster);
    const kind = await this.kind(apis);
    let route: HTTPRoute;
    let backends: BackendPair | undefined;
    if (target.route) {
      route = await readCustomObjectOrExplain<HTTPRoute>(
        apis,
        kind,
        namespace,
        target.route,
      );
      backends = httpRouteBackends(route, service);
      if (!backends) {
        throw new ConfigurationError(
          `HTTPRoute ${namespace}/${target.route} has no rule with a backendRef to Service ${service}-stable (or ${service}-primary, ${service}): add one, or set ${CANARY_ROUTE_ANNOTATION} to the HTTPRoute that routes ${service}`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
    } else {
      const routing = (
        await listCustomObjects<HTTPRoute>(apis, kind, namespace)
      )
        .map(r => ({ route: r, backends: httpRouteBackends(r, service) }))
        .filter(r => r.backends);
      if (routing.length !== 1) {
        throw new ConfigurationError(
          routing.length === 0
            ? `HTTPRoute ${namespace}/${service} not found (no HTTPRoute in ${namespace} routes to Service ${service}-stable): set ${CANARY_ROUTE_ANNOTATION} or create it`
            : `Several HTTPRoutes in ${namespace} route to ${service} (${routing
                .map(r => r.route.metadata.name)
                .join(
                  ', ',
                )}): set ${CANARY_ROUTE_ANNOTATION} to the one to split`,
          CANARY_ROUTE_ANNOTATION,
        );
      }
      route = routing[0].route;
      backends = routing[0].backends!;
    }

    const workloads = await workloadsBehindBackends(apis, target, backends, {
      stable: `the HTTPRoute ${route.metadata.name} points at it; create it`,
      canary: `create it with a selector for the canary pods (the HTTPRoute ${route.metadata.name} sends the canary share to it)`,
    });
    return {
      target,
      shape: 'fixed-subsets',
      ...workloads,
      routeObject: {
        apiVersion: `${GROUP}/${kind.version}`,
        kind: 'HTTPRoute',
        name: route.metadata.name!,
      },
      backends,
    };
  }

  private parts(topology: TrafficTopology) {
    if (!topology.routeObject || !topology.backends) {
      throw new Error(
        'Gateway API topology without route and backends; run discover first',
      );
    }
    const apis = this.clients.forCluster(topology.target.cluster);
    return {
      apis,
      name: topology.routeObject.name,
      backends: topology.backends,
    };
  }

  async getSplit(topology: TrafficTopology): Promise<TrafficSplit> {
    const { apis, name, backends } = this.parts(topology);
    const route = await readCustomObject<HTTPRoute>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
    );
    return readHttpRouteSplit(route, backends, topology.target.stickyHeader);
  }

  async setSplit(
    topology: TrafficTopology,
    split: { canaryWeight: number; headerRoute: boolean },
  ): Promise<TrafficSplit> {
    if (!(split.canaryWeight >= 0 && split.canaryWeight <= 100)) {
      throw new Error(`Canary weight must be 0–100, got ${split.canaryWeight}`);
    }
    const { apis, name, backends } = this.parts(topology);
    const header = topology.target.stickyHeader ?? DEFAULT_STICKY_HEADER;
    const stored = await updateCustomObject<HTTPRoute>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
      route => applyHttpRouteSplit(route, backends, split, header),
      this.options.conflictAttempts,
    );
    return readHttpRouteSplit(stored, backends, header);
  }

  async finalizePromotion(topology: TrafficTopology): Promise<void> {
    const { apis, name, backends } = this.parts(topology);
    await updateCustomObject<HTTPRoute>(
      apis,
      await this.kind(apis),
      topology.target.namespace,
      name,
      route => finalizeHttpRoute(route, backends),
      this.options.conflictAttempts,
    );
  }
}
