/**
 * Who may do what (issue 13), pure: a request's attributes from its method and URL, and the
 * decision for an identity. Roles, from least to most:
 *
 *   viewer    get, list and watch everything except secret values, tokens and backups; no
 *             logs, no exec (logs and exec reach into workloads)
 *   deployer  a viewer, plus create/update/delete of services (and scale), networks,
 *             secrets and configs, plus logs and exec; bound to one namespace when its token is
 *   admin     everything
 *   node      Kubernetes' Node authorizer: its own Node (create, read, write, status,
 *             heartbeat, tunnel, certificate renewal), its own tasks (list/watch with
 *             `spec.nodeName=<self>`, read and write status: the object check is a `guard`),
 *             and the cluster's network view (list/watch nodes and endpoints); nothing else
 *
 * A deny names the role, the verb and the resource, as DESIGN.md section 4 asks.
 */
import { API_GROUP_PATH, RESOURCES, type ResourcePlural } from '../../api/index.js';

export type Role = 'viewer' | 'deployer' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'deployer', 'admin'];

export type Identity =
  | { kind: 'user'; name: string; role: Role; namespace?: string; via: 'certificate' | 'token' }
  | { kind: 'node'; name: string };

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete' | 'logs' | 'exec' | 'connect';

export interface RequestAttrs {
  /** `public` paths need no identity. */
  public: boolean;
  verb: Verb;
  /** A plural (`services`), `cluster` for /apis/shoal/v1/cluster/..., `metrics`, or `other`. */
  resource: string;
  namespace?: string;
  name?: string;
  /** What follows the name: `status`, `scale`, `heartbeat`, `tunnel`, `tunnel/<id>`, `log`, `exec`, `certificate`; under `cluster`: `info`, `backup`, ... */
  sub?: string;
  /** A namespaced kind asked across all namespaces. */
  allNamespaces: boolean;
  fieldSelector?: string;
}

/** Paths anyone may read, and the one anyone may post to (joining is checked by its token). */
const PUBLIC_READS = new Set(['/healthz', '/readyz', '/version', `${API_GROUP_PATH}/cluster/ca`]);
const JOIN_PATH = `${API_GROUP_PATH}/cluster/join`;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses what a request asks for from its method and URL (path and query). */
export function requestAttributes(method: string, url: string): RequestAttrs {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(/\/+$/, '') || '/';
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const m = method.toUpperCase();
  const isPublic = (PUBLIC_READS.has(path) && (m === 'GET' || m === 'HEAD')) || (path === JOIN_PATH && m === 'POST');
  const base = { public: isPublic, allNamespaces: false };
  if (path === '/metrics') return { ...base, verb: 'get', resource: 'metrics' };
  if (!path.startsWith(`${API_GROUP_PATH}/`)) return { ...base, verb: verbOf(m, true, query), resource: 'other' };
  const segs = path.slice(API_GROUP_PATH.length + 1).split('/').map(safeDecode);
  let namespace: string | undefined;
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    namespace = segs[1];
    segs.splice(0, 2);
  }
  const resource = segs[0] ?? '';
  if (resource === 'cluster') {
    const sub = segs.slice(1).join('/');
    return { ...base, verb: verbOf(m, true, query), resource, ...(sub ? { sub } : {}) };
  }
  const name = segs[1];
  const sub = segs.slice(2).join('/') || undefined;
  const info = RESOURCES[resource as ResourcePlural] as { namespaced: boolean } | undefined;
  const fieldSelector = query.get('fieldSelector') ?? undefined;
  let verb = verbOf(m, name !== undefined, query);
  if (sub === 'log') verb = 'logs';
  else if (sub === 'exec') verb = 'exec';
  else if (sub === 'tunnel' || sub?.startsWith('tunnel/')) verb = 'connect';
  else if (sub === 'heartbeat' || sub === 'certificate') verb = 'update';
  return {
    ...base,
    verb,
    resource,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(sub !== undefined ? { sub } : {}),
    allNamespaces: info?.namespaced === true && namespace === undefined,
    ...(fieldSelector !== undefined ? { fieldSelector } : {}),
  };
}

function verbOf(m: string, named: boolean, query: URLSearchParams): Verb {
  switch (m) {
    case 'GET':
    case 'HEAD': {
      if (named) return 'get';
      const w = query.get('watch');
      return w === '1' || w === 'true' ? 'watch' : 'list';
    }
    case 'POST':
      return 'create';
    case 'PUT':
    case 'PATCH':
      return 'update';
    case 'DELETE':
      return 'delete';
    default:
      return 'get';
  }
}

/** What the handler must still check on the object it loads (the node's own tasks). */
export type Guard = { kind: 'task-on-node'; node: string } | { kind: 'node-named'; node: string };

export type Decision = { allowed: true; guard?: Guard } | { allowed: false; message: string };

