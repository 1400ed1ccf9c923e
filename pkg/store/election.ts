/**
 * Leader election built only on Store primitives (lease + create + list + watch), so the
 * in-memory and the etcd store share it. It follows etcd's concurrency recipe: each
 * candidate creates `<prefix><leaseId>` attached to its own lease; the candidate whose key
 * has the lowest createRevision leads; the others wait for a key ahead of them to go.
 *
 * One `StoreElection` is one term: once `lost` fires (resigned, lease expired or could not
 * be renewed in time), make a new one with `store.election(...)` to campaign again.
 *
 * `campaign` resolves with the term's fence (the candidate key and its createRevision): the
 * key lives exactly as long as the lease, so writes that check it (fence.ts) are what makes a
 * stale leader harmless. `lost` is the leader's own, best-effort view: it fires when a renewal
 * fails, and also when a whole TTL has passed since the last renewal was *sent* (a renewal
 * answered before a freeze proves nothing after it), checked by a timer so a process resumed
 * after SIGSTOP notices on its first turn of timers, before any renewal answers.
 */
import { ShoalError, isShoalError, toShoalError } from '../api/index.js';
import type { Clock } from './clock.js';
import type { Election, Fence, KeyValue, Lease, Store } from './store.js';

export const ELECTION_PREFIX = '/shoal/elections/';

/** Names are URI-encoded, so one election's prefix never contains another's (`a` vs `a/b`). */
export function electionPrefix(name: string): string {
  return `${ELECTION_PREFIX}${encodeURIComponent(name)}/`;
}

export class StoreElection implements Election {
  private readonly lostController = new AbortController();
  private lease: Lease | undefined;
  private key: string | undefined;
  private cancelKeepAlive: (() => void) | undefined;
  private cancelDeadline: (() => void) | undefined;
  /** Clock time until which the lease surely holds: the last renewal's send time + TTL. */
  private validUntil = 0;
  private state: 'idle' | 'campaigning' | 'leader' | 'done' = 'idle';

  constructor(
    private readonly store: Store,
    private readonly name: string,
    private readonly value: string,
    private readonly ttlSeconds: number,
    private readonly clock: Clock,
  ) {}

  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  get isLeader(): boolean {
    return this.state === 'leader';
  }

  async campaign(signal: AbortSignal): Promise<Fence> {
    if (this.state !== 'idle') throw new ShoalError('FailedPrecondition', `election ${this.name}: campaign called twice; create a new election per term`);
    this.state = 'campaigning';
    const prefix = electionPrefix(this.name);
    try {
      throwIfAborted(signal);
      const sentAt = this.clock.now();
      this.lease = await this.store.grantLease(this.ttlSeconds);
      this.renewed(sentAt);
      this.scheduleKeepAlive();
      const mine = await this.store.create(prefix + this.lease.id, this.value, { lease: this.lease });
      this.key = mine.key;
      const fence: Fence = { key: mine.key, createRevision: mine.createRevision };
      for (;;) {
        throwIfAborted(signal);
        if (this.lost.aborted) throw new ShoalError('Unavailable', `election ${this.name}: lease lost while campaigning`);
        const { items, revision } = await this.store.list(prefix);
        const me = items.find((kv) => kv.key === this.key);
        if (me === undefined) throw new ShoalError('Unavailable', `election ${this.name}: candidate key vanished (lease expired)`);
        const ahead = items.filter((kv) => kv.createRevision < me.createRevision);
        if (ahead.length === 0) {
          if (this.lost.aborted) throw new ShoalError('Unavailable', `election ${this.name}: lease lost while campaigning`);
          this.state = 'leader';
          return fence;
        }
        await this.waitForDelete(prefix, revision + 1, signal);
      }
    } catch (err) {
      const e = isShoalError(err) ? err : signal.aborted ? new ShoalError('Canceled', `election ${this.name}: campaign canceled`) : toShoalError(err);
      await this.giveUp(e.code === 'Canceled' ? 'campaign canceled' : e.message);
      throw e.code === 'Canceled' || !signal.aborted ? e : new ShoalError('Canceled', `election ${this.name}: campaign canceled`);
    }
  }

  /** Waits until some key under the prefix is deleted (or our lease is lost / the signal fires). */
  private async waitForDelete(prefix: string, fromRevision: number, signal: AbortSignal): Promise<void> {
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    signal.addEventListener('abort', stop, { once: true });
    this.lost.addEventListener('abort', stop, { once: true });
    try {
      for await (const batch of this.store.watch(prefix, { fromRevision, signal: ac.signal })) {
        if (batch.some((e) => e.type === 'delete')) return;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      this.lost.removeEventListener('abort', stop);
      ac.abort();
    }
  }

  private scheduleKeepAlive(): void {
    const every = Math.max(100, Math.floor((this.ttlSeconds * 1000) / 3));
    this.cancelKeepAlive = this.clock.setTimeout(() => {
      void this.renew();
    }, every);
  }

  private async renew(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || this.state === 'done' || this.lost.aborted) return;
    const sentAt = this.clock.now();
    try {
      await lease.keepAlive();
      this.renewed(sentAt);
    } catch (err) {
      if (isShoalError(err, 'NotFound') || this.clock.now() >= this.validUntil) {
        this.markLost(`lease could not be renewed: ${toShoalError(err).message}`);
        return;
      }
    }
    if (!this.lost.aborted) this.scheduleKeepAlive();
  }

  /**
   * A renewal sent at `sentAt` succeeded: the store restarted the TTL no earlier than that, so
   * the lease holds until `sentAt + TTL` at least; past it, with no newer renewal, the term
   * is taken as lost (the store may already have expired the lease and elected another).
   */
  private renewed(sentAt: number): void {
    this.validUntil = Math.max(this.validUntil, sentAt + this.ttlSeconds * 1000);
    this.armDeadline();
  }

  /** Marks the term lost once the clock passes `validUntil`; re-armed by every renewal. */
  private armDeadline(): void {
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    if (this.state === 'done') return;
    const left = this.validUntil - this.clock.now();
    if (left <= 0) {
      this.markLost(`lease TTL of ${this.ttlSeconds} s passed without a renewal (process paused or store unreachable)`);
      return;
    }
    this.cancelDeadline = this.clock.setTimeout(() => this.armDeadline(), left);
  }

  private markLost(reason: string): void {
    this.cancelKeepAlive?.();
    this.cancelKeepAlive = undefined;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.state = 'done';
    if (!this.lostController.signal.aborted) this.lostController.abort(new ShoalError('Unavailable', `election ${this.name}: ${reason}`));
  }

  private async giveUp(reason: string): Promise<void> {
    this.markLost(reason);
    const lease = this.lease;
    this.lease = undefined;
    if (lease) {
      try {
        await lease.revoke();
      } catch {
        // The lease expires on its own if the store cannot be reached.
      }
    }
  }

  async leader(): Promise<string | undefined> {
    const { items } = await this.store.list(electionPrefix(this.name));
    let first: KeyValue | undefined;
    for (const kv of items) if (first === undefined || kv.createRevision < first.createRevision) first = kv;
    return first?.value;
  }

  async resign(): Promise<void> {
    await this.giveUp('resigned');
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new ShoalError('Canceled', 'campaign canceled');
}
