/**
 * What every answer of a Shoal HTTP API must be, whatever the request (the fuzzers' oracle):
 *
 * - never a 5xx, except a 503 with Retry-After (a dependency down, e.g. a node's tunnel);
 * - every error is a V1Status (`kind: Status`, `status: Failure`, `code` = the HTTP status)
 *   with a message;
 * - every 422 has causes, and every cause a non-empty `field` naming a field (no `undefined`,
 *   `[object Object]` or `NaN` in it), a `reason` and a `message`;
 * - a rejected request (4xx) changes nothing: the store revision is the same after it;
 * - an answer comes (no hang).
 *
 * `checkAnswer` is pure; `sendAndCheck` sends one request with `app.inject` and checks it.
 */
import type { FastifyInstance } from 'fastify';
import type { FuzzRequest } from './controller-requests.js';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** A broken rule, or undefined. `revBefore`/`revAfter`: the store revision around the request (when known). */
export function checkAnswer(req: Pick<FuzzRequest, 'method' | 'payload'> & Partial<Pick<FuzzRequest, 'url' | 'headers'>>, res: Answer, revBefore?: number, revAfter?: number): string | undefined {
  const { status } = res;
  if (status >= 500 && !(status === 503 && res.headers['retry-after'] !== undefined)) return `HTTP ${status}`;
  if (status < 400) return undefined;
  if (revBefore !== undefined && revAfter !== undefined && revAfter !== revBefore && status !== 503) {
    return `rejected with ${status}, yet the store changed (revision ${revBefore} -> ${revAfter})`;
  }
  if (req.method === 'HEAD') return undefined; // no body to look at
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(res.body) as Record<string, unknown>;
  } catch {
    return `HTTP ${status} whose body is not JSON`;
  }
  if (s === null || typeof s !== 'object') return `HTTP ${status} whose body is not a V1Status`;
  if (s['kind'] !== 'Status' || s['status'] !== 'Failure') return `HTTP ${status} whose body is not a V1Status`;
  if (s['code'] !== status) return `HTTP ${status} with a V1Status of code ${String(s['code'])}`;
  if (typeof s['message'] !== 'string' || s['message'].trim() === '') return `HTTP ${status} without a message`;
  if (status === 422) return checkCauses((s['details'] as { causes?: unknown } | undefined)?.causes, sentText(req));
  return undefined;
}

/** A path a bug built: `a..b`, `a.`, `.a`, `a[]`, `[object Object]`. */
const BAD_FIELD = /\[object |^\.|\.$|\.\.|\[\]/;
/** Words a bug leaves in a path (`[undefined]`, `.NaN`), unless the client sent them as keys. */
const BUG_WORDS = ['undefined', 'NaN'];

/** Everything the client sent, as text: body, URL (decoded), headers, and base64 values decoded (an exec `?spec=`). */
function sentText(req: Partial<Pick<FuzzRequest, 'payload' | 'url' | 'headers'>>): string {
  const parts = [req.payload ?? '', req.url ?? '', JSON.stringify(req.headers ?? {})];
  const q = (req.url ?? '').indexOf('?');
  const values: string[] = Object.values(req.headers ?? {});
  if (q >= 0) {
    try {
      values.push(...new URLSearchParams((req.url ?? '').slice(q + 1)).values());
    } catch {
      /* not a query string we can read */
    }
  }
  for (const v of values) parts.push(v, Buffer.from(v, 'base64').toString('utf8'));
  return parts.join('\n');
}

function checkCauses(causes: unknown, sent: string): string | undefined {
  if (!Array.isArray(causes) || causes.length === 0) return 'HTTP 422 without causes';
  for (const c of causes as Record<string, unknown>[]) {
    const field = c?.['field'];
    if (typeof field !== 'string' || field === '') return `a 422 cause without a field: ${JSON.stringify(c).slice(0, 200)}`;
    // Keys in brackets (`spec["a..b"]`, `metadata.labels[a..b]`) hold what the client sent; the rest is the validator's doing.
    const bare = field.replace(/\["(?:[^"\\]|\\.)*"\]/g, '[k]').replace(/\[[^\]"]+\]/g, '[k]');
    if (BAD_FIELD.test(bare) || BUG_WORDS.some((w) => field.includes(w) && !sent.includes(w))) {
      return `a 422 cause with a malformed field ${JSON.stringify(field.slice(0, 120))}`;
    }
    if (typeof c['reason'] !== 'string' || c['reason'] === '') return `a 422 cause without a reason: ${JSON.stringify(c).slice(0, 200)}`;
    if (typeof c['message'] !== 'string' || c['message'] === '') return `a 422 cause without a message: ${JSON.stringify(c).slice(0, 200)}`;
  }
  return undefined;
}

export interface CheckedAnswer {
  status: number;
  failure?: string;
  /** The start of the answer's body, for reports. */
  body: string;
}

/** An answer must come within this long. */
const ANSWER_TIMEOUT_MS = 10_000;

/** Sends `req` to `app` and checks the answer; `revision` reads the store's revision (for the no-change rule). */
export async function sendAndCheck(app: FastifyInstance, req: FuzzRequest, revision?: () => Promise<number>): Promise<CheckedAnswer> {
  const before = revision ? await revision() : undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ANSWER_TIMEOUT_MS)));
  const sent = app.inject({
    method: req.method as 'GET',
    url: req.url,
    headers: req.headers,
    ...(req.payload !== undefined ? { payload: req.payload } : {}),
  });
  let res;
  try {
    res = await Promise.race([sent, timeout]);
  } catch (err) {
    return { status: 0, failure: `the request failed: ${(err as Error).message}`, body: '' };
  } finally {
    clearTimeout(timer);
  }
  if (res === 'timeout') {
    sent.catch(() => undefined);
    return { status: 0, failure: `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`, body: '' };
  }
  const after = revision ? await revision() : undefined;
  const answer: Answer = { status: res.statusCode, headers: res.headers, body: res.body };
  const failure = checkAnswer(req, answer, before, after);
  return { status: res.statusCode, body: res.body.slice(0, 500), ...(failure ? { failure } : {}) };
}

/** A request in a line, for reports: method, URL, content type, the start of the body. */
export function describeRequest(req: FuzzRequest): string {
  const body = req.payload === undefined ? '' : ` ${JSON.stringify(req.payload.length > 300 ? `${req.payload.slice(0, 300)}...(${req.payload.length} chars)` : req.payload)}`;
  const type = req.headers['content-type'];
  return `${req.method} ${req.url.length > 300 ? `${req.url.slice(0, 300)}...` : req.url}${type !== undefined ? ` [${type}]` : ''}${body}`;
}
