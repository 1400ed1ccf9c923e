/**
 * The controller's side of the cluster's security (issue 13): the PKI kept in etcd, join and
 * bearer tokens, node certificates, and authentication of a request from what its TLS
 * connection and its Authorization header carry. Every controller of an HA cluster loads the
 * same CA (sealed with the shared cluster key) and watches the same token and node-certificate
 * records, so a revocation or a rotation holds on all of them within a watch event.
 */
import { errors, isShoalError } from '../../api/index.js';
import {
  certFingerprint, createCA, formatJoinToken, hashSecret, issueCertificate, issueKeyPair, keyId, newBearerToken, newJoinSecret, newKey, normalizeSerial, open, parseBearerToken,
  parseCsr, parseJoinToken, ROLE_ADMIN, ROLE_NODE, seal, secretMatches, type KeyPairPem,
} from '../../pki/index.js';
import { Informer, resourcePrefix, type KeyValue, type Store } from '../../store/index.js';
import type { Identity, Role } from './authz.js';
import { ROLES } from './authz.js';
import {
  JOIN_TOKENS_KEY, NODECERTS_PREFIX, nodeCertsKey, parseRecord, PKI_KEY, tokenKey, TOKENS_PREFIX,
  type JoinTokensRecord, type NodeCertsRecord, type PkiRecord, type TokenRecord,
} from './records.js';

export const DEFAULT_CERT_TTL_MS = 90 * 86_400_000;
/** Node names are DNS labels or subdomains, as Node objects' names are. */
const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** What the TLS layer saw of the client: its certificate when it presented one the CA signed. */
export interface PeerCertificate {
  cn: string;
  o: string;
  serial: string;
}

export interface ClusterSecurityOptions {
  store: Store;
  /** The key that seals the CA key and the encryption keys (`<data-dir>/cluster.key` or --cluster-key-file). */
  clusterKey: Buffer;
  /** Node certificates' lifetime (--cert-expiry); default 90 days. */
  certTtlMs?: number;
  now?: () => Date;
  onError?: (err: Error) => void;
}

export class ClusterSecurity {
  readonly caFingerprint: string;
  private readonly tokens: Informer<TokenRecord>;
  private readonly nodeCerts: Informer<NodeCertsRecord>;
  private readonly joinTokens: Informer<JoinTokensRecord>;
  private readonly pki: Informer<PkiRecord>;
  private readonly now: () => Date;
  readonly certTtlMs: number;

  private constructor(
    private readonly opts: ClusterSecurityOptions,
    readonly ca: KeyPairPem,
    /** Encryption keys for values at rest, newest first (a rotation on any controller replaces them here too). */
    public encKeys: Buffer[],
  ) {
    this.caFingerprint = certFingerprint(ca.certPem);
    this.now = opts.now ?? (() => new Date());
    this.certTtlMs = opts.certTtlMs ?? DEFAULT_CERT_TTL_MS;
    const decode = <T>(what: string) => (kv: KeyValue): T => parseRecord<T>(kv.value, what);
    const onError = opts.onError;
    this.tokens = new Informer<TokenRecord>({ store: opts.store, prefix: TOKENS_PREFIX, decode: decode('token'), ...(onError ? { onError } : {}) });
    this.nodeCerts = new Informer<NodeCertsRecord>({ store: opts.store, prefix: NODECERTS_PREFIX, decode: decode('node certificate record'), ...(onError ? { onError } : {}) });
    this.joinTokens = new Informer<JoinTokensRecord>({ store: opts.store, prefix: JOIN_TOKENS_KEY, decode: decode('join tokens'), ...(onError ? { onError } : {}) });
    // The PKI record: a key rotation made by another controller reaches this one through it.
    this.pki = new Informer<PkiRecord>({ store: opts.store, prefix: PKI_KEY, decode: decode('cluster PKI'), ...(onError ? { onError } : {}) });
    this.pki.addHandlers({ onAdd: (c) => this.loadKeys(c.object), onUpdate: (_p, c) => this.loadKeys(c.object) });
  }

