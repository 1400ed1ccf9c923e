import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { createDigestVerifier, isDigest, parseDigest, sha256Digest, verifyBytes } from './digest.js';

const HELLO = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

async function run(chunks: string[], digest: string, size?: number): Promise<{ err: unknown; out: string; bytes: number }> {
  const v = createDigestVerifier(digest, size);
  let out = '';
  let err: unknown;
  try {
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), v, async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) out += c.toString();
    });
  } catch (e) {
    err = e;
  }
  return { err, out, bytes: v.bytes };
}

describe('digest helpers', () => {
  it('hashes and parses', () => {
    expect(sha256Digest('hello')).toBe(HELLO);
    expect(parseDigest(HELLO)).toEqual({ algorithm: 'sha256', hex: HELLO.slice(7) });
    expect(isDigest(HELLO)).toBe(true);
    expect(isDigest('sha256:xyz')).toBe(false);
    expect(isDigest(42)).toBe(false);
    expect(() => parseDigest('sha1:' + 'a'.repeat(40))).toThrow(/unsupported algorithm/);
    expect(() => verifyBytes(Buffer.from('hellp'), HELLO)).toThrow(/digest mismatch/);
    expect(() => verifyBytes(Buffer.from('hello'), HELLO, 4)).toThrow(/size mismatch/);
    verifyBytes(Buffer.from('hello'), HELLO, 5);
  });

  it('passes matching content through and counts it', async () => {
    const r = await run(['he', 'll', 'o'], HELLO, 5);
    expect(r.err).toBeUndefined();
    expect(r.out).toBe('hello');
    expect(r.bytes).toBe(5);
  });

  it('fails with DataLoss on a wrong digest', async () => {
    const r = await run(['hellp'], HELLO, 5);
    expect(isShoalError(r.err, 'DataLoss')).toBe(true);
    expect((r.err as Error).message).toMatch(/digest mismatch/);
  });

  it('fails with DataLoss on short and long content, cutting long content off early', async () => {
    const short = await run(['hell'], HELLO, 5);
    expect(isShoalError(short.err, 'DataLoss')).toBe(true);
    expect((short.err as Error).message).toMatch(/expected 5 bytes, got 4/);
    const long = await run(['hello', 'x'.repeat(100), 'y'.repeat(100)], HELLO, 5);
    expect(isShoalError(long.err, 'DataLoss')).toBe(true);
    expect(long.bytes).toBeLessThanOrEqual(105);
  });

  it('rejects a bad expected digest up front', () => {
    expect(() => createDigestVerifier('nope')).toThrow(/invalid digest/);
  });
});
