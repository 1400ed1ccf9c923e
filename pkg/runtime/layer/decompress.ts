/**
 * Compression of a layer stream, detected from its magic bytes (media types lie often enough).
 */
import { Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ShoalError } from '../../api/index.js';

export type Compression = 'gzip' | 'none';

const MAGIC_BYTES = 6;

export interface OpenedLayer {
  compression: Compression;
  raw: Readable;
  decoder?: Transform;
}

/** Pure: the compression named by the first bytes of a layer; Unimplemented for known but unsupported ones. */
export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) {
    throw new ShoalError('Unimplemented', 'zstd-compressed layers are not supported yet (Node 20 has no zstd decoder); push the image with gzip layers');
  }
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) {
    throw new ShoalError('Unimplemented', 'xz-compressed layers are not supported; use gzip or uncompressed layers');
  }
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) {
    throw new ShoalError('Unimplemented', 'bzip2-compressed layers are not supported; use gzip or uncompressed layers');
  }
  return 'none';
}

/**
 * Reads the first bytes of `input` to detect its compression, and returns the raw stream (the
 * head put back in front) and the decoder to pipe it through, if any.
 */
export async function openLayer(input: Readable): Promise<OpenedLayer> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const head: Buffer[] = [];
  let headLen = 0;
  let ended = false;
  while (headLen < MAGIC_BYTES) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(chunk);
    headLen += chunk.length;
  }
  const first = Buffer.concat(head);
  let compression: Compression;
  try {
    compression = detectCompression(first);
  } catch (err) {
    input.destroy();
    throw err;
  }
  const rest = async function* (): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) return;
        yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
    } finally {
      if (!input.destroyed) input.destroy();
    }
  };
  const raw = Readable.from(rest(), { objectMode: false });
  return compression === 'gzip' ? { compression, raw, decoder: createGunzip() } : { compression, raw };
}