  /**
   * Loads the cluster's PKI from the store, or creates it on the cluster's first start (a
   * race between controllers is settled by the store's create: the loser reads the winner's).
   */
  static async bootstrap(opts: ClusterSecurityOptions): Promise<ClusterSecurity> {
    const { store, clusterKey } = opts;
    for (let attempt = 0; attempt < 3; attempt++) {
      const kv = await store.get(PKI_KEY);
      if (kv !== undefined) {
        const rec = parseRecord<PkiRecord>(kv.value, 'cluster PKI');
        let caKeyPem: string;
        let encKeys: Buffer[];
        try {
          caKeyPem = open([clusterKey], rec.caKeySealed, `${PKI_KEY}#ca`).toString();
          encKeys = rec.encKeysSealed.map((s, i) => open([clusterKey], s, `${PKI_KEY}#enc${i}`));
        } catch (err) {
          if (isShoalError(err, 'PermissionDenied')) {
            throw errors.permissionDenied(
              `this controller's cluster key does not open the cluster's CA (${err.message}): every controller of a cluster needs the same key; give the first controller's <data-dir>/cluster.key with --cluster-key-file`,
            );
          }
          throw err;
        }
        return new ClusterSecurity(opts, { certPem: rec.caCertPem, keyPem: caKeyPem }, encKeys);
      }
      const ca = await createCA(opts.now?.() ?? new Date());
      const enc = newKey();
      const rec: PkiRecord = {
        caCertPem: ca.certPem,
        caKeySealed: seal(clusterKey, ca.keyPem, `${PKI_KEY}#ca`),
        encKeysSealed: [seal(clusterKey, enc, `${PKI_KEY}#enc0`)],
        createdAt: new Date().toISOString(),
      };
      const joinKey = JOIN_TOKENS_KEY;
      const join: JoinTokensRecord = { worker: { secretSealed: seal(enc, newJoinSecret(), `${joinKey}#worker`), rotatedAt: rec.createdAt } };
      const r = await store.txn([
        { op: 'create', key: PKI_KEY, value: JSON.stringify(rec) },
        { op: 'create', key: joinKey, value: JSON.stringify(join) },
      ]);
      if (r.succeeded) return new ClusterSecurity(opts, ca, [enc]);
    }
    throw errors.unavailable('could not load or create the cluster PKI (the store kept changing)');
  }

  /** Keeps the token, join-token and node-certificate caches current until `signal` fires. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.tokens.run(signal), this.nodeCerts.run(signal), this.joinTokens.run(signal), this.pki.run(signal)]);
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([this.tokens.waitForSync(signal), this.nodeCerts.waitForSync(signal), this.joinTokens.waitForSync(signal), this.pki.waitForSync(signal)]);
  }

  private synced(): void {
    if (!this.tokens.hasSynced() || !this.nodeCerts.hasSynced() || !this.joinTokens.hasSynced()) {
      throw errors.unavailable('the controller is still loading its credentials from the store', { retryAfterSeconds: 1 });
    }
  }

  /**
   * The identity of a request: its client certificate (already verified against the CA by
   * TLS) or its bearer token. Undefined when it carries neither; Unauthorized when what it
   * carries is not (or no longer) valid.
   */
  authenticate(peer: PeerCertificate | undefined, authorization: string | undefined): Identity | undefined {
    if (peer !== undefined) {
      this.synced();
      if (peer.o === ROLE_NODE) {
        const rec = this.nodeCerts.get(nodeCertsKey(peer.cn))?.object;
        if (rec === undefined || !rec.serials.includes(normalizeSerial(peer.serial))) {
          throw errors.unauthorized(`the certificate of node "${peer.cn}" is no longer valid (the node was removed or its certificate replaced); join the node again`);
        }
        return { kind: 'node', name: peer.cn };
      }
      const role = peer.o.startsWith('shoal:') ? (peer.o.slice(6) as Role) : undefined;
      if (role === undefined || !ROLES.includes(role)) throw errors.unauthorized(`the client certificate's organization "${peer.o}" is not a Shoal role`);
      return { kind: 'user', name: peer.cn, role, via: 'certificate' };
    }
    if (authorization === undefined || authorization === '') return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw errors.unauthorized('the Authorization header must be "Bearer <token>"');
    const t = parseBearerToken(m[1] ?? '');
    if (t === undefined) throw errors.unauthorized('the bearer token is not a Shoal token (shoal-<id>.<secret>)');
    this.synced();
    const rec = this.tokens.get(tokenKey(t.id))?.object;
    if (rec === undefined || !secretMatches(t.secret, rec.secretHash)) throw errors.unauthorized('the bearer token is not valid (unknown, revoked, or mistyped)');
    if (rec.expiresAt !== undefined && Date.parse(rec.expiresAt) <= this.now().getTime()) throw errors.unauthorized(`the bearer token ${rec.id} expired at ${rec.expiresAt}`);
    return { kind: 'user', name: `token:${rec.id}`, role: rec.role, via: 'token', ...(rec.namespace !== undefined ? { namespace: rec.namespace } : {}) };
  }

