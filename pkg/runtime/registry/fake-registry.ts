/**
 * An in-process fake of a distribution registry (node:http on 127.0.0.1, port 0) for tests:
 * manifests by tag and digest, blobs, monolithic and chunked uploads, cross-repo mounts,
 * Basic or bearer auth (with its own token endpoint), blob redirects to a "storage" path, and
 * a log of every request. Not a conformance-grade registry: enough to exercise clients.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRegistryOptions {
  /** `basic`: Basic auth; `bearer`: token auth via `/token` on the same server. */
  auth?: 'none' | 'basic' | 'bearer';
  users?: Record<string, string>;
  /** Bearer only: anonymous tokens may pull. */
  anonymousPull?: boolean;
  /** Token lifetime in seconds. */
  tokenTtl?: number;
  /** Answer blob GETs with a 307 to `/storage/<digest>` (served without auth). */
  redirectBlobs?: boolean;
  /** Upload Locations absolute (`http://127.0.0.1:port/...`) instead of relative. */
  absoluteLocations?: boolean;
  /** Ignore Range headers on blob GETs. */
  ignoreRange?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  status: number;
}

interface Upload {
  repo: string;
  chunks: Buffer[];
  size: number;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export class FakeRegistry {
  readonly requests: LoggedRequest[] = [];
  /** Tokens issued: token -> granted scopes. */
  readonly tokens = new Map<string, { user: string | undefined; scopes: string[] }>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly repoBlobs = new Map<string, Set<string>>();
  private readonly manifests = new Map<string, { mediaType: string; bytes: Buffer }>();
  private readonly uploads = new Map<string, Upload>();
  private server: Server | undefined;
  private port = 0;

  constructor(readonly opts: FakeRegistryOptions = {}) {}

  static async start(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry(opts);
    await r.listen();
    return r;
  }

  /** `127.0.0.1:<port>`: the domain to put in references. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.error(res, 500, 'UNKNOWN', String(err));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  // ---- content ------------------------------------------------------------------------------

  putBlob(repo: string, bytes: Buffer | string): { digest: string; size: number } {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    this.blobs.set(digest, b);
    this.linkBlob(repo, digest);
    return { digest, size: b.length };
  }

  /** Stores bytes under a digest they do not hash to (to test verification). */
  putCorruptBlob(repo: string, digest: string, bytes: Buffer | string): void {
    this.blobs.set(digest, Buffer.from(bytes));
    this.linkBlob(repo, digest);
  }

  getBlob(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }

  hasBlob(repo: string, digest: string): boolean {
    return this.repoBlobs.get(repo)?.has(digest) ?? false;
  }

  private linkBlob(repo: string, digest: string): void {
    let s = this.repoBlobs.get(repo);
    if (!s) this.repoBlobs.set(repo, (s = new Set()));
    s.add(digest);
  }

  /** Stores a manifest under its digest and, when given, a tag; returns the digest. */
  putManifest(repo: string, tag: string | undefined, mediaType: string, bytes: Buffer | string): string {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    this.manifests.set(`${repo}@${digest}`, { mediaType, bytes: b });
    if (tag !== undefined) this.manifests.set(`${repo}:${tag}`, { mediaType, bytes: b });
    return digest;
  }

  /** Stores manifest bytes under a reference (tag or digest) as they are, without hashing. */
  putRawManifest(repo: string, reference: string, mediaType: string, bytes: Buffer | string): void {
    this.manifests.set(`${repo}${reference.includes(':') ? '@' : ':'}${reference}`, { mediaType, bytes: Buffer.from(bytes) });
  }

  getManifest(repo: string, reference: string): { mediaType: string; bytes: Buffer } | undefined {
    return this.manifests.get(`${repo}${reference.includes(':') ? '@' : ':'}${reference}`);
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private error(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** Checks auth; answers 401 itself and returns false when it fails. */
  private authorize(req: IncomingMessage, res: ServerResponse, repo: string | undefined, action: 'pull' | 'push'): boolean {
    const mode = this.opts.auth ?? 'none';
    if (mode === 'none') return true;
    const h = req.headers.authorization ?? '';
    const base = `http://${this.host}`;
    if (mode === 'basic') {
      if (h.startsWith('Basic ')) {
        const [u, ...p] = Buffer.from(h.slice(6), 'base64').toString().split(':');
        if (u !== undefined && this.opts.users?.[u] === p.join(':')) return true;
      }
      this.error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="fake registry"' });
      return false;
    }
    const scope = repo ? `repository:${repo}:${action}` : '';
    if (h.startsWith('Bearer ')) {
      const t = this.tokens.get(h.slice(7));
      if (t && (!repo || t.scopes.some((s) => s === scope || s === `repository:${repo}:pull,push` || (action === 'pull' && s.startsWith(`repository:${repo}:`))))) return true;
    }
    const params = [`realm="${base}/token"`, `service="fake,registry"`];
    if (scope) params.push(`scope="${scope}"`);
    this.error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': `Bearer ${params.join(',')}` });
    return false;
  }

  private token(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    const h = req.headers.authorization ?? '';
    let user: string | undefined;
    if (h.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(h.slice(6), 'base64').toString().split(':');
      if (u === undefined || this.opts.users?.[u] !== p.join(':')) {
        this.error(res, 401, 'UNAUTHORIZED', 'invalid username or password');
        return;
      }
      user = u;
    }
    if (query.get('service') !== 'fake,registry') {
      this.error(res, 400, 'INVALID', `unexpected service ${query.get('service')}`);
      return;
    }
    const scopes = query.getAll('scope').filter((s) => user !== undefined || (this.opts.anonymousPull && s.endsWith(':pull')));
    const token = randomUUID();
    this.tokens.set(token, { user, scopes });
    const body = JSON.stringify({ access_token: token, expires_in: this.opts.tokenTtl ?? 300 });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    const method = req.method ?? 'GET';
    res.on('finish', () => {
      this.requests.push({ method, path: url.pathname, query: url.searchParams, headers: req.headers, status: res.statusCode });
    });
    const p = url.pathname;
    if (p === '/token') return this.token(req, res, url.searchParams);
    if (p.startsWith('/storage/')) {
      const b = this.blobs.get(decodeURIComponent(p.slice('/storage/'.length)));
      if (!b) return this.error(res, 404, 'NOT_FOUND', 'no such object');
      res.writeHead(200, { 'content-length': b.length, 'content-type': 'application/octet-stream' });
      res.end(b);
      return;
    }
    if (p === '/v2/' || p === '/v2') {
      if (!this.authorize(req, res, undefined, 'pull')) return;
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(p))) return this.manifest(req, res, m[1]!, decodeURIComponent(m[2]!), method);
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(p))) return this.upload(req, res, url, m[1]!, m[2]!, method);
    if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(p))) return this.blob(req, res, m[1]!, decodeURIComponent(m[2]!), method);
    this.error(res, 404, 'NOT_FOUND', `no route for ${method} ${p}`);
  }

  private async manifest(req: IncomingMessage, res: ServerResponse, repo: string, ref: string, method: string): Promise<void> {
    if (method === 'PUT') {
      if (!this.authorize(req, res, repo, 'push')) return;
      const body = await this.body(req);
      const mediaType = req.headers['content-type'] ?? 'application/json';
      let digest: string;
      if (ref.includes(':')) {
        if (sha256(body) !== ref) return this.error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
        digest = this.putManifest(repo, undefined, mediaType, body);
      } else {
        digest = this.putManifest(repo, ref, mediaType, body);
      }
      res.writeHead(201, { 'docker-content-digest': digest, location: `/v2/${repo}/manifests/${digest}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (!this.authorize(req, res, repo, 'pull')) return;
    const m = this.getManifest(repo, ref);
    if (!m) return this.error(res, 404, 'MANIFEST_UNKNOWN', `manifest unknown: ${ref}`);
    const digest = ref.includes(':') ? ref : sha256(m.bytes);
    res.writeHead(200, { 'content-type': m.mediaType, 'content-length': m.bytes.length, 'docker-content-digest': digest });
    res.end(method === 'HEAD' ? undefined : m.bytes);
  }

  private blob(req: IncomingMessage, res: ServerResponse, repo: string, digest: string, method: string): void {
    if (!this.authorize(req, res, repo, 'pull')) return;
    const b = this.hasBlob(repo, digest) ? this.blobs.get(digest) : undefined;
    if (!b) return this.error(res, 404, 'BLOB_UNKNOWN', 'blob unknown to registry');
    if (method === 'GET' && this.opts.redirectBlobs) {
      res.writeHead(307, { location: `http://${this.host}/storage/${encodeURIComponent(digest)}`, 'content-length': 0 });
      res.end();
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.opts.ignoreRange && method === 'GET') {
      const from = Number(range[1]);
      if (from >= b.length) return this.error(res, 416, 'RANGE_INVALID', 'range not satisfiable');
      res.writeHead(206, { 'content-length': b.length - from, 'content-range': `bytes ${from}-${b.length - 1}/${b.length}` });
      res.end(b.subarray(from));
      return;
    }
    res.writeHead(200, { 'content-length': b.length, 'docker-content-digest': digest, 'content-type': 'application/octet-stream' });
    res.end(method === 'HEAD' ? undefined : b);
  }

  private uploadLocation(repo: string, id: string): string {
    const path = `/v2/${repo}/blobs/uploads/${id}?_state=${id.slice(0, 8)}`;
    return this.opts.absoluteLocations ? `http://${this.host}${path}` : path;
  }

  private async upload(req: IncomingMessage, res: ServerResponse, url: URL, repo: string, id: string, method: string): Promise<void> {
    if (!this.authorize(req, res, repo, 'push')) return;
    if (method === 'POST' && id === '') {
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from && this.hasBlob(from, mount)) {
        this.linkBlob(repo, mount);
        res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount, 'content-length': 0 });
        res.end();
        return;
      }
      const uid = randomUUID();
      this.uploads.set(uid, { repo, chunks: [], size: 0 });
      res.writeHead(202, { location: this.uploadLocation(repo, uid), range: '0-0', 'docker-upload-uuid': uid, 'content-length': 0 });
      res.end();
      return;
    }
    const up = this.uploads.get(id);
    if (!up || up.repo !== repo) return this.error(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
    const body = await this.body(req);
    if (method === 'PATCH') {
      const cr = /^(\d+)-(\d+)$/.exec(req.headers['content-range'] ?? '');
      if (cr) {
        const start = Number(cr[1]);
        const end = Number(cr[2]);
        if (start !== up.size || end - start + 1 !== body.length) {
          return this.error(res, 416, 'BLOB_UPLOAD_INVALID', `bad content range ${req.headers['content-range']} at offset ${up.size}`);
        }
      }
      up.chunks.push(body);
      up.size += body.length;
      res.writeHead(202, { location: this.uploadLocation(repo, id), range: `0-${up.size - 1}`, 'content-length': 0 });
      res.end();
      return;
    }
    if (method === 'PUT') {
      up.chunks.push(body);
      const all = Buffer.concat(up.chunks);
      const digest = url.searchParams.get('digest') ?? '';
      if (sha256(all) !== digest) return this.error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
      this.uploads.delete(id);
      this.blobs.set(digest, all);
      this.linkBlob(repo, digest);
      res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': 0 });
      res.end();
      return;
    }
    this.error(res, 405, 'UNSUPPORTED', `${method} not supported on uploads`);
  }
}
