/** `/healthz`, `/readyz`, `/version`, `/metrics` and `/apis/shoal/v1/cluster/info`. */
import type { FastifyInstance } from 'fastify';
import { API_GROUP_PATH, API_VERSION, errors, toShoalError } from '../../api/index.js';
import type { EtcdHealth } from '../../store/index.js';
import type { RouteDeps } from './deps.js';

/** The etcd part of cluster info: the leader's endpoint and each member as the probes see it. */
function etcdInfo(h: EtcdHealth): object {
  return {
    state: h.state,
    ...(h.leader?.endpoint !== undefined ? { leader: h.leader.endpoint } : {}),
    ...(h.reason !== undefined ? { reason: h.reason } : {}),
    members: h.members.map((m) => ({ endpoint: m.endpoint, reachable: m.reachable, isLeader: m.isLeader })),
  };
}

const READY_TIMEOUT_MS = 2000;

export function systemRoutes(deps: RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
    app.get('/readyz', async (_req, reply) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          deps.store.revision(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(errors.unavailable('store did not answer in time')), READY_TIMEOUT_MS))),
        ]);
      } catch (err) {
        const e = toShoalError(err);
        throw errors.unavailable(`store unreachable: ${e.message}`, { retryAfterSeconds: 1, cause: err });
      } finally {
        clearTimeout(timer);
      }
      return reply.type('text/plain').send('ok');
    });
    app.get('/version', async () => ({ version: deps.version, apiVersion: API_VERSION, node: process.version }));
    app.get('/metrics', async (_req, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
    app.get(`${API_GROUP_PATH}/cluster/info`, async () => {
      const leader = deps.leaderInfo ? await deps.leaderInfo() : undefined;
      const nodes = await deps.registry.nodes.list({});
      const byState: Record<string, number> = {};
      for (const n of nodes.items) byState[n.status?.state ?? 'unknown'] = (byState[n.status?.state ?? 'unknown'] ?? 0) + 1;
      return {
        apiVersion: API_VERSION,
        kind: 'ClusterInfo',
        version: deps.version,
        controller: leader ? { ...(leader.id !== undefined ? { id: leader.id } : {}), isLeader: leader.isLeader } : undefined,
        leader: leader?.leader,
        nodes: { total: nodes.items.length, byState },
        ...(deps.storeHealth ? { etcd: etcdInfo(deps.storeHealth()) } : {}),
      };
    });
  };
}
