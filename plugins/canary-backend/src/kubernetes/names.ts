import { ConfigurationError } from './types';

// RFC 1123 label: namespaces and Service names.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// RFC 1123 subdomain: names of most other objects (Deployments, custom objects).
const DNS_SUBDOMAIN =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Label values (version labels, subset names end up in them).
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Names that come from annotations or policies reach the API only as path
 * parameters of the typed client methods, and only after this check, so a
 * value like `../secrets` is refused here with a message saying where it came
 * from rather than turned into some other request.
 */
export function assertDnsLabel(
  value: string,
  what: string,
  key?: string,
): string {
  if (value.length > 63 || !DNS_LABEL.test(value)) {
    throw new ConfigurationError(
      `${what} "${value}" is not a valid Kubernetes name (lower-case letters, digits and '-', at most 63 characters)`,
      key,
    );
  }
  return value;
}

/** Like {@link assertDnsLabel} for object names, which may contain dots. */
export function assertDnsSubdomain(
  value: string,
  what: string,
  key?: string,
): string {
  if (value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    throw new ConfigurationError(
      `${what} "${value}" is not a valid Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253 characters)`,
      key,
    );
  }
  return value;
}

/** Versions become label values and, for versioned subsets, part of a Deployment name. */
export function assertVersion(value: string, key?: string): string {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    throw new ConfigurationError(
      `version "${value}" is not a valid Kubernetes label value`,
      key,
    );
  }
  return value;
}
