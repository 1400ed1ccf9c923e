/**
 * The tunnel's wire format on the agent's side (pure). The controller sends NDJSON lines down
 * the held `GET /apis/shoal/v1/nodes/{node}/tunnel` (types in pkg/api/tunnel.ts):
 *
 *   {"id":"…","op":"logs"|"exec","container":"<id>","task":"<ns>/<name>","query":{…}}
 *   {"op":"cancel","id":"…"}     the client went away before the answer arrived
 *   {"op":"ping"}                keepalive; silence for the idle timeout means a dead connection
 *
 * `parseTunnelLine` checks a line (anything else is ignored); `engineRequest` is the engine
 * API request that serves a request (`GET /v1/containers/:id/logs`,
 * `POST /v1/containers/:id/exec`), with only the parameters each route takes; `errorLine` is
 * the in-band `{"error": V1Status}` line that reports a failure after the answer began.
 */
import { errors, toStatus, type TunnelLine, type TunnelRequest } from '../../api/index.js';

const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const CONTAINER_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Longest line the controller may send down a tunnel. */
export const MAX_TUNNEL_LINE_BYTES = 1024 * 1024;

/** One line of the tunnel, checked; undefined for anything this agent does not understand. */
export function parseTunnelLine(line: string): TunnelLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o['op'] === 'ping') return { op: 'ping' };
  const id = o['id'];
  if (typeof id !== 'string' || !ID_RE.test(id)) return undefined;
  if (o['op'] === 'cancel') return { op: 'cancel', id };
  if (o['op'] !== 'logs' && o['op'] !== 'exec') return undefined;
  const container = o['container'];
  const task = o['task'];
  const q = o['query'] ?? {};
  if (typeof container !== 'string' || !CONTAINER_RE.test(container)) return undefined;
  if (typeof task !== 'string' || task === '' || task.length > 512) return undefined;
  if (q === null || typeof q !== 'object' || Array.isArray(q)) return undefined;
  const query: Record<string, string> = {};
  for (const [k, val] of Object.entries(q as Record<string, unknown>)) if (typeof val === 'string') query[k] = val;
  return { id, op: o['op'], container, task, query };
}

/** The engine request that serves a tunnel request; an exec without `query.spec` is InvalidArgument. */
export function engineRequest(r: TunnelRequest): { method: 'GET' | 'POST'; path: string; stdin: boolean } {
  const qs = new URLSearchParams();
  const pass = (keys: string[]): void => {
    for (const k of keys) {
      const v = r.query[k];
      if (v !== undefined && v !== '') qs.set(k, v);
    }
  };
  const base = `/v1/containers/${encodeURIComponent(r.container)}`;
  if (r.op === 'logs') {
    pass(['follow', 'tail', 'since']);
    const s = qs.toString();
    return { method: 'GET', path: `${base}/logs${s === '' ? '' : `?${s}`}`, stdin: false };
  }
  if (r.query['spec'] === undefined || r.query['spec'] === '') throw errors.invalidArgument('an exec request needs query.spec');
  pass(['spec']);
  return { method: 'POST', path: `${base}/exec?${qs.toString()}`, stdin: r.query['stdin'] === '1' };
}

/** The in-band error line of a stream that already answered 200. */
export function errorLine(err: unknown): string {
  return JSON.stringify({ error: toStatus(err) }) + '\n';
}
