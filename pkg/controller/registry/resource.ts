/**
 * ResourceRegistry: typed CRUD, status writes, merge patch, list and watch with selectors for
 * one kind, over a Store. Kubernetes semantics:
 *
 * - create sets uid, creationTimestamp, generation 1; `resourceVersion` is the key's
 *   modRevision, never stored, filled in on read.
 * - replace (PUT) is a compare-and-swap when the body carries `metadata.resourceVersion`
 *   (409 Conflict when stale) and an unconditional replace when it does not (Kubernetes'
 *   AllowUnconditionalUpdate). Spec writes keep the stored status; status writes keep
 *   everything but status. `generation` is bumped when the spec changes.
 * - merge patch (RFC 7386) is applied to the current object and retried on conflict unless
 *   the patch itself names a resourceVersion.
 * - delete removes the key at once (no finalizers): the orchestrator sees the service gone
 *   and shuts its tasks down, then removes them.
 */
import { randomUUID } from 'node:crypto';
import type { ShoalError} from '../../api/index.js';
import {
  API_VERSION, errors, invalidError, isShoalError, matchFields, matchLabels, parseFieldSelector, parseLabelSelector,
  type ApiObject, type FieldCause, type FieldSelector, type LabelSelector, type List, type ResourcePlural, type WatchEvent,
} from '../../api/index.js';
import { decodeObject, encodeObject, objectKey, resourcePrefix, type KeyValue, type Store, type StoreEvent } from '../../store/index.js';
import { deepEqual } from './deep-equal.js';
import { applyMergePatch, isJsonObject } from './merge-patch.js';

export interface ResourceStrategy<T extends ApiObject> {
  plural: ResourcePlural;
  kind: T['kind'];
  namespaced: boolean;
  /** Problems of a full object body (create, replace, patched result). */
  validate(obj: unknown): FieldCause[];
  /** Problems of a status (status subresource writes, and create when `statusOnCreate`). */
  validateStatus(status: unknown): FieldCause[];
  /** Keep the body's status on create (tasks, nodes) or start empty (services). */
  statusOnCreate: boolean;
  initialStatus(): T['status'];
  /** Field paths accepted in `fieldSelector` (metadata.name and metadata.namespace always are). */
  fieldSelectors: readonly string[];
  /** Extra rule on a status write, e.g. task states only move forward. Throws ShoalError. */
  checkStatusUpdate?(prev: T, next: T): void;
  /**
   * Rules that need the other objects of the kind (e.g. a published port taken by another
   * service), checked before a create or a spec write is stored. `others` lists the kind in
   * every namespace. Returns the problems as field causes (answered as 422).
   */
  admit?(next: T, others: () => Promise<T[]>): Promise<FieldCause[]>;
  /** Refuses a delete (throws ShoalError), e.g. a network that services still list. */
  checkDelete?(current: T): Promise<void>;
  /** False: clients only read (the controller writes the objects straight to the store). Default true. */
  clientWritable?: boolean;
  /** How objects are stored (default JSON); secrets are sealed with the cluster key. */
  codec?: { encode(obj: T, key: string): string; decode(kv: KeyValue): T };
  /** After a change of what users ask for (spec or data) was stored: secrets and configs roll their services. */
  afterChange?(prev: T, next: T): Promise<void>;
}

/** What a user asks for: the spec, or the data of a Secret or Config. */
function desired(o: ApiObject): unknown {
  return [o.spec, (o as { data?: unknown }).data];
}

/**
 * What a request's authorization still has to check on the objects themselves (issue 13):
 * `onCurrent` sees the stored object before anything is returned or changed (a node reads
 * and writes only its own tasks), `onNext` the object about to be admitted (what only an
 * admin may create). Either throws a ShoalError (PermissionDenied) to refuse.
 */
export interface RequestChecks<T> {
  onCurrent?: (cur: T) => void;
  onNext?: (next: T) => void;
}

export interface ListQuery {
  /** Absent: all namespaces (namespaced kinds) or the whole cluster. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchQuery extends ListQuery {
  /** Events after this version; absent or "0": an initial list as ADDED events, then changes. */
  resourceVersion?: string;
  signal: AbortSignal;
}

export interface RegistryClock {
  now(): Date;
}

export interface ResourceRegistryOptions {
  clock?: RegistryClock;
  uid?: () => string;
  /** CAS retries of unconditional writes (patch, scale, PUT without resourceVersion). Default 5. */
  maxRetries?: number;
}

interface Compiled {
  labels: LabelSelector;
  fields: FieldSelector;
}

