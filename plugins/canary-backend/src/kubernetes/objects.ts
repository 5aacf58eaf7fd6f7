/**
 * The parts of the routing objects Coalmine reads and writes. Everything else
 * in an object is carried through untouched, so these types are open.
 */

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface KubernetesObject<Spec = Record<string, unknown>> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: Spec;
  [key: string]: unknown;
}

/** Istio StringMatch: exactly one of exact / prefix / regex. */
export type IstioStringMatch = {
  exact?: string;
  prefix?: string;
  regex?: string;
};

export interface IstioDestination {
  host: string;
  subset?: string;
  port?: { number?: number };
  [key: string]: unknown;
}

export interface IstioRouteDestination {
  destination: IstioDestination;
  weight?: number;
  [key: string]: unknown;
}

export interface IstioHttpRoute {
  name?: string;
  match?: Array<{
    headers?: Record<string, IstioStringMatch>;
    [key: string]: unknown;
  }>;
  route?: IstioRouteDestination[];
  [key: string]: unknown;
}

export type VirtualService = KubernetesObject<{
  hosts?: string[];
  http?: IstioHttpRoute[];
  [key: string]: unknown;
}>;

export interface IstioSubset {
  name: string;
  labels?: Record<string, string>;
  [key: string]: unknown;
}

export type DestinationRule = KubernetesObject<{
  host: string;
  subsets?: IstioSubset[];
  [key: string]: unknown;
}>;

export interface GatewayBackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  [key: string]: unknown;
}

export interface GatewayHttpRouteRule {
  name?: string;
  matches?: Array<{
    path?: unknown;
    headers?: Array<{ type?: string; name: string; value: string }>;
    [key: string]: unknown;
  }>;
  backendRefs?: GatewayBackendRef[];
  [key: string]: unknown;
}

export type HTTPRoute = KubernetesObject<{
  parentRefs?: unknown[];
  hostnames?: string[];
  rules?: GatewayHttpRouteRule[];
  [key: string]: unknown;
}>;

export type TrafficSplitObject = KubernetesObject<{
  service: string;
  backends: Array<{ service: string; weight: number | string }>;
  [key: string]: unknown;
}>;

export interface IngressBackend {
  service?: { name: string; port?: { number?: number; name?: string } };
  [key: string]: unknown;
}

export type Ingress = KubernetesObject<{
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  rules?: Array<{
    host?: string;
    http?: {
      paths: Array<{
        path?: string;
        pathType?: string;
        backend: IngressBackend;
      }>;
    };
  }>;
  tls?: unknown[];
  [key: string]: unknown;
}>;

/** Deep copy of a JSON object (the API only ever gives us JSON). */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}
