/**
 * Pure functions over Istio VirtualService and DestinationRule objects: read
 * the split, compute the object with a new split, add or remove the sticky
 * header route, add a subset. The provider does the I/O around them.
 */
import {
  clone,
  DestinationRule,
  IstioHttpRoute,
  IstioRouteDestination,
  VirtualService,
} from './objects';

/** The service's two subsets, by DestinationRule subset name. */
export interface IstioArms {
  service: string;
  namespace: string;
  stableSubset: string;
  canarySubset: string;
}

export interface StickyHeader {
  name: string;
  value: string;
}

/** The header seed 002 pins QA traffic with, used when a policy enables the header route without naming one. */
export const DEFAULT_STICKY_HEADER: StickyHeader = {
  name: 'x-canary-user',
  value: 'true',
};

/** Name given to the header route Coalmine adds, so people reading the object know where it came from. */
export const STICKY_ROUTE_NAME = 'coalmine-sticky-canary';

/** `checkout`, `checkout.demo`, `checkout.demo.svc`, `checkout.demo.svc.cluster.local` all mean the Service. */
export function hostMatchesService(
  host: string,
  service: string,
  namespace: string,
): boolean {
  return (
    host === service ||
    host === `${service}.${namespace}` ||
    host.startsWith(`${service}.${namespace}.svc`)
  );
}

function routesToService(
  route: IstioHttpRoute,
  service: string,
  namespace: string,
): boolean {
  const destinations = route.route ?? [];
  return (
    destinations.length > 0 &&
    destinations.every(d =>
      hostMatchesService(d.destination.host, service, namespace),
    )
  );
}

function headerMatches(route: IstioHttpRoute, header?: StickyHeader): boolean {
  return (route.match ?? []).some(m => {
    const headers = m.headers ?? {};
    if (!header) return Object.keys(headers).length > 0;
    const match = headers[header.name] ?? headers[header.name.toLowerCase()];
    return match?.exact === header.value;
  });
}

/** A header route: matches on a header and sends everything to one subset. */
function isHeaderRouteTo(
  route: IstioHttpRoute,
  subset: string,
  header?: StickyHeader,
): boolean {
  const destinations = route.route ?? [];
  return (
    headerMatches(route, header) &&
    destinations.length > 0 &&
    destinations.every(d => d.destination.subset === subset)
  );
}

/** Every VirtualService http route that sends traffic to the Service. */
export function serviceRouteIndexes(
  vs: VirtualService,
  service: string,
  namespace: string,
): number[] {
  return (vs.spec.http ?? []).flatMap((route, index) =>
    routesToService(route, service, namespace) ? [index] : [],
  );
}

/**
 * The route whose weights carry the split: among the routes to the Service,
 * the catch-all one (no `match`), else the first one that is not a
 * header route. -1 when there is none.
 */
export function primaryRouteIndex(
  vs: VirtualService,
  service: string,
  namespace: string,
): number {
  const http = vs.spec.http ?? [];
  const candidates = serviceRouteIndexes(vs, service, namespace);
  const catchAll = candidates.filter(i => !(http[i].match?.length ?? 0));
  if (catchAll.length) return catchAll[catchAll.length - 1];
  const weighted = candidates.find(i => !headerMatches(http[i]));
  return weighted ?? -1;
}

/** Index of the sticky header route to the canary subset, -1 when absent. */
export function headerRouteIndex(
  vs: VirtualService,
  arms: IstioArms,
  header?: StickyHeader,
): number {
  return (vs.spec.http ?? []).findIndex(
    route =>
      routesToService(route, arms.service, arms.namespace) &&
      isHeaderRouteTo(route, arms.canarySubset, header),
  );
}

/** Weights of the primary route by subset, normalised to percent. */
export function subsetWeights(
  route: IstioHttpRoute,
): Array<{ subset: string | undefined; weight: number }> {
  const destinations = route.route ?? [];
  // Istio: a lone destination without weight gets everything.
  const raw = destinations.map(
    d => d.weight ?? (destinations.length === 1 ? 100 : 0),
  );
  const total = raw.reduce((a, b) => a + b, 0);
  return destinations.map((d, i) => ({
    subset: d.destination.subset,
    weight: total > 0 ? (raw[i] * 100) / total : 0,
  }));
}

