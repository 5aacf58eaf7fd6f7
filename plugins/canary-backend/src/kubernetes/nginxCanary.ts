/**
 * Pure functions for NGINX Ingress canaries: a second Ingress with the same
 * hosts and paths, pointing at the canary Service, marked with
 * `nginx.ingress.kubernetes.io/canary: "true"`; its `canary-weight` is the
 * split and `canary-by-header(-value)` the sticky header.
 */
import { clone, Ingress } from './objects';
import { StickyHeader } from './istioRoutes';

const PREFIX = 'nginx.ingress.kubernetes.io/';
export const NGINX_CANARY = `${PREFIX}canary`;
export const NGINX_CANARY_WEIGHT = `${PREFIX}canary-weight`;
export const NGINX_CANARY_BY_HEADER = `${PREFIX}canary-by-header`;
export const NGINX_CANARY_BY_HEADER_VALUE = `${PREFIX}canary-by-header-value`;
const NGINX_CANARY_WEIGHT_TOTAL = `${PREFIX}canary-weight-total`;

export function isCanaryIngress(ingress: Ingress): boolean {
  return ingress.metadata.annotations?.[NGINX_CANARY] === 'true';
}

/** Service names an Ingress sends traffic to. */
export function ingressServices(ingress: Ingress): string[] {
  const names = new Set<string>();
  const add = (n?: string) => n && names.add(n);
  add(ingress.spec.defaultBackend?.service?.name);
  for (const rule of ingress.spec.rules ?? []) {
    for (const path of rule.http?.paths ?? []) add(path.backend.service?.name);
  }
  return [...names];
}

/**
 * The canary Ingress made from the primary one: same class, hosts, paths and
 * TLS, every backend of the stable Service replaced by the canary Service.
 * Annotations of the primary are not copied (they would configure the
 * controller twice); only the canary ones are set.
 */
export function deriveCanaryIngress(
  primary: Ingress,
  name: string,
  stableService: string,
  canaryService: string,
): Ingress {
  const spec = clone(primary.spec);
  const swap = (backend?: { service?: { name: string } }) => {
    if (backend?.service?.name === stableService)
      backend.service.name = canaryService;
  };
  swap(spec.defaultBackend);
  for (const rule of spec.rules ?? []) {
    for (const path of rule.http?.paths ?? []) swap(path.backend);
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name,
      namespace: primary.metadata.namespace,
      labels: { ...(primary.metadata.labels ?? {}) },
      annotations: { [NGINX_CANARY]: 'true', [NGINX_CANARY_WEIGHT]: '0' },
    },
    spec,
  };
}

export function readNginxSplit(
  canary: Ingress | undefined,
  header?: StickyHeader,
): { canaryWeight: number; headerRoute: boolean } {
  const a = canary?.metadata.annotations ?? {};
  if (!canary || a[NGINX_CANARY] !== 'true') {
    return { canaryWeight: 0, headerRoute: false };
  }
  const total = Number(a[NGINX_CANARY_WEIGHT_TOTAL] ?? 100) || 100;
  const weight = Number(a[NGINX_CANARY_WEIGHT] ?? 0) || 0;
  const byHeader = a[NGINX_CANARY_BY_HEADER];
  return {
    canaryWeight: Math.round(((weight * 100) / total) * 100) / 100,
    headerRoute:
      !!byHeader &&
      (!header ||
        (byHeader.toLowerCase() === header.name.toLowerCase() &&
          (a[NGINX_CANARY_BY_HEADER_VALUE] ?? 'always') === header.value)),
  };
}

export function applyNginxSplit(
  canary: Ingress,
  split: { canaryWeight: number; headerRoute: boolean },
  header: StickyHeader,
): Ingress {
  const next = clone(canary);
  const annotations = { ...(next.metadata.annotations ?? {}) };
  const weight = Math.min(100, Math.max(0, Math.round(split.canaryWeight)));
  annotations[NGINX_CANARY] = 'true';
  annotations[NGINX_CANARY_WEIGHT] = String(weight);
  delete annotations[NGINX_CANARY_WEIGHT_TOTAL];
  if (split.headerRoute) {
    annotations[NGINX_CANARY_BY_HEADER] = header.name;
    annotations[NGINX_CANARY_BY_HEADER_VALUE] = header.value;
  } else {
    delete annotations[NGINX_CANARY_BY_HEADER];
    delete annotations[NGINX_CANARY_BY_HEADER_VALUE];
  }
  next.metadata.annotations = annotations;
  return next;
}
