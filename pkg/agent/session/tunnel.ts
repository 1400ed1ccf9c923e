/**
 * The agent's end of the log/exec tunnel. The agent initiates every connection (the
 * controller never dials a node): it holds `GET /apis/shoal/v1/nodes/{node}/tunnel` open on
 * its controller, reads request lines from it, serves each by the same request to the engine
 * API on the agent's own socket, and answers with `POST /apis/shoal/v1/nodes/{node}/tunnel/{id}`
 * (docs/api.md, "Logs and exec through the controller"). `startTunnel` wires the parts:
 *
 *   tunnel-connection.ts  TunnelConnection: the held GET, idle timeout, reconnect with backoff
 *   tunnel-dispatcher.ts  TunnelDispatcher: lines → requests served, canceled or refused
 *   tunnel-relay.ts       serveTunnelRequest: the engine leg and the answer leg of one request
 *   tunnel-protocol.ts    parseTunnelLine, engineRequest, errorLine (pure)
 *   tunnel-http.ts        TunnelHttp: node:http requests over keep-alive agents
 *
 * Only containers labelled as the request's task are served. close() (or the signal) stops
 * the connection loop, aborts every stream and waits for them.
 */
import { setMaxListeners } from 'node:events';
import { errors, toStatus } from '../../api/index.js';
import type { SessionLogger } from './logger.js';
import { heartbeatBackoff, TUNNEL_RETRY_CAP_MS, type PacingOptions } from './pacing.js';
import { TunnelConnection } from './tunnel-connection.js';
import { TunnelDispatcher } from './tunnel-dispatcher.js';
import { TunnelHttp } from './tunnel-http.js';
import { ControllerEndpoints, type ClientCredentials } from '../../client/index.js';
import { serveTunnelRequest, type RelayContext } from './tunnel-relay.js';


export interface TunnelOptions extends PacingOptions {
  /** The controllers (`--controller URL[,URL...]`): the tunnel is held on the current one. */
  controller: string | ControllerEndpoints;
  nodeName: string;
  /** The engine API's UNIX socket (`--socket`). */
  engineSocket: string;
  log: SessionLogger;
  /** True when the container exists and is labelled as the given task (`shoal.task=<ns>/<name>`). */
  isTaskContainer(containerId: string, taskRef: string): boolean;
  /** The node's certificate (and the CA) for the controller; asked at every new connection. */
  credentials?: () => ClientCredentials;
  signal?: AbortSignal;
  /** No line (not even a ping) for this long: the connection is dead and re-opened. Default 45 s. */
  idleTimeoutMs?: number;
  /** How long to wait for the engine's status before answering 200. Default 250 ms. */
  statusGraceMs?: number;
  /** Streams served at once; more are refused. Default 128. */
  maxStreams?: number;
}

export interface AgentTunnel {
  /** True while the tunnel is open. */
  connected(): boolean;
  /** Requests being served. */
  activeStreams(): number;
  /** Stops the loop, aborts every stream and waits for them. */
  close(): Promise<void>;
}

export function startTunnel(opts: TunnelOptions): AgentTunnel {
  const { log, nodeName } = opts;
  const maxStreams = opts.maxStreams ?? 128;
  const ac = new AbortController();
  const signal = ac.signal;
  setMaxListeners(0, signal); // one listener per stream being served
  const stop = (): void => ac.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  if (opts.signal?.aborted) ac.abort();

  const http = new TunnelHttp(typeof opts.controller === 'string' ? ControllerEndpoints.parse(opts.controller) : opts.controller, nodeName, opts.credentials);
  const relay: RelayContext = { http, nodeName, engineSocket: opts.engineSocket, graceMs: opts.statusGraceMs ?? 250, isTaskContainer: (id, task) => opts.isTaskContainer(id, task) };
  const busy = JSON.stringify(toStatus(errors.unavailable(`node ${nodeName} is serving ${maxStreams} log and exec streams already`, { retryAfterSeconds: 1 })));
  const dispatcher = new TunnelDispatcher({
    serve: (r, sig) => serveTunnelRequest(relay, r, sig),
    refuse: (r, sig) => http.answerWith(r.id, 503, busy, sig),
    maxStreams,
    log,
    signal,
  });
  const connection = new TunnelConnection({
    http,
    idleMs: opts.idleTimeoutMs ?? 45_000,
    backoff: heartbeatBackoff(opts, TUNNEL_RETRY_CAP_MS),
    log,
    onLine: (line) => dispatcher.dispatch(line),
  });
  const loop = connection.run(signal);

  let closing: Promise<void> | undefined;
  return {
    connected: () => connection.connected(),
    activeStreams: () => dispatcher.activeStreams(),
    close() {
      return (closing ??= (async () => {
        ac.abort();
        opts.signal?.removeEventListener('abort', stop);
        await loop;
        await dispatcher.idle();
        http.destroy();
      })());
    },
  };
}
