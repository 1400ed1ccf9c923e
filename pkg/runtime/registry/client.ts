/**
 * RegistryClient: the OCI distribution API over undici, streaming, with AbortSignal on every
 * call. See docs/registry.md for the request sequences.
 */
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { undiciRequest as request } from './undici-lazy.js';
import { ShoalError, isShoalError } from '../../api/index.js';
import { DigestVerifier, digestOf, isDigest, parseDigest, sha256Digest, type Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, baseMediaType, detectManifestMediaType } from '../oci/manifest.js';
import { MANIFEST_ACCEPT, isAnyManifestMediaType } from '../oci/media-types.js';
import type { Reference, Repository } from '../oci/reference.js';
import { Authenticator, readBytes, readText, repositoryScope } from './auth.js';
import { parseWwwAuthenticate } from './challenge.js';
import type { CredentialStore, Credentials } from './credentials.js';
import { registryEndpoint, type RegistryEndpoint } from './endpoint.js';
import { authenticationError, registryError } from './errors.js';
import type {
  BlobDescriptor,
  FetchBlobOptions,
  FetchedBlob,
  FetchedManifest,
  PushBlobOptions,
  PushBlobResult,
  Registry,
  Signal,
} from './types.js';

export interface RegistryClientOptions {
  /** `host[:port]` of registries spoken to in plain HTTP (loopback ones always are). */
  insecureRegistries?: readonly string[];
  credentials?: CredentialStore;
  userAgent?: string;
  /** undici dispatcher (tests, proxies); the global one otherwise. */
  dispatcher?: Dispatcher;
  /** Default PATCH chunk size for pushes (16 MiB). */
  chunkSize?: number;
  /** Clock for token expiry. */
  now?: () => number;
}

export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;

type Body = Buffer | Readable | undefined;

interface SendOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  url: URL;
  scopes: string[];
  headers?: Record<string, string>;
  /** A fresh body per attempt (a retry after a 401 needs the bytes again). */
  body?: () => Body;
  signal?: AbortSignal | undefined;
  followRedirects?: boolean;
  /** Credentials to use instead of the store's (login). */
  credentials?: Credentials | null;
}

function pathOf(repo: Repository, rest: string): string {
  return `/v2/${repo.path}/${rest}`;
}

export class RegistryClient implements Registry {
  private readonly insecure: readonly string[];
  private readonly creds: CredentialStore | undefined;
  private readonly userAgent: string;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly chunkSize: number;
  readonly auth: Authenticator;

  constructor(opts: RegistryClientOptions = {}) {
    this.insecure = opts.insecureRegistries ?? [];
    this.creds = opts.credentials;
    this.userAgent = opts.userAgent ?? 'shoal';
    this.dispatcher = opts.dispatcher;
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.auth = new Authenticator({ dispatcher: this.dispatcher, userAgent: this.userAgent, now: opts.now ?? Date.now });
  }

  endpoint(domain: string): RegistryEndpoint {
    return registryEndpoint(domain, this.insecure);
  }

  private url(repo: Repository, rest: string): URL {
    return new URL(pathOf(repo, rest), this.endpoint(repo.domain).baseUrl);
  }

  // ---- pull ---------------------------------------------------------------------------------

  async resolve(ref: Reference, opts: Signal = {}): Promise<FetchedManifest> {
    const target = ref.digest ?? ref.tag ?? 'latest';
    return this.getManifest(ref, target, ref.toString(), opts.signal);
  }

  async fetchManifest(repo: Repository, digest: Digest, opts: Signal = {}): Promise<FetchedManifest> {
    parseDigest(digest);
    return this.getManifest(repo, digest, `${repo.domain}/${repo.path}@${digest}`, opts.signal);
  }

  private async getManifest(repo: Repository, target: string, display: string, signal: AbortSignal | undefined): Promise<FetchedManifest> {
    const res = await this.send(repo.domain, {
      method: 'GET',
      url: this.url(repo, `manifests/${target}`),
      scopes: [repositoryScope(repo.path, ['pull'])],
      headers: { accept: MANIFEST_ACCEPT },
      signal,
      followRedirects: true,
    });
    if (res.statusCode !== 200) throw await this.failure(res, `manifest for ${display}`);
    const bytes = await readBytes(res.body, MAX_MANIFEST_BYTES, `manifest for ${display}`);
    let mediaType = baseMediaType(header(res, 'content-type'));
    if (!isAnyManifestMediaType(mediaType)) {
      try {
        mediaType = detectManifestMediaType(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>, mediaType);
      } catch {
        // not JSON: parseManifest will say so to whoever parses it
      }
    }
    let digest: Digest;
    if (isDigest(target)) {
      digest = target;
    } else {
      const claimed = header(res, 'docker-content-digest');
      digest = claimed && isDigest(claimed) ? claimed : sha256Digest(bytes);
    }
    const actual = digestOf(bytes, digest);
    if (actual !== digest) {
      throw new ShoalError('DataLoss', `manifest for ${display} from ${repo.domain}: digest mismatch: expected ${digest}, content hashes to ${actual}`);
    }
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
  }

