import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { ControllerEndpoints } from '../../client/index.js';
import { httpControllerApi } from './controller-api.js';

let server: Server | undefined;
const others: Server[] = [];
afterEach(async () => {
  for (const s of [server, ...others.splice(0)]) {
    s?.closeAllConnections();
    await new Promise((r) => s?.close(r) ?? r(undefined));
  }
  server = undefined;
});

/** A controller that answers every request with `status` (and counts them). */
async function answering(status: number): Promise<{ url: string; hits: () => number }> {
  let n = 0;
  const s = createServer((_req, res) => {
    n++;
    res.writeHead(status, { 'content-type': 'application/json', ...(status === 503 ? { 'retry-after': '1' } : {}) });
    res.end(status >= 400 ? JSON.stringify({ kind: 'Status', code: status, message: 'etcd has no leader' }) : '{}');
  });
  others.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits: () => n };
}

/** A port nothing listens on. */
async function refusing(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  return url;
}

/** A controller that takes requests and never answers (a link that died under a connection). */
async function silentController(): Promise<string> {
  server = createServer(() => undefined);
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('httpControllerApi deadlines', () => {
  it('a heartbeat that gets no answer fails Unavailable at its deadline', async () => {
    const api = httpControllerApi(await silentController());
    const t0 = performance.now();
    const err = await api.heartbeat('n1', { deadlineMs: 150 }).catch((e: unknown) => e);
    expect(isShoalError(err, 'Unavailable'), String(err)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('a call canceled by its caller stays Canceled', async () => {
    const api = httpControllerApi(await silentController());
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await api.listTasks('spec.nodeName=n1', { signal: ac.signal }).catch((e: unknown) => e);
    expect(isShoalError(err, 'Canceled'), String(err)).toBe(true);
  });
});

describe('httpControllerApi with several controllers', () => {
  it('moves to the next controller when the current one cannot be reached, and stays there', async () => {
    const dead = await refusing();
    const live = await answering(200);
    const endpoints = new ControllerEndpoints([dead, live.url]);
    const api = httpControllerApi(endpoints);
    const err = await api.heartbeat('n1').catch((e: unknown) => e);
    expect(isShoalError(err, 'Unavailable'), String(err)).toBe(true);
    expect(endpoints.current).toBe(live.url);
    await api.heartbeat('n1');
    await api.heartbeat('n1');
    expect(live.hits()).toBe(2);
  });

  it('a controller that answers 503 (its store has no quorum) stays current: another would answer the same', async () => {
    const busy = await answering(503);
    const other = await answering(200);
    const endpoints = new ControllerEndpoints([busy.url, other.url]);
    const err = await httpControllerApi(endpoints).heartbeat('n1').catch((e: unknown) => e);
    expect(isShoalError(err, 'Unavailable')).toBe(true);
    expect(endpoints.current).toBe(busy.url);
    expect(other.hits()).toBe(0);
  });

  it('a controller that misses the deadline is left for the next', async () => {
    const silent = await silentController();
    const live = await answering(200);
    const endpoints = new ControllerEndpoints([silent, live.url]);
    await httpControllerApi(endpoints).heartbeat('n1', { deadlineMs: 100 }).catch(() => undefined);
    expect(endpoints.current).toBe(live.url);
  });
});
