import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import fc from 'fast-check';
import { DnsServer } from './server.js';
import { MAX_UDP_MESSAGE, RCODE, TYPE_AAAA, buildQuery, buildReply, parseQuery, parseReply } from './wire.js';

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

/** One query over TCP (2-byte length prefix). */
function askTcp(port: number, q: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      c.destroy();
      reject(new Error('no reply'));
    }, 3000);
    c.on('error', reject);
    c.on('connect', () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(q.length, 0);
      c.write(Buffer.concat([head, q]));
    });
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(t);
        c.destroy();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
  });
}

const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `10.89.${i >> 8}.${i & 255}`);

describe('dns wire', () => {
  it('round-trips a query and an A answer', () => {
    const raw = buildQuery(0x1234, 'Web.example.');
    const q = parseQuery(raw);
    expect(q).toMatchObject({ id: 0x1234, recursionDesired: true, question: { name: 'Web.example', type: 1, klass: 1 } });
    const r = parseReply(buildReply(q, raw, RCODE.noError, ['10.89.0.2', '10.89.0.3']));
    expect(r).toEqual({ id: 0x1234, rcode: 0, truncated: false, addresses: ['10.89.0.2', '10.89.0.3'] });
    expect(parseReply(buildReply(q, raw, RCODE.nxDomain)).rcode).toBe(3);
  });
  it('cuts a reply over the UDP limit to whole records and sets TC', () => {
    const raw = buildQuery(7, 'tasks.web');
    const q = parseQuery(raw);
    const cut = buildReply(q, raw, RCODE.noError, many(100), 600, MAX_UDP_MESSAGE);
    expect(cut.length).toBeLessThanOrEqual(MAX_UDP_MESSAGE);
    const r = parseReply(cut);
    expect(r.truncated).toBe(true);
    expect(r.addresses).toEqual(many(100).slice(0, r.addresses.length));
    expect(r.addresses.length).toBe(Math.floor((MAX_UDP_MESSAGE - 12 - (q.questionEnd - 12)) / 16));
    expect(parseReply(buildReply(q, raw, RCODE.noError, many(100))).addresses).toHaveLength(100);
    expect(parseReply(buildReply(q, raw, RCODE.noError, many(3), 600, MAX_UDP_MESSAGE)).truncated).toBe(false);
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
    expect(parseReply(await ask(s.port, buildQuery(1, 'WEB')))).toEqual({ id: 1, rcode: 0, truncated: false, addresses: ['10.89.0.2'] });
    expect(parseReply(await ask(s.port, buildQuery(2, 'web', TYPE_AAAA)))).toEqual({ id: 2, rcode: 0, truncated: false, addresses: [] });
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

  it('a big answer is cut with TC over UDP and whole over TCP; TCP queries are forwarded over TCP', async () => {
    const upstream = await DnsServer.start({ address: '127.0.0.1', port: 0, lookup: (n) => (n === 'big.example' ? many(80) : []), upstreams: [] });
    servers.push(upstream);
    const s = await DnsServer.start({ address: '127.0.0.1', port: 0, lookup: (n) => (n === 'tasks.web' ? many(80) : []), upstreams: [`127.0.0.1:${upstream.port}`], timeoutMs: 500 });
    servers.push(s);
    const udp = await ask(s.port, buildQuery(10, 'tasks.web'));
    expect(udp.length).toBeLessThanOrEqual(MAX_UDP_MESSAGE);
    expect(parseReply(udp)).toMatchObject({ id: 10, truncated: true });
    const tcp = parseReply(await askTcp(s.port, buildQuery(11, 'tasks.web')));
    expect(tcp).toMatchObject({ id: 11, truncated: false });
    expect(tcp.addresses).toEqual(many(80));
    // A forwarded big answer: truncated by the upstream over UDP, whole over TCP.
    expect(parseReply(await ask(s.port, buildQuery(12, 'big.example'))).truncated).toBe(true);
    expect(parseReply(await askTcp(s.port, buildQuery(13, 'big.example'))).addresses).toEqual(many(80));
  });
});
