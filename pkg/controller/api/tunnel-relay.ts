/**
 * The relay between a client's request and an agent's answer, for logs and exec through the
 * controller: which node and container a task is on, opening a task's stream through the
 * TunnelHub (the agent's error answer becomes a ShoalError), copying an answer to the client
 * (stdin the other way), and pumping one task's log into a service log with its task name.
 *
 * A client that goes away closes the agent's answer (which aborts the engine request); a
 * stream that breaks after the answer started ends with one `{"error": V1Status}` line.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { errors, fromResponseText, MAX_ERROR_BODY_BYTES, isTerminal, taskRef, toShoalError, toStatus, type ShoalError, type Task } from '../../api/index.js';
import { startNdjson, type NdjsonWriter } from '../../httpserver/index.js';
import { ndjsonLines, readText } from '../../util/index.js';
import type { TunnelHub, TunnelStream } from './tunnel.js';


/** A request body handed over unread (the stream content type) rather than parsed. */
export function isReadable(v: unknown): v is Readable {
  return v instanceof Readable || (v !== null && typeof v === 'object' && typeof (v as Readable).pipe === 'function' && typeof (v as Readable).on === 'function');
}

/** Adds `"task": name` in front of an NDJSON object line without parsing it. */
export function withTask(task: string, line: string): string {
  const head = `{"task":${JSON.stringify(task)}`;
  if (!line.startsWith('{')) return `${head},"error":${JSON.stringify(toStatus(errors.upstream('the agent sent a line that is not a JSON object')))}}`;
  const rest = line.slice(1).trimStart();
  return rest.startsWith('}') ? `${head}}` : `${head},${rest}`;
}

/** The node and container of a task that can be reached, or a clear error. */
function taskTarget(task: Task): { node: string; container: string } {
  const name = task.metadata.name;
  const state = task.status?.state ?? 'new';
  const container = task.status?.containerId;
  const node = task.spec.nodeName;
  if (container === undefined || container === '') {
    throw errors.failedPrecondition(`task ${name} has no container yet (state: ${state})`, { kind: 'tasks', name });
  }
  if (node === undefined || node === '') {
    throw errors.failedPrecondition(`task ${name} is not assigned to a node (state: ${state})`, { kind: 'tasks', name });
  }
  return { node, container };
}

/** Tasks whose logs a service log shows: those with a live container. */
export function hasLiveContainer(task: Task): boolean {
  return !!task.status?.containerId && !!task.spec.nodeName && !isTerminal(task.status.state);
}

/** Reads the agent's error answer (a V1Status from the engine or the agent) into a ShoalError. */
async function errorOf(s: TunnelStream, node: string): Promise<ShoalError> {
  try {
    return fromResponseText(s.status, await readText(s.body, MAX_ERROR_BODY_BYTES).catch(() => ''), `node ${node}`);
  } finally {
    s.close();
  }
}

/** Opens a task's stream, failing with the agent's error when it answered with one. */
export async function openTaskStream(
  hub: TunnelHub,
  task: Task,
  op: 'logs' | 'exec',
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<{ node: string; s: TunnelStream }> {
  const { node, container } = taskTarget(task);
  const s = await hub.open(node, { op, container, task: taskRef(task), query }, signal);
  if (s.status < 200 || s.status >= 300) throw await errorOf(s, node);
  return { node, s };
}

/** Relays one answer to the client: the NDJSON body out, `stdin` (if any) in. */
export async function relayStream(reply: FastifyReply, node: string, s: TunnelStream, stdin: Readable | undefined): Promise<void> {
  const out = startNdjson(reply);
  const res = reply.raw;
  const onGone = (): void => {
    if (!res.writableFinished) s.close();
  };
  res.once('close', onGone);
  // Without stdin the answer to the agent stays open until its body is over (see finally).
  if (stdin) {
    stdin.on('error', () => s.close());
    stdin.pipe(s.stdin);
  }
  try {
    for await (const line of ndjsonLines(s.body)) await out.write(line);
  } catch (err) {
    if (!res.destroyed) {
      const e = toShoalError(err);
      const why = e.code === 'Internal' || e.code === 'Canceled' ? errors.unavailable(`the stream from node ${node} broke: ${e.message}`) : e;
      await out.write({ error: toStatus(why) });
    }
    s.close();
  } finally {
    res.off('close', onGone);
    if (stdin) {
      // The command is over: what the client still sends is not for anyone.
      stdin.unpipe(s.stdin);
      stdin.resume();
    }
    if (!s.stdin.writableEnded) s.stdin.end();
    out.end();
  }
}

/** One task's log entries into a service log, each with its task; failures become one error line. */
export async function pumpTaskLog(hub: TunnelHub, task: Task, query: Record<string, string>, out: NdjsonWriter, signal: AbortSignal): Promise<void> {
  const name = task.metadata.name;
  let opened: { node: string; s: TunnelStream };
  try {
    opened = await openTaskStream(hub, task, 'logs', query, signal);
  } catch (err) {
    if (!signal.aborted) await out.write({ task: name, error: toStatus(err) });
    return;
  }
  const { node, s } = opened;
  const onAbort = (): void => s.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const line of ndjsonLines(s.body)) {
      if (signal.aborted) break;
      await out.write(withTask(name, line));
    }
  } catch (err) {
    if (!signal.aborted) {
      const e = toShoalError(err);
      await out.write({ task: name, error: toStatus(e.code === 'Upstream' ? e : errors.unavailable(`the log stream from node ${node} broke: ${e.message}`)) });
    }
    s.close();
  } finally {
    signal.removeEventListener('abort', onAbort);
    if (!s.stdin.writableEnded) s.stdin.end();
  }
}
