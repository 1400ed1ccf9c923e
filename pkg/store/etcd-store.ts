/**
 * EtcdStore: the Store contract on etcd v3 through `etcd3` (its raw gRPC clients, so
 * every call maps one-to-one onto an etcd RPC and we see header revisions).
 *
 * - Keys are used as given, values are the JSON text. create/update/delete-with-CAS are
 *   one etcd Txn each (compare create_revision == 0 / mod_revision == expected); on
 *   failure the Txn reads the key so NotFound and Conflict are told apart without a race.
 * - txn() is ONE etcd transaction (etcd must run with --max-txn-ops >= the batch size); a
 *   `check` op is a create_revision compare with no write (a leader's fence).
 * - list() pages through large prefixes with the first page's revision pinned.
 * - watch() opens its own gRPC watch stream, delivers events batched per revision, and
 *   after a disconnect reopens from the last delivered revision + 1 with backoff; a
 *   compacted start revision ends it with Gone.
 * - Leases are plain grant / one keep-alive / revoke calls (no background keep-alive
 *   streams), so nothing but open watches can hold close() up; close() cancels them first.
 * - Quorum: a tracker (etcd-health.ts) asks every member for its leader in the background.
 *   While the cluster has no leader every call fails at once with Unavailable, the calls in
 *   flight are answered Unavailable when that is found, and watches wait for a leader
 *   instead of backing off. Calls skip members that are down (etcd-client.ts).
 * - Reads are linearizable (etcd's default; no `serializable` flag): a read goes through the
 *   leader's read index, so it never returns older data than a write already acknowledged,
 *   through any member, and the registry's read-then-CAS sees the latest revision. The price:
 *   without a quorum reads fail too (fast), where serializable reads could serve old data.
 */
import type { Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import type { IDuplexStream, IKeyValue, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IRequestOp, ICompare, IWatchRequest, IWatchResponse, IResponseOp, ISnapshotResponse } from 'etcd3/lib/rpc.js';
import { ShoalError } from '../api/index.js';
import { AsyncQueue } from './async-queue.js';
import { systemClock } from './clock.js';
import { StoreElection } from './election.js';
import { MemberProber, storeClient, type EtcdTls } from './etcd-client.js';
import { mapEtcdError } from './etcd-errors.js';
import { EtcdHealthTracker, type EtcdHealth } from './etcd-health.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../util/index.js';
import { checkDistinctKeys, compareHolds } from './memory-store.js';
import type { Election, KeyValue, Lease, ListResult, Store, StoreEvent, TxnOp, TxnResult, WatchOptions } from './store.js';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Keys per page when listing (default 1000). */
  pageSize?: number;
  /** Deadline of unary calls in ms (default 10 s). */
  callTimeoutMs?: number;
  /** Delay before watch reconnect number `attempt` (default 100 ms doubling to 5 s). */
  watchBackoff?: (attempt: number) => number;
  /** Health probes of every member: interval (default 500 ms) and timeout (default 1 s). */
  health?: { intervalMs?: number; probeTimeoutMs?: number };
  /** Called when the cluster gains or loses its leader (for logs). */
  onHealthChange?: (health: EtcdHealth) => void;
  /** Client certificates (`https://` endpoints of an etcd that requires them, as the embedded one does). */
  tls?: EtcdTls;
}

