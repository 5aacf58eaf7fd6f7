import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import { CustomObjectSplitProvider } from './CustomObjectSplitProvider';
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
import { DEFAULT_STICKY_HEADER, StickyHeader } from './istioRoutes';
import { HTTPRoute } from './objects';
import {
  ConfigurationError,
  RolloutTarget,
  TrafficProvider,
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
export class GatewayApiTrafficProvider
  extends CustomObjectSplitProvider<HTTPRoute>
  implements TrafficProvider
{
  readonly name = 'gateway-api' as const;

  protected readonly resource = {
    group: GROUP,
    fallbackVersion: 'v1',
    plural: 'httproutes',
    kind: 'HTTPRoute',
  };

  protected readSplit(
    route: HTTPRoute,
    backends: BackendPair,
    header: StickyHeader | undefined,
  ) {
    return readHttpRouteSplit(route, backends, header);
  }

  protected applySplit(
    route: HTTPRoute,
    backends: BackendPair,
    split: { canaryWeight: number; headerRoute: boolean },
    header: StickyHeader | undefined,
  ) {
    return applyHttpRouteSplit(
      route,
      backends,
      split,
      header ?? DEFAULT_STICKY_HEADER,
    );
  }

  protected finalizeObject(route: HTTPRoute, backends: BackendPair) {
    return finalizeHttpRoute(route, backends);
  }

  protected headerForWrite(target: RolloutTarget): StickyHeader {
    return target.stickyHeader ?? DEFAULT_STICKY_HEADER;
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
    return this.topology(
      target,
      kind,
      route.metadata.name!,
      backends,
      workloads,
    );
  }
}