  // --- join tokens ---------------------------------------------------------------------

  private async joinRecord(): Promise<{ rec: JoinTokensRecord; modRevision: number }> {
    const kv = await this.opts.store.get(JOIN_TOKENS_KEY);
    if (kv === undefined) throw errors.failedPrecondition('the cluster has no join token record');
    return { rec: parseRecord<JoinTokensRecord>(kv.value, 'join tokens'), modRevision: kv.modRevision };
  }

  /** The worker join token (`--rotate`: a new secret first; the old one stops working). */
  async workerJoinToken(rotate = false): Promise<string> {
    const cur = await this.joinRecord();
    let rec = cur.rec;
    const modRevision = cur.modRevision;
    if (rotate) {
      rec = { worker: { secretSealed: seal(this.encKey(), newJoinSecret(), `${JOIN_TOKENS_KEY}#worker`), rotatedAt: this.now().toISOString() } };
      await this.opts.store.update(JOIN_TOKENS_KEY, JSON.stringify(rec), modRevision);
    }
    const secret = open(this.encKeys, rec.worker.secretSealed, `${JOIN_TOKENS_KEY}#worker`).toString();
    return formatJoinToken({ caFingerprint: this.caFingerprint, secret });
  }

  private encKey(): Buffer {
    const k = this.encKeys[0];
    if (k === undefined) throw errors.internal('no encryption key');
    return k;
  }

  /**
   * A new node joins: the token must be the current worker token of this cluster, the CSR's
   * CN a node name not held by a live member. Returns the node's certificate.
   */
  async join(tokenText: unknown, csrPem: unknown, nodeExists: (name: string) => Promise<boolean>): Promise<{ certificate: string; ca: string }> {
    if (typeof tokenText !== 'string') throw errors.invalid('join: token is required', [{ field: 'token', reason: 'FieldValueRequired', message: 'the join token' }]);
    if (typeof csrPem !== 'string') throw errors.invalid('join: csr is required', [{ field: 'csr', reason: 'FieldValueRequired', message: 'a PEM certificate request' }]);
    let token;
    try {
      token = parseJoinToken(tokenText);
    } catch {
      throw errors.unauthorized('the join token is not valid');
    }
    this.synced();
    const rec = this.joinTokens.get(JOIN_TOKENS_KEY)?.object;
    const current = rec ? open(this.encKeys, rec.worker.secretSealed, `${JOIN_TOKENS_KEY}#worker`).toString() : undefined;
    if (token.caFingerprint !== this.caFingerprint || current === undefined || !secretMatches(token.secret, hashSecret(current))) {
      throw errors.unauthorized('the join token is not valid for this cluster (wrong cluster, or rotated)');
    }
    const csr = await parseCsr(csrPem);
    const name = csr.subject.cn;
    if (!NODE_NAME_RE.test(name)) throw errors.invalid(`join: the CSR's common name "${name}" is not a valid node name`, [{ field: 'csr', reason: 'FieldValueInvalid', message: 'CN must be a DNS subdomain (the node name)' }]);
    const key = nodeCertsKey(name);
    const held = await this.opts.store.get(key);
    if (held !== undefined && (await nodeExists(name))) {
      throw errors.alreadyExists(`node "${name}" is already a member of the cluster; remove it first ("shoalctl delete node ${name}") or join under another name`);
    }
    const issued = await issueCertificate({ ca: this.ca, subject: { cn: name, o: ROLE_NODE }, publicKey: csr.publicKey, ttlMs: this.certTtlMs, now: this.now() });
    const value: NodeCertsRecord = { serials: [normalizeSerial(issued.serial)], updatedAt: this.now().toISOString() };
    if (held === undefined) await this.opts.store.create(key, JSON.stringify(value));
    else await this.opts.store.update(key, JSON.stringify(value), held.modRevision);
    return { certificate: issued.certPem, ca: this.ca.certPem };
  }

