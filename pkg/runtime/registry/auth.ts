/**
 * The client side of registry authentication. After a 401 the registry's challenges are
 * remembered per host; later requests to that host authenticate up front: Basic with the
 * stored credentials, or a bearer token fetched from the challenge's realm for the
 * request's scopes (with Basic credentials when there are some, anonymously otherwise).
 * Tokens are cached per (host, user, scopes) until shortly before they expire.
 */
import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { undiciRequest as request } from './undici-lazy.js';
import { ShoalError } from '../../api/index.js';
import type { Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { authenticationError, describeAnswer } from './errors.js';

export interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
}

export interface AuthenticatorOptions {
  dispatcher?: Dispatcher | undefined;
  userAgent: string;
  now: () => number;
}

/** Default token lifetime when the server does not say (the distribution token spec says 60 s). */
const DEFAULT_TOKEN_TTL_S = 60;
const EXPIRY_MARGIN_MS = 5_000;

export function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}

export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${actions.join(',')}`;
}

export class Authenticator {
  private readonly challenges = new Map<string, Challenge[]>();
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  /** Number of tokens fetched from realms (for tests and metrics). */
  tokenFetches = 0;

  constructor(private readonly opts: AuthenticatorOptions) {}

  private key(host: string, creds: Credentials | undefined, scopes: readonly string[]): string {
    // Tokens belong to the credentials that obtained them: key on a hash of user and password.
    const who = creds ? createHash('sha256').update(`${creds.username}\0${creds.password}`).digest('hex').slice(0, 16) : '';
    return `${host}|${who}|${[...scopes].sort().join(' ')}`;
  }

  /** Remembers what a 401 asked for; false when no challenge Shoal can answer was offered. */
  recordChallenges(host: string, challenges: Challenge[]): boolean {
    const usable = challenges.filter((c) => c.scheme === 'basic' || (c.scheme === 'bearer' && c.params.realm));
    if (usable.length === 0) return false;
    this.challenges.set(host, usable);
    return true;
  }

  knowsChallenge(host: string): boolean {
    return this.challenges.has(host);
  }

  /** Forgets a cached token (after a 401 despite it). */
  invalidate(host: string, creds: Credentials | undefined, scopes: readonly string[]): void {
    this.tokens.delete(this.key(host, creds, scopes));
  }

  /**
   * The Authorization header for a request to `host` needing `scopes`, or undefined to go
   * anonymously (no challenge seen yet, or Basic without credentials).
   */
  async authorization(host: string, creds: Credentials | undefined, scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenges = this.challenges.get(host);
    if (!challenges) return undefined;
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      const key = this.key(host, creds, scopes);
      const cached = this.tokens.get(key);
      if (cached && cached.expiresAt > this.opts.now()) return `Bearer ${cached.token}`;
      const extra = bearer.params.scope ? bearer.params.scope.split(' ') : [];
      const all = [...new Set([...scopes, ...extra])];
      const { token, ttlSeconds } = await this.fetchToken(host, bearer, creds, all, signal);
      this.tokens.set(key, { token, expiresAt: this.opts.now() + ttlSeconds * 1000 - EXPIRY_MARGIN_MS });
      return `Bearer ${token}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && creds) return basicAuthorization(creds);
    return undefined;
  }

  private async fetchToken(
    host: string,
    challenge: Challenge,
    creds: Credentials | undefined,
    scopes: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ token: string; ttlSeconds: number }> {
    const realm = challenge.params.realm ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new ShoalError('Upstream', `registry ${host} sent an invalid token realm "${realm}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ShoalError('Upstream', `registry ${host} sent a token realm with unsupported scheme "${url.protocol}"`);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, accept: 'application/json' };
    if (creds) headers.authorization = basicAuthorization(creds);
    this.tokenFetches++;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, signal, dispatcher: this.opts.dispatcher });
    } catch (err) {
      if (signal?.aborted) throw new ShoalError('Canceled', `token request to ${url.host} canceled`, { cause: err });
      throw new ShoalError('Unavailable', `cannot reach the token server ${url.host} of registry ${host}: ${(err as Error).message}`, { cause: err });
    }
    const text = await readText(res.body, 1024 * 1024, `token from ${url.host}`);
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw authenticationError(host, creds !== undefined, res.statusCode, text);
    }
    if (res.statusCode !== 200) {
      throw new ShoalError('Upstream', `token server ${url.host} of registry ${host} answered HTTP ${res.statusCode}: ${describeAnswer(res.statusCode, text)}`);
    }
    let doc: TokenResponse;
    try {
      doc = JSON.parse(text) as TokenResponse;
    } catch {
      throw new ShoalError('Upstream', `token server ${url.host} of registry ${host} sent a body that is not JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new ShoalError('Upstream', `token server ${url.host} of registry ${host} sent no token`);
    }
    const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_TTL_S;
    return { token, ttlSeconds: ttl };
  }
}

/** Reads a whole (small) body as text, refusing more than `max` bytes. */
export async function readText(body: AsyncIterable<Buffer | Uint8Array> & { destroy?: (e?: Error) => void }, max: number, what: string): Promise<string> {
  return (await readBytes(body, max, what)).toString('utf8');
}

export async function readBytes(body: AsyncIterable<Buffer | Uint8Array> & { destroy?: (e?: Error) => void }, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += c.length;
    if (n > max) {
      body.destroy?.();
      throw new ShoalError('TooLarge', `${what} is larger than ${max} bytes`);
    }
    chunks.push(Buffer.from(c.buffer, c.byteOffset, c.length));
  }
  return Buffer.concat(chunks);
}
