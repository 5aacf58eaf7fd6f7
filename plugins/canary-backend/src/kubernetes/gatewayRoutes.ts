/**
 * Pure functions over Gateway API HTTPRoutes: the split is the weights of the
 * stable and canary Service backendRefs of one rule; the sticky header is a
 * rule with the same matches plus a header match, to the canary only.
 */
import {
  clone,
  GatewayBackendRef,
  GatewayHttpRouteRule,
  HTTPRoute,
} from './objects';
import { StickyHeader } from './istioRoutes';

export interface BackendPair {
  stable: string;
  canary: string;
}

function isServiceRef(ref: GatewayBackendRef): boolean {
  return (ref.kind ?? 'Service') === 'Service' && !ref.group;
}

function refersTo(ref: GatewayBackendRef, name: string): boolean {
  return isServiceRef(ref) && ref.name === name;
}

function hasHeader(rule: GatewayHttpRouteRule, header?: StickyHeader): boolean {
  return (rule.matches ?? []).some(m =>
    (m.headers ?? []).some(
      h =>
        !header ||
        (h.name.toLowerCase() === header.name.toLowerCase() &&
          h.value === header.value &&
          (h.type ?? 'Exact') === 'Exact'),
    ),
  );
}

/** A header rule: matches a header, sends everything to the canary. */
function isHeaderRule(
  rule: GatewayHttpRouteRule,
  backends: BackendPair,
  header?: StickyHeader,
): boolean {
  const refs = rule.backendRefs ?? [];
  return (
    hasHeader(rule, header) &&
    refs.length > 0 &&
    refs.every(r => refersTo(r, backends.canary))
  );
}

/** The rule whose backendRefs carry the split: it refers to the stable Service and is not a header rule. */
export function weightedRuleIndex(
  route: HTTPRoute,
  backends: BackendPair,
): number {
  return (route.spec.rules ?? []).findIndex(
    rule =>
      (rule.backendRefs ?? []).some(r => refersTo(r, backends.stable)) &&
      !isHeaderRule(rule, backends),
  );
}

export function headerRuleIndex(
  route: HTTPRoute,
  backends: BackendPair,
  header?: StickyHeader,
): number {
  return (route.spec.rules ?? []).findIndex(rule =>
    isHeaderRule(rule, backends, header),
  );
}

export function readHttpRouteSplit(
  route: HTTPRoute,
  backends: BackendPair,
  header?: StickyHeader,
): { canaryWeight: number; headerRoute: boolean } {
  const index = weightedRuleIndex(route, backends);
  const refs = index >= 0 ? route.spec.rules![index].backendRefs ?? [] : [];
  // Gateway API: weight defaults to 1.
  const weights = refs.map(r => r.weight ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const canary = refs.reduce(
    (sum, r, i) => sum + (refersTo(r, backends.canary) ? weights[i] : 0),
    0,
  );
  return {
    canaryWeight:
      total > 0 ? Math.round(((canary * 100) / total) * 100) / 100 : 0,
    headerRoute: headerRuleIndex(route, backends, header) >= 0,
  };
}

function weightedRefs(
  refs: GatewayBackendRef[],
  backends: BackendPair,
  canaryWeight: number,
): GatewayBackendRef[] {
  const stableRef = refs.find(r => refersTo(r, backends.stable)) ?? {
    name: backends.stable,
  };
  const canaryRef = refs.find(r => refersTo(r, backends.canary)) ?? {
    ...clone(stableRef),
    name: backends.canary,
  };
  return [
    { ...stableRef, weight: 100 - canaryWeight },
    { ...canaryRef, weight: canaryWeight },
  ];
}

export function applyHttpRouteSplit(
  route: HTTPRoute,
  backends: BackendPair,
  split: { canaryWeight: number; headerRoute: boolean },
  header: StickyHeader,
): HTTPRoute {
  const next = clone(route);
  const rules = next.spec.rules ?? [];
  const index = weightedRuleIndex(next, backends);
  if (index < 0) {
    throw new Error(
      `HTTPRoute ${route.metadata.name} has no rule to Service ${backends.stable}`,
    );
  }
  const canary = Math.min(100, Math.max(0, Math.round(split.canaryWeight)));
  const rule = rules[index];
  rules[index] = {
    ...rule,
    backendRefs: weightedRefs(rule.backendRefs ?? [], backends, canary),
  };
  const existing = headerRuleIndex(next, backends, header);
  if (split.headerRoute && existing < 0) {
    const canaryRef = rules[index].backendRefs![1];
    const matches = (rule.matches?.length ? rule.matches : [{}]).map(m => ({
      ...clone(m),
      headers: [
        ...(m.headers ?? []),
        { type: 'Exact', name: header.name, value: header.value },
      ],
    }));
    // Gateway API picks the most specific match, so a header rule wins over
    // the weighted one wherever it sits; it goes first for people reading it.
    rules.splice(index, 0, {
      matches,
      backendRefs: [{ ...canaryRef, weight: 1 }],
    });
  } else if (!split.headerRoute && existing >= 0) {
    rules.splice(existing, 1);
  }
  next.spec.rules = rules;
  return next;
}

/** Fixed subsets after promotion: everything to stable, canary kept at weight 0, header rules gone. */
export function finalizeHttpRoute(
  route: HTTPRoute,
  backends: BackendPair,
): HTTPRoute {
  const next = applyHttpRouteSplit(
    route,
    backends,
    { canaryWeight: 0, headerRoute: false },
    { name: '', value: '' },
  );
  next.spec.rules = (next.spec.rules ?? []).filter(
    rule => !isHeaderRule(rule, backends),
  );
  return next;
}
