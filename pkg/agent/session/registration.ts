/**
 * The node's presence at the controller: registration, heartbeat and the pod CIDR.
 *
 * `run` registers the Node (create it, or merge the agent's labels and status into the one
 * there, retrying a 409 up to ten times), then heartbeats every `heartbeatMs` until the signal
 * fires. Each beat has a deadline of one period; a failed beat is retried with `backoff()`
 * (the session's is capped at one period, pacing.ts), counted from the start of the failed
 * beat, and logged once per outage; a 404 (the node was deleted) registers again. The first
 * beat that gets through after a failure logs "controller reachable again" and calls
 * `onReconnect` (the session relists its tasks then: a watch opened before the outage may be
 * dead without knowing it). Now and then the beat re-reads the node (`podCIDRCheckDue`): a pod CIDR
 * assigned after registration is recorded as the annotation `shoal.agent/pod-cidr` and handed
 * to the `onPodCIDR` hook, one call at a time; a failed call is logged and retried at the next
 * check. `networkReady()` is what task starts wait for: true without a hook, else once the hook
 * succeeded; `onNetworkReady` fires at that first success.
 */
import { errors, isShoalError, toShoalError } from '../../api/index.js';
import { sleep, type Backoff } from '../../util/index.js';
import type { ControllerApi } from './controller-api.js';
import type { SessionLogger } from './logger.js';
import { desiredNode, nodeStatusOf, POD_CIDR_ANNOTATION, type MachineInfo, type NodeIdentity } from './node-info.js';

export interface NodeRegistrationOptions {
  api: Pick<ControllerApi, 'getNode' | 'createNode' | 'replaceNode' | 'replaceNodeStatus' | 'heartbeat'>;
  identity: NodeIdentity;
  probe(): Promise<MachineInfo>;
  log: SessionLogger;
  now(): Date;
  heartbeatMs: number;
  /** A fresh backoff for the heartbeat loop. */
  backoff(): Backoff;
  /** Called when a beat gets through after one or more failed. */
  onReconnect?(): void;
  /** See SessionOptions.onPodCIDR. */
  onPodCIDR?: (podCIDR: string, signal: AbortSignal) => Promise<void>;
  /** Called once, when `onPodCIDR` first succeeded (tasks held back for the network may start). */
  onNetworkReady?(): void;
}

/** What the pod CIDR check looks at. */
export interface PodCIDRState {
  /** An `onPodCIDR` hook is set (the node's network follows the pod CIDR). */
  hook: boolean;
  /** The pod CIDR as last read from the node. */
  podCIDR: string | undefined;
  /** The pod CIDR the hook last succeeded with. */
  applied: string | undefined;
}

/**
 * Whether heartbeat number `beat` (1-based) re-reads the node (pure). Until the network is on
 * the pod CIDR, every beat (the leader assigns it shortly after the node registers); while no
 * CIDR is assigned, every second beat; else every tenth.
 */
export function podCIDRCheckDue(beat: number, s: PodCIDRState): boolean {
  const waitingForNetwork = s.hook && (s.applied === undefined || s.applied !== s.podCIDR);
  return beat % 10 === 0 || waitingForNetwork || (s.podCIDR === undefined && beat % 2 === 0);
}

export class NodeRegistration {
  private cidr: string | undefined;
  /** The pod CIDR `onPodCIDR` last succeeded with. */
  private appliedCIDR: string | undefined;
  private applying: Promise<void> | undefined;

  constructor(private readonly opts: NodeRegistrationOptions) {}

  get nodeName(): string {
    return this.opts.identity.nodeName;
  }

  /** The pod CIDR the controller assigned this node, once seen. */
  podCIDR(): string | undefined {
    return this.cidr;
  }

  /** Tasks may start: there is no pod CIDR hook, or it has succeeded once. */
  networkReady(): boolean {
    return this.opts.onPodCIDR === undefined || this.appliedCIDR !== undefined;
  }

