/**
 * Leader election loop: campaign with the store's election; while leader, run
 * `lead(signal, fence)`; when leadership is lost (lease expired, store gone) abort it, wait
 * for it to finish, and campaign again. `lead` ending on its own (a write found the fence
 * gone) ends the term the same way. On shutdown (signal) it resigns so another controller
 * takes over at once. `lead` must act only on the store's state (informers list, then watch):
 * a takeover resyncs and never restarts tasks.
 *
 * The fence is the term's proof of leadership (the election key and its createRevision):
 * `lead` writes only through a `FencedStore` built on it, so a leader that missed its own
 * loss (frozen, partitioned) cannot land a write once another controller may lead.
 */
import { toShoalError } from '../api/index.js';
import { KEY_ROOT, type Fence, type Store } from '../store/index.js';
import { sleep } from '../util/index.js';

export const LEADER_ELECTION = `${KEY_ROOT}leader`;

export interface LeaderElectorOptions {
  store: Store;
  id: string;
  ttlSeconds: number;
  /** One term: runs until `signal` fires (or returns early to end the term); writes fenced by `fence`. */
  lead: (signal: AbortSignal, fence: Fence) => Promise<void>;
  /** Pause between failed campaigns. Default 1000 ms. */
  retryMs?: number;
  onEvent?: (e: { type: 'leading' | 'lost' | 'error'; message?: string }) => void;
}

export class LeaderElector {
  private leading = false;
  private current: ReturnType<Store['election']> | undefined;

  constructor(private readonly opts: LeaderElectorOptions) {}

  isLeader(): boolean {
    return this.leading;
  }

  /** The current leader's id (any controller), if one is elected. */
  async leaderId(): Promise<string | undefined> {
    const e = this.current ?? this.opts.store.election(LEADER_ELECTION, this.opts.id, this.opts.ttlSeconds);
    return e.leader();
  }

  async run(signal: AbortSignal): Promise<void> {
    // A campaign that keeps failing the same way (etcd without a leader) is told once, not every retry.
    let lastCampaignError: string | undefined;
    while (!signal.aborted) {
      const election = this.opts.store.election(LEADER_ELECTION, this.opts.id, this.opts.ttlSeconds);
      this.current = election;
      let fence: Fence;
      try {
        fence = await election.campaign(signal);
      } catch (err) {
        if (signal.aborted) break;
        const message = toShoalError(err).message;
        if (message !== lastCampaignError) this.opts.onEvent?.({ type: 'error', message });
        lastCampaignError = message;
        await sleep(this.opts.retryMs ?? 1000, signal);
        continue;
      }
      lastCampaignError = undefined;
      const term = new AbortController();
      const stop = (): void => term.abort();
      signal.addEventListener('abort', stop, { once: true });
      election.lost.addEventListener('abort', stop, { once: true });
      if (election.lost.aborted) term.abort();
      this.leading = true;
      this.opts.onEvent?.({ type: 'leading' });
      try {
        await this.opts.lead(term.signal, fence);
      } catch (err) {
        this.opts.onEvent?.({ type: 'error', message: toShoalError(err).message });
      } finally {
        this.leading = false;
        signal.removeEventListener('abort', stop);
        election.lost.removeEventListener('abort', stop);
        term.abort();
      }
      const why = election.lost.aborted ? toShoalError(election.lost.reason).message : signal.aborted ? 'shutting down' : 'the term ended';
      if (!election.lost.aborted) await election.resign().catch(() => undefined);
      this.opts.onEvent?.({ type: 'lost', message: why });
    }
  }
}
