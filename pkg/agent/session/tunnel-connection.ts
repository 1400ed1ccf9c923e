/**
 * The tunnel's connection to the controller: `GET /apis/shoal/v1/nodes/{node}/tunnel` held
 * open, its NDJSON lines parsed and handed to `onLine`. A line (a ping at least) is expected
 * every `idleMs`; silence that long means a dead connection, which is dropped. Whenever the
 * connection ends, fails or is refused, it is opened again after a backoff, until the signal
 * fires. An outage is logged once; at start-up the session registers the node a moment after
 * the first try, so a first refusal with 404 is not worth a warning.
 */
import { errors, fromResponseText, MAX_ERROR_BODY_BYTES, toShoalError, type TunnelLine } from '../../api/index.js';
import { ndjsonLines, readText, sleep, type Backoff } from '../../util/index.js';
import type { SessionLogger } from './logger.js';
import type { TunnelHttp } from './tunnel-http.js';
import { MAX_TUNNEL_LINE_BYTES, parseTunnelLine } from './tunnel-protocol.js';

export interface TunnelConnectionOptions {
  http: TunnelHttp;
  /** No line for this long: the connection is dead and re-opened. */
  idleMs: number;
  backoff: Backoff;
  log: SessionLogger;
  /** Every line understood (parseTunnelLine), in order. */
  onLine(line: TunnelLine): void;
}

export class TunnelConnection {
  private isConnected = false;

  constructor(private readonly opts: TunnelConnectionOptions) {}

  /** True while a connection is open. */
  connected(): boolean {
    return this.isConnected;
  }

  /** Holds the connection, re-opening it with backoff, until `signal` fires (never rejects). */
  async run(signal: AbortSignal): Promise<void> {
    const { backoff, log, http } = this.opts;
    let down = false;
    let everConnected = false;
    while (!signal.aborted) {
      // Each connection is held on the current controller; its requests are answered there.
      http.controller = http.endpoints.current;
      const controller = http.controller;
      try {
        await this.hold(signal, () => {
          this.isConnected = true;
          backoff.reset();
          if (!everConnected || down) log.info({ controller }, everConnected ? 'tunnel: connected again' : 'tunnel: connected');
          everConnected = true;
          down = false;
        });
      } catch (err) {
        if (signal.aborted) break;
        const e = toShoalError(err);
        // It could not be reached at all (not an answer, not a dropped link of an open tunnel): try the next controller.
        if (!this.isConnected && isConnectionError(err)) http.endpoints.unreachable(controller);
        if (!down && (everConnected || e.code !== 'NotFound')) log.warn({ controller, err: e.message }, 'tunnel: lost the connection to the controller; retrying with backoff');
        if (everConnected || e.code !== 'NotFound') down = true;
      } finally {
        this.isConnected = false;
      }
      await sleep(backoff.next(), signal);
    }
  }

  /** Holds one connection until it ends; `onOpen` runs once the controller accepted it. */
  private async hold(signal: AbortSignal, onOpen: () => void): Promise<void> {
    const { http, idleMs } = this.opts;
    const conn = new AbortController();
    const onStop = (): void => conn.abort();
    signal.addEventListener('abort', onStop, { once: true });
    const silent = (): boolean => conn.signal.aborted && !signal.aborted;
    const silence = (): Error => errors.unavailable(`no keepalive from the controller for ${Math.round(idleMs / 1000)} s`);
    let idle: NodeJS.Timeout | undefined;
    try {
      const get = http.toController('GET', http.tunnelPath, { accept: 'application/x-ndjson' }, conn.signal);
      get.req.end();
      const res = await get.response;
      if (res.statusCode !== 200) {
        throw fromResponseText(res.statusCode ?? 502, await readText(res, MAX_ERROR_BODY_BYTES).catch(() => ''), `the controller at ${http.controller}`);
      }
      res.socket.setKeepAlive(true, 15_000);
      onOpen();
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => conn.abort(), idleMs);
      };
      arm();
      for await (const text of ndjsonLines(res, { maxLineBytes: MAX_TUNNEL_LINE_BYTES })) {
        arm();
        const line = parseTunnelLine(text);
        if (line) this.opts.onLine(line);
      }
      if (silent()) throw silence();
    } catch (err) {
      if (silent()) throw silence();
      throw err;
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', onStop);
      conn.abort();
    }
  }
}

/** A failure to connect at all (refused, reset, unreachable, no DNS), as node:http reports it. */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code);
}