  /** Registers, then heartbeats until `signal` fires (never rejects). */
  async run(signal: AbortSignal): Promise<void> {
    const { api, log } = this.opts;
    const backoff = this.opts.backoff();
    let registered = false;
    let beats = 0;
    const { heartbeatMs } = this.opts;
    while (!signal.aborted) {
      const began = this.opts.now().getTime();
      try {
        if (!registered) {
          await this.register(signal);
          registered = true;
        }
        await api.heartbeat(this.nodeName, { signal, deadlineMs: heartbeatMs });
        if (backoff.failures > 0) {
          log.info({ node: this.nodeName, failedBeats: backoff.failures }, 'controller reachable again');
          this.opts.onReconnect?.();
        }
        backoff.reset();
        const state = { hook: this.opts.onPodCIDR !== undefined, podCIDR: this.cidr, applied: this.appliedCIDR };
        if (podCIDRCheckDue(++beats, state)) await this.checkPodCIDR(signal);
        await sleep(heartbeatMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (isShoalError(err, 'NotFound')) registered = false; // the node was deleted: register again
        if (backoff.failures === 0) log.warn({ err: toShoalError(err).message }, 'heartbeat failed; retrying with backoff');
        // The pause counts from the start of the failed beat: a beat that ran into its deadline is retried at once.
        await sleep(Math.max(0, backoff.next() - (this.opts.now().getTime() - began)), signal);
      }
    }
  }

  private async register(signal: AbortSignal): Promise<void> {
    const { api, identity, log, now } = this.opts;
    const machine = await this.opts.probe();
    for (let attempt = 0; ; attempt++) {
      const existing = await api.getNode(this.nodeName);
      const node = desiredNode(existing, identity, nodeStatusOf(identity, machine, now()));
      try {
        if (existing === undefined) {
          const created = await api.createNode(node);
          this.cidr = created.spec.podCIDR;
        } else {
          const replaced = await api.replaceNode(node);
          await api.replaceNodeStatus({ ...replaced, status: node.status });
          this.cidr = replaced.spec.podCIDR;
        }
        log.info({ node: this.nodeName, podCIDR: this.cidr }, 'node registered');
        await this.applyPodCIDR(signal);
        return;
      } catch (err) {
        if (attempt < 10 && (isShoalError(err, 'Conflict') || isShoalError(err, 'AlreadyExists'))) continue;
        throw err;
      }
    }
  }

  /** Re-reads the node: a pod CIDR assigned (or changed) since is recorded and applied. */
  private async checkPodCIDR(signal: AbortSignal): Promise<void> {
    const { api, log } = this.opts;
    const node = await api.getNode(this.nodeName);
    if (node === undefined) throw errors.notFound(`node ${this.nodeName} is gone`);
    if (node.spec.podCIDR !== this.cidr || node.metadata.annotations?.[POD_CIDR_ANNOTATION] !== node.spec.podCIDR) {
      this.cidr = node.spec.podCIDR;
      if (this.cidr !== undefined) {
        await api.replaceNode({ ...node, metadata: { ...node.metadata, annotations: { ...node.metadata.annotations, [POD_CIDR_ANNOTATION]: this.cidr } } });
      }
      log.info({ node: this.nodeName, podCIDR: this.cidr }, 'pod CIDR assigned');
    }
    await this.applyPodCIDR(signal);
  }

  /** Hands a new pod CIDR to `onPodCIDR` (one call at a time; the promise never rejects). */
  private applyPodCIDR(signal: AbortSignal): Promise<void> {
    const hook = this.opts.onPodCIDR;
    const want = this.cidr;
    if (hook === undefined || want === undefined || want === this.appliedCIDR || this.applying !== undefined) return this.applying ?? Promise.resolve();
    const { log } = this.opts;
    this.applying = hook(want, signal)
      .then(() => {
        const first = this.appliedCIDR === undefined;
        this.appliedCIDR = want;
        log.info({ node: this.nodeName, podCIDR: want }, 'node network on the pod CIDR');
        if (first) this.opts.onNetworkReady?.();
      })
      .catch((err: unknown) => {
        if (!signal.aborted) log.error({ err: toShoalError(err).message, podCIDR: want }, 'setting up the node network on the pod CIDR failed; retrying');
      })
      .finally(() => {
        this.applying = undefined;
      });
    return this.applying;
  }
}
