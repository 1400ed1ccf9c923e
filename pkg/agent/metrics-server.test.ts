import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import { parseListen, startMetricsServer, type MetricsServer, type MetricsSource } from './metrics-server.js';

const servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(source: MetricsSource): Promise<{ url: string; srv: MetricsServer }> {
  const srv = await startMetricsServer('127.0.0.1:0', source);
  servers.push(srv);
  return { url: `http://127.0.0.1:${srv.port}`, srv };
}

const okSource: MetricsSource = { contentType: 'text/plain; version=0.0.4; charset=utf-8', text: () => Promise.resolve('shoal_x 1\n') };

describe('startMetricsServer', () => {
  it('serves /metrics on a random port and 404s elsewhere', async () => {
    const { url, srv } = await start(okSource);
    expect(srv.port).toBeGreaterThan(0);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('version=0.0.4');
    expect(await res.text()).toBe('shoal_x 1\n');
    expect((await fetch(`${url}/metrics?x=1`)).status).toBe(200);
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/metrics/extra`)).status).toBe(404);
    const post = await fetch(`${url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 503 when collecting fails, and survives garbage requests', async () => {
    const { url, srv } = await start({ contentType: 'text/plain', text: () => Promise.reject(new Error('boom')) });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('boom');
    // A malformed request line: the socket is closed, the server keeps serving.
    await new Promise<void>((resolve, reject) => {
      const sock = connect(srv.port, '127.0.0.1', () => sock.write('\x00\x01 garbage\r\n\r\n'));
      sock.on('error', () => resolve());
      sock.on('close', () => resolve());
      sock.setTimeout(2000, () => {
        sock.destroy();
        reject(new Error('the server did not close a garbage connection'));
      });
      sock.resume();
    });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('reports a port in use with a clear error', async () => {
    const { srv } = await start(okSource);
    const err = await startMetricsServer(`127.0.0.1:${srv.port}`, okSource).then(
      (s) => {
        servers.push(s);
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isShoalError(err, 'AlreadyExists')).toBe(true);
    expect(String((err as Error).message)).toContain(`127.0.0.1:${srv.port}`);
  });
});

describe('parseListen', () => {
  it('parses host:port forms', () => {
    expect(parseListen('127.0.0.1:9323')).toEqual({ host: '127.0.0.1', port: 9323 });
    expect(parseListen(':9323')).toEqual({ host: '0.0.0.0', port: 9323 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
  });
  it.each(['9323', 'host:', 'host:99999', 'a:b:1', 'host:port', ''])('rejects %j', (s) => {
    expect(() => parseListen(s)).toThrow(/--metrics-listen/);
  });
});
