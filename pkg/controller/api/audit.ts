/**
 * The audit log (`--audit-log FILE`, issue 13): one JSON line per mutating request and per
 * exec, written after the answer: when, who (user or node, role, namespace binding), what
 * (verb, resource, namespace, name, subresource; an exec's command), the answer's status and
 * where from. Nodes' heartbeats, their own status writes and their tunnel answers are left
 * out (thousands a second in a large cluster, and every exec is logged on the user's side).
 * The file is opened for append, mode 0600; a write that fails is counted, never fatal.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { decodeExecSpecParam } from '../../api/index.js';
import { requestAttributes } from '../security/authz.js';
import { identityOf } from './auth.js';

export interface AuditRecord {
  time: string;
  user: { kind: 'user' | 'node' | 'anonymous'; name?: string; role?: string; namespace?: string };
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  sub?: string;
  command?: string[];
  code: number;
  remote: string;
}

export interface AuditSink {
  write(rec: AuditRecord): void;
  close(): Promise<void>;
}

/** Appends JSON lines to `path` (created 0600). */
export function fileAuditSink(path: string, onError: (err: Error) => void): AuditSink {
  const out: WriteStream = createWriteStream(path, { flags: 'a', mode: 0o600 });
  out.on('error', onError);
  return {
    write: (rec) => {
      out.write(`${JSON.stringify(rec)}\n`);
    },
    close: () => new Promise((resolve) => out.end(() => resolve())),
  };
}

const QUIET_NODE_SUBS = new Set(['heartbeat', 'status']);

export function installAudit(app: FastifyInstance, sink: AuditSink): void {
  app.addHook('onResponse', async (req, reply) => {
    const a = requestAttributes(req.method, req.url);
    const mutating = !['GET', 'HEAD', 'OPTIONS'].includes(req.method.toUpperCase());
    if (!mutating && a.verb !== 'exec') return;
    const id = identityOf(req);
    if (id?.kind === 'node' && (QUIET_NODE_SUBS.has(a.sub ?? '') || a.verb === 'connect')) return;
    let command: string[] | undefined;
    if (a.verb === 'exec') {
      try {
        const spec = new URL(req.url, 'http://x').searchParams.get('spec');
        if (spec !== null) command = decodeExecSpecParam(spec).cmd;
      } catch {
        command = undefined;
      }
    }
    sink.write({
      time: new Date().toISOString(),
      user: id === undefined ? { kind: 'anonymous' } : id.kind === 'node' ? { kind: 'node', name: id.name } : { kind: 'user', name: id.name, role: id.role, ...(id.namespace !== undefined ? { namespace: id.namespace } : {}) },
      verb: a.verb,
      resource: a.resource === 'cluster' ? `cluster/${a.sub ?? ''}` : a.resource,
      ...(a.namespace !== undefined ? { namespace: a.namespace } : {}),
      ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.sub !== undefined && a.resource !== 'cluster' ? { sub: a.sub } : {}),
      ...(command !== undefined ? { command } : {}),
      code: reply.statusCode,
      remote: req.ip,
    });
  });
}