/** The split a VirtualService asks for. */
export function readIstioSplit(
  vs: VirtualService,
  arms: IstioArms,
  header?: StickyHeader,
): { canaryWeight: number; headerRoute: boolean } {
  const index = primaryRouteIndex(vs, arms.service, arms.namespace);
  const weights = index >= 0 ? subsetWeights(vs.spec.http![index]) : [];
  const canaryWeight = weights
    .filter(w => w.subset === arms.canarySubset)
    .reduce((sum, w) => sum + w.weight, 0);
  return {
    canaryWeight: Math.round(canaryWeight * 100) / 100,
    headerRoute: headerRouteIndex(vs, arms, header) >= 0,
  };
}

function destinationFor(
  template: IstioRouteDestination | undefined,
  arms: IstioArms,
  subset: string,
  weight: number,
): IstioRouteDestination {
  const destination = template
    ? { ...clone(template.destination), subset }
    : { host: arms.service, subset };
  return { destination, weight };
}

function headerRoute(
  template: IstioRouteDestination | undefined,
  arms: IstioArms,
  header: StickyHeader,
): IstioHttpRoute {
  return {
    name: STICKY_ROUTE_NAME,
    match: [{ headers: { [header.name]: { exact: header.value } } }],
    route: [destinationFor(template, arms, arms.canarySubset, 100)],
  };
}

function primaryOrThrow(vs: VirtualService, arms: IstioArms): number {
  const index = primaryRouteIndex(vs, arms.service, arms.namespace);
  if (index < 0) {
    throw new Error(
      `VirtualService ${vs.metadata.name} has no http route to ${arms.service}`,
    );
  }
  return index;
}

/**
 * The VirtualService with the primary route split `100 - w` / `w` between
 * the stable and canary subsets, and the sticky header route added before it
 * or removed. Routes to other services are left as they are.
 */
export function applyIstioSplit(
  vs: VirtualService,
  arms: IstioArms,
  split: { canaryWeight: number; headerRoute: boolean },
  header: StickyHeader = DEFAULT_STICKY_HEADER,
): VirtualService {
  const next = clone(vs);
  const http = next.spec.http!;
  const primary = primaryOrThrow(next, arms);
  const canary = Math.min(100, Math.max(0, Math.round(split.canaryWeight)));
  const template =
    http[primary].route!.find(
      d => d.destination.subset === arms.stableSubset,
    ) ?? http[primary].route![0];
  http[primary] = {
    ...http[primary],
    route: [
      destinationFor(template, arms, arms.stableSubset, 100 - canary),
      destinationFor(template, arms, arms.canarySubset, canary),
    ],
  };
  const existing = headerRouteIndex(next, arms, header);
  if (split.headerRoute && existing < 0) {
    http.splice(primary, 0, headerRoute(template, arms, header));
  } else if (!split.headerRoute && existing >= 0) {
    http.splice(existing, 1);
  }
  return next;
}

/**
 * After promotion: the primary route sends everything to `finalSubset` alone
 * and every header route to the canary subset is gone.
 */
export function finalizeIstioRoute(
  vs: VirtualService,
  arms: IstioArms,
  finalSubset: string,
): VirtualService {
  const next = clone(vs);
  const primary = primaryOrThrow(next, arms);
  const http = next.spec.http!;
  const template =
    http[primary].route!.find(d => d.destination.subset === finalSubset) ??
    http[primary].route![0];
  http[primary] = {
    ...http[primary],
    route: [destinationFor(template, arms, finalSubset, 100)],
  };
  // Any header (not only the policy's) that pins traffic to the old canary subset
  // goes: after promotion it would pin users to a subset that is scaled away
  // (versioned) or identical to stable (fixed).
  next.spec.http = http.filter(
    (route, i) =>
      i === primary ||
      !(
        routesToService(route, arms.service, arms.namespace) &&
        isHeaderRouteTo(route, arms.canarySubset)
      ),
  );
  return next;
}

/** The label key that carries the version in a subset's labels (`version` when none does). */
export function versionLabelKey(
  labels: Record<string, string> | undefined,
  version: string | undefined,
): string {
  const entry = Object.entries(labels ?? {}).find(([, v]) => v === version);
  return entry?.[0] ?? 'version';
}

/**
 * The DestinationRule with a subset `name` (labels copied from `basedOn`
 * with the version label set to `name`), or `undefined` when it already has it.
 */
export function withSubset(
  dr: DestinationRule,
  name: string,
  basedOn: string,
): DestinationRule | undefined {
  const subsets = dr.spec.subsets ?? [];
  if (subsets.some(s => s.name === name)) return undefined;
  const base = subsets.find(s => s.name === basedOn);
  const key = versionLabelKey(base?.labels, basedOn);
  const next = clone(dr);
  next.spec.subsets = [
    ...subsets.map(s => clone(s)),
    { name, labels: { ...(base?.labels ?? {}), [key]: name } },
  ];
  return next;
}
