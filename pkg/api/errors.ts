/**
 * The one error type of Shoal. Every failure that crosses a package boundary is a ShoalError
 * with a code from a closed set; callers branch on `code`, never on the message. The mapping of
 * codes to HTTP statuses and Kubernetes `reason`s lives here and only here.
 */

export type ErrorCode =
  | 'InvalidArgument' // malformed request or input (400)
  | 'Invalid' // well-formed but fails validation; carries field causes (422)
  | 'NotFound' // (404)
  | 'AlreadyExists' // (409)
  | 'Conflict' // stale resourceVersion or concurrent change (409)
  | 'FailedPrecondition' // object in the wrong state for the operation, e.g. rm of a running container (409)
  | 'Unauthorized' // missing or bad credentials (401)
  | 'PermissionDenied' // (403)
  | 'MethodNotAllowed' // the resource does not take this verb, e.g. writes of controller-owned objects (405)
  | 'TooLarge' // body, layer or blob over a limit (413)
  | 'Gone' // watch revision compacted (410)
  | 'Unavailable' // a dependency (etcd, a registry) cannot be reached; retry later (503)
  | 'Upstream' // a remote party (registry) answered wrongly or sent bad data (502)
  | 'DataLoss' // content does not match its digest or size (502)
  | 'Canceled' // the operation was aborted (499, client closed)
  | 'Timeout' // (504)
  | 'Unimplemented' // (501)
  | 'Internal'; // a bug (500); never for anything a client sent

export interface FieldCause {
  /** Field path as Kubernetes writes it: `spec.template.spec.containers[0].image`. */
  field: string;
  /** Machine-readable kind of problem: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate, FieldValueTooLong ... */
  reason: string;
  message: string;
}

export interface ShoalErrorOptions {
  causes?: FieldCause[];
  cause?: unknown;
  /** For Unavailable: seconds after which a retry makes sense (HTTP Retry-After). */
  retryAfterSeconds?: number;
  /** Kind and name of the object concerned, for V1Status.details. */
  kind?: string;
  name?: string;
}

export class ShoalError extends Error {
  override readonly name = 'ShoalError';
  readonly code: ErrorCode;
  readonly causes: FieldCause[];
  readonly retryAfterSeconds: number | undefined;
  readonly kind: string | undefined;
  readonly objectName: string | undefined;

  constructor(code: ErrorCode, message: string, opts: ShoalErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.causes = opts.causes ?? [];
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.kind = opts.kind;
    this.objectName = opts.name;
  }
}

