/**
 * How EtcdStore talks to etcd: the `etcd3` client for the store's calls and one small client
 * per member for the health probes (etcd-health.ts).
 *
 * - Every call and stream carries gRPC metadata `hasleader: true` (etcd's "require leader",
 *   as clientv3.WithRequireLeader): a member that has no leader answers `no leader` at once,
 *   and cancels a watch when it loses its leader, instead of holding it silently.
 * - Host selection: etcd3 tries the members in a shuffled order; our per-host policy skips
 *   the members the tracker holds down (their last probe failed, or a call could not connect
 *   to them since), in place of etcd3's default circuit breaker that kept a member shunned
 *   for 5 s after it came back. When every member is skipped the call fails at once.
 */
import { Etcd3, type IOptions } from 'etcd3';
import type { IPolicy } from 'cockatiel';
import type { InterceptingCall, Interceptor } from '@grpc/grpc-js';
import { ShoalError } from '../api/index.js';
import { isConnectionFailure, type EtcdHealthTracker, type MemberStatus } from './etcd-health.js';

const MAX_MESSAGE = 64 * 1024 * 1024;

/** Adds etcd's require-leader metadata to a call. */
const requireLeader: Interceptor = (options, nextCall) => {
  const call = nextCall(options);
  const start = call.start.bind(call);
  call.start = (metadata, listener) => {
    metadata.set('hasleader', 'true');
    start(metadata, listener);
  };
  return call as InterceptingCall;
};

/** A cockatiel policy that only runs `fn`, with a gate before and an error hook after. */
function gatePolicy(gate: () => void, onError: (err: unknown) => void): IPolicy {
  const noEvent = (): { dispose(): void } => ({ dispose: () => {} });
  return {
    _altReturn: undefined as never,
    onSuccess: noEvent,
    onFailure: noEvent,
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      gate();
      try {
        return await fn({ signal: signal ?? new AbortController().signal });
      } catch (err) {
        onError(err);
        throw err;
      }
    },
  };
}

/** Client certificates for an etcd that requires them (the embedded one does). */
export interface EtcdTls {
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  cert: string;
  key: string;
}

function credentialsOf(tls: EtcdTls | undefined): Pick<IOptions, 'credentials'> {
  return tls ? { credentials: { rootCertificate: Buffer.from(tls.ca), certChain: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) } } : {};
}

/** The store's client: deadlines on unary calls, require-leader everywhere, tracker-driven host selection. */
export function storeClient(endpoints: readonly string[], callTimeoutMs: number, tracker: EtcdHealthTracker, tls?: EtcdTls): Etcd3 {
  const options: IOptions = {
    ...credentialsOf(tls),
    hosts: [...endpoints],
    dialTimeout: Math.min(callTimeoutMs, 5000),
    defaultCallOptions: (ctx) => (ctx.isStream ? { interceptors: [requireLeader] } : { deadline: Date.now() + callTimeoutMs, interceptors: [requireLeader] }),
    grpcOptions: { 'grpc.max_receive_message_length': MAX_MESSAGE, 'grpc.max_send_message_length': MAX_MESSAGE },
    faultHandling: {
      host: (host) =>
        gatePolicy(
          () => {
            if (tracker.isDown(host)) throw new ShoalError('Unavailable', `etcd member ${host} is down`, { retryAfterSeconds: 1 });
          },
          (err) => {
            if (isConnectionFailure(err)) tracker.markDown(host);
          },
        ),
    },
  };
  return new Etcd3(options);
}

/**
 * One member's probe client: no retries, no breaker, a short deadline. Status answers with
 * the member's id and the leader it follows (0: none).
 */
export class MemberProber {
  private readonly clients = new Map<string, Etcd3>();
  constructor(
    private readonly timeoutMs: number,
    private readonly tls?: EtcdTls,
  ) {}

  async status(endpoint: string): Promise<MemberStatus> {
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      const pass = (): IPolicy => gatePolicy(() => {}, () => {});
      client = new Etcd3({
        ...credentialsOf(this.tls),
        hosts: [endpoint],
        dialTimeout: this.timeoutMs,
        defaultCallOptions: () => ({ deadline: Date.now() + this.timeoutMs }),
        faultHandling: { host: pass, global: pass() },
      });
      this.clients.set(endpoint, client);
    }
    const res = await client.maintenance.status();
    const leader = String(res.leader);
    return { memberId: String(res.header.member_id), leaderId: leader === '0' || leader === '' ? undefined : leader, raftTerm: Number(res.raftTerm) };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
