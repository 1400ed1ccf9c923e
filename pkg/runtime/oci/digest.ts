/**
 * Content digests (`<algorithm>:<hex>`, as in the OCI image spec and go-digest): parsing,
 * hashing, and a verifying stream that counts bytes and fails with DataLoss when the content
 * does not match its digest or size. Nothing here knows about registries or the content store.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ShoalError } from '../../api/index.js';

/** A digest string such as `sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae`. */
export type Digest = string;

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Parses and validates a digest; InvalidArgument names the input and what is wrong with it. */
export function parseDigest(s: string): ParsedDigest {
  if (typeof s !== 'string' || s.length === 0) {
    throw new ShoalError('InvalidArgument', 'invalid digest "": empty');
  }
  const colon = s.indexOf(':');
  if (colon <= 0) {
    throw new ShoalError('InvalidArgument', `invalid digest "${s}": expected <algorithm>:<hex>`);
  }
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new ShoalError('InvalidArgument', `invalid digest "${s}": unsupported algorithm "${algorithm}" (sha256 or sha512)`);
  }
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want) {
    throw new ShoalError('InvalidArgument', `invalid digest "${s}": ${algorithm} needs ${want} hex characters, got ${hex.length}`);
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    throw new ShoalError('InvalidArgument', `invalid digest "${s}": the hex part must be lowercase hexadecimal`);
  }
  return { algorithm, hex };
}

export function isDigest(s: unknown): s is Digest {
  if (typeof s !== 'string') return false;
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/**
 * `sha256:` and 64 lowercase hex characters: the only digests Shoal names stored things by
 * (content store blobs, snapshots by chain id, image records, diff_ids).
 */
export function isSha256Digest(s: unknown): boolean {
  return typeof s === 'string' && SHA256_DIGEST.test(s);
}

/** The 12 hex characters Docker shows for an id or digest (`sha256:` dropped). */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha\d+:/, '').slice(0, 12);
}

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The digest of `bytes` in the algorithm of `like` (sha256 unless `like` says otherwise). */
export function digestOf(bytes: Uint8Array, like: Digest = 'sha256:'): Digest {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Throws DataLoss unless `bytes` has the expected digest (and size, when given). */
export function verifyBytes(bytes: Uint8Array, expected: Digest, expectedSize?: number, what = 'content'): void {
  parseDigest(expected);
  if (expectedSize !== undefined && bytes.length !== expectedSize) {
    throw new ShoalError('DataLoss', `${what} ${expected}: size mismatch: expected ${expectedSize} bytes, got ${bytes.length}`);
  }
  const actual = digestOf(bytes, expected);
  if (actual !== expected) {
    throw new ShoalError('DataLoss', `${what} ${expected}: digest mismatch: content hashes to ${actual}`);
  }
}

/**
 * A pass-through stream that hashes and counts what flows through it. It errors with DataLoss
 * as soon as more than `expectedSize` bytes arrive (so a lying or hostile source is cut off
 * early), and at the end when the size or the digest differ. Data is passed on as it arrives:
 * whoever consumes it must not publish the result before the stream has finished cleanly.
 */
export class DigestVerifier extends Transform {
  readonly expectedDigest: Digest;
  readonly expectedSize: number | undefined;
  private readonly hash: Hash;
  private count = 0;
  private result: Digest | undefined;

  constructor(expectedDigest: Digest, expectedSize?: number) {
    super();
    const { algorithm } = parseDigest(expectedDigest);
    if (expectedSize !== undefined && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
      throw new ShoalError('InvalidArgument', `invalid expected size ${expectedSize} for ${expectedDigest}`);
    }
    this.expectedDigest = expectedDigest;
    this.expectedSize = expectedSize;
    this.hash = createHash(algorithm);
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** The digest of what went through; only defined after the stream finished. */
  get digest(): Digest | undefined {
    return this.result;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.count += chunk.length;
    if (this.expectedSize !== undefined && this.count > this.expectedSize) {
      cb(new ShoalError('DataLoss', `${this.expectedDigest}: size mismatch: more than the expected ${this.expectedSize} bytes`));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedSize !== undefined && this.count !== this.expectedSize) {
      cb(new ShoalError('DataLoss', `${this.expectedDigest}: size mismatch: expected ${this.expectedSize} bytes, got ${this.count}`));
      return;
    }
    const algorithm = this.expectedDigest.slice(0, this.expectedDigest.indexOf(':'));
    this.result = `${algorithm}:${this.hash.digest('hex')}`;
    if (this.result !== this.expectedDigest) {
      cb(new ShoalError('DataLoss', `${this.expectedDigest}: digest mismatch: content hashes to ${this.result}`));
      return;
    }
    cb();
  }
}

export function createDigestVerifier(expectedDigest: Digest, expectedSize?: number): DigestVerifier {
  return new DigestVerifier(expectedDigest, expectedSize);
}
