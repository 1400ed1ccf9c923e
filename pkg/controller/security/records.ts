/**
 * The cluster's security records in etcd (issue 13), beside the API objects:
 *
 *   /shoal/v1/cluster/pki             the CA (certificate; key sealed with the cluster key) and the
 *                                     cluster encryption keys (sealed with the cluster key)
 *   /shoal/v1/cluster/join-tokens     the worker join secret, sealed with the encryption key
 *   /shoal/v1/tokens/<id>             bearer tokens: role, namespace, expiry, SHA-256 of the secret
 *   /shoal/v1/nodecerts/<node>        the serials of the node's live certificates; deleted with
 *                                     the Node, which is what makes a removed node's certificate fail
 *
 * The cluster key never leaves the controllers' data dirs (or --cluster-key-file); the CA
 * key and every secret value are stored only sealed (AES-256-GCM, bound to their etcd key).
 */
import { errors } from '../../api/index.js';
import { KEY_ROOT } from '../../store/index.js';
import type { Role } from './authz.js';

export const PKI_KEY = `${KEY_ROOT}cluster/pki`;
export const JOIN_TOKENS_KEY = `${KEY_ROOT}cluster/join-tokens`;
export const TOKENS_PREFIX = `${KEY_ROOT}tokens/`;
export const NODECERTS_PREFIX = `${KEY_ROOT}nodecerts/`;

export interface PkiRecord {
  caCertPem: string;
  /** The CA's PKCS#8 key, sealed with the cluster key. */
  caKeySealed: string;
  /** Encryption keys for values at rest, newest first, each sealed with the cluster key. */
  encKeysSealed: string[];
  createdAt: string;
}

export interface JoinTokensRecord {
  worker: { secretSealed: string; rotatedAt: string };
}

export interface TokenRecord {
  id: string;
  role: Role;
  namespace?: string;
  /** SHA-256 (hex) of the secret. */
  secretHash: string;
  createdAt: string;
  expiresAt?: string;
  createdBy: string;
  description?: string;
}

export interface NodeCertsRecord {
  /** Normalized serials (lower-case hex, no leading zeros) of the certificates the node may use: the newest first. */
  serials: string[];
  updatedAt: string;
}

export function nodeCertsKey(node: string): string {
  return `${NODECERTS_PREFIX}${node}`;
}

export function tokenKey(id: string): string {
  return `${TOKENS_PREFIX}${id}`;
}

export function parseRecord<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw errors.dataLoss(`the stored ${what} is not valid JSON`);
  }
}
