/**
 * Turning registry answers into ShoalErrors: the distribution error body
 * (`{"errors":[{"code","message","detail"}]}`) is parsed and its messages kept, and HTTP
 * statuses map to Shoal codes in one place.
 */
import { ShoalError, type ErrorCode } from '../../api/index.js';

export interface DistributionError {
  code: string;
  message: string;
  detail?: unknown;
}

/** Parses a distribution error body; anything else yields []. */
export function parseDistributionErrors(body: string): DistributionError[] {
  try {
    const doc = JSON.parse(body) as { errors?: unknown };
    if (!doc || !Array.isArray(doc.errors)) return [];
    return doc.errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : '',
        detail: e.detail,
      }));
  } catch {
    return [];
  }
}

/** A one-line summary of the registry's answer: its error messages, else the body's start, else the status. */
export function describeAnswer(status: number, body: string): string {
  const errs = parseDistributionErrors(body);
  if (errs.length > 0) return errs.map((e) => (e.message ? e.message : e.code)).join('; ');
  const text = body.replace(/\s+/g, ' ').trim().slice(0, 200);
  return text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
}

/** The Shoal code for a failed registry answer (401 is handled by the auth flow). */
export function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'NotFound';
  if (status === 401) return 'Unauthorized';
  if (status === 403) return 'PermissionDenied';
  if (status === 400) return 'InvalidArgument';
  if (status === 413) return 'TooLarge';
  if (status === 429) return 'Unavailable';
  return 'Upstream';
}

/**
 * A 401 (or a token server's 401/403) that retrying cannot fix: the credentials were refused, or
 * there were none. `registry` is the name the user knows the registry by.
 */
export function authenticationError(registry: string, hadCredentials: boolean, status: number, body: string): ShoalError {
  return hadCredentials
    ? new ShoalError('Unauthorized', `credentials rejected by ${registry}: ${describeAnswer(status, body)}`)
    : new ShoalError('Unauthorized', `authentication required for ${registry}: run shoalctl login ${registry}`);
}

/** `${what}: <registry's answer>`, with the code for the status. */
export function registryError(status: number, body: string, what: string, retryAfter?: string | undefined): ShoalError {
  const code = codeForStatus(status);
  const answer = describeAnswer(status, body);
  const opts: { retryAfterSeconds?: number } = {};
  const ra = retryAfter !== undefined ? Number(retryAfter) : Number.NaN;
  if (code === 'Unavailable' && Number.isFinite(ra)) opts.retryAfterSeconds = ra;
  if (code === 'NotFound') return new ShoalError(code, `${what} not found: ${answer}`, opts);
  if (code === 'Upstream') return new ShoalError(code, `${what}: registry error (HTTP ${status}): ${answer}`, opts);
  return new ShoalError(code, `${what}: ${answer}`, opts);
}
