import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { TunnelHub, type AgentLink, type TunnelLine, type TunnelStream } from './tunnel.js';

/** A link that records what the hub sends down it. */
class FakeLink implements AgentLink {
  lines: TunnelLine[] = [];
  closed = false;
  send(line: string): void {
    this.lines.push(JSON.parse(line) as TunnelLine);
  }
  close(): void {
    this.closed = true;
  }
  requests(): Extract<TunnelLine, { op: 'logs' | 'exec' }>[] {
    return this.lines.filter((l): l is Extract<TunnelLine, { op: 'logs' | 'exec' }> => l.op === 'logs' || l.op === 'exec');
  }
}

/** An answer whose end the test controls. */
function answer(status = 200): TunnelStream & { end(): void; wasClosed(): boolean } {
  let end!: () => void;
  const closed = new Promise<void>((r) => (end = r));
  let wasClosed = false;
  return {
    status,
    body: Readable.from([]),
    stdin: new PassThrough(),
    closed,
    close() {
      wasClosed = true;
      end();
    },
    end: () => end(),
    wasClosed: () => wasClosed,
  };
}

const logs = { op: 'logs' as const, container: 'c1', task: 'default/web.1.a', query: { follow: '1' } };
const never = new AbortController().signal;
let n = 0;
const ids = (): string => `id${++n}`;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('TunnelHub', () => {
  it('routes a request to the node’s link and resolves with the agent’s answer', async () => {
    const hub = new TunnelHub({ newId: ids });
    const a = new FakeLink();
    const b = new FakeLink();
    hub.connect('node-a', a);
    hub.connect('node-b', b);
    const p = hub.open('node-b', logs, never);
    expect(a.requests()).toEqual([]);
    const [req] = b.requests();
    expect(req).toMatchObject({ op: 'logs', container: 'c1', task: 'default/web.1.a', query: { follow: '1' } });
    const s = answer();
    expect(hub.answer('node-a', req!.id, s)).toBe(false); // another node cannot answer it
    expect(hub.answer('node-b', req!.id, s)).toBe(true);
    await expect(p).resolves.toBe(s);
    expect(hub.answer('node-b', req!.id, answer())).toBe(false); // answered once
  });

  it('answers Unavailable at once for a node without a link here', async () => {
    const hub = new TunnelHub({ startupGraceMs: 0 });
    const err = await rejection(hub.open('node-x', logs, never));
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/node node-x is not connected to this controller/);
  });

  it('right after start, waits for a node that has not reconnected yet (until the grace ends)', async () => {
    let now = 1_000;
    const hub = new TunnelHub({ startupGraceMs: 300, newId: ids, now: () => now });
    const link = new FakeLink();
    const p = hub.open('n1', logs, never);
    await new Promise((r) => setTimeout(r, 20));
    hub.connect('n1', link);
    await new Promise((r) => setImmediate(r));
    const [req] = link.requests();
    expect(req).toBeDefined();
    hub.answer('n1', req!.id, answer());
    await expect(p).resolves.toBeDefined();

    // A node that does not come back fails when the grace ends; an abort ends the wait too.
    const late = rejection(hub.open('n2', logs, never));
    const ac = new AbortController();
    const aborted = rejection(hub.open('n3', logs, ac.signal));
    ac.abort();
    expect(isShoalError(await aborted, 'Canceled')).toBe(true);
    expect(isShoalError(await late, 'Unavailable')).toBe(true);
    // After the grace: at once.
    now += 1_000;
    const t0 = Date.now();
    expect(isShoalError(await rejection(hub.open('n2', logs, never)), 'Unavailable')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(50);
  });

  it('times out when the agent does not answer, and tells it to drop the request', async () => {
    const hub = new TunnelHub({ answerTimeoutMs: 30, newId: ids });
    const link = new FakeLink();
    hub.connect('n1', link);
    const err = await rejection(hub.open('n1', logs, never));
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/node n1 did not answer the logs request for task default\/web.1.a/);
    const id = link.requests()[0]!.id;
    expect(link.lines).toContainEqual({ op: 'cancel', id });
    expect(hub.answer('n1', id, answer())).toBe(false);
    expect(hub.openStreams('n1')).toBe(0);
  });

  it('cancels on client abort before the answer, and the late answer is refused', async () => {
    const hub = new TunnelHub({ newId: ids });
    const link = new FakeLink();
    hub.connect('n1', link);
    const ac = new AbortController();
    const p = hub.open('n1', logs, ac.signal);
    ac.abort();
    const err = await rejection(p);
    expect(isShoalError(err, 'Canceled')).toBe(true);
    const id = link.requests()[0]!.id;
    expect(link.lines).toContainEqual({ op: 'cancel', id });
    expect(hub.answer('n1', id, answer())).toBe(false);
    expect(hub.openStreams('n1')).toBe(0);
  });

  it('bounds the streams per node until answers end', async () => {
    const hub = new TunnelHub({ maxStreamsPerNode: 2, newId: ids });
    const link = new FakeLink();
    hub.connect('n1', link);
    hub.connect('n2', new FakeLink());
    const p1 = hub.open('n1', logs, never);
    const p2 = hub.open('n1', logs, never);
    const err = await rejection(hub.open('n1', logs, never));
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/node n1 already has 2 log and exec streams open/);
    // Another node has its own budget.
    const other = hub.open('n2', logs, never);
    other.catch(() => undefined);
    const [r1, r2] = link.requests();
    const s1 = answer();
    hub.answer('n1', r1!.id, s1);
    hub.answer('n1', r2!.id, answer());
    await Promise.all([p1, p2]);
    expect(hub.openStreams('n1')).toBe(2); // answered but still streaming
    s1.end();
    await new Promise((r) => setImmediate(r));
    expect(hub.openStreams('n1')).toBe(1);
    const p3 = hub.open('n1', logs, never);
    hub.answer('n1', link.requests()[2]!.id, answer());
    await expect(p3).resolves.toBeDefined();
    hub.close();
  });

  it('a newer connection of a node replaces the older one and fails what waited on it', async () => {
    const hub = new TunnelHub({ newId: ids });
    const old = new FakeLink();
    const releaseOld = hub.connect('n1', old);
    const waiting = hub.open('n1', logs, never);
    const fresh = new FakeLink();
    hub.connect('n1', fresh);
    expect(old.closed).toBe(true);
    const err = await rejection(waiting);
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect((err as Error).message).toMatch(/reconnected/);
    // The old connection's late release does not unregister the new one.
    releaseOld();
    expect(hub.isConnected('n1')).toBe(true);
    const p = hub.open('n1', logs, never);
    expect(fresh.requests()).toHaveLength(1);
    hub.answer('n1', fresh.requests()[0]!.id, answer());
    await expect(p).resolves.toBeDefined();
  });

  it('a link that goes away fails its waiting requests and the node is no longer connected', async () => {
    const hub = new TunnelHub({ newId: ids });
    const link = new FakeLink();
    const release = hub.connect('n1', link);
    const waiting = hub.open('n1', logs, never);
    release();
    expect(hub.isConnected('n1')).toBe(false);
    expect(isShoalError(await rejection(waiting), 'Unavailable')).toBe(true);
    expect(hub.openStreams('n1')).toBe(0);
  });

  it('close ends every link and fails every waiting request', async () => {
    const hub = new TunnelHub({ newId: ids });
    const link = new FakeLink();
    hub.connect('n1', link);
    const waiting = hub.open('n1', logs, never);
    hub.close();
    expect(link.closed).toBe(true);
    expect(isShoalError(await rejection(waiting), 'Unavailable')).toBe(true);
    const late = new FakeLink();
    hub.connect('n2', late);
    expect(late.closed).toBe(true);
    expect(hub.connectedNodes).toBe(0);
  });
});
