import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { DnsFormatError, MAX_UDP_MESSAGE, RCODE, buildReply, parseQuery } from './wire.js';

export interface DnsServerOptions {
  /** Address to listen on (the bridge gateway of a user network). */
  address: string;
  /** 53 in production; 0 picks a free port (tests). */
  port: number;
  /**
   * Local names: the addresses of a name as `asker` (the client's address) may see it; empty
   * when unknown (a single-label name is then NXDOMAIN, a dotted one is forwarded).
   */
  lookup: (name: string, asker: string) => string[];
  /** TTL of local answers in seconds (default 600; the cluster's names change, so 5 there). */
  ttlSeconds?: number;
  /** Upstream resolvers (`ip` or `ip:port`) for every other name. */
  upstreams: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
  onError?: (err: unknown) => void;
}

/** A query over TCP (length-prefixed, RFC 1035 4.2.2) larger than this closes the connection. */
const MAX_TCP_MESSAGE = 65535;
/** A TCP client idle this long is disconnected. */
const TCP_IDLE_MS = 10_000;

/**
 * A tiny DNS server on UDP and TCP (same address and port): answers A queries for the network's
 * containers, NXDOMAIN for unknown single-label names, forwards everything else to the upstreams
 * (first answer wins, each tried in turn with a timeout; over TCP for a TCP client), SERVFAIL
 * when none answers. Malformed packets are dropped or get FORMERR. A UDP answer over 512 bytes
 * is cut and carries TC, and the client asks again over TCP.
 */
export class DnsServer {
  private readonly conns = new Set<TcpSocket>();

  private constructor(
    private readonly sock: Socket,
    private readonly tcp: Server,
    private readonly opts: DnsServerOptions,
  ) {}

  static async start(opts: DnsServerOptions): Promise<DnsServer> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(opts.port, opts.address, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    const tcp = createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(sock.address().port, opts.address, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      sock.close();
      throw err;
    }
    const server = new DnsServer(sock, tcp, opts);
    sock.on('error', (e) => opts.onError?.(e));
    sock.on('message', (msg, rinfo) => {
      server.handle(msg, 'udp', rinfo.address).then(
        (reply) => {
          if (reply !== undefined) sock.send(reply, rinfo.port, rinfo.address);
        },
        (err: unknown) => opts.onError?.(err),
      );
    });
    tcp.on('error', (e) => opts.onError?.(e));
    tcp.on('connection', (c) => server.serveTcp(c));
    opts.signal?.addEventListener('abort', () => void server.close(), { once: true });
    return server;
  }

  get port(): number {
    return this.sock.address().port;
  }

  close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    const udp = new Promise<void>((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    const tcp = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    return Promise.all([udp, tcp]).then(() => undefined);
  }

  /** Length-prefixed queries on one connection, answered in order. */
  private serveTcp(c: TcpSocket): void {
    this.conns.add(c);
    c.setTimeout(TCP_IDLE_MS, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('close', () => this.conns.delete(c));
    let buf = Buffer.alloc(0);
    let chain = Promise.resolve();
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0 || len > MAX_TCP_MESSAGE) return void c.destroy();
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        chain = chain.then(async () => {
          const reply = await this.handle(msg, 'tcp', c.remoteAddress ?? '').catch((err: unknown) => this.opts.onError?.(err));
          if (reply === undefined || c.destroyed) return;
          const head = Buffer.alloc(2);
          head.writeUInt16BE(reply.length, 0);
          c.write(Buffer.concat([head, reply]));
        });
      }
    });
  }

  /** One query in, one reply out (undefined: drop). Exposed for tests. */
  async handle(msg: Buffer, transport: 'udp' | 'tcp' = 'udp', asker = ''): Promise<Buffer | undefined> {
    let q;
    try {
      q = parseQuery(msg);
    } catch (err) {
      if (err instanceof DnsFormatError && msg.length >= 12 && (msg.readUInt16BE(2) & 0x8000) === 0) {
        const h = Buffer.alloc(12);
        h.writeUInt16BE(msg.readUInt16BE(0), 0);
        h.writeUInt16BE(0x8000 | RCODE.formErr, 2);
        return h;
      }
      return undefined;
    }
    if (q.opcode !== 0) return buildReply(q, msg, RCODE.notImp);
    const name = q.question.name.toLowerCase().replace(/\.$/, '');
    const local = this.opts.lookup(name, asker.replace(/^::ffff:/, ''));
    if (local.length > 0) return buildReply(q, msg, RCODE.noError, local, this.opts.ttlSeconds ?? 600, transport === 'udp' ? MAX_UDP_MESSAGE : Infinity);
    if (!name.includes('.')) return buildReply(q, msg, RCODE.nxDomain);
    for (const up of this.opts.upstreams) {
      const timeoutMs = this.opts.timeoutMs ?? 2000;
      const reply = transport === 'udp' ? await forward(msg, up, timeoutMs) : await forwardTcp(msg, up, timeoutMs);
      if (reply !== undefined) return reply;
    }
    return buildReply(q, msg, RCODE.servFail);
  }
}

function hostPort(upstream: string): { host: string; port: number } {
  const [host = upstream, portText] = upstream.split(':');
  return { host, port: portText === undefined ? 53 : Number(portText) };
}

function forward(msg: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | undefined> {
  const { host, port } = hostPort(upstream);
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(b);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('error', () => done(undefined));
    s.on('message', (reply) => {
      if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) done(reply);
    });
    s.send(msg, port, host);
  });
}

/** Asks an upstream over TCP (for a TCP client, whose answer may not fit in UDP). */
function forwardTcp(msg: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | undefined> {
  const { host, port } = hostPort(upstream);
  return new Promise((resolve) => {
    const c = connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      c.destroy();
      resolve(b);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    c.on('error', () => done(undefined));
    c.on('close', () => done(undefined));
    c.on('connect', () => {
      const head = Buffer.alloc(2);
      head.writeUInt16BE(msg.length, 0);
      c.write(Buffer.concat([head, msg]));
    });
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const reply = buf.subarray(2, 2 + buf.readUInt16BE(0));
        done(reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0) ? reply : undefined);
      }
    });
  });
}
