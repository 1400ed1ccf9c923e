/**
 * The wire contract of the log/exec tunnel between an agent and the controller (docs/api.md,
 * "Logs and exec through the controller"), shared by both ends: the agent holds
 * `GET /apis/shoal/v1/nodes/{node}/tunnel` open and reads these lines; it answers a request
 * with `POST .../tunnel/{id}`, the engine's HTTP status in `TUNNEL_STATUS_HEADER`.
 */
import type { LogEntry } from './engine.js';
import type { Status } from './errors.js';

/** Content type of a raw byte stream body (exec stdin, a tunnelled answer). */
export const STREAM_CONTENT_TYPE = 'application/vnd.shoal.stream';
export const TUNNEL_STATUS_HEADER = 'x-shoal-tunnel-status';

export type TunnelOp = 'logs' | 'exec';

/**
 * A line of `GET .../tasks/{name}/log` (the engine's LogEntry) or `GET .../services/{name}/log`
 * (each entry with its `task`; a task that cannot be read is `{task, error}`).
 */
export interface TaskLogEntry extends Partial<LogEntry> {
  task?: string;
  error?: Status;
}

/** One request sent down an agent's tunnel (a line of its NDJSON stream). */
export interface TunnelRequest {
  id: string;
  op: TunnelOp;
  /** The container id on the node (the task's `status.containerId`). */
  container: string;
  /** `<namespace>/<name>` of the task: the agent serves only a container labelled with it. */
  task: string;
  /** Engine query parameters: logs `follow`, `tail`, `since`; exec `spec` (base64 JSON), `stdin`. */
  query: Record<string, string>;
}

/** Every line of the stream: requests, keepalives, and the cancellation of a request not yet answered. */
export type TunnelLine = TunnelRequest | { op: 'ping' } | { op: 'cancel'; id: string };
