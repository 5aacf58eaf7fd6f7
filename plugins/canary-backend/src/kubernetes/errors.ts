import { ApiException } from '@kubernetes/client-node';
import { fenceBeforeWrite } from '../domain/passScope';
import {
  ClusterRejectedError,
  ClusterUnavailableError,
  ConfigurationError,
  KubernetesObjectNotFoundError,
} from './types';

/** What a failed call was about, for messages and typed errors. */
export interface ObjectDescription {
  kind: string;
  namespace: string;
  name?: string;
  /** Verb for messages, e.g. `update`. */
  verb?: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
]);

/** HTTP status of a failed client-node call, if the server answered. */
export function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof ApiException) {
    return error.code;
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  // ApiException from another copy of the module: same shape, other class.
  if (
    typeof code === 'number' &&
    (error as { body?: unknown }).body !== undefined
  ) {
    return code;
  }
  return undefined;
}

export function isConflict(error: unknown): boolean {
  return httpStatusOf(error) === 409;
}

export function isNotFound(error: unknown): boolean {
  return httpStatusOf(error) === 404;
}

function serverMessage(error: unknown): string | undefined {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body);
      if (typeof parsed?.message === 'string') return parsed.message;
    } catch {
      return body.slice(0, 300);
    }
  }
  if (body && typeof (body as { message?: unknown }).message === 'string') {
    return (body as { message: string }).message;
  }
  return undefined;
}

// Certificate problems do not go away by waiting: they are configuration.
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function tlsFailureCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: unknown } | undefined;
  if (!e) return undefined;
  if (typeof e.code === 'string' && TLS_CODES.has(e.code)) return e.code;
  return e.cause && e.cause !== error ? tlsFailureCode(e.cause) : undefined;
}

function isNetworkFailure(error: unknown): boolean {
  const e = error as
    | { code?: unknown; name?: unknown; type?: unknown; cause?: unknown }
    | undefined;
  if (!e) return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  // node-fetch: FetchError with type 'system' (socket) or 'request-timeout';
  // AbortError when our per-request timeout fires.
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
  if (e.name === 'FetchError' && e.type !== 'invalid-json') return true;
  if (e.cause && e.cause !== error) return isNetworkFailure(e.cause);
  return false;
}

function describe(what: ObjectDescription): string {
  return what.name
    ? `${what.kind} ${what.namespace}/${what.name}`
    : `${what.kind} in ${what.namespace}`;
}

/**
 * Turns a client-node failure into the errors of the contract:
 * 5xx, 429, timeouts and unreachable servers → {@link ClusterUnavailableError}
 * (the engine retries later); 404 → {@link KubernetesObjectNotFoundError};
 * 401/403 → {@link ConfigurationError} (credentials or RBAC to fix).
 * Anything else keeps its status in a plain Error. Messages never contain
 * request headers, so tokens cannot leak through them.
 */
export function toClusterError(error: unknown, what: ObjectDescription): Error {
  if (
    error instanceof ClusterUnavailableError ||
    error instanceof ConfigurationError ||
    error instanceof KubernetesObjectNotFoundError ||
    error instanceof ClusterRejectedError ||
    (error as Error)?.name === 'LeaseLostError' ||
    (error as Error)?.name === 'StaleRolloutError'
  ) {
    return error as Error;
  }
  // The engine's pass ended (deadline or lost lease) and aborted the request.
  const cause = (error as { cause?: unknown })?.cause;
  if (
    cause instanceof Error &&
    ['PassDeadlineError', 'LeaseLostError'].includes(cause.name)
  ) {
    return cause;
  }
  const status = httpStatusOf(error);
  const verb = what.verb ?? 'access';
  if (status === undefined) {
    const tls = tlsFailureCode(error);
    if (tls) {
      return new ConfigurationError(
        `The cluster's TLS certificate was not accepted (${tls}) while trying to ${verb} ${describe(
          what,
        )}: set caData (or caFile) for the cluster in kubernetes.clusterLocatorMethods`,
        'kubernetes.clusterLocatorMethods',
      );
    }
    if (isNetworkFailure(error)) {
      const reason = (error as Error).message ?? String(error);
      return new ClusterUnavailableError(
        `Cluster unreachable while trying to ${verb} ${describe(
          what,
        )}: ${reason}`,
      );
    }
    return error instanceof Error ? error : new Error(String(error));
  }
  const detail = serverMessage(error);
  const suffix = detail ? `: ${detail}` : '';
  if (status === 404) {
    return new KubernetesObjectNotFoundError(
      what.kind,
      what.namespace,
      what.name ?? '',
    );
  }
  if (status >= 500 || status === 429) {
    return new ClusterUnavailableError(
      `Cluster answered ${status} to ${verb} ${describe(what)}${suffix}`,
    );
  }
  if (status === 401) {
    return new ConfigurationError(
      `Cluster refused the credentials (401) to ${verb} ${describe(
        what,
      )}: check serviceAccountToken in kubernetes.clusterLocatorMethods`,
      'kubernetes.clusterLocatorMethods',
    );
  }
  if (status === 403) {
    return new ConfigurationError(
      `Not allowed (403) to ${verb} ${describe(
        what,
      )}: grant the service account this permission (RBAC)${suffix}`,
    );
  }
  return new ClusterRejectedError(
    `Cluster answered ${status} to ${verb} ${describe(what)}${suffix}`,
    status,
  );
}

/** Runs a call and maps its failure with {@link toClusterError}. */
export async function callCluster<T>(
  what: ObjectDescription,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toClusterError(error, what);
  }
}

/**
 * Read-modify-write with optimistic concurrency: `attempt` reads the object,
 * changes it and writes it back with the resourceVersion it read. A 409 means
 * someone else wrote in between, so read again and redo the change, a bounded
 * number of times. Other failures are mapped with {@link toClusterError}.
 * `attempt` gets its number (1 first): the first may start from a watch
 * cache's copy, a retry after a 409 reads the server (`readForUpdate`).
 */
export async function withConflictRetry<T>(
  what: ObjectDescription,
  attempt: (n: number) => Promise<T>,
  options: { attempts?: number; backoffMs?: number } = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const backoffMs = options.backoffMs ?? 50;
  for (let i = 1; ; i++) {
    try {
      // Inside an engine pass: never re-apply a change a newer decision superseded.
      await fenceBeforeWrite();
      return await attempt(i);
    } catch (error) {
      if (isConflict(error) && i < attempts) {
        await new Promise(r => setTimeout(r, backoffMs * i));
        continue;
      }
      if (isConflict(error)) {
        return Promise.reject(
          new ClusterUnavailableError(
            `${describe(
              what,
            )} kept changing under us (${attempts} conflicts in a row); will try again later`,
          ),
        );
      }
      throw toClusterError(error, what);
    }
  }
}
