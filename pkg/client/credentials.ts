/**
 * How a client proves who it is to the controller (issue 13): the cluster CA it trusts, and
 * a client certificate and key (nodes, admin.config) or a bearer token (`shoalctl token
 * create`). A source may change under a long-lived client (a node's certificate is renewed):
 * clients ask for the current credentials at every request.
 */
import type { TlsClientOptions } from './http.js';

export interface ClientCredentials {
  /** PEM of the cluster CA. */
  ca?: string;
  /** PEM client certificate and its key. */
  cert?: string;
  key?: string;
  /** A bearer token (`shoal-<id>.<secret>`). */
  token?: string;
}

export type CredentialSource = ClientCredentials | (() => ClientCredentials);

export function currentCredentials(src: CredentialSource | undefined): ClientCredentials {
  if (src === undefined) return {};
  return typeof src === 'function' ? src() : src;
}

export function tlsOf(c: ClientCredentials): TlsClientOptions | undefined {
  if (c.ca === undefined && c.cert === undefined) return undefined;
  return { ...(c.ca ? { ca: c.ca } : {}), ...(c.cert ? { cert: c.cert } : {}), ...(c.key ? { key: c.key } : {}) };
}

export function authHeaders(c: ClientCredentials): Record<string, string> {
  return c.token ? { authorization: `Bearer ${c.token}` } : {};
}
