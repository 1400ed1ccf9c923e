import { createSocket, type Socket } from 'node:dgram';
import { DnsFormatError, RCODE, buildReply, parseQuery } from './wire.js';

export interface DnsServerOptions {
  /** Address to listen on (the bridge gateway of a user network). */
  address: string;
  /** 53 in production; 0 picks a free port (tests). */
  port: number;
  /** Local names: the addresses of a container name or alias on this network; empty when unknown. */
  lookup: (name: string) => string[];
  /** Upstream resolvers (`ip` or `ip:port`) for every other name. */
  upstreams: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
  onError?: (err: unknown) => void;
}

/**
 * A tiny UDP DNS server: answers A queries for the network's containers, NXDOMAIN for unknown
 * single-label names, forwards everything else to the upstreams (first answer wins, each tried in
 * turn with a timeout), SERVFAIL when none answers. Malformed packets are dropped or get FORMERR.
 */
export class DnsServer {
  private constructor(
    private readonly sock: Socket,
    private readonly opts: DnsServerOptions,
  ) {}

  static async start(opts: DnsServerOptions): Promise<DnsServer> {
    const sock = createSocket('udp4');
    const server = new DnsServer(sock, opts);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(opts.port, opts.address, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (e) => opts.onError?.(e));
    sock.on('message', (msg, rinfo) => {
      server.handle(msg).then(
        (reply) => {
          if (reply !== undefined) sock.send(reply, rinfo.port, rinfo.address);
        },
        (err: unknown) => opts.onError?.(err),
      );
    });
    opts.signal?.addEventListener('abort', () => void server.close(), { once: true });
    return server;
  }

  get port(): number {
    return this.sock.address().port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  /** One query in, one reply out (undefined: drop). Exposed for tests. */
  async handle(msg: Buffer): Promise<Buffer | undefined> {
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
    const local = this.opts.lookup(name);
    if (local.length > 0) return buildReply(q, msg, RCODE.noError, local);
    if (!name.includes('.')) return buildReply(q, msg, RCODE.nxDomain);
    for (const up of this.opts.upstreams) {
      const reply = await forward(msg, up, this.opts.timeoutMs ?? 2000);
      if (reply !== undefined) return reply;
    }
    return buildReply(q, msg, RCODE.servFail);
  }
}

function forward(msg: Buffer, upstream: string, timeoutMs: number): Promise<Buffer | undefined> {
  const [host = upstream, portText] = upstream.split(':');
  const port = portText === undefined ? 53 : Number(portText);
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
