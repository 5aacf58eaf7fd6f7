/**
 * Errors the engine tells apart. Errors from src/kubernetes are recognised by
 * name, so a copy of the class from another module instance still counts.
 */

/** Thrown inside a pass when the row changed under us; the pass ends quietly. */
export class StaleRolloutError extends Error {
  name = 'StaleRolloutError';
}

/** Thrown inside a pass when this replica no longer holds the rollout's lease. */
export class LeaseLostError extends Error {
  name = 'LeaseLostError';
}

/** Thrown when a pass ran past its deadline; the work is retried later. */
export class PassDeadlineError extends Error {
  name = 'PassDeadlineError';
}

/** The cluster did not answer (refused, reset, timed out, 5xx): retrying can fix it. */
export const isClusterUnavailable = (e: unknown): boolean =>
  (e as Error)?.name === 'ClusterUnavailableError' ||
  (e as Error)?.name === 'PassDeadlineError';

/** The cluster does not match the configuration: retrying cannot fix it. */
export const isConfigurationError = (e: unknown): boolean =>
  (e as Error)?.name === 'ConfigurationError';

/** An object the rollout relies on is gone (404). */
export const isNotFound = (e: unknown): boolean =>
  (e as Error)?.name === 'KubernetesObjectNotFoundError';

/**
 * Retrying can fix it: the cluster did not answer, or something we cannot
 * classify (a bug, an unexpected reply) — retrying is safe. Configuration
 * errors, definite refusals (e.g. 422 from an admission policy) and missing
 * objects are not retryable.
 */
export function isRetryable(e: unknown): boolean {
  const name = (e as Error)?.name;
  return ![
    'ConfigurationError',
    'ClusterRejectedError',
    'KubernetesObjectNotFoundError',
  ].includes(name);
}

/** The pass lost its right to write; nothing to record. */
export const isFencingError = (e: unknown): boolean =>
  e instanceof StaleRolloutError || e instanceof LeaseLostError;

export function errorMessage(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}
