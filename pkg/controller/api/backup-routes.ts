/**
 * `GET /apis/shoal/v1/cluster/backup`: a snapshot of the whole store, streamed as it comes
 * from etcd (Maintenance.Snapshot: the bolt database followed by its sha256, the file
 * `etcdctl snapshot save` writes and `shoal-controller --restore` takes).
 *
 * The first chunk is awaited before the 200 goes out, so an etcd without a leader is a 503
 * with Retry-After like any other call; a failure after that cuts the response (no chunked
 * terminator), which the client reports, and the trailing checksum catches anything else.
 * A client that leaves cancels the etcd stream. Once the API has identities, admin only: a
 * snapshot holds every object, secrets included.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { API_GROUP_PATH, errors } from '../../api/index.js';
import { clientGone } from '../../httpserver/index.js';
import type { RouteDeps } from './deps.js';

export const BACKUP_PATH = `${API_GROUP_PATH}/cluster/backup`;

export function backupRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(BACKUP_PATH, async (_req, reply) => {
      const snapshot = deps.snapshot;
      if (snapshot === undefined) throw errors.unimplemented('this controller cannot take backups: its store is not etcd');
      const signal = clientGone(reply);
      const chunks = snapshot(signal)[Symbol.asyncIterator]();
      const first = await chunks.next();
      async function* rest(): AsyncGenerator<Uint8Array> {
        try {
          if (first.done !== true) yield first.value;
          for (;;) {
            const next = await chunks.next();
            if (next.done === true) return;
            yield next.value;
          }
        } finally {
          await chunks.return?.();
        }
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="shoal-backup-${stamp}.db"`)
        .header('cache-control', 'no-store')
        .send(Readable.from(rest(), { objectMode: false }));
    });
  };
}
