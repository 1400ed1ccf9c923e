/**
 * A list-watch of one kind across the whole cluster (the agent's cluster view: Nodes and
 * Endpoints), the task informer's loop without its task rules: list, watch from the list's
 * resourceVersion, and on a stream that ends or fails back off and list again; `relist()`
 * cuts whatever it is doing (the session calls it when the controller is reachable again).
 * The cache is keyed `<ns>/<name>` (or `<name>`); `onChange` runs after every list and event.
 */
import { isShoalError, namespacedName, toShoalError, type ApiObject, type ResourcePlural, type WatchEvent } from '../../api/index.js';
import { sleep, type Backoff } from '../../util/index.js';
import type { ControllerApi } from './controller-api.js';
import type { SessionLogger } from './logger.js';

export interface ClusterInformerOptions {
  api: Pick<ControllerApi, 'listAll' | 'watchAll'>;
  plural: ResourcePlural;
  log: SessionLogger;
  backoff(): Backoff;
  onChange(): void;
}

const keyOf = (o: ApiObject): string => (o.metadata.namespace === undefined ? o.metadata.name : namespacedName(o.metadata.namespace, o.metadata.name));
const rvNum = (o: ApiObject): number => Number(o.metadata.resourceVersion ?? '0');

export class ClusterInformer<T extends ApiObject> {
  private readonly cache = new Map<string, T>();
  private listed = false;
  private attempt: AbortController | undefined;
  private relistAsked = false;

  constructor(private readonly opts: ClusterInformerOptions) {}

  synced(): boolean {
    return this.listed;
  }

  values(): IterableIterator<T> {
    return this.cache.values();
  }

  relist(): void {
    this.relistAsked = true;
    this.attempt?.abort();
  }

  async run(signal: AbortSignal): Promise<void> {
    const { api, plural, log } = this.opts;
    const backoff = this.opts.backoff();
    while (!signal.aborted) {
      const attempt = new AbortController();
      const stop = (): void => attempt.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.attempt = attempt;
      try {
        if (this.relistAsked) backoff.reset();
        this.relistAsked = false;
        const list = await api.listAll<T>(plural, { signal: attempt.signal });
        this.cache.clear();
        for (const o of list.items) this.cache.set(keyOf(o), o);
        this.listed = true;
        backoff.reset();
        this.opts.onChange();
        for await (const ev of api.watchAll<T>(plural, list.metadata.resourceVersion, attempt.signal)) {
          if (this.apply(ev)) this.opts.onChange();
        }
      } catch (err) {
        if (signal.aborted) break;
        if (attempt.signal.aborted) continue;
        if (!isShoalError(err, 'Gone') && backoff.failures === 0) log.warn({ err: toShoalError(err).message }, `${plural} watch failed; relisting with backoff`);
        await sleep(backoff.next(), attempt.signal);
      } finally {
        signal.removeEventListener('abort', stop);
        this.attempt = undefined;
      }
    }
  }

  /** One watch event; true when the cache changed. */
  private apply(ev: WatchEvent<T>): boolean {
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED') return false;
    const key = keyOf(ev.object);
    if (ev.type === 'DELETED') return this.cache.delete(key);
    const cur = this.cache.get(key);
    if (cur !== undefined && rvNum(cur) > rvNum(ev.object)) return false;
    this.cache.set(key, ev.object);
    return true;
  }
}
