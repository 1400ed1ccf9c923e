/**
 * The engine's side of terminal sessions (docs/containers.md, "Terminals"): the request body of
 * a tty attach or exec is a frame stream (pkg/api/terminal.ts) that `terminalInput` splits into
 * the keys and the window sizes; `attachTerminalRoute` serves `POST /v1/containers/:id/attach`
 * for a container created with `tty`.
 *
 *   attach (tty)  body = frames; answer NDJSON {stream:"stdout", data: base64} ... then
 *                 {exitCode} once the container exited. The client leaving (a detach) only
 *                 closes its connection to the monitor: the container keeps running.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TerminalFrameDecoder, type TerminalSize } from '../../api/index.js';
import { clientGone, streamNdjson } from '../../httpserver/index.js';
import type { ContainerManager } from '../../runtime/index.js';

export interface TerminalInput {
  /** The keys, in order; ends when the body ends. */
  stdin: PassThrough;
  /** Emits `resize` (TerminalSize) for each resize frame. */
  resizes: EventEmitter<{ resize: [TerminalSize] }>;
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function';
}

/** Decodes a frame-stream body. A malformed stream ends the input (the session goes on, without keys). */
export function terminalInput(body: unknown): TerminalInput {
  const stdin = new PassThrough();
  const resizes = new EventEmitter<{ resize: [TerminalSize] }>();
  if (!isReadable(body)) {
    stdin.end();
    return { stdin, resizes };
  }
  const decoder = new TerminalFrameDecoder();
  const stop = (): void => {
    body.off('data', onData);
    body.resume(); // drain, so the client's request still completes
    stdin.end();
  };
  const onData = (chunk: Buffer): void => {
    try {
      for (const f of decoder.push(chunk)) {
        if (f.type === 'input') stdin.write(f.data);
        else if (f.type === 'resize') resizes.emit('resize', { rows: f.rows, cols: f.cols });
      }
    } catch {
      stop();
    }
  };
  body.on('data', onData);
  body.once('end', () => stdin.end());
  body.once('error', () => stdin.end());
  return { stdin, resizes };
}

/**
 * `POST /v1/containers/:id/attach` of a terminal container. A running one is attached before the
 * answer starts (a refusal is a plain 409); a created one is waited for: the 200 goes out at
 * once, so a client knows it is registered before it sends `start`.
 */
export async function attachTerminalRoute(m: ContainerManager, id: string, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const gone = clientGone(reply);
  const pending = m.attachTerminal(id, gone);
  pending.catch(() => undefined); // awaited below; the client may leave first
  if (m.inspect(id).State.Running) await pending;
  await streamNdjson(req, reply, async (out, signal) => {
    const { terminal, exit } = await pending;
    const input = terminalInput(req.body);
    input.stdin.on('data', (d: Buffer) => terminal.write(d));
    input.resizes.on('resize', (s) => terminal.resize(s));
    const detach = (): void => terminal.close();
    signal.addEventListener('abort', detach, { once: true });
    try {
      for await (const chunk of terminal.output as AsyncIterable<Buffer>) {
        await out.write({ stream: 'stdout', data: chunk.toString('base64') });
        if (signal.aborted) return undefined;
      }
    } catch {
      // the monitor went away: the exit says what happened
    } finally {
      signal.removeEventListener('abort', detach);
      terminal.close();
    }
    // The monitor closes its clients when the container has exited.
    const st = await Promise.race([exit, new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }))]);
    return st && !signal.aborted ? { exitCode: st.StatusCode } : undefined;
  });
}
