/**
 * The cluster's security endpoints (issue 13):
 *
 *   GET    /apis/shoal/v1/cluster/ca                          public: the CA certificate and its fingerprint
 *   POST   /apis/shoal/v1/cluster/join                        public, by join token: {token, csr} → {certificate, ca}
 *   POST   /apis/shoal/v1/nodes/{name}/certificate            the node itself: {csr} → {certificate, ca}
 *   GET    /apis/shoal/v1/cluster/join-tokens/worker          admin: {token}
 *   POST   /apis/shoal/v1/cluster/join-tokens/worker/rotate   admin: a new secret; the old one stops working
 *   GET    /apis/shoal/v1/cluster/tokens                      admin: bearer tokens (never their secrets)
 *   POST   /apis/shoal/v1/cluster/tokens                      admin: {role, namespace?, ttl?, description?} → {token, ...}
 *   DELETE /apis/shoal/v1/cluster/tokens/{id}                 admin: revoke
 *   POST   /apis/shoal/v1/cluster/rotate-key                  admin: a new encryption key; every secret sealed again
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { API_GROUP_PATH, errors, isDnsLabel, isShoalError, parseDurationMs, type FieldCause, type Secret } from '../../api/index.js';
import { parseBoolParam } from '../../httpserver/index.js';
import { redactSecret } from '../registry/index.js';
import { ROLES, type Role } from '../security/authz.js';
import type { TokenRecord } from '../security/records.js';
import { identityOf } from './auth.js';
import type { RouteDeps } from './deps.js';
import { namespaceParam, param, query } from './request.js';

function tokenView(r: TokenRecord): Omit<TokenRecord, 'secretHash'> {
  const { secretHash: _hash, ...rest } = r;
  return rest;
}

function body(req: { body: unknown }): Record<string, unknown> {
  const b = req.body;
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw errors.invalidArgument('the body must be a JSON object');
  return b as Record<string, unknown>;
}

export function securityRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const security = (): NonNullable<RouteDeps['security']> => {
      if (deps.security === undefined) throw errors.unimplemented('this controller runs without its cluster security (a test build)');
      return deps.security;
    };
    const C = `${API_GROUP_PATH}/cluster`;
    app.get(`${C}/ca`, async () => ({ kind: 'ClusterCA', certificate: security().ca.certPem, fingerprint: security().caFingerprint }));

    app.post(`${C}/join`, async (req) => {
      const b = body(req);
      const r = await security().join(b['token'], b['csr'], async (name) => {
        try {
          await deps.registry.nodes.get(undefined, name);
          return true;
        } catch (err) {
          if (isShoalError(err, 'NotFound')) return false;
          throw err;
        }
      });
      return { kind: 'NodeCertificate', ...r };
    });

    app.post(`${API_GROUP_PATH}/nodes/:name/certificate`, async (req) => {
      const name = param(req, 'name');
      const id = identityOf(req);
      if (id?.kind !== 'node' || id.name !== name) throw errors.permissionDenied(`only node "${name}" itself renews its certificate (with its current certificate)`);
      const sock = req.raw.socket as TLSSocket;
      const serial = sock.getPeerCertificate().serialNumber;
      return { kind: 'NodeCertificate', ...(await security().renew(name, body(req)['csr'], serial)) };
    });

    app.get(`${C}/join-tokens/worker`, async () => ({ kind: 'JoinToken', role: 'worker', token: await security().workerJoinToken(false) }));
    app.post(`${C}/join-tokens/worker/rotate`, async () => ({ kind: 'JoinToken', role: 'worker', token: await security().workerJoinToken(true) }));

    app.post(`${C}/rotate-key`, async () => ({ kind: 'KeyRotation', ...(await security().rotateKey()) }));

    app.get(`${C}/tokens`, async () => ({ kind: 'TokenList', items: (await security().listTokens()).map(tokenView) }));
    app.post(`${C}/tokens`, async (req, reply) => {
      const b = body(req);
      const causes: FieldCause[] = [];
      const role = b['role'];
      if (typeof role !== 'string' || !ROLES.includes(role as Role)) causes.push({ field: 'role', reason: 'FieldValueNotSupported', message: `must be one of ${ROLES.join(', ')}` });
      const ns = b['namespace'];
      if (ns !== undefined && (typeof ns !== 'string' || !isDnsLabel(ns))) causes.push({ field: 'namespace', reason: 'FieldValueInvalid', message: 'must be a DNS-1123 label' });
      let ttlMs: number | undefined;
      if (b['ttl'] !== undefined) {
        try {
          if (typeof b['ttl'] !== 'string') throw new Error('not a string');
          ttlMs = parseDurationMs(b['ttl']);
          if (ttlMs <= 0) throw new Error('not positive');
        } catch {
          causes.push({ field: 'ttl', reason: 'FieldValueInvalid', message: 'must be a positive duration such as 24h' });
        }
      }
      const description = b['description'];
      if (description !== undefined && (typeof description !== 'string' || description.length > 256)) causes.push({ field: 'description', reason: 'FieldValueInvalid', message: 'a string of at most 256 characters' });
      for (const k of Object.keys(b)) if (!['role', 'namespace', 'ttl', 'description'].includes(k)) causes.push({ field: k, reason: 'FieldValueNotSupported', message: 'unknown field' });
      if (causes.length > 0) throw errors.invalid('the token request is invalid', causes);
      const r = await security().createToken({
        role: role as Role,
        ...(typeof ns === 'string' ? { namespace: ns } : {}),
        ...(ttlMs !== undefined ? { ttlMs } : {}),
        ...(typeof description === 'string' ? { description } : {}),
        createdBy: deps.who(req),
      });
      return reply.code(201).send({ kind: 'Token', token: r.token, ...tokenView(r.record) });
    });
    app.delete(`${C}/tokens/:id`, async (req) => {
      const id = param(req, 'id');
      await security().deleteToken(id);
      return { apiVersion: 'v1', kind: 'Status', metadata: {}, status: 'Success', code: 200, message: `token ${id} revoked` };
    });
  };
}

/**
 * What a request sees of a Secret: never its value, but for an admin asking `?reveal=1`
 * (a non-admin asking is refused, not quietly given less).
 */
