/**
 * Serving one tunnel request: the engine relay. Only a container labelled as the request's
 * task is served (else 404, without asking the engine); a malformed request is 400. Otherwise
 * two legs run at once and die together (whichever ends abnormally aborts the other):
 *
 *   engine leg   the same request to the engine API on the agent's socket; for an exec with
 *                stdin its headers go at once (the command starts before input arrives) and
 *                its body is the stdin that comes back from the controller;
 *   answer leg   `POST .../tunnel/{id}` to the controller: the request body is the engine's
 *                response body, the engine's status travels in `x-shoal-tunnel-status`, and
 *                the response body is the stdin for the engine leg.
 *
 * The engine sends its headers with its first bytes (a quiet `logs -f` or an exec waiting for
 * stdin sends none for a while), so the relay waits `graceMs` for them and then answers 200;
 * an engine error after that point goes as an in-band `{"error": V1Status}` line. A refused
 * answer (the controller no longer knows the id), a dropped answer connection or the request's
 * signal (a cancel line, close) abort both legs; nothing outlives the answer.
 */
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { errors, fromResponseText, MAX_ERROR_BODY_BYTES, STREAM_CONTENT_TYPE, toShoalError, toStatus, type ShoalError, type TunnelRequest } from '../../api/index.js';
import { readText, settle, type Settled } from '../../util/index.js';
import { engineRequest, errorLine } from './tunnel-protocol.js';
import type { TunnelHttp } from './tunnel-http.js';

export interface RelayContext {
  http: TunnelHttp;
  nodeName: string;
  /** The engine API's UNIX socket. */
  engineSocket: string;
  /** How long to wait for the engine's status before answering 200. */
  graceMs: number;
  /** True when the container exists and is labelled as the given task. */
  isTaskContainer(containerId: string, taskRef: string): boolean;
}

/** Serves request `r` until it is answered in full or `signal` fires. */
export async function serveTunnelRequest(ctx: RelayContext, r: TunnelRequest, signal: AbortSignal): Promise<void> {
  if (!ctx.isTaskContainer(r.container, r.task)) {
    const err = errors.notFound(`container ${r.container.slice(0, 12)} of task ${r.task} is not on node ${ctx.nodeName}`);
    await ctx.http.answerWith(r.id, 404, JSON.stringify(toStatus(err)), signal);
    return;
  }
  let er: ReturnType<typeof engineRequest>;
  try {
    er = engineRequest(r);
  } catch (err) {
    await ctx.http.answerWith(r.id, 400, JSON.stringify(toStatus(err)), signal);
    return;
  }
  const legs = new AbortController();
  const abortLegs = (): void => legs.abort();
  signal.addEventListener('abort', abortLegs, { once: true });
  try {
    await relay(ctx, r, er, legs);
  } finally {
    signal.removeEventListener('abort', abortLegs);
    legs.abort(); // nothing outlives the answer (a no-op when both legs ended)
  }
}

/** A connection failure to the engine's socket is Unavailable, naming the node. */
export function engineError(err: unknown, nodeName: string): ShoalError {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return errors.unavailable(`the engine API of node ${nodeName} cannot be reached (${code})`);
  return toShoalError(err);
}

async function relay(ctx: RelayContext, r: TunnelRequest, er: ReturnType<typeof engineRequest>, legs: AbortController): Promise<void> {
  const engine = openEngineLeg(ctx, er, legs.signal);
  const early = await Promise.race([engine.result, delay(ctx.graceMs, undefined, { signal: legs.signal }).then(() => undefined, () => undefined)]);
  if (legs.signal.aborted) return;
  let status = 200;
  if (early !== undefined) status = early.ok ? (early.value.statusCode ?? 502) : toStatus(engineError(early.err, ctx.nodeName)).code;
  const answer = openAnswerLeg(ctx.http, r.id, status, engine.stdin, legs);
  // The engine's answer goes up as it comes.
  await forwardEngineResult(early ?? (await engine.result), status, answer, { container: r.container, nodeName: ctx.nodeName, legs: legs.signal });
  await answer.done;
}

interface EngineLeg {
  /** The body of an exec with stdin (fed from the answer's response). */
  stdin: PassThrough | undefined;
  /** The engine's response headers, or the connection failure. */
  result: Promise<Settled<IncomingMessage>>;
}

function openEngineLeg(ctx: RelayContext, er: ReturnType<typeof engineRequest>, signal: AbortSignal): EngineLeg {
  const engine = ctx.http.toEngine(er.method, ctx.engineSocket, er.path, er.stdin ? { 'content-type': STREAM_CONTENT_TYPE } : {}, signal);
  const stdin = er.stdin ? new PassThrough() : undefined;
  if (stdin) {
    // Headers now: the command must start before (and whether or not) input arrives.
    engine.req.flushHeaders();
    stdin.on('error', () => undefined);
    stdin.pipe(engine.req);
  } else engine.req.end();
  return { stdin, result: settle(engine.response) };
}

interface AnswerLeg {
  /** The answer's body: write the engine's response into it. */
  up: PassThrough;
  /** Ends the body with `text`, unless it has ended. */
  end(text: string): void;
  /** Resolves when the POST's connection closed (aborting the legs if our body was cut short). */
  done: Promise<void>;
}

function openAnswerLeg(http: TunnelHttp, id: string, status: number, stdin: PassThrough | undefined, legs: AbortController): AnswerLeg {
  const up = new PassThrough();
  up.on('error', () => undefined); // a torn-down request is handled through `legs`
  const post = http.answer(id, status, legs.signal);
  post.req.flushHeaders();
  up.pipe(post.req);
  const done = new Promise<void>((resolve) => {
    post.req.once('close', () => {
      // Closed before our answer went out: the controller dropped it (its client left).
      if (!post.req.writableFinished) legs.abort();
      resolve();
    });
  });
  post.req.on('error', () => legs.abort());
  // The controller's response: 200 with the client's stdin, or a refusal (request unknown).
  void post.response.then(
    (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        legs.abort();
        return;
      }
      if (stdin) res.pipe(stdin);
      else res.resume();
      res.on('error', () => legs.abort());
    },
    () => legs.abort(),
  );
  return {
    up,
    end: (text) => {
      if (!up.writableEnded && !up.destroyed) up.end(text);
    },
    done,
  };
}

/**
 * Sends the engine's outcome up the answer: a 2xx body as it streams (a stream that breaks
 * ends with an error line); an error body under its own status when the answer carries that
 * status, else as an error line; a connection failure as a V1Status body or an error line.
 */
async function forwardEngineResult(
  settled: Settled<IncomingMessage>,
  status: number,
  answer: AnswerLeg,
  at: { container: string; nodeName: string; legs: AbortSignal },
): Promise<void> {
  if (!settled.ok) {
    const err = engineError(settled.err, at.nodeName);
    answer.end(status === 200 ? errorLine(err) : JSON.stringify(toStatus(err)));
    return;
  }
  const res = settled.value;
  const code = res.statusCode ?? 502;
  if (code >= 200 && code < 300) {
    res.on('error', () => undefined); // reported by 'close' below
    res.once('close', () => {
      if (!res.complete && !at.legs.aborted) answer.end(errorLine(errors.unavailable(`the engine stream of container ${at.container.slice(0, 12)} broke`)));
    });
    res.pipe(answer.up);
  } else if (status === code) {
    res.pipe(answer.up); // the engine's V1Status, under its own status
  } else {
    answer.end(errorLine(fromResponseText(code, await readText(res, MAX_ERROR_BODY_BYTES).catch(() => ''), 'the engine')));
  }
}
