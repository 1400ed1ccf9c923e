/**
 * The subset of the DNS wire format (RFC 1035) the embedded server needs: parse a query's header
 * and first question, build answers with A records, and error replies. Pure; throws DnsFormatError
 * on malformed input (the server answers FORMERR or drops the packet). A reply over UDP holds at
 * most 512 bytes (RFC 1035 4.2.1): what does not fit is left out and the TC bit tells the client
 * to ask again over TCP, where the whole answer goes.
 */

export const TYPE_A = 1;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;
export const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4 } as const;
/** The largest DNS message over UDP without EDNS (RFC 1035 4.2.1). */
export const MAX_UDP_MESSAGE = 512;
const FLAG_TC = 0x0200;
const RR_BYTES = 16;

export class DnsFormatError extends Error {
  override readonly name = 'DnsFormatError';
}

export interface DnsQuestion {
  name: string;
  type: number;
  klass: number;
}

export interface DnsQuery {
  id: number;
  flags: number;
  opcode: number;
  recursionDesired: boolean;
  question: DnsQuestion;
  /** Bytes of the header + first question, reused in the reply. */
  questionEnd: number;
}

function readName(buf: Buffer, start: number): { name: string; end: number } {
  const labels: string[] = [];
  let off = start;
  let total = 0;
  for (;;) {
    if (off >= buf.length) throw new DnsFormatError('name runs past the packet');
    const len = buf[off] ?? 0;
    if (len === 0) return { name: labels.join('.'), end: off + 1 };
    if ((len & 0xc0) !== 0) throw new DnsFormatError('compressed names are not expected in a question');
    if (off + 1 + len > buf.length) throw new DnsFormatError('label runs past the packet');
    total += len + 1;
    if (total > 255) throw new DnsFormatError('name longer than 255 bytes');
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
}

export function parseQuery(buf: Buffer): DnsQuery {
  if (buf.length < 12) throw new DnsFormatError('packet shorter than a DNS header');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) throw new DnsFormatError('not a query');
  const qdcount = buf.readUInt16BE(4);
  if (qdcount < 1) throw new DnsFormatError('no question');
  const { name, end } = readName(buf, 12);
  if (end + 4 > buf.length) throw new DnsFormatError('question truncated');
  return {
    id,
    flags,
    opcode: (flags >> 11) & 0xf,
    recursionDesired: (flags & 0x0100) !== 0,
    question: { name, type: buf.readUInt16BE(end), klass: buf.readUInt16BE(end + 2) },
    questionEnd: end + 4,
  };
}

export function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((p) => p !== '');
  const bufs = parts.map((p) => {
    const b = Buffer.from(p, 'latin1');
    if (b.length > 63) throw new DnsFormatError(`label "${p}" longer than 63 bytes`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

/** Builds a query (used by tests and for completeness). */
export function buildQuery(id: number, name: string, type = TYPE_A): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2); // RD
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([h, encodeName(name), q]);
}

/**
 * A reply echoing the question, authoritative, with A records for `addresses` (only when asked
 * for A). With `maxBytes` (a UDP reply: MAX_UDP_MESSAGE), the records that do not fit are left
 * out and the TC bit is set.
 */
export function buildReply(query: DnsQuery, raw: Buffer, rcode: number, addresses: string[] = [], ttl = 600, maxBytes = Infinity): Buffer {
  const question = raw.subarray(12, query.questionEnd);
  const all = query.question.type === TYPE_A && rcode === RCODE.noError ? addresses : [];
  const room = Math.max(0, Math.floor((maxBytes - 12 - question.length) / RR_BYTES));
  const truncated = all.length > room;
  const answers = truncated ? all.slice(0, room) : all;
  const h = Buffer.alloc(12);
  h.writeUInt16BE(query.id, 0);
  // QR=1, opcode echoed, AA=1, TC when cut, RD echoed, RA=1, rcode.
  h.writeUInt16BE(0x8000 | (query.opcode << 11) | 0x0400 | (truncated ? FLAG_TC : 0) | (query.flags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((ip) => {
    const rr = Buffer.alloc(RR_BYTES);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(ttl, 6);
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    return rr;
  });
  return Buffer.concat([h, question, ...rrs]);
}

/** Minimal reply reader for tests: rcode, the TC bit and the A records of the answer section. */
export function parseReply(buf: Buffer): { id: number; rcode: number; truncated: boolean; addresses: string[] } {
  if (buf.length < 12) throw new DnsFormatError('short reply');
  const id = buf.readUInt16BE(0);
  const rcode = buf.readUInt16BE(2) & 0xf;
  const truncated = (buf.readUInt16BE(2) & FLAG_TC) !== 0;
  const an = buf.readUInt16BE(6);
  let off = readName(buf, 12).end + 4;
  const addresses: string[] = [];
  for (let i = 0; i < an; i++) {
    if ((buf[off] ?? 0) >= 0xc0) off += 2;
    else off = readName(buf, off).end;
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 8);
    if (type === TYPE_A && len === 4) addresses.push([...buf.subarray(off + 10, off + 14)].join('.'));
    off += 10 + len;
  }
  return { id, rcode, truncated, addresses };
}
