/**
 * How a client proves who it is to the controller (issue 13): the cluster CA it trusts, and
 * a client certificate and key (nodes, admin.config) or a bearer token (`shoalctl token
 * create`). A source may change under a long-lived client (a node's certificate is renewed):
 * clients ask for the current credentials at every request.
 */
import { Agent as HttpsAgent } from 'node:https';
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

/**
 * One keep-alive HTTPS agent per set of credentials (an object: a renewed certificate is a new
 * one). At most 16 connections per controller: a burst of calls (an agent writing the status
 * of a hundred tasks at once) queues on warm connections instead of paying a TLS handshake,
 * on both sides, for each. Idle sockets do not keep a process alive.
 */
const AGENTS = new WeakMap<ClientCredentials, HttpsAgent>();
export function httpsAgentFor(c: ClientCredentials): HttpsAgent | undefined {
  const tls = tlsOf(c);
  if (tls === undefined) return undefined;
  let a = AGENTS.get(c);
  if (a === undefined) {
    a = new HttpsAgent({ keepAlive: true, maxSockets: 16, ...tls });
    AGENTS.set(c, a);
  }
  return a;
}
