import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import { DnsServer } from './server.js';
import { RCODE, TYPE_AAAA, buildQuery, buildReply, parseQuery, parseReply } from './wire.js';

const servers: DnsServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function ask(port: number, q: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('no reply'));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(q, port, '127.0.0.1');
  });
}

describe('dns wire', () => {
  it('round-trips a query and an A answer', () => {
    const raw = buildQuery(0x1234, 'Web.example.');
    const q = parseQuery(raw);
    expect(q).toMatchObject({ id: 0x1234, recursionDesired: true, question: { name: 'Web.example', type: 1, klass: 1 } });
    const r = parseReply(buildReply(q, raw, RCODE.noError, ['10.89.0.2', '10.89.0.3']));
    expect(r).toEqual({ id: 0x1234, rcode: 0, addresses: ['10.89.0.2', '10.89.0.3'] });
    expect(parseReply(buildReply(q, raw, RCODE.nxDomain)).rcode).toBe(3);
  });
  it('never throws anything but DnsFormatError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          parseQuery(Buffer.from(bytes));
        } catch (e) {
          expect((e as Error).name).toBe('DnsFormatError');
        }
      }),
    );
  });
});

describe('dns server', () => {
  it('answers local names, NXDOMAIN, forwards the rest, SERVFAIL without upstream', async () => {
    const upstream = await DnsServer.start({ address: '127.0.0.1', port: 0, lookup: (n) => (n === 'example.com' ? ['93.184.216.34'] : []), upstreams: [] });
    servers.push(upstream);
    const names: Record<string, string[]> = { web: ['10.89.0.2'], db: ['10.89.0.3'] };
    const s = await DnsServer.start({ address: '127.0.0.1', port: 0, lookup: (n) => names[n] ?? [], upstreams: [`127.0.0.1:${upstream.port}`], timeoutMs: 500 });
    servers.push(s);
    expect(parseReply(await ask(s.port, buildQuery(1, 'WEB')))).toEqual({ id: 1, rcode: 0, addresses: ['10.89.0.2'] });
    expect(parseReply(await ask(s.port, buildQuery(2, 'web', TYPE_AAAA)))).toEqual({ id: 2, rcode: 0, addresses: [] });
    expect(parseReply(await ask(s.port, buildQuery(3, 'nope'))).rcode).toBe(RCODE.nxDomain);
    expect(parseReply(await ask(s.port, buildQuery(4, 'example.com'))).addresses).toEqual(['93.184.216.34']);
    const lonely = await DnsServer.start({ address: '127.0.0.1', port: 0, lookup: () => [], upstreams: ['127.0.0.1:9'], timeoutMs: 200 });
    servers.push(lonely);
    expect(parseReply(await ask(lonely.port, buildQuery(5, 'example.com'))).rcode).toBe(RCODE.servFail);
    // A malformed query gets FORMERR and the server keeps serving.
    const bad = Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9]);
    expect((await ask(s.port, bad)).readUInt16BE(2) & 0xf).toBe(RCODE.formErr);
    expect(parseReply(await ask(s.port, buildQuery(6, 'db'))).addresses).toEqual(['10.89.0.3']);
  });
});
