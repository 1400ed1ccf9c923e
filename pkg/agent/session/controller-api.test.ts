import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { httpControllerApi } from './controller-api.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
});

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