  async fetchBlob(repo: Repository, desc: BlobDescriptor, opts: FetchBlobOptions = {}): Promise<FetchedBlob> {
    parseDigest(desc.digest);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw new ShoalError('InvalidArgument', `invalid offset ${offset} for blob ${desc.digest} of ${desc.size} bytes`);
    }
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const what = `blob ${desc.digest} in ${repo.domain}/${repo.path}`;
    const res = await this.send(repo.domain, {
      method: 'GET',
      url: this.url(repo, `blobs/${desc.digest}`),
      scopes: [repositoryScope(repo.path, ['pull'])],
      headers,
      signal: opts.signal,
      followRedirects: true,
    });
    if (res.statusCode === 416 && offset === desc.size) {
      await res.body.dump();
      return { stream: Readable.from([]), size: 0 };
    }
    if (res.statusCode !== 200 && res.statusCode !== 206) throw await this.failure(res, what);
    const length = Number(header(res, 'content-length'));
    let stream: Readable = res.body;
    if (res.statusCode === 200 && offset > 0) {
      // The server ignored the Range: drop the first `offset` bytes ourselves.
      stream = res.body.pipe(new SkipBytes(offset));
      res.body.on('error', (err) => stream.destroy(err));
      return { stream, size: Number.isFinite(length) ? length - offset : desc.size - offset };
    }
    return { stream, size: Number.isFinite(length) ? length : desc.size - offset };
  }

  async blobExists(repo: Repository, digest: Digest, opts: Signal = {}): Promise<boolean> {
    parseDigest(digest);
    return this.headBlob(repo, digest, [repositoryScope(repo.path, ['pull'])], opts.signal);
  }

  private async headBlob(repo: Repository, digest: Digest, scopes: string[], signal: AbortSignal | undefined): Promise<boolean> {
    const res = await this.send(repo.domain, {
      method: 'HEAD',
      url: this.url(repo, `blobs/${digest}`),
      scopes,
      signal,
      followRedirects: true,
    });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw registryError(res.statusCode, '', `blob ${digest} in ${repo.domain}/${repo.path}`);
  }

  // ---- push ---------------------------------------------------------------------------------

  async pushBlob(repo: Repository, desc: BlobDescriptor, open: () => Readable, opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    parseDigest(desc.digest);
    const { signal, onProgress } = opts;
    const chunkSize = opts.chunkSize ?? this.chunkSize;
    if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new ShoalError('InvalidArgument', `invalid chunk size ${chunkSize}`);
    const what = `blob ${desc.digest} to ${repo.domain}/${repo.path}`;
    const scopes = [repositoryScope(repo.path, ['pull', 'push'])];
    const mountFrom = opts.mountFrom && opts.mountFrom !== repo.path ? opts.mountFrom : undefined;
    if (mountFrom) scopes.push(repositoryScope(mountFrom, ['pull']));

    if (await this.headBlob(repo, desc.digest, scopes, signal)) {
      onProgress?.(desc.size, desc.size);
      return { digest: desc.digest, size: desc.size, status: 'exists' };
    }

    const start = this.url(repo, 'blobs/uploads/');
    if (mountFrom) {
      start.searchParams.set('mount', desc.digest);
      start.searchParams.set('from', mountFrom);
    }
    const res = await this.send(repo.domain, { method: 'POST', url: start, scopes, headers: { 'content-length': '0' }, signal });
    if (res.statusCode === 201 && mountFrom) {
      await res.body.dump();
      onProgress?.(desc.size, desc.size);
      return { digest: desc.digest, size: desc.size, status: 'mounted' };
    }
    if (res.statusCode !== 202) throw await this.failure(res, `starting upload of ${what}`);
    let location = this.location(res, start, what);
    await res.body.dump();

    if (desc.size <= chunkSize) {
      // Monolithic: one PUT with the whole blob, streamed and checked on the way.
      let verifier: DigestVerifier | undefined;
      const put = await this.send(repo.domain, {
        method: 'PUT',
        url: withDigest(location, desc.digest),
        scopes,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body: () => {
          verifier = new DigestVerifier(desc.digest, desc.size);
          const progress = new Progress((n) => onProgress?.(n, desc.size));
          // pipeline destroys every stage on error, so a bad source aborts the PUT.
          pipeline(open(), verifier, progress, () => {});
          return progress;
        },
        signal,
      }).catch((err: unknown) => {
        throw verifier?.errored ?? err;
      });
      if (put.statusCode !== 201) throw await this.failure(put, `uploading ${what}`);
      await put.body.dump();
      return { digest: desc.digest, size: desc.size, status: 'uploaded' };
    }

    // Chunked: PATCH chunkSize bytes at a time with Content-Range, then an empty PUT ?digest=.
    const verifier = new DigestVerifier(desc.digest, desc.size);
    const src = open();
    src.on('error', (err) => verifier.destroy(err));
    let sent = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const chunk = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const patch = await this.send(repo.domain, {
        method: 'PATCH',
        url: location,
        scopes,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${sent}-${sent + chunk.length - 1}`,
        },
        body: () => chunk,
        signal,
      });
      if (patch.statusCode !== 202) throw await this.failure(patch, `uploading ${what} (bytes ${sent}-${sent + chunk.length - 1})`);
      location = this.location(patch, location, what);
      await patch.body.dump();
      sent += chunk.length;
      onProgress?.(sent, desc.size);
    };
    try {
      for await (const c of src.pipe(verifier) as AsyncIterable<Buffer>) {
        let data = c;
        while (data.length > 0) {
          const take = Math.min(data.length, chunkSize - pendingBytes);
          pending.push(data.subarray(0, take));
          pendingBytes += take;
          data = data.subarray(take);
          if (pendingBytes === chunkSize) await flush();
        }
      }
      await flush();
    } catch (err) {
      src.destroy();
      throw err;
    }
    const put = await this.send(repo.domain, {
      method: 'PUT',
      url: withDigest(location, desc.digest),
      scopes,
      headers: { 'content-length': '0' },
      signal,
    });
    if (put.statusCode !== 201) throw await this.failure(put, `finishing upload of ${what}`);
    await put.body.dump();
    return { digest: desc.digest, size: desc.size, status: 'uploaded' };
  }

  async pushManifest(repo: Repository, tagOrDigest: string, mediaType: string, bytes: Uint8Array, opts: Signal = {}): Promise<Digest> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const digest = tagOrDigest.includes(':') ? tagOrDigest : sha256Digest(buf);
    if (tagOrDigest.includes(':')) {
      parseDigest(tagOrDigest);
      const actual = digestOf(buf, tagOrDigest);
      if (actual !== tagOrDigest) throw new ShoalError('InvalidArgument', `manifest bytes hash to ${actual}, not ${tagOrDigest}`);
    }
    const display = `${repo.domain}/${repo.path}${tagOrDigest.includes(':') ? '@' : ':'}${tagOrDigest}`;
    const res = await this.send(repo.domain, {
      method: 'PUT',
      url: this.url(repo, `manifests/${tagOrDigest}`),
      scopes: [repositoryScope(repo.path, ['pull', 'push'])],
      headers: { 'content-type': mediaType, 'content-length': String(buf.length) },
      body: () => buf,
      signal: opts.signal,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200) throw await this.failure(res, `pushing manifest ${display}`);
    await res.body.dump();
    const claimed = header(res, 'docker-content-digest');
    if (claimed && isDigest(claimed) && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new ShoalError('Upstream', `registry ${repo.domain} stored manifest ${display} as ${claimed}, expected ${digest}`);
    }
    return digest;
  }

  // ---- login --------------------------------------------------------------------------------

  async login(domain: string, username: string, password: string, opts: Signal = {}): Promise<void> {
    const url = new URL('/v2/', this.endpoint(domain).baseUrl);
    const res = await this.send(domain, { method: 'GET', url, scopes: [], signal: opts.signal, credentials: { username, password } });
    if (res.statusCode !== 200) throw await this.failure(res, `login to ${domain}`);
    await res.body.dump();
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private location(res: Dispatcher.ResponseData, base: URL, what: string): URL {
    const loc = header(res, 'location');
    if (!loc) throw new ShoalError('Upstream', `registry answered without a Location while uploading ${what}`);
    try {
      return new URL(loc, base);
    } catch {
      throw new ShoalError('Upstream', `registry sent an invalid Location "${loc}" while uploading ${what}`);
    }
  }

  private async failure(res: Dispatcher.ResponseData, what: string): Promise<ShoalError> {
    let text = '';
    try {
      text = await readText(res.body, MAX_ERROR_BODY, 'error body');
    } catch {
      // a huge or broken error body: the status alone will do
    }
    return registryError(res.statusCode, text, what, header(res, 'retry-after'));
  }

  /** One request with auth (challenge, retry once) and, for GET/HEAD, redirects. */
  private async send(domain: string, o: SendOptions): Promise<Dispatcher.ResponseData> {
    const host = this.endpoint(domain).host;
    const creds = o.credentials === undefined ? await this.credentialsFor(domain) : (o.credentials ?? undefined);
    let url = o.url;
    let authorized = true; // whether our Authorization goes to this URL (not after a redirect elsewhere)
    for (let redirects = 0; ; redirects++) {
      let res: Dispatcher.ResponseData | undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        const auth = authorized ? await this.auth.authorization(host, creds, o.scopes, o.signal) : undefined;
        res = await this.raw(o, url, auth, host);
        if (res.statusCode !== 401 || !authorized) break;
        const text = await readText(res.body, MAX_ERROR_BODY, 'error body').catch(() => '');
        const challenges = parseWwwAuthenticate(res.headers['www-authenticate']);
        const usable = this.auth.recordChallenges(host, challenges);
        if (attempt === 0 && usable) {
          this.auth.invalidate(host, creds, o.scopes);
          // Basic without credentials cannot succeed: say so now.
          if (creds || challenges.some((c) => c.scheme === 'bearer')) continue;
        }
        throw authenticationError(domain, creds !== undefined, 401, text);
      }
      if (!res) throw new ShoalError('Internal', 'no response');
      const redirect = [301, 302, 303, 307, 308].includes(res.statusCode);
      if (!redirect || !o.followRedirects) return res;
      await res.body.dump();
      if (redirects >= MAX_REDIRECTS) throw new ShoalError('Upstream', `too many redirects from ${domain} for ${o.url.pathname}`);
      const loc = header(res, 'location');
      if (!loc) throw new ShoalError('Upstream', `registry ${domain} redirected without a Location for ${o.url.pathname}`);
      const next = new URL(loc, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new ShoalError('Upstream', `registry ${domain} redirected to unsupported "${next.protocol}"`);
      authorized = authorized && keepsAuthorization(url, next);
      url = next;
    }
  }

  private async credentialsFor(domain: string): Promise<Credentials | undefined> {
    return this.creds ? await this.creds.get(domain) : undefined;
  }

  private async raw(o: SendOptions, url: URL, auth: string | undefined, host: string): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...o.headers };
    if (auth) headers.authorization = auth;
    const body = o.body?.();
    try {
      return await request(url, { method: o.method, headers, body, signal: o.signal, dispatcher: this.dispatcher });
    } catch (err) {
      if (body instanceof Readable) body.destroy();
      if (isShoalError(err)) throw err;
      if (o.signal?.aborted) throw new ShoalError('Canceled', `request to ${host} canceled`, { cause: err });
      const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
      const detail = [e.code ?? e.cause?.code, e.message].filter(Boolean).join(' ');
      throw new ShoalError('Unavailable', `cannot reach registry ${host} (${url.protocol.replace(':', '')}): ${detail}`, { cause: err });
    }
  }
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

/** Drops the first `n` bytes of a stream. */
class SkipBytes extends Transform {
  constructor(private remaining: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.remaining >= chunk.length) {
      this.remaining -= chunk.length;
      cb();
      return;
    }
    const out = chunk.subarray(this.remaining);
    this.remaining = 0;
    cb(null, out);
  }
}

/** Counts bytes going through and reports the running total. */
class Progress extends Transform {
  private n = 0;
  constructor(private readonly report: (n: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.n += chunk.length;
    this.report(this.n);
    cb(null, chunk);
  }
}

/**
 * Whether a redirect may carry the registry's Authorization: only to the same scheme, host and
 * port. A redirect to another host (blob storage) gets none, and neither does an https→http
 * downgrade on the same host, where the token or password would cross the network in clear.
 */
export function keepsAuthorization(from: URL, to: URL): boolean {
  return from.protocol === to.protocol && from.host === to.host;
}
