/**
 * Logs and exec of cluster tasks through the controller: the fastify plugin that puts the
 * HTTP shell around a TunnelHub. Its parts:
 *
 *   tunnel-agent-routes.ts   the agents' side: the held tunnel, and the answer to a request
 *   tunnel-client-routes.ts  the clients' side: task log, task exec, service log (with follow)
 *   tunnel-relay.ts          opening a task's stream and relaying it to the client
 *
 * Log entries and exec frames are the engine's NDJSON (pkg/agent/engine/containers.ts). A
 * client that goes away tears the agent's request down, which aborts its engine request.
 * docs/api.md ("Logs and exec through the controller") has the sequence.
 */
import type { FastifyInstance } from 'fastify';
import { STREAM_CONTENT_TYPE } from '../../api/index.js';
import type { RouteDeps } from './deps.js';
import type { TunnelHub } from './tunnel.js';
import { agentTunnelRoutes } from './tunnel-agent-routes.js';
import { clientTunnelRoutes } from './tunnel-client-routes.js';

export interface TunnelRoutesOptions {
  hub: TunnelHub;
  /** Interval of `{"op":"ping"}` lines on every tunnel. Default 15 s (agents give up after 45 s of silence). */
  keepaliveMs?: number;
  /** Pause before a broken task watch of a followed service log is reopened. Default 1 s. */
  rewatchMs?: number;
}

export function tunnelRoutes(deps: RouteDeps, opts: TunnelRoutesOptions) {
  const hub = opts.hub;
  return async (app: FastifyInstance): Promise<void> => {
    // Stream bodies (the agent's answers, exec stdin) are handed to the handler unread.
    app.addContentTypeParser(STREAM_CONTENT_TYPE, (_req, payload, done) => done(null, payload));
    app.addHook('onClose', async () => hub.close());
    agentTunnelRoutes(app, deps, hub, opts.keepaliveMs ?? 15_000);
    clientTunnelRoutes(app, deps, hub, opts.rewatchMs ?? 1_000);
  };
}
