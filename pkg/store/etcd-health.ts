/**
 * Does the etcd cluster have a leader right now? A tracker that asks every member for its
 * Status (member id, the leader it follows, raft term) in the background, so store calls can
 * fail at once with Unavailable while nothing can commit, instead of waiting for etcd's own
 * request timeout (7 s) or the call deadline (10 s).
 *
 * - `judgeEtcdHealth` (pure) turns one round of probes into a verdict: `ok` when a reachable
 *   member reports a leader that is not known to be dead and a majority of the members may
 *   be alive, else `no-leader`. "Known dead" is a member whose endpoint refuses connections
 *   (the process is gone; a timeout proves nothing, it may be a partition between us and it
 *   while the others still reach it). So the verdict flips within one round when the leader
 *   member dies or a majority does, before the survivors notice (their election timeout);
 *   a quorum lost otherwise (partitions) shows when they notice, about a second later.
 * - `EtcdHealthTracker` runs the rounds (every `intervalMs`, at once after `kick()`), keeps
 *   the verdict, tells which endpoints to skip (`isDown`: the last probe failed, or a call
 *   through it failed to connect since), fails fast (`check`), and rejects the calls in
 *   flight when the verdict becomes `no-leader` (`guard`): their outcome is unknown, as after
 *   a timeout, and the API answers 503 now rather than in 10 s.
 */
import { ShoalError } from '../api/index.js';

/** What one member said, or that it did not answer. */
export type MemberProbe =
  | { endpoint: string; reachable: true; memberId: string; leaderId: string | undefined; raftTerm: number }
  | { endpoint: string; reachable: false; refused: boolean; error: string };

/** What a probe of one member returns (the shell calls etcd's Maintenance.Status). */
export interface MemberStatus {
  memberId: string;
  /** The leader this member follows; undefined when it has none. */
  leaderId: string | undefined;
  raftTerm: number;
}

export type EtcdHealthState = 'unknown' | 'ok' | 'no-leader';

export interface MemberHealth {
  endpoint: string;
  reachable: boolean;
  memberId?: string;
  isLeader: boolean;
  error?: string;
}

export interface EtcdHealth {
  /** `unknown` until the first round of probes is in. */
  state: EtcdHealthState;
  /** The leader's member id and, when it is one of ours, its endpoint. */
  leader?: { memberId: string; endpoint?: string };
  members: MemberHealth[];
  /** Why there is no leader (for messages and logs). */
  reason?: string;
  /** When this state began (ms since the epoch). */
  since: number;
}

export interface HealthVerdict {
  state: 'ok' | 'no-leader';
  leader?: { memberId: string; endpoint?: string };
  reason?: string;
}

/**
 * The verdict of one round (pure). `knownIds` maps endpoints to the member ids they answered
 * with earlier, so a leader whose endpoint now refuses connections is recognised as dead.
 */
export function judgeEtcdHealth(probes: readonly MemberProbe[], knownIds: ReadonlyMap<string, string>): HealthVerdict {
  const answered = probes.filter((p): p is Extract<MemberProbe, { reachable: true }> => p.reachable);
  const total = probes.length;
  if (answered.length === 0) {
    const errors = probes.map((p) => (p.reachable ? '' : `${p.endpoint}: ${p.error}`)).join('; ');
    return { state: 'no-leader', reason: `no etcd member answers (${errors})` };
  }
  // A refused connection is a dead process: it cannot vote. Without a majority alive there is
  // no quorum, whatever a survivor still believes for its election timeout (a leader steps
  // down only then). This assumes `probes` covers every member (--etcd lists them all).
  const dead = probes.filter((p) => !p.reachable && p.refused).length;
  if (dead * 2 > total) {
    return { state: 'no-leader', reason: `${dead} of ${total} etcd members are down: no quorum` };
  }
  const reports = answered.filter((p) => p.leaderId !== undefined);
  if (reports.length === 0) {
    return { state: 'no-leader', reason: `no etcd member has a leader (quorum lost or an election under way; ${answered.length} of ${total} members answer)` };
  }
  let best = reports[0] as (typeof reports)[number];
  for (const r of reports) if (r.raftTerm > best.raftTerm) best = r;
  const leaderId = best.leaderId as string;
  const endpointOf = (id: string): string | undefined =>
    answered.find((p) => p.memberId === id)?.endpoint ?? [...knownIds].find(([, known]) => known === id)?.[0];
  const endpoint = endpointOf(leaderId);
  const probe = endpoint === undefined ? undefined : probes.find((p) => p.endpoint === endpoint);
  if (probe !== undefined && !probe.reachable && probe.refused) {
    return { state: 'no-leader', reason: `the etcd leader (${endpoint ?? leaderId}) is down and no new leader is elected yet` };
  }
  return { state: 'ok', leader: { memberId: leaderId, ...(endpoint !== undefined ? { endpoint } : {}) } };
}

/** A connection-level failure (nothing listens there, or it cannot be reached at all). */
export function isConnectionFailure(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ECONNRESET|No connection established|Failed to connect/i.test(msg);
}

/** The connection was refused: the member's process is gone (its host answers). */
export function isRefused(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /ECONNREFUSED/.test(msg);
}

/** Rounds never follow each other closer than this, however many calls fail. */
const MIN_ROUND_GAP_MS = 100;

export interface EtcdHealthTrackerOptions {
  endpoints: readonly string[];
  /** Asks one member for its status; rejects when it does not answer in time. */
  probe(endpoint: string): Promise<MemberStatus>;
  /** Between rounds (default 500 ms). */
  intervalMs?: number;
  now?: () => number;
  /** Called when the state changes (not for every round). */
  onChange?(health: EtcdHealth): void;
}