/** Watch responses buffered before the stream is paused, and the level at which it resumes. */
const WATCH_HIGH_WATER = 256;
const WATCH_LOW_WATER = 16;

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly pageSize: number;
  private readonly callTimeoutMs: number;
  private readonly watchBackoff: (attempt: number) => number;
  private readonly streams = new Set<IDuplexStream<IWatchRequest, IWatchResponse>>();
  private readonly watchAborts = new Set<AbortController>();
  private closed = false;
  private keepAliveOpening: Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> | undefined;
  private keepAliveStreamOpen: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private readonly keepAlivePending = new Map<string, { resolve: (ttl: string) => void; reject: (err: unknown) => void }[]>();
  /** Cancels the open snapshot streams. */
  private readonly snapshots = new Set<() => void>();
  private readonly tracker: EtcdHealthTracker;
  private readonly prober: MemberProber;

  constructor(opts: EtcdStoreOptions) {
    if (opts.endpoints.length === 0) throw new ShoalError('InvalidArgument', 'EtcdStore needs at least one endpoint');
    const callTimeout = opts.callTimeoutMs ?? 10_000;
    this.prober = new MemberProber(opts.health?.probeTimeoutMs ?? 1000, opts.tls);
    this.tracker = new EtcdHealthTracker({
      endpoints: opts.endpoints,
      probe: (endpoint) => this.prober.status(endpoint),
      ...(opts.health?.intervalMs !== undefined ? { intervalMs: opts.health.intervalMs } : {}),
      onChange: (h) => {
        // Keep-alives waiting on a leaderless cluster are answered now, not at their timeout.
        if (h.state === 'no-leader') this.dropKeepAliveStream(new ShoalError('Unavailable', `lease keep-alive: ${h.reason ?? 'etcd has no leader'}`, { retryAfterSeconds: 1 }));
        opts.onHealthChange?.(h);
      },
    });
    this.client = storeClient(opts.endpoints, callTimeout, this.tracker, opts.tls);
    this.tracker.start();
    this.pageSize = opts.pageSize ?? 1000;
    this.callTimeoutMs = callTimeout;
    this.watchBackoff = opts.watchBackoff ?? ((attempt) => backoffDelay(DEFAULT_BACKOFF, attempt));
  }

  /** What the health probes last found: leader, members, since when. */
  health(): EtcdHealth {
    return this.tracker.current();
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ShoalError('Unavailable', `${what}: store is closed`, { retryAfterSeconds: 1 });
    this.tracker.check(what);
    try {
      return await this.tracker.guard(fn(), what);
    } catch (err) {
      const e = mapEtcdError(err, what);
      if (e.code === 'Unavailable') this.tracker.kick();
      throw e;
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`get ${key}`, () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv ? toKv(kv) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    const rangeEnd = prefixEnd(Buffer.from(prefix));
    const items: KeyValue[] = [];
    let start = Buffer.from(prefix);
    let revision: number | undefined;
    for (;;) {
      const pinned = revision;
      const res = await this.call(`list ${prefix}`, () =>
        this.client.kv.range({ key: start, range_end: rangeEnd, limit: this.pageSize, ...(pinned !== undefined ? { revision: pinned } : {}) }),
      );
      revision ??= Number(res.header.revision);
      for (const kv of res.kvs) items.push(toKv(kv));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { items, revision };
  }

  async create(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue> {
    const res = await this.call(`create ${key}`, () =>
      this.client.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: putReq(key, value, opts?.lease) }],
        failure: [],
      }),
    );
    if (!res.succeeded) throw new ShoalError('AlreadyExists', `key ${key} already exists`);
    const rev = Number(res.header.revision);
    return { key, value, createRevision: rev, modRevision: rev };
  }

  async update(key: string, value: string, expectModRevision: number, opts?: { lease?: Lease }): Promise<KeyValue> {
    const res = await this.call(`update ${key}`, () =>
      this.client.kv.txn({
        compare: [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: expectModRevision }],
        success: [{ request_put: { ...putReq(key, value, opts?.lease), prev_kv: true } }],
        failure: [{ request_range: { key: Buffer.from(key) } }],
      }),
    );
    if (!res.succeeded) throw casFailure(key, res.responses[0], expectModRevision);
    const rev = Number(res.header.revision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    return { key, value, createRevision: prev ? Number(prev.create_revision) : rev, modRevision: rev };
  }

  async put(key: string, value: string, opts?: { lease?: Lease }): Promise<KeyValue> {
    const res = await this.call(`put ${key}`, () => this.client.kv.put({ ...putReq(key, value, opts?.lease), prev_kv: true }));
    const rev = Number(res.header.revision);
    return { key, value, createRevision: res.prev_kv ? Number(res.prev_kv.create_revision) : rev, modRevision: rev };
  }

  async delete(key: string, opts?: { expectModRevision?: number }): Promise<KeyValue> {
    const expect = opts?.expectModRevision;
    const compare: ICompare[] =
      expect === undefined ? [] : [{ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: expect }];
    const res = await this.call(`delete ${key}`, () =>
      this.client.kv.txn({
        compare,
        success: [{ request_delete_range: { key: Buffer.from(key), prev_kv: true } }],
        failure: [{ request_range: { key: Buffer.from(key) } }],
      }),
    );
    if (!res.succeeded) throw casFailure(key, res.responses[0], expect ?? 0);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs?.[0];
    if (!prev) throw new ShoalError('NotFound', `key ${key} not found`);
    return toKv(prev);
  }

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    checkDistinctKeys(ops);
    if (ops.length === 0) return { succeeded: true, revision: await this.revision() };
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const failure: IRequestOp[] = [];
    for (const op of ops) {
      const key = Buffer.from(op.key);
      if (op.op === 'create') {
        compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
        success.push({ request_put: putReq(op.key, op.value, undefined) });
      } else if (op.op === 'update') {
        // mod_revision == 0 never holds for a present key, so a stale update and a missing key both fail.
        compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.expectModRevision });
        success.push({ request_put: putReq(op.key, op.value, undefined) });
      } else if (op.op === 'delete') {
        if (op.expectModRevision !== undefined) compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.expectModRevision });
        success.push({ request_delete_range: { key } });
      } else {
        // A compare only (a leader's fence): create_revision is 0 for a missing key.
        compare.push({ key, target: 'Create', result: 'Equal', create_revision: op.expectCreateRevision });
      }
      failure.push({ request_range: { key, keys_only: true } });
    }
    const res = await this.call(`txn of ${ops.length} ops`, () => this.client.kv.txn({ compare, success, failure }));
    const revision = Number(res.header.revision);
    if (res.succeeded) return { succeeded: true, revision };
    let failedIndex = 0;
    for (let i = 0; i < ops.length; i++) {
      const kv = res.responses[i]?.response_range?.kvs?.[0];
      if (!compareHolds(ops[i] as TxnOp, kv ? { createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision) } : undefined)) {
        failedIndex = i;
        break;
      }
    }
    return { succeeded: false, revision, failedIndex };
  }

  watch(prefix: string, opts: WatchOptions): AsyncIterable<StoreEvent[]> {
    return { [Symbol.asyncIterator]: () => this.watchLoop(prefix, opts) };
  }

  private async *watchLoop(prefix: string, opts: WatchOptions): AsyncGenerator<StoreEvent[], void, undefined> {
    // Our own controller, so close() can end every watch.
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    if (opts.signal.aborted) ac.abort();
    this.watchAborts.add(ac);
    const signal = ac.signal;
    let next = opts.fromRevision;
    let attempt = 0;
    try {
      while (!signal.aborted && !this.closed) {
        let stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
        const q = new AsyncQueue<IWatchResponse>(signal);
        try {
          // "From now" is pinned to a revision up front, so a reconnect before etcd confirmed
          // the watch cannot skip events.
          next ??= (await this.revision()) + 1;
          const s = await this.call(`watch ${prefix}`, () => this.client.watchClient.watch());
          stream = s;
          this.streams.add(s);
          const flow = s as unknown as { pause(): void; resume(): void; isPaused(): boolean };
          // Backpressure: a consumer that falls behind pauses the gRPC stream (etcd then
          // holds the events) instead of growing this buffer without bound.
          s.on('data', (r: IWatchResponse) => {
            q.push(r);
            if (q.size >= WATCH_HIGH_WATER) flow.pause();
          });
          s.on('error', (e: unknown) => q.fail(mapEtcdError(e, `watch ${prefix}`)));
          s.on('end', () => q.fail(new ShoalError('Unavailable', `watch ${prefix}: stream ended`, { retryAfterSeconds: 1 })));
          const create: IWatchRequest = {
            create_request: { key: Buffer.from(prefix), range_end: prefixEnd(Buffer.from(prefix)), prev_kv: true, ...(next !== undefined ? { start_revision: next } : {}) },
          };
          s.write(create);
          for await (const res of q) {
            if (q.size <= WATCH_LOW_WATER && flow.isPaused()) flow.resume();
            if (Number(res.compact_revision) > 0) {
              throw new ShoalError('Gone', `watch ${prefix}: revision ${next ?? '?'} has been compacted (compacted at ${res.compact_revision}); relist`);
            }
            if (res.canceled) throw new ShoalError('Unavailable', `watch ${prefix}: canceled by etcd: ${res.cancel_reason || 'no reason given'}`, { retryAfterSeconds: 1 });
            if (res.created) attempt = 0;
            for (const batch of groupByRevision(res)) {
              const rev = batchRevision(batch);
              if (next !== undefined && rev < next) continue;
              next = rev + 1;
              yield batch;
            }
          }
        } catch (err) {
          const e = mapEtcdError(err, `watch ${prefix}`);
          if (e.code === 'Gone' || e.code === 'InvalidArgument') throw e;
          if (signal.aborted || this.closed) break;
          // Without a leader nothing happens to watch: wait for one, then reopen at once.
          if (this.tracker.current().state === 'no-leader') await this.tracker.untilHealthy(signal);
          else await sleep(this.watchBackoff(attempt++), signal);
        } finally {
          q.end();
          if (stream) {
            this.streams.delete(stream);
            endStream(stream);
          }
        }
      }
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      this.watchAborts.delete(ac);
    }
  }

  async revision(): Promise<number> {
    const res = await this.call('revision', () => this.client.kv.range({ key: Buffer.from([0]), count_only: true }));
    return Number(res.header.revision);
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!(ttlSeconds > 0)) throw new ShoalError('InvalidArgument', `lease TTL must be positive, got ${ttlSeconds}`);
    const res = await this.call('grant lease', () => this.client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlSeconds) }));
    if (res.error) throw new ShoalError('Unavailable', `grant lease: ${res.error}`, { retryAfterSeconds: 1 });
    const id = res.ID;
    return {
      id,
      ttlSeconds,
      keepAlive: () => this.keepAliveOnce(id),
      revoke: () => this.revokeLease(id),
    };
  }

  /**
   * One keep-alive round trip on a stream shared by every lease of this store (thousands of
   * node heartbeats must not open a gRPC stream each). etcd answers a stream's requests in
   * order, so replies are matched per lease ID first-in first-out.
   */
  private async keepAliveOnce(id: string): Promise<void> {
    const what = `keep lease ${id} alive`;
    this.tracker.check(what);
    const stream = await this.keepAliveStream(what);
    const ttl = await new Promise<string>((resolve, reject) => {
      let q = this.keepAlivePending.get(id);
      if (!q) this.keepAlivePending.set(id, (q = []));
      const timer = setTimeout(() => {
        // No answer in time: the stream is suspect; fail everything on it and start afresh.
        if (this.keepAliveStreamOpen === stream) {
          this.dropKeepAliveStream(new ShoalError('Unavailable', `${what}: no answer from etcd in ${this.callTimeoutMs} ms`, { retryAfterSeconds: 1 }));
        }
      }, this.callTimeoutMs);
      q.push({
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      });
      stream.write({ ID: id });
    });
    if (Number(ttl) <= 0) throw new ShoalError('NotFound', `lease ${id} not found (expired or revoked)`);
  }

  private keepAliveStream(what: string): Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> {
    this.keepAliveOpening ??= this.call(what, () => this.client.leaseClient.leaseKeepAlive()).then(
      (stream) => {
        const fail = (err: unknown): void => {
          if (this.keepAliveStreamOpen === stream) this.dropKeepAliveStream(mapEtcdError(err, what));
        };
        stream.on('data', (r: ILeaseKeepAliveResponse) => {
          const q = this.keepAlivePending.get(String(r.ID));
          const p = q?.shift();
          if (q && q.length === 0) this.keepAlivePending.delete(String(r.ID));
          p?.resolve(r.TTL);
        });
        stream.on('error', fail);
        stream.on('end', () => fail(new Error('keep-alive stream ended')));
        this.keepAliveStreamOpen = stream;
        return stream;
      },
      (err: unknown) => {
        this.keepAliveOpening = undefined;
        throw err;
      },
    );
    return this.keepAliveOpening;
  }

  /** Ends the shared keep-alive stream and fails every keep-alive waiting on it; the next one opens a new stream. */
  private dropKeepAliveStream(err: ShoalError): void {
    const stream = this.keepAliveStreamOpen;
    this.keepAliveStreamOpen = undefined;
    this.keepAliveOpening = undefined;
    const pending = [...this.keepAlivePending.values()].flat();
    this.keepAlivePending.clear();
    for (const p of pending) p.reject(err);
    if (stream) endStream(stream);
  }

  private async revokeLease(id: string): Promise<void> {
    try {
      await this.call(`revoke lease ${id}`, () => this.client.leaseClient.leaseRevoke({ ID: id }));
    } catch (err) {
      if (err instanceof ShoalError && err.code === 'NotFound') return;
      throw err;
    }
  }

  election(name: string, candidateValue: string, ttlSeconds: number): Election {
    return new StoreElection(this, name, candidateValue, ttlSeconds, systemClock);
  }

  async compact(revision: number): Promise<void> {
    await this.call(`compact to ${revision}`, () => this.client.kv.compact({ revision, physical: true }));
  }

  /**
   * A snapshot of the whole keyspace (etcd's Maintenance.Snapshot, from one member that has a
   * leader): the bolt database followed by its sha256, as `etcdctl snapshot save` writes it
   * and `etcdctl snapshot restore` checks it. Ends early with an error when the stream breaks;
   * aborting the signal cancels it.
   */
  async *snapshot(signal: AbortSignal): AsyncGenerator<Buffer, void, undefined> {
    // A gRPC ClientReadableStream: a Readable (async iterable) that can be cancelled.
    const stream = (await this.call('snapshot', () => this.client.maintenance.snapshot())) as unknown as Readable & { cancel(): void };
    const cancel = (): void => {
      stream.on('error', () => {});
      stream.cancel();
    };
    this.snapshots.add(cancel);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for await (const res of stream as AsyncIterable<ISnapshotResponse>) {
        if (signal.aborted) throw new ShoalError('Canceled', 'snapshot canceled');
        yield res.blob;
      }
      if (signal.aborted) throw new ShoalError('Canceled', 'snapshot canceled');
    } catch (err) {
      throw signal.aborted ? new ShoalError('Canceled', 'snapshot canceled') : mapEtcdError(err, 'snapshot');
    } finally {
      signal.removeEventListener('abort', cancel);
      this.snapshots.delete(cancel);
      cancel();
    }
  }

  /** Ends every watch, snapshot and the health probes, then the client. Elections must be resigned by their owners first. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ac of this.watchAborts) ac.abort();
    for (const s of this.streams) endStream(s);
    this.streams.clear();
    for (const cancel of this.snapshots) cancel();
    this.snapshots.clear();
    this.dropKeepAliveStream(new ShoalError('Unavailable', 'store is closed', { retryAfterSeconds: 1 }));
    await this.tracker.close();
    this.prober.close();
    this.client.close();
  }
}

function putReq(key: string, value: string, lease: Lease | undefined): { key: Buffer; value: Buffer; lease?: string } {
  return lease === undefined ? { key: Buffer.from(key), value: Buffer.from(value) } : { key: Buffer.from(key), value: Buffer.from(value), lease: lease.id };
}

function casFailure(key: string, res: IResponseOp | undefined, expected: number): ShoalError {
  const cur = res?.response_range?.kvs?.[0];
  if (!cur) return new ShoalError('NotFound', `key ${key} not found`);
  return new ShoalError('Conflict', `key ${key} was modified (revision ${cur.mod_revision}, expected ${expected})`);
}

function toKv(kv: IKeyValue): KeyValue {
  return { key: kv.key.toString('utf8'), value: kv.value.toString('utf8'), createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision) };
}

/** The smallest key greater than every key starting with `prefix` (etcd's range_end). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function groupByRevision(res: IWatchResponse): StoreEvent[][] {
  const out: StoreEvent[][] = [];
  let cur: StoreEvent[] = [];
  let curRev = -1;
  for (const ev of res.events ?? []) {
    const rev = Number(ev.kv.mod_revision);
    if (rev !== curRev && cur.length > 0) {
      out.push(cur);
      cur = [];
    }
    curRev = rev;
    const prev = ev.prev_kv ? toKv(ev.prev_kv) : undefined;
    const isDelete = String(ev.type) === 'Delete' || String(ev.type) === '1';
    if (isDelete) cur.push(prev ? { type: 'delete', key: ev.kv.key.toString('utf8'), modRevision: rev, prev } : { type: 'delete', key: ev.kv.key.toString('utf8'), modRevision: rev });
    else cur.push(prev ? { type: 'put', kv: toKv(ev.kv), prev } : { type: 'put', kv: toKv(ev.kv) });
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function batchRevision(batch: StoreEvent[]): number {
  const e = batch[0] as StoreEvent;
  return e.type === 'put' ? e.kv.modRevision : e.modRevision;
}

function endStream(stream: { end(): void; on(ev: string, fn: (...a: unknown[]) => void): unknown }): void {
  stream.on('error', () => {});
  const s = stream as unknown as { cancel?: () => void };
  try {
    s.cancel?.();
    stream.end();
  } catch {
    // already closed
  }
}
