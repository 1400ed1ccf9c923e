/**
 * The node's identity in its cluster (issue 13): a key and a certificate signed by the
 * cluster CA (CN = node name, O = shoal:node), kept in `<data-dir>/pki/` (the key 0600).
 *
 * Joining (`--join-token SHOAL-1-<CA sha256>-<secret>`): the agent fetches the CA from the
 * controller's public `/cluster/ca` and checks its SHA-256 against the token before it sends
 * anything else; then, trusting only that CA, it sends a CSR with the token and stores the
 * certificate it gets. Renewal: at two thirds of the certificate's life, a new key and CSR
 * go to `POST /nodes/{name}/certificate` over the current certificate; the new pair replaces
 * the old one on disk and in memory (every request asks `current()`).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { errors, isShoalError, toShoalError } from '../api/index.js';
import { ApiClient, type ClientCredentials, type ControllerEndpoints } from '../client/index.js';
import { certFingerprint, certInfo, createCsr, parseJoinToken, ROLE_NODE, verifiedBy } from '../pki/index.js';
import { backoffDelay, readText, sleep, writeFileAtomic } from '../util/index.js';

export interface CredentialLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

interface Files {
  ca: string;
  cert: string;
  key: string;
}

function filesOf(dataDir: string): Files {
  const dir = join(dataDir, 'pki');
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'node.crt'), key: join(dir, 'node.key') };
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The CA a controller says it has, fetched without trusting it yet (it is checked against the token by the caller). */
export async function fetchUnverifiedCa(url: string, signal: AbortSignal): Promise<string> {
  const u = new URL('/apis/shoal/v1/cluster/ca', url);
  if (u.protocol !== 'https:') throw errors.invalidArgument(`controller ${url}: the controller serves HTTPS only`);
  const body = await new Promise<string>((resolve, reject) => {
    const r = httpsRequest(u, { method: 'GET', rejectUnauthorized: false, signal, headers: { accept: 'application/json' } }, (res) => {
      readText(res, 64 * 1024).then((t) => (res.statusCode === 200 ? resolve(t) : reject(errors.upstream(`controller ${url} answered ${res.statusCode} for its CA`))), reject);
    });
    r.on('error', reject);
    r.end();
  });
  let ca: unknown;
  try {
    ca = (JSON.parse(body) as { certificate?: unknown }).certificate;
  } catch {
    ca = undefined;
  }
  if (typeof ca !== 'string') throw errors.upstream(`controller ${url} did not answer with a CA certificate`);
  return ca;
}

export interface NodeCredentialsOptions {
  dataDir: string;
  nodeName: string;
  controllers: ControllerEndpoints;
  joinToken?: string;
  log: CredentialLog;
  signal: AbortSignal;
  now?: () => Date;
}