/** A client value for an error message, never throwing (bodies may hold anything). */
function show(v: unknown): string {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? typeof v).slice(0, 100);
  } catch {
    return typeof v;
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function parseRv(rv: unknown, what = 'metadata.resourceVersion'): number | undefined {
  if (rv === undefined || rv === null || rv === '') return undefined;
  if (typeof rv !== 'string' || !/^\d{1,15}$/.test(rv)) throw errors.invalidArgument(`${what} must be a decimal string, got ${JSON.stringify(rv)}`);
  return Number(rv);
}

export class ResourceRegistry<T extends ApiObject> {
  private readonly clock: RegistryClock;
  private readonly uid: () => string;
  private readonly maxRetries: number;

  constructor(
    private readonly store: Store,
    readonly strategy: ResourceStrategy<T>,
    opts: ResourceRegistryOptions = {},
  ) {
    this.clock = opts.clock ?? { now: () => new Date() };
    this.uid = opts.uid ?? randomUUID;
    this.maxRetries = opts.maxRetries ?? 5;
  }

  get kind(): string {
    return this.strategy.kind;
  }

  key(namespace: string | undefined, name: string): string {
    return objectKey(this.strategy.plural, this.strategy.namespaced ? (namespace ?? 'default') : undefined, name);
  }

  private notFound(namespace: string | undefined, name: string): ShoalError {
    const where = this.strategy.namespaced ? ` in namespace "${namespace ?? 'default'}"` : '';
    return errors.notFound(`${this.strategy.plural} "${name}" not found${where}`, { kind: this.strategy.plural, name });
  }

  /** Decodes a stored value (through the kind's codec: secrets are sealed at rest). */
  private decode(kv: KeyValue): T {
    return this.strategy.codec ? this.strategy.codec.decode(kv) : decodeObject<T>(kv);
  }

  private encode(obj: T, key: string): string {
    return this.strategy.codec ? this.strategy.codec.encode(obj, key) : encodeObject(obj);
  }

  private checkName(name: string): void {
    if (name === '' || name.length > 253 || /[/\s]/.test(name)) throw errors.invalidArgument(`invalid ${this.kind} name ${JSON.stringify(name)}`);
  }

  async get(namespace: string | undefined, name: string, checks?: RequestChecks<T>): Promise<T> {
    this.checkName(name);
    const kv = await this.store.get(this.key(namespace, name));
    if (!kv) throw this.notFound(namespace, name);
    const obj = this.decode(kv);
    checks?.onCurrent?.(obj);
    return obj;
  }

  compileSelectors(q: ListQuery): Compiled {
    const allowed = ['metadata.name', 'metadata.namespace', ...this.strategy.fieldSelectors];
    return { labels: parseLabelSelector(q.labelSelector ?? ''), fields: parseFieldSelector(q.fieldSelector ?? '', allowed) };
  }

  private matches(sel: Compiled, obj: T): boolean {
    return matchLabels(sel.labels, obj.metadata.labels) && matchFields(sel.fields, obj);
  }

  private prefix(namespace: string | undefined): string {
    return resourcePrefix(this.strategy.plural, this.strategy.namespaced ? namespace : undefined);
  }

  private decodeAll(items: KeyValue[]): T[] {
    const out: T[] = [];
    for (const kv of items) {
      try {
        out.push(this.decode(kv));
      } catch {
        // A corrupt value is skipped rather than failing every list of the kind.
      }
    }
    return out;
  }

  async list(q: ListQuery = {}): Promise<List<T>> {
    const sel = this.compileSelectors(q);
    const res = await this.store.list(this.prefix(q.namespace));
    return {
      apiVersion: API_VERSION,
      kind: `${this.kind}List`,
      metadata: { resourceVersion: String(res.revision) },
      items: this.decodeAll(res.items).filter((o) => this.matches(sel, o)),
    };
  }

  /** Checks body basics shared by create and replace: an object whose namespace and name fit the path. */
  private checkBody(namespace: string | undefined, name: string | undefined, body: unknown): Record<string, unknown> {
    if (!isJsonObject(body)) throw errors.invalidArgument(`the body must be a ${this.kind} object`);
    const meta = body['metadata'];
    if (isJsonObject(meta)) {
      const ns = meta['namespace'];
      if (this.strategy.namespaced && ns !== undefined && ns !== null && ns !== (namespace ?? 'default')) {
        throw errors.invalidArgument(`the namespace of the object (${show(ns)}) does not match the namespace on the URL (${namespace ?? 'default'})`);
      }
      if (name !== undefined && meta['name'] !== undefined && meta['name'] !== name) {
        throw errors.invalidArgument(`the name of the object (${show(meta['name'])}) does not match the name on the URL (${name})`);
      }
    }
    if (body['apiVersion'] === undefined) body['apiVersion'] = API_VERSION;
    if (body['kind'] === undefined) body['kind'] = this.kind;
    return body;
  }

  private async admit(obj: T): Promise<void> {
    if (this.strategy.admit === undefined) return;
    const causes = await this.strategy.admit(obj, async () => (await this.list({})).items);
    if (causes.length > 0) throw invalidError(this.kind, obj.metadata.name, causes);
  }

  private validate(obj: unknown, name: string | undefined): void {
    const causes = this.strategy.validate(obj);
    if (causes.length > 0) throw invalidError(this.kind, name, causes);
  }

  async create(namespace: string | undefined, body: unknown, checks?: RequestChecks<T>): Promise<T> {
    const b = clone(this.checkBody(namespace, undefined, body));
    if (isJsonObject(b['metadata'])) {
      delete b['metadata']['resourceVersion'];
      if (this.strategy.namespaced && b['metadata']['namespace'] === undefined) b['metadata']['namespace'] = namespace ?? 'default';
    }
    const name = isJsonObject(b['metadata']) && typeof b['metadata']['name'] === 'string' ? b['metadata']['name'] : undefined;
    this.validate(b, name);
    const obj = b as unknown as T;
    if (this.strategy.statusOnCreate && obj.status !== undefined) {
      const causes = this.strategy.validateStatus(obj.status);
      if (causes.length > 0) throw invalidError(this.kind, name, causes);
    } else {
      (obj as { status?: unknown }).status = this.strategy.initialStatus();
    }
    const meta = obj.metadata;
    if (this.strategy.namespaced) meta.namespace = namespace ?? 'default';
    else delete meta.namespace;
    checks?.onNext?.(obj);
    await this.admit(obj);
    meta.uid = this.uid();
    meta.creationTimestamp = this.clock.now().toISOString();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    try {
      const key = this.key(namespace, meta.name);
      const kv = await this.store.create(key, this.encode(obj, key));
      meta.resourceVersion = String(kv.modRevision);
      return obj;
    } catch (err) {
      if (isShoalError(err, 'AlreadyExists')) {
        throw errors.alreadyExists(`${this.strategy.plural} "${meta.name}" already exists`, { kind: this.strategy.plural, name: meta.name });
      }
      throw err;
    }
  }

  /**
   * Read-modify-write with CAS. `mutate` gets a copy of the current object and returns the next
   * one (or undefined for "no change"). With `expectRv` a stale object is a Conflict; without,
   * conflicts are retried.
   */
  async update(namespace: string | undefined, name: string, mutate: (cur: T) => T | undefined, expectRv?: number, checks?: RequestChecks<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.get(namespace, name, checks);
      const curRv = Number(cur.metadata.resourceVersion);
      if (expectRv !== undefined && expectRv !== curRv) {
        throw errors.conflict(
          `Operation cannot be fulfilled on ${this.strategy.plural} "${name}": the object has been modified (resourceVersion ${curRv}, yours ${expectRv}); read it again and retry`,
          { kind: this.strategy.plural, name },
        );
      }
      const next = mutate(clone(cur));
      if (next === undefined || deepEqual(next, cur)) return cur;
      if (!deepEqual(desired(next), desired(cur))) {
        checks?.onNext?.(next);
        await this.admit(next);
      }
      next.metadata.resourceVersion = undefined;
      try {
        const key = this.key(namespace, name);
        const kv = await this.store.update(key, this.encode(next, key), curRv);
        next.metadata.resourceVersion = String(kv.modRevision);
        if (this.strategy.afterChange !== undefined && !deepEqual(desired(next), desired(cur))) await this.strategy.afterChange(cur, next);
        return next;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) throw this.notFound(namespace, name);
        if (!isShoalError(err, 'Conflict') || expectRv !== undefined || attempt >= this.maxRetries) {
          if (isShoalError(err, 'Conflict')) {
            throw errors.conflict(`Operation cannot be fulfilled on ${this.strategy.plural} "${name}": the object has been modified; read it again and retry`, {
              kind: this.strategy.plural,
              name,
            });
          }
          throw err;
        }
      }
    }
  }

  /** Spec write: metadata labels/annotations and spec from `body`, status and identity kept. */
  private specWrite(cur: T, body: Record<string, unknown>): T {
    const next = body as unknown as T;
    const meta = next.metadata;
    meta.name = cur.metadata.name;
    if (this.strategy.namespaced) meta.namespace = cur.metadata.namespace ?? 'default';
    else delete meta.namespace;
    if (cur.metadata.uid !== undefined) meta.uid = cur.metadata.uid;
    if (cur.metadata.creationTimestamp !== undefined) meta.creationTimestamp = cur.metadata.creationTimestamp;
    if (cur.metadata.deletionTimestamp !== undefined) meta.deletionTimestamp = cur.metadata.deletionTimestamp;
    else delete meta.deletionTimestamp;
    const gen = cur.metadata.generation ?? 1;
    meta.generation = deepEqual(desired(cur), desired(next)) ? gen : gen + 1;
    (next as { status?: unknown }).status = cur.status;
    return next;
  }

  async replace(namespace: string | undefined, name: string, body: unknown, checks?: RequestChecks<T>): Promise<T> {
    this.checkName(name);
    const b = clone(this.checkBody(namespace, name, body));
    const meta = isJsonObject(b['metadata']) ? b['metadata'] : undefined;
    if (meta && meta['name'] === undefined) meta['name'] = name;
    const rv = parseRv(meta?.['resourceVersion']);
    if (meta) delete meta['resourceVersion'];
    this.validate(b, name);
    return this.update(namespace, name, (cur) => this.specWrite(cur, clone(b)), rv, checks);
  }

  /** Merge patch of the object; status changes in the patch are ignored (use the status subresource). */
  async patch(namespace: string | undefined, name: string, patch: unknown, checks?: RequestChecks<T>): Promise<T> {
    this.checkName(name);
    if (!isJsonObject(patch)) throw errors.invalidArgument('a merge patch must be a JSON object');
    const pmeta = isJsonObject(patch['metadata']) ? patch['metadata'] : undefined;
    const rv = parseRv(pmeta?.['resourceVersion']);
    if (pmeta && pmeta['name'] !== undefined && pmeta['name'] !== name) throw errors.invalidArgument(`a patch cannot rename ${this.strategy.plural} "${name}"`);
    return this.update(
      namespace,
      name,
      (cur) => {
        const merged = applyMergePatch(cur, patch) as Record<string, unknown>;
        if (isJsonObject(merged['metadata'])) delete merged['metadata']['resourceVersion'];
        this.validate({ ...merged, status: undefined }, name);
        return this.specWrite(cur, merged);
      },
      rv,
      checks,
    );
  }

  private statusWrite(cur: T, status: unknown): T {
    const causes = this.strategy.validateStatus(status);
    if (causes.length > 0) throw invalidError(this.kind, cur.metadata.name, causes);
    const next = clone(cur);
    (next as { status?: unknown }).status = status;
    this.strategy.checkStatusUpdate?.(cur, next);
    return next;
  }

  /** PUT of the status subresource: body is the object (only its status is used) or `{status}`. */
  async replaceStatus(namespace: string | undefined, name: string, body: unknown, checks?: RequestChecks<T>): Promise<T> {
    this.checkName(name);
    if (!isJsonObject(body)) throw errors.invalidArgument(`the body must be a ${this.kind} object with a status`);
    if (body['status'] === undefined) throw errors.invalid(`${this.kind} "${name}" is invalid: status is required`, [{ field: 'status', reason: 'FieldValueRequired', message: 'status is required' }]);
    const meta = isJsonObject(body['metadata']) ? body['metadata'] : undefined;
    if (meta && meta['name'] !== undefined && meta['name'] !== name) {
      throw errors.invalidArgument(`the name of the object (${show(meta['name'])}) does not match the name on the URL (${name})`);
    }
    const rv = parseRv(meta?.['resourceVersion']);
    const status = clone(body['status']);
    return this.update(namespace, name, (cur) => this.statusWrite(cur, status), rv, checks);
  }

  /** Merge patch of the status subresource (only `status` of the patch is applied). */
  async patchStatus(namespace: string | undefined, name: string, patch: unknown, checks?: RequestChecks<T>): Promise<T> {
    this.checkName(name);
    if (!isJsonObject(patch)) throw errors.invalidArgument('a merge patch must be a JSON object');
    const rv = parseRv(isJsonObject(patch['metadata']) ? patch['metadata']['resourceVersion'] : undefined);
    return this.update(namespace, name, (cur) => this.statusWrite(cur, applyMergePatch(cur.status, patch['status'] ?? {})), rv, checks);
  }

  /**
   * Deletes the object; `alsoDelete` keys go in the same transaction (a Node's certificate
   * record: a removed node's certificate stops working in the same commit).
   */
  async delete(namespace: string | undefined, name: string, opts: { resourceVersion?: string; alsoDelete?: string[] } = {}): Promise<T> {
    this.checkName(name);
    let rv = parseRv(opts.resourceVersion, 'preconditions.resourceVersion');
    if (opts.alsoDelete !== undefined && opts.alsoDelete.length > 0) {
      const cur = await this.get(namespace, name);
      if (this.strategy.checkDelete !== undefined) await this.strategy.checkDelete(cur);
      const curRv = Number(cur.metadata.resourceVersion);
      if (rv !== undefined && rv !== curRv) throw errors.conflict(`Operation cannot be fulfilled on ${this.strategy.plural} "${name}": the object has been modified; read it again and retry`, { kind: this.strategy.plural, name });
      const r = await this.store.txn([{ op: 'delete', key: this.key(namespace, name), expectModRevision: curRv }, ...opts.alsoDelete.map((key) => ({ op: 'delete' as const, key }))]);
      if (!r.succeeded) throw errors.conflict(`Operation cannot be fulfilled on ${this.strategy.plural} "${name}": the object has been modified; read it again and retry`, { kind: this.strategy.plural, name });
      return cur;
    }
    if (this.strategy.checkDelete !== undefined) {
      const cur = await this.get(namespace, name);
      await this.strategy.checkDelete(cur);
      // What was checked is what goes: a change in between is a 409 the client retries.
      rv ??= Number(cur.metadata.resourceVersion);
    }
    try {
      const kv = await this.store.delete(this.key(namespace, name), rv === undefined ? {} : { expectModRevision: rv });
      return this.decode(kv);
    } catch (err) {
      if (isShoalError(err, 'NotFound')) throw this.notFound(namespace, name);
      throw err;
    }
  }

  /**
   * Watch events for objects that match the selectors. An object that stops matching is sent
   * as DELETED, one that starts matching as ADDED (Kubernetes semantics). Throws Gone when
   * `resourceVersion` has been compacted.
   */
  async *watch(q: WatchQuery): AsyncGenerator<WatchEvent<T>> {
    const sel = this.compileSelectors(q);
    let from: number;
    const rv = parseRv(q.resourceVersion, 'resourceVersion');
    if (rv === undefined || rv === 0) {
      const res = await this.store.list(this.prefix(q.namespace));
      for (const o of this.decodeAll(res.items)) if (this.matches(sel, o)) yield { type: 'ADDED', object: o };
      from = res.revision + 1;
    } else from = rv + 1;
    for await (const batch of this.store.watch(this.prefix(q.namespace), { fromRevision: from, signal: q.signal })) {
      for (const ev of batch) {
        const out = this.translate(sel, ev);
        if (out) yield out;
      }
    }
  }

  private tryDecode(kv: KeyValue | undefined): T | undefined {
    if (!kv) return undefined;
    try {
      return this.decode(kv);
    } catch {
      return undefined;
    }
  }

  private translate(sel: Compiled, ev: StoreEvent): WatchEvent<T> | undefined {
    const prev = this.tryDecode(ev.prev);
    const prevMatch = prev !== undefined && this.matches(sel, prev);
    if (ev.type === 'delete') {
      if (!prev && sel.labels.length === 0 && sel.fields.length === 0) {
        // No previous value (etcd without prev_kv): a stub with the identity from the key.
        const parts = ev.key.split('/');
        const name = parts[parts.length - 1] ?? '';
        const metadata: ApiObject['metadata'] = { name, resourceVersion: String(ev.modRevision) };
        if (this.strategy.namespaced) metadata.namespace = parts[parts.length - 2] ?? 'default';
        return { type: 'DELETED', object: { apiVersion: API_VERSION, kind: this.kind, metadata } as unknown as T };
      }
      if (!prev || !prevMatch) return undefined;
      prev.metadata.resourceVersion = String(ev.modRevision);
      return { type: 'DELETED', object: prev };
    }
    const cur = this.tryDecode(ev.kv);
    if (!cur) return undefined;
    const curMatch = this.matches(sel, cur);
    const isNew = ev.kv.createRevision === ev.kv.modRevision;
    if (curMatch) return { type: isNew || (prev !== undefined && !prevMatch) ? 'ADDED' : 'MODIFIED', object: cur };
    if (prevMatch) return { type: 'DELETED', object: cur };
    return undefined;
  }
}
