/**
 * Private digest helpers of the content store: only `sha256:<64 lowercase hex>` is accepted
 * (`isSha256Digest`), and a path is only ever built from a digest that passed `checkDigest`.
 */
import { ShoalError } from '../../api/index.js';
import { isSha256Digest } from '../oci/digest.js';

/** Returns the hex part of a valid sha256 digest; InvalidArgument for anything else. */
export function checkDigest(digest: unknown): string {
  if (typeof digest !== 'string') {
    throw new ShoalError('InvalidArgument', `invalid digest: expected a string, got ${typeof digest}`);
  }
  if (!isSha256Digest(digest)) {
    const shown = digest.length > 80 ? `${digest.slice(0, 80)}...` : digest;
    throw new ShoalError('InvalidArgument', `invalid digest "${shown}": expected sha256: followed by 64 lowercase hex characters`);
  }
  return digest.slice('sha256:'.length);
}

export function checkSize(size: unknown, what: string): number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new ShoalError('InvalidArgument', `invalid size ${String(size)} for ${what}: expected a non-negative integer`);
  }
  return size;
}
