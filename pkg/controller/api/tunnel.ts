/**
 * The tunnel hub: agents hold `GET /nodes/{node}/tunnel` open on this controller and receive
 * requests down it as NDJSON lines; each request is answered by the agent with
 * `POST /nodes/{node}/tunnel/{id}`, whose request body is the engine's answer and whose
 * response body is the stdin the agent feeds to the engine. The controller never dials an
 * agent (Swarm's model), so only the controller an agent is connected to can reach it.
 *
 * This file holds the bookkeeping only (no HTTP): which node has a link, which requests wait
 * for their agent, how many streams each node has open. `tunnel-routes.ts` and its parts
 * are the HTTP shell. The wire contract is described in docs/api.md ("Logs and exec through
 * the controller").
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { errors, ShoalError, type TunnelLine, type TunnelRequest } from '../../api/index.js';

export type { TunnelLine, TunnelOp, TunnelRequest } from '../../api/index.js';

/** The agent's answer to one request, as the HTTP shell hands it to the hub. */
export interface TunnelStream {
  /** The engine's HTTP status (2xx: `body` is NDJSON; otherwise a V1Status JSON document). */
  status: number;
  /** The engine's response body, as the agent relays it. */
  body: Readable;
  /** What to send to the agent (stdin for exec). End it once there is nothing (more) to send. */
  stdin: Writable;
  /** Tears the agent's request down (its engine request is aborted with it). Idempotent. */
  close(): void;
  /** Settles once the agent's request is over, whichever way it ended. */
  closed: Promise<void>;
}

/** One agent's request stream, as the HTTP shell exposes it to the hub. */
export interface AgentLink {
  /** Writes one line (a JSON document without its newline). */
  send(line: string): void;
  /** Ends the stream (a newer connection of the node replaced it, or the hub closes). */
  close(): void;
}

export interface TunnelHubOptions {
  /** Streams open at once per node, counted from the request to the end of its answer. Default 64. */
  maxStreamsPerNode?: number;
  /** How long the agent has to answer a request. Default 10 s. */
  answerTimeoutMs?: number;
  /**
   * For this long after the hub is created, a request for a node without a link waits for
   * the node to connect instead of failing at once: after a controller restart the agents
   * come back within their reconnect backoff (at most 5 s). Default 10 s.
   */
  startupGraceMs?: number;
  newId?: () => string;
  now?: () => number;
}

interface Pending {
  node: string;
  link: AgentLink;
  resolve(s: TunnelStream): void;
  reject(err: ShoalError): void;
}

export class TunnelHub {
  private readonly links = new Map<string, AgentLink>();
  private readonly pending = new Map<string, Pending>();
  /** Streams counted against each node's limit (waiting for an answer or open). */
  private readonly streams = new Map<string, number>();
  private readonly max: number;
  private readonly answerTimeoutMs: number;
  private readonly newId: () => string;
  private readonly now: () => number;
  private readonly graceUntil: number;
  /** Requests waiting (during the start-up grace) for their node to connect. */
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(opts: TunnelHubOptions = {}) {
    this.max = opts.maxStreamsPerNode ?? 64;
    this.answerTimeoutMs = opts.answerTimeoutMs ?? 10_000;
    this.newId = opts.newId ?? (() => randomBytes(12).toString('hex'));
    this.now = opts.now ?? Date.now;
    this.graceUntil = this.now() + (opts.startupGraceMs ?? 10_000);
  }

  /**
   * Registers the link of `node`; a link the node already had is closed and replaced (the
   * agent reconnected, perhaps before the old connection was noticed dead). Returns the
   * function to call when this link goes away.
   */
  connect(node: string, link: AgentLink): () => void {
    if (this.closed) {
      link.close();
      return () => undefined;
    }
    const old = this.links.get(node);
    this.links.set(node, link);
    if (old !== undefined && old !== link) this.drop(node, old, 'its agent reconnected');
    const waiting = this.waiters.get(node);
    this.waiters.delete(node);
    for (const wake of waiting ?? []) wake();
    return () => {
      if (this.links.get(node) === link) this.links.delete(node);
      this.drop(node, link, 'its agent disconnected');
    };
  }

  isConnected(node: string): boolean {
    return this.links.has(node);
  }

  /** Nodes with a link here, for metrics and diagnostics. */
  get connectedNodes(): number {
    return this.links.size;
  }