export function secretPresenter(req: FastifyRequest, authOff: boolean): (obj: Secret) => Secret {
  const reveal = parseBoolParam(query(req, 'reveal'), 'reveal');
  if (reveal && !authOff) {
    const id = identityOf(req);
    if (!(id?.kind === 'user' && id.role === 'admin')) throw errors.permissionDenied(`${id?.kind === 'user' ? `role ${id.role}` : id?.kind === 'node' ? `node "${id.name}"` : 'anonymous'} may not reveal secret values: only an admin may`);
  }
  return (o) => redactSecret(o, reveal);
}

/**
 * The value of a secret or config for the node that runs a task referencing it:
 *
 *   GET /apis/shoal/v1/namespaces/{ns}/tasks/{task}/secrets/{name}  → {kind: SecretValue, data}
 *   GET /apis/shoal/v1/namespaces/{ns}/tasks/{task}/configs/{name}  → {kind: ConfigValue, data}
 *
 * The authorizer lets only the task's node (and admins) ask; the task must name the secret.
 */
export function taskReferenceRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    const base = `${API_GROUP_PATH}/namespaces/:ns/tasks/:name`;
    for (const kind of ['secrets', 'configs'] as const) {
      app.get(`${base}/${kind}/:ref`, async (req) => {
        const ns = namespaceParam(req);
        const task = await deps.registry.tasks.get(ns, param(req, 'name'), deps.checks(req));
        const ref = param(req, 'ref');
        const refs = task.spec.template.spec[kind] ?? [];
        if (!refs.some((r) => r.source === ref)) throw errors.permissionDenied(`task ${task.metadata.name} does not use ${kind === 'secrets' ? 'secret' : 'config'} ${ref}`);
        const obj = await (kind === 'secrets' ? deps.registry.secrets : deps.registry.configs).get(ns, ref);
        return { kind: kind === 'secrets' ? 'SecretValue' : 'ConfigValue', name: ref, generation: obj.metadata.generation ?? 1, data: obj.data ?? '' };
      });
    }
  };
}
