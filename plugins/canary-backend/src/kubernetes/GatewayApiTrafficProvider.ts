import { CANARY_ROUTE_ANNOTATION } from '@coalmine/backstage-plugin-canary-common';
import { CustomObjectSplitProvider } from './CustomObjectSplitProvider';
import {
  applyHttpRouteSplit,
  BackendPair,
  finalizeHttpRoute,
  readHttpRouteSplit,
  weightedRuleIndex,
} from './gatewayRoutes';
import { DEFAULT_STICKY_HEADER, StickyHeader } from './istioRoutes';
import { HTTPRoute } from './objects';
import { RolloutTarget, TrafficProvider } from './types';

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

  protected backendsOf(route: HTTPRoute, service: string) {
    return httpRouteBackends(route, service);
  }

  protected readonly words = {
    notRouting: (namespace: string, name: string, service: string) =>
      `HTTPRoute ${namespace}/${name} has no rule with a backendRef to Service ${service}-stable (or ${service}-primary, ${service}): add one, or set ${CANARY_ROUTE_ANNOTATION} to the HTTPRoute that routes ${service}`,
    notFound: (namespace: string, service: string) =>
      `HTTPRoute ${namespace}/${service} not found (no HTTPRoute in ${namespace} routes to Service ${service}-stable): set ${CANARY_ROUTE_ANNOTATION} or create it`,
    several: (namespace: string, service: string, names: string[]) =>
      `Several HTTPRoutes in ${namespace} route to ${service} (${names.join(
        ', ',
      )}): set ${CANARY_ROUTE_ANNOTATION} to the one to split`,
    stableWorkload: (route: string) =>
      `the HTTPRoute ${route} points at it; create it`,
    canaryWorkload: (route: string) =>
      `create it with a selector for the canary pods (the HTTPRoute ${route} sends the canary share to it)`,
  };
}