  /** A node renews its certificate (the caller is authenticated as that node). */
  async renew(node: string, csrPem: unknown, presentedSerial: string): Promise<{ certificate: string; ca: string }> {
    if (typeof csrPem !== 'string') throw errors.invalid('renew: csr is required', [{ field: 'csr', reason: 'FieldValueRequired', message: 'a PEM certificate request' }]);
    const csr = await parseCsr(csrPem);
    if (csr.subject.cn !== node) throw errors.permissionDenied(`node "${node}" may not request a certificate for "${csr.subject.cn}"`);
    const key = nodeCertsKey(node);
    for (let attempt = 0; attempt < 5; attempt++) {
      const kv = await this.opts.store.get(key);
      if (kv === undefined) throw errors.unauthorized(`node "${node}" is not a member of the cluster any more`);
      const issued = await issueCertificate({ ca: this.ca, subject: { cn: node, o: ROLE_NODE }, publicKey: csr.publicKey, ttlMs: this.certTtlMs, now: this.now() });
      // The new one, and the one in use until the node has switched; older ones end here.
      const next: NodeCertsRecord = { serials: [normalizeSerial(issued.serial), normalizeSerial(presentedSerial)], updatedAt: this.now().toISOString() };
      try {
        await this.opts.store.update(key, JSON.stringify(next), kv.modRevision);
        return { certificate: issued.certPem, ca: this.ca.certPem };
      } catch (err) {
        if (!isShoalError(err, 'Conflict')) throw err;
      }
    }
    throw errors.conflict(`renewing node "${node}"'s certificate: the record kept changing`);
  }

  // --- bearer tokens -------------------------------------------------------------------

  async createToken(o: { role: Role; namespace?: string; ttlMs?: number; createdBy: string; description?: string }): Promise<{ token: string; record: TokenRecord }> {
    const t = newBearerToken();
    const now = this.now();
    const record: TokenRecord = {
      id: t.id,
      role: o.role,
      ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
      secretHash: hashSecret(t.secret),
      createdAt: now.toISOString(),
      ...(o.ttlMs !== undefined ? { expiresAt: new Date(now.getTime() + o.ttlMs).toISOString() } : {}),
      createdBy: o.createdBy,
      ...(o.description !== undefined ? { description: o.description } : {}),
    };
    await this.opts.store.create(tokenKey(t.id), JSON.stringify(record));
    return { token: t.text, record };
  }

  async listTokens(): Promise<TokenRecord[]> {
    const r = await this.opts.store.list(TOKENS_PREFIX);
    return r.items.map((kv) => parseRecord<TokenRecord>(kv.value, 'token'));
  }

  async deleteToken(id: string): Promise<void> {
    try {
      await this.opts.store.delete(tokenKey(id));
    } catch (err) {
      if (isShoalError(err, 'NotFound')) throw errors.notFound(`token "${id}" not found`);
      throw err;
    }
  }

