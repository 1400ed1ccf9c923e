/**
 * Token formats (issue 13), pure.
 *
 *   join token    SHOAL-1-<CA SHA-256, 64 hex>-<secret, 25 base36>     (Swarm's shape)
 *   bearer token  shoal-<id, 10 base36>.<secret, 32 base64url>
 *
 * Only hashes of secrets are compared, in constant time. A join token names the CA it
 * trusts, so an agent checks the controller before it sends anything.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from '../api/index.js';

const JOIN_RE = /^SHOAL-1-([0-9a-f]{64})-([0-9a-z]{25})$/;
const BEARER_RE = /^shoal-([0-9a-z]{10})\.([A-Za-z0-9_-]{32,64})$/;

export interface JoinToken {
  caFingerprint: string;
  secret: string;
}

function base36(bytes: number, length: number): string {
  let s = BigInt(`0x${randomBytes(bytes).toString('hex')}`).toString(36);
  while (s.length < length) s = `0${s}`;
  return s.slice(-length);
}

export function newJoinSecret(): string {
  return base36(20, 25);
}

export function formatJoinToken(t: JoinToken): string {
  return `SHOAL-1-${t.caFingerprint}-${t.secret}`;
}

export function parseJoinToken(s: string): JoinToken {
  const m = JOIN_RE.exec(s.trim());
  if (!m) throw errors.invalidArgument('invalid join token: want SHOAL-1-<64 hex of the CA fingerprint>-<25 characters> (from "shoalctl cluster join-token worker")');
  return { caFingerprint: m[1] as string, secret: m[2] as string };
}

export interface BearerToken {
  id: string;
  secret: string;
}

export function newBearerToken(): BearerToken & { text: string } {
  const id = base36(8, 10);
  const secret = randomBytes(24).toString('base64url');
  return { id, secret, text: `shoal-${id}.${secret}` };
}

/** Undefined when `s` is not shaped as a Shoal bearer token. */
export function parseBearerToken(s: string): BearerToken | undefined {
  const m = BEARER_RE.exec(s);
  return m ? { id: m[1] as string, secret: m[2] as string } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time check of a secret against a stored hash. */
export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
