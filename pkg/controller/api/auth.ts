/**
 * Authentication and authorization of every API request (issue 13), as fastify hooks:
 *
 *   onRequest   who is asking (client certificate verified by TLS against the cluster CA, or a
 *               bearer token), then whether they may (authorize: role, verb, resource). Public
 *               paths (/healthz, /readyz, /version, the CA, join) pass without an identity.
 *   preHandler  what needs the parsed body: a node registers only a Node of its own name.
 *
 * Object-level checks (a node's own tasks; what only an admin may run) go to the registry as
 * `RequestChecks` through `checksOf(req)`, so they see the stored and the resulting object.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors, type ApiObject, type Service, type Task } from '../../api/index.js';
import type { RequestChecks } from '../registry/index.js';
import { authorize, requestAttributes, type Guard, type Identity } from '../security/authz.js';
import type { ClusterSecurity, PeerCertificate } from '../security/cluster-security.js';

/** What a request's identity is known as for the rest of its life. */
interface AuthState {
  identity?: Identity;
  guard?: Guard;
}

const STATE = new WeakMap<FastifyRequest, AuthState>();

/** The authenticated identity of a request (undefined on public paths and with auth off). */
export function identityOf(req: FastifyRequest): Identity | undefined {
  return STATE.get(req)?.identity;
}

/** A spec feature only an admin may ask for; the admission layer lists them. */
export type PrivilegedFeatures = (spec: Service['spec']) => { field: string; reason: string }[];

export interface AuthOptions {
  /** The cluster's security; `'off'` only in unit tests that build the app without TLS. */
  security: ClusterSecurity | 'off';
  /** Features of a service only admins may create (network: host, low ports, host paths). */
  privileged?: PrivilegedFeatures;
}

/** A TLS socket's client certificate, parsed once per connection. */
const PEERS = new WeakMap<object, PeerCertificate | null>();

function peerOf(req: FastifyRequest): PeerCertificate | undefined {
  const sock = req.raw.socket as TLSSocket;
  if (!sock.encrypted) return undefined;
  const cached = PEERS.get(sock);
  if (cached !== undefined) return cached ?? undefined;
  const c = sock.getPeerCertificate();
  let peer: PeerCertificate | null = null;
  if (c && Object.keys(c).length > 0) {
    if (!sock.authorized) throw errors.unauthorized(`the client certificate is not valid for this cluster: ${String(sock.authorizationError ?? 'not signed by its CA')}`);
    const subj = c.subject as unknown as Record<string, string | string[] | undefined>;
    const one = (v: string | string[] | undefined): string => (typeof v === 'string' ? v : '');
    peer = { cn: one(subj['CN']), o: one(subj['O']), serial: c.serialNumber };
  }
  PEERS.set(sock, peer);
  return peer ?? undefined;
}

/** The object-level checks of one request (see `checksOf`). */
export type ChecksOf = <T extends ApiObject>(req: FastifyRequest) => RequestChecks<T> | undefined;

/** Installs the hooks; returns the object-level checks to hand to the registry per request. */
export function installAuth(app: FastifyInstance, opts: AuthOptions): ChecksOf {
  const security = opts.security;
  if (security === 'off') return () => undefined;
  app.addHook('onRequest', async (req) => {
    const attrs = requestAttributes(req.method, req.url);
    const peer = peerOf(req);
    const header = req.headers.authorization;
    const identity = security.authenticate(peer, typeof header === 'string' ? header : undefined);
    if (attrs.public) {
      if (identity) STATE.set(req, { identity });
      return;
    }
    if (identity === undefined) {
      throw errors.unauthorized('authentication required: present a client certificate of this cluster or "Authorization: Bearer <token>" (see "shoalctl context import" and "shoalctl token create")');
    }
    const d = authorize(identity, attrs);
    if (!d.allowed) throw errors.permissionDenied(d.message);
    STATE.set(req, { identity, ...(d.guard ? { guard: d.guard } : {}) });
  });
  app.addHook('preHandler', async (req) => {
    const st = STATE.get(req);
    if (st?.guard?.kind !== 'node-named') return;
    const body = req.body as { metadata?: { name?: unknown } } | undefined;
    const name = body?.metadata?.name;
    if (name !== st.guard.node) throw errors.permissionDenied(`node "${st.guard.node}" may not register a Node named ${JSON.stringify(name)}`);
  });
  return <T extends ApiObject>(req: FastifyRequest) => checksFor<T>(req, opts.privileged);
}

/**
 * The object-level checks of a request for the registry: a node's own tasks, and what only
 * admins may create. Undefined when nothing remains to check.
 */
function checksFor<T extends ApiObject>(req: FastifyRequest, privileged: PrivilegedFeatures | undefined): RequestChecks<T> | undefined {
  const st = STATE.get(req);
  if (st?.identity === undefined) return undefined;
  const id = st.identity;
  const checks: RequestChecks<T> = {};
  if (st.guard?.kind === 'task-on-node') {
    const node = st.guard.node;
    checks.onCurrent = (cur) => {
      if ((cur as Task).kind !== 'Task' || (cur as Task).spec.nodeName !== node) {
        throw errors.permissionDenied(`node "${node}" may not access task "${cur.metadata.name}": it is not assigned to this node`);
      }
    };
  }
  if (privileged && !(id.kind === 'user' && id.role === 'admin')) {
    checks.onNext = (next) => {
      if ((next as Service).kind !== 'Service') return;
      const found = privileged((next as Service).spec);
      if (found.length > 0) {
        const who = id.kind === 'node' ? `node "${id.name}"` : `role ${id.role}`;
        throw errors.permissionDenied(`${who} may not create a service that reaches the host: ${found.map((f) => `${f.field} (${f.reason})`).join('; ')}; only an admin may`);
      }
    };
  }
  return checks.onCurrent || checks.onNext ? checks : undefined;
}
