/**
 * Maps errors from etcd3 / gRPC onto ShoalError codes, in one place.
 */
import { ShoalError, toShoalError } from '../api/index.js';

export function mapEtcdError(err: unknown, what: string): ShoalError {
  if (err instanceof ShoalError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const msg = e.message;
  const name = e.constructor?.name ?? e.name;
  const opts = { cause: err };
  if (/compacted/i.test(msg)) return new ShoalError('Gone', `${what}: revision has been compacted; relist`, opts);
  if (/lease not found/i.test(msg) || name === 'EtcdLeaseInvalidError') return new ShoalError('NotFound', `${what}: lease not found (expired or revoked)`, opts);
  if (/future revision/i.test(msg)) return new ShoalError('InvalidArgument', `${what}: revision is in the future`, opts);
  if (/too many operations in txn/i.test(msg)) {
    return new ShoalError('InvalidArgument', `${what}: too many operations for one etcd transaction (raise etcd --max-txn-ops)`, opts);
  }
  if (/request is too large|message larger than max|exceeds max/i.test(msg) || name === 'GRPCResourceExhastedError') {
    return new ShoalError('TooLarge', `${what}: request too large for etcd (${msg})`, opts);
  }
  if (/duplicate key given in txn/i.test(msg)) return new ShoalError('InvalidArgument', `${what}: transaction names a key twice`, opts);
  if (name === 'ClientClosedError') return new ShoalError('Unavailable', `${what}: store is closed`, { ...opts, retryAfterSeconds: 1 });
  if (
    name === 'GRPCUnavailableError' ||
    name === 'GRPCDeadlineExceededError' ||
    name === 'BrokenCircuitError' ||
    name === 'GRPCConnectFailedError' ||
    name === 'GRPCCancelledError' ||
    name === 'GRPCAbortedError' ||
    /unavailable|connect|ECONNREFUSED|deadline|No connection|circuit|leader changed|no leader|timed out|stream ended|RST_STREAM/i.test(msg)
  ) {
    return new ShoalError('Unavailable', `${what}: etcd unavailable: ${msg}`, { ...opts, retryAfterSeconds: 1 });
  }
  if (name === 'GRPCInvalidArgumentError') return new ShoalError('InvalidArgument', `${what}: ${msg}`, opts);
  const out = toShoalError(err);
  return new ShoalError(out.code === 'Canceled' ? 'Canceled' : 'Unavailable', `${what}: ${msg}`, { ...opts, retryAfterSeconds: 1 });
}