  /** Streams of `node` waiting for or holding an answer. */
  openStreams(node: string): number {
    return this.streams.get(node) ?? 0;
  }

  /** Ends the link and fails the requests sent down it that were not answered yet. */
  private drop(node: string, link: AgentLink, why: string): void {
    for (const [id, p] of this.pending) {
      if (p.link !== link) continue;
      this.pending.delete(id);
      p.reject(errors.unavailable(`node ${node} did not answer: ${why}`, { retryAfterSeconds: 1 }));
    }
    link.close();
  }

  private count(node: string, delta: number): void {
    const n = (this.streams.get(node) ?? 0) + delta;
    if (n <= 0) this.streams.delete(node);
    else this.streams.set(node, n);
  }

  /** During the start-up grace: resolves once `node` connects, the grace ends, or `signal` fires. */
  private waitForLink(node: string, signal: AbortSignal): Promise<void> {
    const left = this.graceUntil - this.now();
    if (left <= 0 || this.closed || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(node);
      if (set === undefined) this.waiters.set(node, (set = new Set()));
      const wake = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        const cur = this.waiters.get(node);
        cur?.delete(wake);
        if (cur?.size === 0) this.waiters.delete(node);
        resolve();
      };
      const timer = setTimeout(wake, left);
      signal.addEventListener('abort', wake, { once: true });
      set.add(wake);
    });
  }

  /**
   * Sends a request to the agent of `node` and resolves with its answer. Unavailable when the
   * node has no link to this controller, has too many streams open, or does not answer in
   * time; Canceled when `signal` fires first (the agent is told to drop the request).
   */
  async open(node: string, req: Omit<TunnelRequest, 'id'>, signal: AbortSignal): Promise<TunnelStream> {
    if (!this.links.has(node)) await this.waitForLink(node, signal);
    return this.send(node, req, signal);
  }

  private send(node: string, req: Omit<TunnelRequest, 'id'>, signal: AbortSignal): Promise<TunnelStream> {
    if (signal.aborted) return Promise.reject(new ShoalError('Canceled', 'the client went away'));
    const link = this.links.get(node);
    if (link === undefined || this.closed) {
      return Promise.reject(
        errors.unavailable(`node ${node} is not connected to this controller (its agent holds its tunnel to the controller it was given)`, { retryAfterSeconds: 1 }),
      );
    }
    if (this.openStreams(node) >= this.max) {
      return Promise.reject(
        errors.unavailable(`node ${node} already has ${this.max} log and exec streams open through this controller; close some and retry`, { retryAfterSeconds: 1 }),
      );
    }
    const id = this.newId();
    this.count(node, 1);
    return new Promise<TunnelStream>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const fail = (err: ShoalError, tellAgent: boolean): void => {
        if (!this.pending.has(id)) return;
        finish();
        this.count(node, -1);
        if (tellAgent) this.sendLine(link, { op: 'cancel', id });
        reject(err);
      };
      const onAbort = (): void => fail(new ShoalError('Canceled', 'the client went away'), true);
      this.pending.set(id, {
        node,
        link,
        resolve: (s) => {
          finish();
          s.closed.then(
            () => this.count(node, -1),
            () => this.count(node, -1),
          );
          resolve(s);
        },
        reject: (err) => {
          finish();
          this.count(node, -1);
          reject(err);
        },
      });
      const timer = setTimeout(
        () => fail(errors.unavailable(`node ${node} did not answer the ${req.op} request for task ${req.task} within ${Math.round(this.answerTimeoutMs / 1000)} s`, { retryAfterSeconds: 1 }), true),
        this.answerTimeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.sendLine(link, { id, ...req });
    });
  }

  private sendLine(link: AgentLink, line: TunnelLine): void {
    try {
      link.send(JSON.stringify(line));
    } catch {
      // A link that cannot be written is closing; its release fails what waits on it.
    }
  }

  /**
   * The agent's answer to request `id` arrived. False when no such request waits for `node`
   * (answered already, canceled, timed out, or sent to another node): the caller refuses it
   * and the agent drops its engine request.
   */
  answer(node: string, id: string, stream: TunnelStream): boolean {
    const p = this.pending.get(id);
    if (p === undefined || p.node !== node) return false;
    p.resolve(stream);
    return true;
  }

  /** Closes every link and fails every waiting request (the controller is shutting down). */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
    for (const [node, link] of [...this.links]) {
      this.links.delete(node);
      this.drop(node, link, 'the controller is shutting down');
    }
  }
}