  /** Sealing of values at rest (secrets) with the newest encryption key; opening with any. */
  atRest(): { seal(plain: Buffer, aad: string): string; open(sealed: string, aad: string): Buffer } {
    return {
      seal: (plain, aad) => seal(this.encKey(), plain, aad),
      open: (sealed, aad) => open(this.encKeys, sealed, aad),
    };
  }

  private loadKeys(rec: PkiRecord): void {
    try {
      this.encKeys = rec.encKeysSealed.map((sealed, i) => open([this.opts.clusterKey], sealed, `${PKI_KEY}#enc${i}`));
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /**
   * `shoalctl cluster rotate-key`: a new encryption key becomes the newest; every secret and
   * the join secret are sealed again with it; then only it and the one before stay (a
   * controller that has not seen the new key yet may still seal with the previous one).
   * Returns the new key's id and how many values were sealed again.
   */
  async rotateKey(): Promise<{ keyId: string; resealed: number }> {
    const { store, clusterKey } = this.opts;
    const fresh = newKey();
    const setKeys = async (keys: Buffer[]): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        const kv = await store.get(PKI_KEY);
        if (kv === undefined) throw errors.failedPrecondition('the cluster has no PKI record');
        const rec = parseRecord<PkiRecord>(kv.value, 'cluster PKI');
        const next: PkiRecord = { ...rec, encKeysSealed: keys.map((k, i) => seal(clusterKey, k, `${PKI_KEY}#enc${i}`)) };
        try {
          await store.update(PKI_KEY, JSON.stringify(next), kv.modRevision);
          this.encKeys = keys;
          return;
        } catch (err) {
          if (!isShoalError(err, 'Conflict') || attempt >= 5) throw err;
        }
      }
    };
    const old = this.encKeys;
    await setKeys([fresh, ...old]);
    let resealed = 0;
    const reseal = async (key: string, edit: (value: string) => string | undefined): Promise<void> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const kv = await store.get(key);
        if (kv === undefined) return;
        const next = edit(kv.value);
        if (next === undefined) return;
        try {
          await store.update(key, next, kv.modRevision);
          resealed++;
          return;
        } catch (err) {
          if (!isShoalError(err, 'Conflict')) throw err;
        }
      }
      throw errors.conflict(`re-encrypting ${key}: it kept changing; run the rotation again`);
    };
    const again = (sealed: string, aad: string): string => seal(fresh, open(this.encKeys, sealed, aad), aad);
    for (const kv of (await store.list(resourcePrefix('secrets'))).items) {
      await reseal(kv.key, (value) => {
        const o = JSON.parse(value) as { sealedData?: string };
        return o.sealedData === undefined ? undefined : JSON.stringify({ ...o, sealedData: again(o.sealedData, kv.key) });
      });
    }
    await reseal(JOIN_TOKENS_KEY, (value) => {
      const o = JSON.parse(value) as JoinTokensRecord;
      return JSON.stringify({ worker: { ...o.worker, secretSealed: again(o.worker.secretSealed, `${JOIN_TOKENS_KEY}#worker`) } });
    });
    await setKeys([fresh, ...(old[0] ? [old[0]] : [])]);
    return { keyId: keyId(fresh), resealed };
  }

  // --- certificates the controller makes for itself ------------------------------------

  /** A serving certificate for the controller's names and addresses (and a client use, for tests' own calls). */
  serverCertificate(hosts: string[]): Promise<KeyPairPem> {
    return issueKeyPair({ ca: this.ca, subject: { cn: 'shoal-controller', o: 'shoal' }, ttlMs: 365 * 86_400_000, usage: 'server', hosts, now: this.now() });
  }

  /** An admin client certificate (admin.config). */
  adminCertificate(name = 'admin'): Promise<KeyPairPem> {
    return issueKeyPair({ ca: this.ca, subject: { cn: name, o: ROLE_ADMIN }, ttlMs: 365 * 86_400_000, usage: 'client', now: this.now() });
  }
}
