import { ResourceType, qualifiedResource } from './resourceTypes';

/** An error the API server answers with a `Status` body, like the real one. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }

  toStatus() {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

function detailsOf(rt: ResourceType, name?: string) {
  return {
    ...(name !== undefined ? { name } : {}),
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.plural,
  };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `${qualifiedResource(rt)} "${name}" not found`,
    detailsOf(rt, name),
  );
}

export function resourceNotFound(): ApiError {
  return new ApiError(
    404,
    'NotFound',
    'the server could not find the requested resource',
    {},
  );
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualifiedResource(rt)} "${name}" already exists`,
    detailsOf(rt, name),
  );
}

export function conflict(rt: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(
      rt,
    )} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    detailsOf(rt, name),
  );
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export interface FieldCause {
  field: string;
  reason: string;
  message: string;
}

export function invalid(
  rt: ResourceType,
  name: string,
  causes: FieldCause[],
): ApiError {
  const summary = causes.map(c => `${c.field}: ${c.message}`).join(', ');
  const joined = causes.length > 1 ? `[${summary}]` : summary;
  return new ApiError(
    422,
    'Invalid',
    `${rt.kind} "${name}" is invalid: ${joined}`,
    {
      name,
      ...(rt.group ? { group: rt.group } : {}),
      kind: rt.kind,
      causes: causes.map(c => ({
        reason: c.reason,
        message: c.message,
        field: c.field,
      })),
    },
  );
}

export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}

export function unsupportedMediaType(): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
  );
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

/** Errors injected by tests through `failNext`. */
export function injected(
  status: number,
  rt: ResourceType,
  name: string,
): ApiError {
  if (status === 409) return conflict(rt, name);
  if (status === 503)
    return new ApiError(
      503,
      'ServiceUnavailable',
      'the server is currently unable to handle the request (injected fault)',
    );
  if (status === 429)
    return new ApiError(
      429,
      'TooManyRequests',
      'the server has received too many requests and has asked us to try again later (injected fault)',
    );
  return new ApiError(
    status,
    'InternalError',
    'Internal error occurred: injected fault',
  );
}