export function isShoalError(err: unknown, code?: ErrorCode): err is ShoalError {
  return err instanceof ShoalError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a ShoalError; unknown errors become Internal (or Canceled for aborts). */
export function toShoalError(err: unknown): ShoalError {
  if (err instanceof ShoalError) return err;
  if (err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')) {
    return new ShoalError('Canceled', 'operation canceled', { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ShoalError('Internal', message, { cause: err });
}

const HTTP: Record<ErrorCode, { status: number; reason: string }> = {
  InvalidArgument: { status: 400, reason: 'BadRequest' },
  Invalid: { status: 422, reason: 'Invalid' },
  NotFound: { status: 404, reason: 'NotFound' },
  AlreadyExists: { status: 409, reason: 'AlreadyExists' },
  Conflict: { status: 409, reason: 'Conflict' },
  FailedPrecondition: { status: 409, reason: 'Conflict' },
  Unauthorized: { status: 401, reason: 'Unauthorized' },
  PermissionDenied: { status: 403, reason: 'Forbidden' },
  MethodNotAllowed: { status: 405, reason: 'MethodNotAllowed' },
  TooLarge: { status: 413, reason: 'RequestEntityTooLarge' },
  Gone: { status: 410, reason: 'Expired' },
  Unavailable: { status: 503, reason: 'ServiceUnavailable' },
  Upstream: { status: 502, reason: 'BadGateway' },
  DataLoss: { status: 502, reason: 'BadGateway' },
  Canceled: { status: 499, reason: 'Canceled' },
  Timeout: { status: 504, reason: 'Timeout' },
  Unimplemented: { status: 501, reason: 'NotImplemented' },
  Internal: { status: 500, reason: 'InternalError' },
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP[code].status;
}

/** A Kubernetes V1Status (the error body of every Shoal API). */
export interface Status {
  apiVersion: 'v1';
  kind: 'Status';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  code: number;
  reason: string;
  message: string;
  details?: { name?: string; kind?: string; causes?: FieldCause[]; retryAfterSeconds?: number };
  /** Shoal's own error code, so clients can rebuild the exact ShoalError. */
  shoalCode?: ErrorCode;
}

export function toStatus(err: unknown): Status {
  const e = toShoalError(err);
  const { status, reason } = HTTP[e.code];
  const details: NonNullable<Status['details']> = {};
  if (e.objectName !== undefined) details.name = e.objectName;
  if (e.kind !== undefined) details.kind = e.kind;
  if (e.causes.length > 0) details.causes = e.causes;
  if (e.retryAfterSeconds !== undefined) details.retryAfterSeconds = e.retryAfterSeconds;
  const out: Status = {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    code: status,
    reason,
    message: e.code === 'Internal' ? `internal error: ${e.message}` : e.message,
    shoalCode: e.code,
  };
  if (Object.keys(details).length > 0) out.details = details;
  return out;
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'InvalidArgument', 401: 'Unauthorized', 403: 'PermissionDenied', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict',
  410: 'Gone', 413: 'TooLarge', 422: 'Invalid', 499: 'Canceled', 501: 'Unimplemented', 502: 'Upstream',
  503: 'Unavailable', 504: 'Timeout',
};

/** Rebuilds a ShoalError from an HTTP status and (when the server sent one) a V1Status body. */
export function fromStatus(httpStatus: number, body: unknown): ShoalError {
  const s = (body && typeof body === 'object' ? body : {}) as Partial<Status>;
  const code: ErrorCode =
    s.shoalCode && s.shoalCode in HTTP ? s.shoalCode : (BY_STATUS[httpStatus] ?? (httpStatus >= 500 ? 'Unavailable' : 'InvalidArgument'));
  const opts: ShoalErrorOptions = {};
  if (s.details?.causes) opts.causes = s.details.causes;
  if (s.details?.retryAfterSeconds !== undefined) opts.retryAfterSeconds = s.details.retryAfterSeconds;
  if (s.details?.kind !== undefined) opts.kind = s.details.kind;
  if (s.details?.name !== undefined) opts.name = s.details.name;
  return new ShoalError(code, typeof s.message === 'string' ? s.message : `HTTP ${httpStatus}`, opts);
}

/** The largest error document read from a peer (a V1Status is a few hundred bytes). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The ShoalError of an HTTP error answer whose body was read as text: the V1Status it holds,
 * or, when the body is not JSON, a message naming `who` answered and how.
 */
export function fromResponseText(httpStatus: number, text: string, who = 'the server'): ShoalError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (body === null || typeof body !== 'object') body = { message: `${who} answered HTTP ${httpStatus}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}` };
  return fromStatus(httpStatus, body);
}

/** Short constructors for the common cases. */
export const errors = {
  invalidArgument: (m: string, o?: ShoalErrorOptions) => new ShoalError('InvalidArgument', m, o),
  invalid: (m: string, causes: FieldCause[], o?: ShoalErrorOptions) => new ShoalError('Invalid', m, { ...o, causes }),
  notFound: (m: string, o?: ShoalErrorOptions) => new ShoalError('NotFound', m, o),
  alreadyExists: (m: string, o?: ShoalErrorOptions) => new ShoalError('AlreadyExists', m, o),
  conflict: (m: string, o?: ShoalErrorOptions) => new ShoalError('Conflict', m, o),
  failedPrecondition: (m: string, o?: ShoalErrorOptions) => new ShoalError('FailedPrecondition', m, o),
  unavailable: (m: string, o?: ShoalErrorOptions) => new ShoalError('Unavailable', m, o),
  unauthorized: (m: string, o?: ShoalErrorOptions) => new ShoalError('Unauthorized', m, o),
  permissionDenied: (m: string, o?: ShoalErrorOptions) => new ShoalError('PermissionDenied', m, o),
  methodNotAllowed: (m: string, o?: ShoalErrorOptions) => new ShoalError('MethodNotAllowed', m, o),
  tooLarge: (m: string, o?: ShoalErrorOptions) => new ShoalError('TooLarge', m, o),
  dataLoss: (m: string, o?: ShoalErrorOptions) => new ShoalError('DataLoss', m, o),
  upstream: (m: string, o?: ShoalErrorOptions) => new ShoalError('Upstream', m, o),
  unimplemented: (m: string, o?: ShoalErrorOptions) => new ShoalError('Unimplemented', m, o),
  internal: (m: string, o?: ShoalErrorOptions) => new ShoalError('Internal', m, o),
};