export class EtcdHealthTracker {
  private health: EtcdHealth;
  private readonly knownIds = new Map<string, string>();
  /** Endpoints whose last probe failed, or a call through which failed to connect since. */
  private readonly down = new Set<string>();
  /** Rejecters of guarded calls in flight. */
  private readonly inflight = new Set<(e: ShoalError) => void>();
  private readonly waiters = new Set<() => void>();
  private wake: (() => void) | undefined;
  private kicked = false;
  private timer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: EtcdHealthTrackerOptions) {
    this.now = opts.now ?? Date.now;
    this.health = { state: 'unknown', members: opts.endpoints.map((endpoint) => ({ endpoint, reachable: false, isLeader: false })), since: this.now() };
  }

  /** Starts the probe rounds (idempotent). */
  start(): void {
    this.loop ??= this.run();
  }

  current(): EtcdHealth {
    return this.health;
  }

  /** Throws Unavailable at once while the cluster has no leader. */
  check(what: string): void {
    if (this.health.state === 'no-leader') throw this.unavailable(what);
  }

  /** `p`, or Unavailable as soon as the cluster is found without a leader. */
  guard<T>(p: Promise<T>, what: string): Promise<T> {
    if (this.health.state === 'no-leader') {
      p.catch(() => undefined);
      return Promise.reject(this.unavailable(what));
    }
    return new Promise<T>((resolve, reject) => {
      const fail = (e: ShoalError): void => reject(new ShoalError('Unavailable', `${what}: ${e.message}`, { retryAfterSeconds: 1 }));
      this.inflight.add(fail);
      p.then(
        (v) => {
          this.inflight.delete(fail);
          resolve(v);
        },
        (err: unknown) => {
          this.inflight.delete(fail);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** Whether calls should skip `endpoint` (when all are skipped, a call fails at once). */
  isDown(endpoint: string): boolean {
    return this.down.has(endpoint);
  }

  /** A call through `endpoint` could not connect: skip it until a probe answers, and probe now. */
  markDown(endpoint: string): void {
    if (!this.opts.endpoints.includes(endpoint)) return;
    this.down.add(endpoint);
    this.kick();
  }

  /** Runs a round now (or right after the one under way). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Resolves when the state is `ok` (or `unknown`), or the signal fires. */
  untilHealthy(signal: AbortSignal): Promise<void> {
    if (this.health.state !== 'no-leader' || signal.aborted || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Stops the rounds; waits for the one under way. */
  async close(): Promise<void> {
    this.stopped = true;
    this.kick();
    for (const w of [...this.waiters]) w();
    await this.loop;
  }

  /** Applies one round (exposed for tests that drive the tracker without timers). */
  apply(probes: readonly MemberProbe[]): void {
    for (const p of probes) {
      if (p.reachable) {
        this.knownIds.set(p.endpoint, p.memberId);
        this.down.delete(p.endpoint);
      } else this.down.add(p.endpoint);
    }
    const verdict = judgeEtcdHealth(probes, this.knownIds);
    const members: MemberHealth[] = probes.map((p) => ({
      endpoint: p.endpoint,
      reachable: p.reachable,
      isLeader: verdict.leader !== undefined && (p.reachable ? p.memberId : this.knownIds.get(p.endpoint)) === verdict.leader.memberId,
      ...(p.reachable ? { memberId: p.memberId } : { error: p.error }),
      ...(!p.reachable && this.knownIds.has(p.endpoint) ? { memberId: this.knownIds.get(p.endpoint) as string } : {}),
    }));
    const changed = verdict.state !== this.health.state || verdict.leader?.memberId !== this.health.leader?.memberId;
    this.health = {
      state: verdict.state,
      members,
      since: changed ? this.now() : this.health.since,
      ...(verdict.leader ? { leader: verdict.leader } : {}),
      ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}),
    };
    if (verdict.state === 'no-leader') {
      const e = new ShoalError('Unavailable', this.noLeaderMessage(), { retryAfterSeconds: 1 });
      for (const fail of [...this.inflight]) fail(e);
      this.inflight.clear();
    } else {
      for (const w of [...this.waiters]) w();
    }
    if (changed) this.opts.onChange?.(this.health);
  }

  private noLeaderMessage(): string {
    return `etcd cannot commit now: ${this.health.reason ?? 'no leader'}`;
  }

  private unavailable(what: string): ShoalError {
    return new ShoalError('Unavailable', `${what}: ${this.noLeaderMessage()}`, { retryAfterSeconds: 1 });
  }

  private async run(): Promise<void> {
    const interval = this.opts.intervalMs ?? 500;
    while (!this.stopped) {
      this.kicked = false;
      const probes = await Promise.all(this.opts.endpoints.map((e) => this.probeOne(e)));
      if (this.stopped) break;
      this.apply(probes);
      // A kick during the round asks for another one soon, not a whole interval later; a kick
      // while waiting ends the wait, but rounds stay MIN_ROUND_GAP_MS apart.
      const ended = this.now();
      await this.pause(this.kicked ? MIN_ROUND_GAP_MS : interval);
      const gap = MIN_ROUND_GAP_MS - (this.now() - ended);
      if (gap > 0 && !this.stopped) await this.pause(gap, false);
    }
  }

  /** Waits `ms`; a kick ends the wait early when `wakeable`. */
  private pause(ms: number, wakeable = true): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      if (wakeable) this.wake = done;
      this.timer = setTimeout(done, ms);
      this.timer.unref();
    });
  }

  private async probeOne(endpoint: string): Promise<MemberProbe> {
    try {
      const s = await this.opts.probe(endpoint);
      return { endpoint, reachable: true, ...s };
    } catch (err) {
      return { endpoint, reachable: false, refused: isRefused(err), error: err instanceof Error ? err.message : String(err) };
    }
  }
}
