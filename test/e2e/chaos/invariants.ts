/**
 * The chaos soak's invariant checker, pure: it is fed samples of the cluster (what the API says
 * and what runs on each host) every ~500 ms and the fault log, and counts violations of the
 * promises of issue 11:
 *
 * - duplicates: a (service, slot) with more than one running container, outside a start-first
 *   update, for longer than `graceMs` (node timeout + two heartbeats) after every node is
 *   connected again (while a node is cut off its containers may keep running, as in Swarm);
 * - convergence: from the moment the last fault is healed until every service has exactly its
 *   replicas (one running container per slot 1..N, and the API agrees); the max is reported;
 * - API answers other than 2xx, 4xx or 503 (counted by whoever calls the API, recorded here).
 *
 * Time is an argument (ms since the soak started); nothing here does I/O.
 */

export interface ServiceSample {
  name: string;
  replicas: number;
  /** True while a start-first rolling update of the service is in progress (two per slot is then allowed). */
  startFirstUpdate?: boolean;
}

export interface ContainerSample {
  host: string;
  id: string;
  service: string;
  slot: number;
}

export interface Sample {
  t: number;
  /** Every node is registered, ready, its agent up and its link up. */
  allConnected: boolean;
  services: ServiceSample[];
  /** Running task containers on every host. */
  running: ContainerSample[];
  /** Tasks the API reports as running (desired running), per service. */
  apiRunning: Record<string, number>;
}

export interface Violation {
  kind: 'duplicate' | 'api-status';
  t: number;
  detail: string;
}

export interface ChaosReport {
  samples: number;
  faults: number;
  violations: Violation[];
  /** Longest time from a healed fault until the cluster had its replicas again, ms. */
  maxConvergeMs: number;
  /** Faults after which the cluster had not converged when the soak ended. */
  unconverged: number;
  /** Slots seen with two running containers (while a node was cut off, or healing). */
  duplicateEpisodes: number;
  /** Longest such duplicate once every node was connected, ms (a violation past the grace). */
  maxDuplicateConnectedMs: number;
  apiAnswers: Record<string, number>;
}

export interface CheckerOptions {
  /** How long a duplicate may last once every node is connected: node timeout + two heartbeats. */
  graceMs: number;
}

export class InvariantChecker {
  private readonly violations: Violation[] = [];
  private readonly dupSince = new Map<string, number>();
  private readonly reported = new Set<string>();
  private connectedSince: number | undefined;
  private faults = 0;
  /** Heal times of faults whose convergence is still awaited. */
  private awaiting: number[] = [];
  private openFaults = 0;
  private maxConvergeMs = 0;
  private samples = 0;
  private episodes = 0;
  private maxDupConnectedMs = 0;
  private readonly answers: Record<string, number> = {};

  constructor(private readonly opts: CheckerOptions) {}

  faultStarted(): void {
    this.faults++;
    this.openFaults++;
  }

  faultHealed(t: number): void {
    this.openFaults = Math.max(0, this.openFaults - 1);
    this.awaiting.push(t);
  }

  /** One API answer (status code); anything but 2xx, 4xx or 503 is a violation. */
  apiAnswer(t: number, status: number, what: string): void {
    const bucket = status >= 200 && status < 300 ? '2xx' : status >= 400 && status < 500 ? '4xx' : String(status);
    this.answers[bucket] = (this.answers[bucket] ?? 0) + 1;
    if (bucket !== '2xx' && bucket !== '4xx' && status !== 503) this.violations.push({ kind: 'api-status', t, detail: `${what} answered ${status}` });
  }

  observe(s: Sample): void {
    this.samples++;
    if (!s.allConnected) this.connectedSince = undefined;
    else this.connectedSince ??= s.t;
    this.checkDuplicates(s);
    if (this.awaiting.length > 0 && this.openFaults === 0 && converged(s)) {
      for (const healed of this.awaiting) this.maxConvergeMs = Math.max(this.maxConvergeMs, s.t - healed);
      this.awaiting = [];
    }
  }

  private checkDuplicates(s: Sample): void {
    const startFirst = new Set(s.services.filter((x) => x.startFirstUpdate).map((x) => x.name));
    const perSlot = new Map<string, ContainerSample[]>();
    for (const c of s.running) {
      const k = `${c.service}/${c.slot}`;
      perSlot.set(k, [...(perSlot.get(k) ?? []), c]);
    }
    const now = new Set<string>();
    for (const [k, cs] of perSlot) {
      if (cs.length < 2 || startFirst.has(cs[0]?.service ?? '')) continue;
      now.add(k);
      if (!this.dupSince.has(k)) this.episodes++;
      const since = this.dupSince.get(k) ?? s.t;
      this.dupSince.set(k, since);
      if (this.connectedSince === undefined) continue;
      const from = Math.max(since, this.connectedSince);
      this.maxDupConnectedMs = Math.max(this.maxDupConnectedMs, s.t - from);
      const key = `${k}@${since}`;
      if (s.t - from > this.opts.graceMs && !this.reported.has(key)) {
        this.reported.add(key);
        this.violations.push({ kind: 'duplicate', t: s.t, detail: `${k} has ${cs.length} running containers (${cs.map((c) => `${c.host}:${c.id.slice(0, 12)}`).join(', ')}) for ${s.t - from} ms with every node connected` });
      }
    }
    for (const k of [...this.dupSince.keys()]) if (!now.has(k)) this.dupSince.delete(k);
  }

  report(): ChaosReport {
    return {
      samples: this.samples,
      faults: this.faults,
      violations: [...this.violations],
      maxConvergeMs: this.maxConvergeMs,
      unconverged: this.awaiting.length + this.openFaults,
      duplicateEpisodes: this.episodes,
      maxDuplicateConnectedMs: this.maxDupConnectedMs,
      apiAnswers: { ...this.answers },
    };
  }
}

/** Every service has exactly one running container in each slot 1..replicas, and the API agrees. */
export function converged(s: Sample): boolean {
  for (const svc of s.services) {
    const slots = new Map<number, number>();
    for (const c of s.running) if (c.service === svc.name) slots.set(c.slot, (slots.get(c.slot) ?? 0) + 1);
    if (slots.size !== svc.replicas) return false;
    for (let slot = 1; slot <= svc.replicas; slot++) if (slots.get(slot) !== 1) return false;
    if ((s.apiRunning[svc.name] ?? 0) !== svc.replicas) return false;
  }
  return true;
}
