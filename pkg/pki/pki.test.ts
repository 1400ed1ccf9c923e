import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isShoalError } from '../api/index.js';
import {
  certFingerprint, certInfo, createCA, createCsr, formatJoinToken, hashSecret, issueCertificate, issueKeyPair, keyId, newBearerToken, newJoinSecret, newKey, open,
  parseBearerToken, parseCsr, parseJoinToken, seal, secretMatches, verifiedBy,
} from './index.js';

describe('x509', () => {
  it('issues a node certificate from a CSR that chains to the CA and carries CN and O', async () => {
    const ca = await createCA();
    const csr = await createCsr({ cn: 'n1', o: 'shoal:node' });
    const parsed = await parseCsr(csr.csrPem);
    expect(parsed.subject).toEqual({ cn: 'n1', o: 'shoal:node' });
    const now = new Date();
    const c = await issueCertificate({ ca, subject: parsed.subject, publicKey: parsed.publicKey, ttlMs: 90 * 86_400_000, now });
    expect(verifiedBy(c.certPem, ca.certPem)).toBe(true);
    const info = certInfo(c.certPem);
    expect(info.subject).toEqual({ cn: 'n1', o: 'shoal:node' });
    expect(info.serial).toBe(c.serial.replace(/^0+/, ''));
    expect(Math.abs(info.notAfter.getTime() - (now.getTime() + 90 * 86_400_000))).toBeLessThan(2000);
    // Node's own parser agrees it is a P-256 key and not a CA.
    const x = new X509Certificate(c.certPem);
    expect(x.ca).toBe(false);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('a certificate of another CA does not verify', async () => {
    const [a, b] = [await createCA(), await createCA()];
    const k = await issueKeyPair({ ca: a, subject: { cn: 'x', o: 'shoal:admin' }, ttlMs: 60_000 });
    expect(verifiedBy(k.certPem, a.certPem)).toBe(true);
    expect(verifiedBy(k.certPem, b.certPem)).toBe(false);
    expect(verifiedBy(k.certPem, a.certPem, new Date(Date.now() + 3_600_000))).toBe(false);
  });

  it('server certificates name their hosts', async () => {
    const ca = await createCA();
    const k = await issueKeyPair({ ca, subject: { cn: 'controller', o: 'shoal' }, ttlMs: 60_000, usage: 'server', hosts: ['127.0.0.1', 'localhost', 'ctl.example'] });
    const x = new X509Certificate(k.certPem);
    expect(x.checkHost('ctl.example')).toBe('ctl.example');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIP('10.0.0.1')).toBeUndefined();
  });

  it('refuses what is not a valid CSR', async () => {
    await expect(parseCsr('hello')).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    const csr = await createCsr({ cn: 'n1', o: 'shoal:node' });
    const body = csr.csrPem.split('\n');
    // Flip one base64 character in the middle: the signature (or the DER) breaks.
    const i = 3;
    const line = body[i] ?? '';
    body[i] = (line[5] === 'A' ? 'B' : 'A').padStart(6, line.slice(0, 5)) + line.slice(6);
    await expect(parseCsr(body.join('\n'))).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
    await expect(parseCsr('x'.repeat(20_000))).rejects.toSatisfy((e) => isShoalError(e, 'InvalidArgument'));
  });

  it('fingerprints are the SHA-256 of the DER', async () => {
    const ca = await createCA();
    expect(certFingerprint(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
    expect(certFingerprint(ca.certPem)).toBe(new X509Certificate(ca.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
  });
});

describe('seal', () => {
  it('round-trips, binds to its place, and names a wrong key', () => {
    const k = newKey();
    const s = seal(k, 'top secret', '/shoal/v1/secrets/default/a');
    expect(s).not.toContain('top secret');
    expect(open([k], s, '/shoal/v1/secrets/default/a').toString()).toBe('top secret');
    expect(() => open([k], s, '/shoal/v1/secrets/default/b')).toThrow(/does not authenticate/);
    const other = newKey();
    expect(() => open([other], s, '/shoal/v1/secrets/default/a')).toThrow(new RegExp(keyId(k)));
    expect(open([other, k], s, '/shoal/v1/secrets/default/a').toString()).toBe('top secret');
  });
});

describe('tokens', () => {
  it('join tokens round-trip and refuse bad shapes', () => {
    const t = { caFingerprint: 'a'.repeat(64), secret: newJoinSecret() };
    expect(t.secret).toMatch(/^[0-9a-z]{25}$/);
    expect(parseJoinToken(formatJoinToken(t))).toEqual(t);
    expect(() => parseJoinToken('SHOAL-1-abc-def')).toThrow(/invalid join token/);
  });

  it('bearer tokens are checked by hash', () => {
    const t = newBearerToken();
    const p = parseBearerToken(t.text);
    expect(p).toEqual({ id: t.id, secret: t.secret });
    expect(secretMatches(t.secret, hashSecret(t.secret))).toBe(true);
    expect(secretMatches(`${t.secret}x`, hashSecret(t.secret))).toBe(false);
    expect(parseBearerToken('Bearer x')).toBeUndefined();
  });
});
