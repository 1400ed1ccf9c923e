/**
 * Authenticated encryption of the cluster's secrets at rest (AES-256-GCM), as the text
 * `shoal-enc:v1:<key id>:<base64 of iv | ciphertext | tag>`. The key id (the first 8 hex of the
 * key's SHA-256) says which key sealed a value, so a rotation can tell old from new and a
 * wrong key is named as such rather than failing as "corrupt data". `aad` binds a value to
 * where it lives (its etcd key): a sealed value copied to another key does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { errors } from '../api/index.js';

export const SEAL_PREFIX = 'shoal-enc:v1:';
export const KEY_BYTES = 32;

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function newKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw errors.invalidArgument(`an encryption key is ${KEY_BYTES} bytes; this one is ${key.length}`);
}

export function seal(key: Buffer, plaintext: Buffer | string, aad: string): string {
  checkKey(key);
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(typeof plaintext === 'string' ? Buffer.from(plaintext) : plaintext), c.final()]);
  return `${SEAL_PREFIX}${keyId(key)}:${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64')}`;
}

export function isSealed(text: string): boolean {
  return text.startsWith(SEAL_PREFIX);
}

/** The id of the key that sealed `text`, or undefined when it is not sealed text. */
export function sealedKeyId(text: string): string | undefined {
  if (!isSealed(text)) return undefined;
  return text.slice(SEAL_PREFIX.length).split(':')[0];
}

/**
 * Opens a sealed value with the first of `keys` whose id matches. PermissionDenied when no
 * key matches (the wrong cluster key was given); DataLoss when it matches but fails to
 * authenticate (tampered or moved to another key).
 */
export function open(keys: readonly Buffer[], text: string, aad: string): Buffer {
  if (!isSealed(text)) throw errors.dataLoss('not an encrypted value');
  const [id, b64] = text.slice(SEAL_PREFIX.length).split(':');
  const key = keys.find((k) => keyId(k) === id);
  if (key === undefined) throw errors.permissionDenied(`the value was encrypted with key ${id ?? '?'}, which is not one of the keys given (${keys.map(keyId).join(', ') || 'none'})`);
  const raw = Buffer.from(b64 ?? '', 'base64');
  if (raw.length < 28) throw errors.dataLoss('encrypted value too short');
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(raw.subarray(raw.length - 16));
  try {
    return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
  } catch {
    throw errors.dataLoss(`an encrypted value does not authenticate (tampered, or not stored at ${aad})`);
  }
}
