// shoal-controller entry point: flags/config → store (embedded or external etcd) → the
// controller (API server on every replica; orchestrator, scheduler and node monitor on the
// elected leader) → orderly shutdown on SIGTERM/SIGINT.
import { mkdir, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { destination, pino } from 'pino';
import { clusterReservedPorts, privilegedServiceFeatures, SHOAL_VERSION, toShoalError } from '../../pkg/api/index.js';
import {
  adminServerUrl, buildApiServer, ClusterSecurity, fileAuditSink, ControllerMetrics, controllerHosts, EtcdSupervisor, HeartbeatService, loadClusterKey, runControlLoops, writeAdminConfig,
} from '../../pkg/controller/index.js';
import { EtcdStore, type EtcdHealth } from '../../pkg/store/index.js';
import { protectFromOom } from '../../pkg/util/index.js';
import { shutdownOnSignals } from '../shutdown.js';
import { parseControllerConfig, type ControllerConfig } from './config.js';

const log = pino({ name: 'shoal-controller', level: process.env['SHOAL_LOG_LEVEL'] ?? 'info' }, destination(2));

let config: ControllerConfig;
try {
  config = await parseControllerConfig(process.argv.slice(2), (p) => readFile(p, 'utf8'));
} catch (err) {
  process.stderr.write(`shoal-controller: ${toShoalError(err).message}\n`);
  process.exit(2);
}

const shutdown = { signal: shutdownOnSignals(log) };

const logger = {
  info: (m: string) => log.info(m),
  warn: (m: string) => log.warn(m),
  error: (m: string) => log.error(m),
};

let supervisor: EtcdSupervisor | undefined;
let store: EtcdStore | undefined;
let exitCode = 0;
// Before the embedded etcd starts, so it inherits the protection.
const oom = await protectFromOom();
if (oom !== undefined) log.warn(oom);
try {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  let endpoints = config.etcd;
  if (endpoints === undefined) {
    supervisor = await EtcdSupervisor.start({ dir: join(config.dataDir, 'etcd'), logger, ...(config.restore !== undefined ? { restoreFrom: config.restore } : {}) });
    endpoints = supervisor.endpoints;
  }
  log.info({ endpoints, embedded: supervisor !== undefined }, 'using etcd');
  store = new EtcdStore({ endpoints, onHealthChange: logEtcdHealth, ...(supervisor ? { tls: supervisor.tls } : {}) });
  await runController(store, config, shutdown.signal);
} catch (err) {
  const e = toShoalError(err);
  if (e.code !== 'Canceled' || !shutdown.signal.aborted) {
    log.error({ code: e.code }, e.message);
    exitCode = 1;
  }
} finally {
  // Order: the loops and the API server have stopped (runController returned), so every
  // watch is done and the election resigned; now close the store, then the embedded etcd.
  await within(4_000, 'closing the store', store?.close());
  await supervisor?.stop().catch((err: unknown) => log.warn(`stopping embedded etcd: ${toShoalError(err).message}`));
  log.info('stopped');
}
process.exit(exitCode);

/** The store's etcd gained or lost its leader: what the API does now. */
function logEtcdHealth(h: EtcdHealth): void {
  const members = h.members.map((m) => `${m.endpoint}${m.reachable ? (m.isLeader ? ' (leader)' : '') : ' (down)'}`).join(', ');
  if (h.state === 'no-leader') log.warn({ members }, `etcd has no leader: ${h.reason ?? 'quorum lost'}; the API answers 503 until it has one`);
  else if (h.state === 'ok') log.info({ members }, `etcd leader: ${h.leader?.endpoint ?? h.leader?.memberId ?? '?'}`);
}

/**
 * Shutdown is orderly but bounded: a step that hangs (an etcd call on a sick cluster, a
 * client that never closes its connection) is logged and left behind after `ms`, so SIGTERM
 * always ends the process in a predictable time.
 */
async function within(ms: number, what: string, step: Promise<unknown> | undefined): Promise<void> {
  if (step === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([
    step.then(
      () => 'done' as const,
      (err: unknown) => {
        log.warn(`${what}: ${toShoalError(err).message}`);
        return 'done' as const;
      },
    ),
    late,
  ]);
  clearTimeout(timer);
  if (outcome === 'late') log.warn(`${what}: still not done after ${ms} ms; going on with the shutdown`);
}

/**
 * Serves the API and runs the leader-only control loops until `signal` fires, then stops
 * them (API closed, leadership resigned, watches cancelled) before returning.
 */
async function runController(store: EtcdStore, cfg: ControllerConfig, signal: AbortSignal): Promise<void> {
  const controllerId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const heartbeat = new HeartbeatService({ store, nodeTimeoutMs: cfg.nodeTimeoutMs, controllerId });
  const loopsStop = new AbortController();
  const metrics = new ControllerMetrics();
  const loops = runControlLoops({
    store,
    metrics,
    clusterCidr: cfg.clusterCIDR,
    serviceCidr: cfg.serviceCIDR,
    nodeTimeoutMs: cfg.nodeTimeoutMs,
    leaderTtlSeconds: cfg.leaderLeaseSeconds,
    controllerId,
    signal: loopsStop.signal,
    onError: (err) => log.warn({ code: toShoalError(err).code }, `control loop: ${toShoalError(err).message}`),
    onEvent: (e) => {
      const msg = e.type === 'leading' ? `${controllerId} is the leader` : `leader election: ${e.type}${e.message ? `: ${e.message}` : ''}`;
      // Losing a term or failing a campaign is worth a warning; leading is news.
      if (e.type === 'leading') log.info({ event: e.type }, msg);
      else log.warn({ event: e.type }, msg);
    },
  });
  // The cluster's PKI: loaded from etcd (or made on the cluster's first start), opened with
  // the cluster key; the serving certificate is issued afresh at every start.
  const clusterKey = await loadClusterKey(cfg.dataDir, cfg.clusterKeyFile);
  if (clusterKey.created) log.info({ path: clusterKey.path }, 'made a new cluster key: every other controller of this cluster needs it (--cluster-key-file)');
  const security = await ClusterSecurity.bootstrap({
    store,
    clusterKey: clusterKey.key,
    certTtlMs: cfg.certExpiryMs,
    onError: (err) => log.warn(`security records: ${toShoalError(err).message}`),
  });
  const securityStop = new AbortController();
  const securityRun = security.run(securityStop.signal);
  await security.waitForSync(signal);
  const serving = await security.serverCertificate(controllerHosts(cfg.listenHost, cfg.tlsSans));
  const admin = await writeAdminConfig(cfg.dataDir, security, adminServerUrl(cfg.listenHost, cfg.listenPort));
  if (admin.written) log.info({ path: admin.path }, 'wrote the admin credentials (shoalctl context import FILE)');
  log.info({ fingerprint: security.caFingerprint }, 'cluster CA');
  const audit = cfg.auditLog !== undefined ? fileAuditSink(cfg.auditLog, (err) => log.warn(`audit log ${cfg.auditLog ?? ''}: ${err.message}`)) : undefined;
  const app = buildApiServer({
    security,
    ...(audit ? { audit } : {}),
    tls: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: security.ca.certPem },
    privileged: privilegedServiceFeatures,
    hostPorts: { reserved: clusterReservedPorts(cfg.listenPort), allowed: cfg.allowedHostPorts },
    store,
    metrics,
    heartbeat,
    version: SHOAL_VERSION,
    snapshot: (signal) => store.snapshot(signal),
    storeHealth: () => store.health(),
    leaderInfo: async () => {
      const leader = await loops.leaderId().catch(() => undefined);
      return { id: controllerId, isLeader: loops.isLeader(), ...(leader !== undefined ? { leader } : {}) };
    },
  });
  try {
    await app.listen({ host: cfg.listenHost, port: cfg.listenPort });
    log.info({ controllerId, listen: `${cfg.listenHost}:${cfg.listenPort}` }, 'serving the API');
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    // Stop taking requests (open watches are cut), then end the leader term (resigns so
    // another controller takes over at once), then forget heartbeat leases without revoking
    // them (nodes stay up while another controller takes their beats).
    await within(4_000, 'closing the API server', app.close());
    loopsStop.abort();
    securityStop.abort();
    await within(4_000, 'stopping the control loops', loops.done);
    await within(2_000, 'stopping the security watches', securityRun);
    await within(2_000, 'closing the audit log', audit?.close());
    heartbeat.close();
  }
}
