/**
 * The cluster's X.509 certificates (issue 13): an ECDSA P-256 root CA, node and user client
 * certificates issued from PKCS#10 requests, and the controllers' serving certificates.
 * Certificate building goes through @peculiar/x509 (over Node's WebCrypto); checking a
 * certificate a peer presents is Node's own `X509Certificate` and TLS.
 *
 * Identities live in the subject: CN = the node or user name, O = the role
 * (`shoal:node`, `shoal:admin`). Nothing here touches the network or the disk.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { errors } from '../api/index.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** A CSR's PEM is a few hundred bytes; anything much larger is not one. */
export const MAX_CSR_BYTES = 16 * 1024;
/** Clocks of machines differ: certificates are valid from a little before they are issued. */
const BACKDATE_MS = 5 * 60_000;

export const ROLE_NODE = 'shoal:node';
export const ROLE_ADMIN = 'shoal:admin';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface Subject {
  /** Common name: the node's or user's name. */
  cn: string;
  /** Organization: the role. */
  o: string;
}

function pemOfKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

async function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

/**
 * The CA's signing key, imported once per key: importing cost ~2 ms of the controller's thread
 * per certificate, a tenth of a join storm's CPU. Non-extractable; only the last few CA keys
 * (a rotation) are kept.
 */
const SIGNING_KEYS = new Map<string, Promise<webcrypto.CryptoKey>>();
function importSigningKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  let k = SIGNING_KEYS.get(keyPem);
  if (k === undefined) {
    k = (async () => {
      const der = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
      return (await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign'])) as webcrypto.CryptoKey;
    })();
    k.catch(() => SIGNING_KEYS.delete(keyPem));
    if (SIGNING_KEYS.size >= 4) SIGNING_KEYS.clear();
    SIGNING_KEYS.set(keyPem, k);
  }
  return k;
}

/** Escapes a value for an RFC 4514 name (names are validated before, this is belt and braces). */
function rdn(v: string): string {
  return v.replace(/([,+"\\<>;=#])/g, '\\$1');
}

function subjectName(s: Subject): string {
  return `CN=${rdn(s.cn)}, O=${rdn(s.o)}`;
}

function serial(): string {
  // Positive 128-bit serial (first bit clear), as RFC 5280 asks.
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}

/** The SHA-256 of a certificate's DER, lower-case hex: the CA fingerprint in join tokens. */
export function certFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/** A new self-signed root CA, valid `years` (default 10). */
export async function createCA(now = new Date(), years = 10, name = 'shoal-cluster-ca'): Promise<KeyPairPem> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${rdn(name)}, O=shoal`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + years * 365 * 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pemOfKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/** A new P-256 key and a PKCS#10 request for `subject`. */
export async function createCsr(subject: Subject): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subjectName(subject), keys, signingAlgorithm: ALG });
  return { csrPem: csr.toString('pem'), keyPem: pemOfKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

export interface ParsedCsr {
  subject: Subject;
  publicKey: x509.PublicKey;
}

function subjectOf(name: x509.Name): Subject {
  const cn = name.getField('CN');
  const o = name.getField('O');
  return { cn: cn.length === 1 ? (cn[0] ?? '') : '', o: o.length === 1 ? (o[0] ?? '') : '' };
}

/** Parses a PEM PKCS#10 request and checks its self-signature; InvalidArgument when it is not a valid one. */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  if (typeof pem !== 'string' || pem.length > MAX_CSR_BYTES || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw errors.invalidArgument('csr: want a PEM certificate request ("-----BEGIN CERTIFICATE REQUEST-----")');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw errors.invalidArgument(`csr: not a valid certificate request: ${(err as Error).message}`);
  }
  const alg = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw errors.invalidArgument('csr: the key must be ECDSA P-256');
  let ok = false;
  try {
    ok = await csr.verify();
  } catch {
    ok = false;
  }
  if (!ok) throw errors.invalidArgument('csr: its signature does not verify (the request was not signed by its own key)');
  return { subject: subjectOf(csr.subjectName), publicKey: csr.publicKey };
}

export interface IssueOptions {
  ca: KeyPairPem;
  subject: Subject;
  publicKey: x509.PublicKey | webcrypto.CryptoKey;
  ttlMs: number;
  /** client (default), server, or both. */
  usage?: 'client' | 'server' | 'both';
  /** Server certificates: DNS names and IP addresses. */
  hosts?: string[];
  now?: Date;
}

/** Signs a certificate with the CA; returns its PEM and serial (hex). */
export async function issueCertificate(o: IssueOptions): Promise<{ certPem: string; serial: string; notAfter: Date }> {
  const now = o.now ?? new Date();
  const caCert = new x509.X509Certificate(o.ca.certPem);
  const signingKey = await importSigningKey(o.ca.keyPem);
  const usage = o.usage ?? 'client';
  const eku = usage === 'client' ? [OID_CLIENT_AUTH] : usage === 'server' ? [OID_SERVER_AUTH] : [OID_SERVER_AUTH, OID_CLIENT_AUTH];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
  ];
  const hosts = o.hosts ?? [];
  if (hosts.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h })), false));
  }
  const notAfter = new Date(Math.min(now.getTime() + o.ttlMs, caCert.notAfter.getTime()));
  const sn = serial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    subject: subjectName(o.subject),
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    signingAlgorithm: ALG,
    publicKey: o.publicKey,
    signingKey,
    extensions,
  });
  return { certPem: cert.toString('pem'), serial: sn, notAfter };
}

/** A fresh key and a certificate for it, signed by the CA (admin credentials, serving certificates). */
export async function issueKeyPair(o: Omit<IssueOptions, 'publicKey'>): Promise<KeyPairPem & { serial: string; notAfter: Date }> {
  const keys = await newKeys();
  const c = await issueCertificate({ ...o, publicKey: keys.publicKey });
  return { certPem: c.certPem, keyPem: pemOfKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), serial: c.serial, notAfter: c.notAfter };
}

export interface CertInfo {
  subject: Subject;
  /** Lower-case hex, without leading zeros' ambiguity: as `issueCertificate` returned it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** What a certificate says (Node's parser). */
export function certInfo(certPem: string | Buffer): CertInfo {
  const c = new X509Certificate(certPem);
  const field = (k: string): string => {
    const vals = c.subject.split('\n').filter((l) => l.startsWith(`${k}=`));
    return vals.length === 1 ? (vals[0] ?? '').slice(k.length + 1) : '';
  };
  return { subject: { cn: field('CN'), o: field('O') }, serial: normalizeSerial(c.serialNumber), notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}

/** Serials compare as lower-case hex without leading zeros (Node and OpenSSL print them differently). */
export function normalizeSerial(s: string): string {
  return s.toLowerCase().replace(/:/g, '').replace(/^0+(?=.)/, '');
}

/** True when `certPem` was signed by `caPem` and is valid at `now`. */
export function verifiedBy(certPem: string, caPem: string, now = new Date()): boolean {
  try {
    const c = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!c.checkIssued(ca) || !c.verify(ca.publicKey)) return false;
    return new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  } catch {
    return false;
  }
}