const DEPLOYER_WRITES = new Set(['services', 'networks', 'secrets', 'configs']);
/** Readable by a viewer: every kind (secret values are held back by the secrets' own routes). */
const READ_VERBS = new Set<Verb>(['get', 'list', 'watch']);
/** Cluster operations only an admin may do: backups, join tokens, bearer tokens, key rotation. */
const CLUSTER_READS = new Set(['info']);

function describe(a: RequestAttrs): string {
  const what = a.resource === 'cluster' ? `cluster/${a.sub ?? ''}` : `${a.resource}${a.sub ? `/${a.sub}` : ''}`;
  const where = a.namespace !== undefined ? ` in namespace "${a.namespace}"` : a.allNamespaces ? ' in all namespaces' : '';
  return `${a.verb} ${what}${a.name !== undefined ? ` "${a.name}"` : ''}${where}`;
}

function deny(who: string, a: RequestAttrs, why?: string): Decision {
  return { allowed: false, message: `${who} may not ${describe(a)}${why ? `: ${why}` : ''}` };
}

/** The decision for `id` on `a` (public paths are allowed before this is asked). */
export function authorize(id: Identity, a: RequestAttrs): Decision {
  if (a.public) return { allowed: true };
  if (id.kind === 'node') return authorizeNode(id.name, a);
  const who = `${id.kind === 'user' ? `user "${id.name}"` : ''} (role ${id.role}${id.namespace !== undefined ? `, namespace ${id.namespace}` : ''})`.trim();
  if (id.role === 'admin') return { allowed: true };
  // Namespace-bound identities: only their namespace; cluster-scoped reads stay open.
  if (id.namespace !== undefined) {
    if (a.allNamespaces) return deny(who, a, `the credential is bound to namespace "${id.namespace}"`);
    if (a.namespace !== undefined && a.namespace !== id.namespace) return deny(who, a, `the credential is bound to namespace "${id.namespace}"`);
  }
  if (a.resource === 'metrics') return { allowed: true };
  if (a.resource === 'cluster') {
    if (a.verb === 'get' && CLUSTER_READS.has(a.sub ?? '')) return { allowed: true };
    return deny(who, a, 'cluster operations need the admin role');
  }
  if (a.resource === 'other' || !(a.resource in RESOURCES)) return deny(who, a);
  // A task's secret and config values are for its node (and admins, above).
  if (a.resource === 'tasks' && (a.sub?.startsWith('secrets/') || a.sub?.startsWith('configs/'))) return deny(who, a, "a task's secrets are sent only to its node");
  if (READ_VERBS.has(a.verb) && a.sub !== 'tunnel') return { allowed: true };
  if (id.role === 'viewer') return deny(who, a, a.verb === 'logs' || a.verb === 'exec' ? 'logs and exec need the deployer role' : 'viewers only read');
  // deployer
  if (a.verb === 'logs' || a.verb === 'exec') return { allowed: true };
  if (DEPLOYER_WRITES.has(a.resource) && (a.verb === 'create' || a.verb === 'update' || a.verb === 'delete') && (a.sub === undefined || a.sub === 'scale')) {
    return { allowed: true };
  }
  return deny(who, a, `deployers manage ${[...DEPLOYER_WRITES].join(', ')}`);
}

function fieldSelectorIsOwn(sel: string | undefined, node: string): boolean {
  if (sel === undefined) return false;
  return sel.split(',').some((t) => {
    const term = t.trim();
    return term === `spec.nodeName=${node}` || term === `spec.nodeName==${node}`;
  });
}

function authorizeNode(node: string, a: RequestAttrs): Decision {
  const who = `node "${node}"`;
  if (a.resource === 'nodes') {
    if ((a.verb === 'list' || a.verb === 'watch') && a.name === undefined) return { allowed: true };
    // Create: the body's name is checked against the certificate by the guard.
    if (a.verb === 'create' && a.name === undefined) return { allowed: true, guard: { kind: 'node-named', node } };
    if (a.name !== node) return deny(who, a, 'a node may only act on its own Node');
    if (a.verb === 'delete') return deny(who, a);
    if (a.verb === 'get' || a.verb === 'update' || a.verb === 'connect') return { allowed: true };
    return deny(who, a);
  }
  if (a.resource === 'tasks') {
    if ((a.verb === 'list' || a.verb === 'watch') && a.name === undefined) {
      return fieldSelectorIsOwn(a.fieldSelector, node) ? { allowed: true } : deny(who, a, `a node lists only its own tasks (fieldSelector=spec.nodeName=${node})`);
    }
    if (a.name !== undefined && (a.verb === 'get' || (a.verb === 'update' && a.sub === 'status'))) return { allowed: true, guard: { kind: 'task-on-node', node } };
    return deny(who, a);
  }
  if (a.resource === 'endpoints' && (a.verb === 'list' || a.verb === 'watch' || a.verb === 'get')) return { allowed: true };
  return deny(who, a);
}
