import { ResponseError } from '@backstage/errors';

/**
 * The sentence to show for a failed call: the server's own reason when it
 * gave one (a 409 says why the phase does not allow the control), not just
 * "Request failed with 409 Conflict".
 */
export function describeError(error: unknown): string {
  if (error instanceof ResponseError) {
    const reason = error.cause?.message;
    if (!reason || reason === error.message) {
      return error.message;
    }
    const status = [error.statusCode, error.statusText]
      .filter(Boolean)
      .join(' ');
    return `${reason} (${status})`;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}

/** Any thrown thing as an Error. */
export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
