/**
 * The chaos soak's fault plan, pure: from a seed and a duration, the faults to inject and when.
 * One fault at a time (each is injected, held for its duration, healed, then the next comes
 * after a random pause), so "time from the last fault until every service has its replicas" is
 * measured per fault.
 */

export type FaultKind =
  | 'kill-agent' // SIGKILL a host's agent, start it again after the hold
  | 'kill-controller' // SIGKILL a controller, start it again after the hold
  | 'kill-etcd' // SIGKILL an etcd member, start it again after the hold
  | 'cut-link' // take a host's link down for the hold, then up
  | 'scale' // scale a service to a new replica count (no hold)
  | 'update'; // a rolling update of a service (a new template generation; no hold)

export interface Fault {
  kind: FaultKind;
  /** When to inject it, ms after the soak started. */
  at: number;
  /** How long the fault lasts before it is healed (0 for scale and update). */
  holdMs: number;
  /** Which host, controller or member (an index), or which service. */
  target: number;
  /** scale: the new replica count. */
  replicas?: number;
}

export interface PlanOptions {
  seed: number;
  durationMs: number;
  hosts: number;
  controllers: number;
  etcdMembers: number;
  services: number;
  /** Pause between a fault's heal and the next fault, ms (default 4000..12000). */
  pauseMs?: [number, number];
  /** Hold of kill and cut faults, ms (default 2000..10000: some outlast a 5 s node timeout, so replicas move and must heal back). */
  holdMs?: [number, number];
  /** Replica counts a scale picks from (default 2..6). */
  replicas?: [number, number];
}

/** A small deterministic PRNG (mulberry32), so a failing soak can be replayed from its seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KINDS: readonly { kind: FaultKind; weight: number }[] = [
  { kind: 'kill-agent', weight: 3 },
  { kind: 'kill-controller', weight: 2 },
  { kind: 'kill-etcd', weight: 2 },
  { kind: 'cut-link', weight: 3 },
  { kind: 'scale', weight: 2 },
  { kind: 'update', weight: 1 },
];

export function planFaults(o: PlanOptions): Fault[] {
  const rnd = random(o.seed);
  const between = ([lo, hi]: [number, number]): number => Math.round(lo + rnd() * (hi - lo));
  const pick = <T,>(n: number, f: (i: number) => T): T => f(Math.floor(rnd() * n));
  const total = KINDS.reduce((s, k) => s + k.weight, 0);
  const out: Fault[] = [];
  let t = between(o.pauseMs ?? [4000, 12000]);
  while (t < o.durationMs) {
    let r = rnd() * total;
    const kind = KINDS.find((k) => (r -= k.weight) < 0)?.kind ?? 'scale';
    const held = kind === 'scale' || kind === 'update' ? 0 : between(o.holdMs ?? [2000, 10000]);
    const count = kind === 'kill-agent' || kind === 'cut-link' ? o.hosts : kind === 'kill-controller' ? o.controllers : kind === 'kill-etcd' ? o.etcdMembers : o.services;
    const f: Fault = { kind, at: t, holdMs: held, target: pick(count, (i) => i) };
    if (kind === 'scale') f.replicas = between(o.replicas ?? [2, 6]);
    out.push(f);
    t += held + between(o.pauseMs ?? [4000, 12000]);
  }
  return out;
}