export class NodeCredentials {
  private creds: Required<Pick<ClientCredentials, 'ca' | 'cert' | 'key'>>;
  private renewing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly opts: NodeCredentialsOptions,
    private readonly files: Files,
    creds: { ca: string; cert: string; key: string },
  ) {
    this.creds = creds;
  }

  /** The credentials of the next request. */
  current(): ClientCredentials {
    return this.creds;
  }

  get notAfter(): Date {
    return certInfo(this.creds.cert).notAfter;
  }

  /**
   * The node's credentials: those on disk when they belong to this node (and, with a token,
   * to the token's cluster), else new ones from joining with the token.
   */
  static async obtain(opts: NodeCredentialsOptions): Promise<NodeCredentials> {
    const files = filesOf(opts.dataDir);
    const [ca, cert, key] = await Promise.all([readOrUndefined(files.ca), readOrUndefined(files.cert), readOrUndefined(files.key)]);
    const token = opts.joinToken !== undefined ? parseJoinToken(opts.joinToken) : undefined;
    const now = opts.now?.() ?? new Date();
    if (ca !== undefined && cert !== undefined && key !== undefined) {
      const info = certInfo(cert);
      const sameCluster = token === undefined || certFingerprint(ca) === token.caFingerprint;
      if (info.subject.cn === opts.nodeName && info.subject.o === ROLE_NODE && sameCluster && verifiedBy(cert, ca, now)) {
        return new NodeCredentials(opts, files, { ca, cert, key });
      }
      if (token === undefined) {
        const why = info.subject.cn !== opts.nodeName ? `it is for node "${info.subject.cn}"` : 'it has expired or does not chain to its CA';
        throw errors.failedPrecondition(`the node certificate in ${files.cert} cannot be used (${why}); join again with --join-token`);
      }
      opts.log.info({ path: files.cert }, 'the stored node certificate is for another node or cluster, or expired: joining again');
    }
    if (token === undefined) {
      throw errors.failedPrecondition(`this node has not joined the cluster: start it once with --join-token (from "shoalctl cluster join-token worker" on the controller)`);
    }
    // Join: the first controller that answers. Nothing but a GET of the CA goes out before the CA checks out.
    let lastErr: unknown;
    for (let attempt = 0; !opts.signal.aborted; attempt++) {
      for (const url of opts.controllers.urls) {
        try {
          const caPem = await fetchUnverifiedCa(url, AbortSignal.any([opts.signal, AbortSignal.timeout(10_000)]));
          if (certFingerprint(caPem) !== token.caFingerprint) {
            throw errors.permissionDenied(`controller ${url} has CA ${certFingerprint(caPem)}, not the ${token.caFingerprint} the join token names: not joining (a wrong token, or someone else's controller)`);
          }
          const csr = await createCsr({ cn: opts.nodeName, o: ROLE_NODE });
          const client = new ApiClient(url, AbortSignal.any([opts.signal, AbortSignal.timeout(15_000)]), undefined, { ca: caPem });
          const r = await client.call<{ certificate: string; ca: string }>('POST', '/apis/shoal/v1/cluster/join', { token: opts.joinToken, csr: csr.csrPem });
          await mkdir(join(opts.dataDir, 'pki'), { recursive: true, mode: 0o700 });
          await writeFileAtomic(files.key, csr.keyPem, 0o600);
          await writeFileAtomic(files.cert, r.certificate, 0o644);
          await writeFileAtomic(files.ca, caPem, 0o644);
          opts.log.info({ controller: url, notAfter: certInfo(r.certificate).notAfter.toISOString() }, 'joined the cluster');
          return new NodeCredentials(opts, files, { ca: caPem, cert: r.certificate, key: csr.keyPem });
        } catch (err) {
          const e = toShoalError(err);
          // A wrong CA, a refused token, a name already taken: retrying will not help.
          if (e.code === 'PermissionDenied' || e.code === 'Unauthorized' || e.code === 'AlreadyExists' || e.code === 'Invalid' || e.code === 'InvalidArgument') throw e;
          lastErr = e;
          opts.log.warn({ controller: url, err: e.message }, 'joining: controller not reachable; trying the next');
        }
      }
      await sleep(backoffDelay({ minMs: 500, maxMs: 10_000 }, attempt), opts.signal).catch(() => undefined);
    }
    throw toShoalError(lastErr ?? errors.unavailable('joining canceled'));
  }

  /** Renews at two thirds of each certificate's life until `signal` fires (retries every minute on failure). */
  startRenewal(): void {
    const schedule = (): void => {
      if (this.opts.signal.aborted) return;
      const info = certInfo(this.creds.cert);
      const life = info.notAfter.getTime() - info.notBefore.getTime();
      const at = info.notBefore.getTime() + (life * 2) / 3;
      const now = (this.opts.now?.() ?? new Date()).getTime();
      // setTimeout takes at most 2^31-1 ms; a later renewal is re-planned when that fires.
      const delay = Math.min(Math.max(0, at - now), 2 ** 31 - 1);
      this.timer = setTimeout(() => {
        if (at > (this.opts.now?.() ?? new Date()).getTime() + 1000) return schedule();
        this.renewing = this.renew().then(
          () => schedule(),
          (err: unknown) => {
            this.opts.log.warn({ err: toShoalError(err).message }, 'renewing the node certificate failed; retrying in a minute');
            this.timer = setTimeout(() => schedule(), 60_000);
            this.timer.unref();
          },
        );
      }, delay);
      this.timer.unref();
    };
    schedule();
    this.opts.signal.addEventListener('abort', () => clearTimeout(this.timer), { once: true });
  }

  /** A new key and certificate now. */
  async renew(): Promise<void> {
    const csr = await createCsr({ cn: this.opts.nodeName, o: ROLE_NODE });
    let lastErr: unknown;
    for (const url of [this.opts.controllers.current, ...this.opts.controllers.urls.filter((u) => u !== this.opts.controllers.current)]) {
      try {
        const client = new ApiClient(url, AbortSignal.any([this.opts.signal, AbortSignal.timeout(15_000)]), undefined, this.creds);
        const r = await client.call<{ certificate: string; ca: string }>('POST', `/apis/shoal/v1/nodes/${encodeURIComponent(this.opts.nodeName)}/certificate`, { csr: csr.csrPem });
        if (!verifiedBy(r.certificate, this.creds.ca)) throw errors.upstream('the renewed certificate does not chain to the cluster CA');
        await writeFileAtomic(this.files.key, csr.keyPem, 0o600);
        await writeFileAtomic(this.files.cert, r.certificate, 0o644);
        this.creds = { ca: this.creds.ca, cert: r.certificate, key: csr.keyPem };
        this.opts.log.info({ notAfter: certInfo(r.certificate).notAfter.toISOString() }, 'renewed the node certificate');
        return;
      } catch (err) {
        lastErr = err;
        if (isShoalError(err, 'Unauthorized') || isShoalError(err, 'PermissionDenied')) throw err;
      }
    }
    throw toShoalError(lastErr);
  }

  async settled(): Promise<void> {
    await this.renewing?.catch(() => undefined);
  }
}
