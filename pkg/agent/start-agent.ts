/**
 * Wires one node agent: content store, registry client with the credentials file, layer
 * apply, snapshots and the image service, then the engine API on the UNIX socket. Returns a
 * handle whose close() stops serving and waits for in-flight requests. The container manager
 * (native helper, cgroups) serves the container routes; the controller session and bridge
 * networking are wired here as they land.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { CONTAINER_SERVICE_LABEL, CONTAINER_TASK_LABEL, ENGINE_API_VERSION, SHOAL_VERSION } from '../api/index.js';
import { ControllerEndpoints } from '../client/index.js';
import { BridgeNetwork, bridgeNetworkHook, createClusterDataplane, RealNetHost } from '../network/index.js';
import { ClusterNetwork } from './cluster-network.js';
import { NodeCredentials } from './node-credentials.js';
import {
  applyLayer, ContainerManager, resolveImageUser, createCgroupManager, FileContentStore, FileCredentialStore, ImageService, NativeDriver, RegistryClient, type LayerApplier,
} from '../runtime/index.js';
import type { AgentConfig } from './config.js';
import { buildEngineApp, listenOnSocket, NodeNetworks, type EngineDeps } from './engine/index.js';
import { AgentMetrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import {
  containerRuntime, httpControllerApi, probeMachine, startSession, startTunnel, TmpfsTaskFiles, type AgentSession, type AgentTunnel, type ControllerApi,
} from './session/index.js';

export interface StartAgentOptions {
  signal?: AbortSignal;
  logger: FastifyBaseLogger;
}

export interface RunningAgent {
  socketPath: string;
  images: ImageService;
  containers: ContainerManager;
  close(): Promise<void>;
}

/** The layer applier of the runtime, in overlay whiteout mode, under the configured size cap. */
export function overlayApplier(maxLayerSize: number): LayerApplier {
  return async (target, blob, opts) => {
    // The image's remaining budget, where it is below the per-layer cap, names the image.
    const imageBound = opts.maxUncompressedBytes !== undefined && opts.maxUncompressedBytes < maxLayerSize;
    const r = await applyLayer(target, blob, {
      expectedDiffId: opts.expectedDiffId,
      maxUncompressedBytes: imageBound ? (opts.maxUncompressedBytes as number) : maxLayerSize,
      ...(opts.maxEntries !== undefined ? { maxEntries: opts.maxEntries } : {}),
      ...(opts.limitName !== undefined ? { limitName: imageBound ? opts.limitName : `a layer of ${opts.limitName}` } : {}),
      whiteoutMode: 'overlay',
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { size: r.size, entries: r.entries };
  };
}

/**
 * The session's podCIDR hook: the default bridge moves onto the node's podCIDR (a Conflict,
 * logged and retried, while containers still hold addresses on an earlier subnet).
 */
function bridgeOnPodCIDR(networks: NodeNetworks, bridge: string, log: FastifyBaseLogger, cluster: ClusterNetwork | undefined) {
  return async (podCIDR: string): Promise<void> => {
    const info = await networks.net.ensure({ name: bridge, subnet: podCIDR }, { replace: true });
    log.info({ bridge, subnet: info.subnet, gateway: info.gateway }, 'default bridge on the node podCIDR');
    await cluster?.bridgeReady(info.gateway);
  };
}

export async function startAgent(config: AgentConfig, opts: StartAgentOptions): Promise<RunningAgent> {
  const log = opts.logger;
  await mkdir(config.dataDir, { recursive: true, mode: 0o711 });
  await mkdir(config.runDir, { recursive: true, mode: 0o755 });
  // --metrics-listen: the hooks below feed it; the server starts once the manager exists.
  const metrics = config.metricsListen !== undefined ? new AgentMetrics() : undefined;
  const content = await FileContentStore.create(join(config.dataDir, 'content'));
  const credentials = new FileCredentialStore(config.credentials);
  const registry = new RegistryClient({ insecureRegistries: config.insecureRegistries, credentials, userAgent: `shoal-agent/${SHOAL_VERSION}` });
  const images = await ImageService.create({
    dataDir: config.dataDir,
    registry,
    credentials,
    content,
    ...{ applyLayer: overlayApplier(config.maxLayerSize), imageBudget: { maxBytes: config.maxImageSize, maxEntries: config.maxImageEntries } },
    maxLayerSize: config.maxLayerSize,
    ...(metrics ? { onPulled: metrics.observePull } : {}),
  });
  // Blobs and snapshots left by a crash mid-pull belong to no image: collect them now.
  const removed = await images.gc();
  if (removed.length > 0) log.info({ removed: removed.length }, 'collected unreferenced blobs and snapshots');

  // --bridge: the node's default bridge (idempotent), user networks and their embedded DNS.
  const hostResolvConf = (): string => {
    try {
      return readFileSync('/etc/resolv.conf', 'utf8');
    } catch {
      return '';
    }
  };
  let networks: NodeNetworks | undefined;
  if (config.bridge !== undefined) {
    const net = await BridgeNetwork.create({ dataDir: config.dataDir, host: new RealNetHost(), chainPrefix: config.bridgeChainPrefix });
    if (!config.bridgeSubnetFromNode) await net.ensure({ name: config.bridge, subnet: config.bridgeSubnet });
    else {
      // In a cluster the bridge takes the node's podCIDR once the session learns it. After a
      // restart it comes back on the subnet it had, so re-adopted containers keep their network.
      const last = await net.storedSubnet(config.bridge);
      if (last !== undefined) await net.ensure({ name: config.bridge, subnet: last });
    }
    networks = new NodeNetworks(net, { hostResolvConf, onError: (err, what) => log.error({ err }, what) });
  }
  const ref: { containers?: ContainerManager } = {};
  const cluster = clusterNetworkOf(config, networks !== undefined, hostResolvConf, log, metrics, (ip) => (ref.containers === undefined ? undefined : serviceOfAddress(ref.containers, ip)));

  // Containers outlive the agent (each has its own monitor); the manager re-adopts them here.
  const containers = await ContainerManager.create({
    ...(networks ? { network: bridgeNetworkHook(networks.net, { hostResolvConf, hasDns: (n) => networks.hasDns(n) || cluster?.hasDns(n) === true }) } : {}),
    dataDir: config.dataDir,
    runDir: config.runDir,
    driver: new NativeDriver({ spawnerSocket: join(config.runDir, 'spawner.sock'), onLog: (line) => log.warn({ helper: line }, 'container helper') }), // forking the agent costs 10-50 ms per start
    ...{ cgroups: createCgroupManager({ parent: config.cgroupParent }), defaultLimits: { pidsLimit: config.defaultPidsLimit, memory: config.defaultMemory } },
    images,
    onError: (err, what) => log.error({ err }, what),
    ...(metrics ? { onStarted: metrics.observeStart } : {}),
  });
  images.setImageInUseHook((id) => containers.usesImage(id));
  ref.containers = containers;
  if (networks) {
    // Links, rules and addresses of containers that are gone (removed while the agent was down) go now.
    const running = containers.list({ all: true }).filter((c) => c.State === 'running' || c.State === 'paused').map((c) => c.Id);
    const { removed } = await networks.net.sync(running);
    if (removed.length > 0) log.info({ removed: removed.length }, 'removed network endpoints of containers that are gone');
    await networks.startAll();
    log.info({ bridge: config.bridge, subnet: config.bridgeSubnetFromNode ? 'the node podCIDR' : config.bridgeSubnet }, 'bridge networking on');
  }

  const deps: EngineDeps = {
    images,
    containers,
    ...(networks ? { networks } : {}),
    version: { Version: SHOAL_VERSION, ApiVersion: ENGINE_API_VERSION, Os: 'linux', Arch: process.arch, NodeName: config.nodeName },
    // Fastify logs every request at info; the engine keeps warnings and failures only.
    logger: log.child({ component: 'engine' }, { level: 'warn' }),
  };
  const app = await buildEngineApp(deps);
  const server = await listenOnSocket(app, config.socket);
  log.info({ socket: config.socket, dataDir: config.dataDir }, 'engine API listening');

  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metricsListen !== undefined) {
    metrics.setContainerSource(containers);
    try {
      metricsServer = await startMetricsServer(config.metricsListen, metrics);
    } catch (err) {
      await server.close();
      await containers.close();
      throw err;
    }
    log.info({ host: metricsServer.host, port: metricsServer.port }, 'metrics listening on /metrics');
  }

  // In a cluster: register the node, heartbeat, and run the tasks assigned to it.
  let session: AgentSession | undefined;
  let tunnel: AgentTunnel | undefined;
  const credsStop = abortWith(opts.signal);
  if (config.controller !== undefined) {
    // One list of controllers for the session and the tunnel: both move on together when the current one is unreachable.
    const controllers = ControllerEndpoints.parse(config.controller);
    // The node's certificate: from its data dir, or by joining with the token.
    const nodeCreds = await nodeCredentialsOf(config, controllers, log, credsStop.signal).catch(async (err: unknown) => {
      await Promise.all([metricsServer?.close(), server.close(), containers.close()]);
      throw err;
    });
    const api = httpControllerApi(controllers, undefined, () => nodeCreds.current());
    session = startSession({
      api, files: await taskFilesOf(config, api, images, containers), ownPorts: ownPortsOf(config),
      runtime: containerRuntime(containers, images),
      ...(networks !== undefined && config.bridge !== undefined && config.bridgeSubnetFromNode
        ? { onPodCIDR: bridgeOnPodCIDR(networks, config.bridge, log, cluster) }
        : {}),
      ...(cluster !== undefined ? { clusterNetwork: { port: config.vxlanPort, apply: (spec) => cluster.apply(spec) } } : {}),
      ...(networks !== undefined ? { onIngress: (ports) => networks.net.setIngress(ports) } : {}),
      identity: { nodeName: config.nodeName, labels: config.labels, agentVersion: SHOAL_VERSION, ...(config.advertiseAddr !== undefined ? { advertiseAddr: config.advertiseAddr } : {}) },
      probe: () => probeMachine(),
      log: log.child({ component: 'session' }),
    });
    // Logs and exec of this node's tasks, asked through the controller over a tunnel we hold.
    tunnel = startTunnel({
      controller: controllers,
      nodeName: config.nodeName,
      engineSocket: config.socket,
      credentials: () => nodeCreds.current(),
      log: log.child({ component: 'tunnel' }),
      isTaskContainer: (id, task) => {
        try {
          return containers.inspect(id).Config.Labels[CONTAINER_TASK_LABEL] === task;
        } catch {
          return false;
        }
      },
    });
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      credsStop.abort();
      await tunnel?.close();
      await session?.close();
      await cluster?.close();
      await metricsServer?.close();
      await server.close();
      await containers.close();
      // Links, rules and addresses stay: containers keep their network across agent restarts.
      await networks?.close();
    })());
  opts.signal?.addEventListener('abort', () => void close().catch((err: unknown) => log.error({ err }, 'closing the engine API')), { once: true });
  return { socketPath: config.socket, images, containers, close };
}

/** The agent's own TCP ports a task may not publish: the metrics port (the engine API is a socket). */
function ownPortsOf(config: AgentConfig): ReadonlySet<number> {
  const port = Number(/:(\d+)$/.exec(config.metricsListen ?? '')?.[1]);
  return new Set(Number.isInteger(port) && port > 0 ? [port] : []);
}

/** Secrets and configs of tasks: files on the agent's tmpfs, values from the controller; those of containers that are gone go. */
async function taskFilesOf(config: AgentConfig, api: ControllerApi, images: ImageService, containers: ContainerManager): Promise<TmpfsTaskFiles> {
  const files = new TmpfsTaskFiles(
    join(config.runDir, 'task-files'),
    (kind, task, name, signal) => api.taskReference(kind, task, name, { signal }),
    async (task) => {
      const c = task.spec.template.spec.containers[0];
      if (c === undefined) return { uid: 0, gid: 0 };
      const img = await images.resolveForRun(c.image);
      const u = await resolveImageUser(c.user || img.config.User || '', img.lowerDirs, img.ref);
      return { uid: u.uid, gid: u.gid };
    },
  );
  await files.sweep(new Set(containers.list({ all: true }).map((c) => (c.Names[0] ?? '').replace(/^\//, ''))));
  return files;
}

function abortWith(signal: AbortSignal | undefined): AbortController {
  const ac = new AbortController();
  signal?.addEventListener('abort', () => ac.abort(), { once: true });
  return ac;
}

/** The node's certificate (from its data dir, or by joining), renewed from now on. */
async function nodeCredentialsOf(config: AgentConfig, controllers: ControllerEndpoints, log: FastifyBaseLogger, signal: AbortSignal): Promise<NodeCredentials> {
  const creds = await NodeCredentials.obtain({
    dataDir: config.dataDir,
    nodeName: config.nodeName,
    controllers,
    ...(config.joinToken !== undefined ? { joinToken: config.joinToken } : {}),
    log: log.child({ component: 'credentials' }),
    signal,
  });
  creds.startRenewal();
  return creds;
}

/** In a cluster, the bridge on the node's podCIDR joins the cluster network (overlay, VIPs, mesh, DNS). */
function clusterNetworkOf(
  config: AgentConfig, bridged: boolean, hostResolvConf: () => string, log: FastifyBaseLogger, metrics: AgentMetrics | undefined,
  serviceOf: (ip: string) => string | undefined,
): ClusterNetwork | undefined {
  if (!bridged || config.bridge === undefined || !config.bridgeSubnetFromNode || config.controller === undefined) return undefined;
  return new ClusterNetwork({
    bridge: config.bridge,
    dataplane: createClusterDataplane({
      host: new RealNetHost(), chainPrefix: config.bridgeChainPrefix, bridge: config.bridge,
      // One VXLAN device per agent: agents on one host (make up beside a node) need their own chain prefix anyway.
      vxlanDevice: `${config.bridgeChainPrefix.toLowerCase().replace(/_/g, '-').slice(0, 12)}-vx`,
    }),
    hostResolvConf,
    log: log.child({ component: 'cluster-network' }),
    ...(metrics ? { onApplied: (st) => metrics.observeDataplane(st) } : {}),
    // Only asked for an address the cluster view does not know yet (a task just started).
    serviceOfAddress: serviceOf,
  });
}

/** `<ns>/<service>` of the local task container that has `ip`, if any. */
function serviceOfAddress(containers: ContainerManager, ip: string): string | undefined {
  for (const id of containers.idsWithLabel(CONTAINER_TASK_LABEL)) {
    try {
      const ins = containers.inspect(id);
      if (!Object.values(ins.NetworkSettings.Networks).some((n) => n.IPAddress === ip)) continue;
      const task = ins.Config.Labels[CONTAINER_TASK_LABEL] ?? '';
      const svc = ins.Config.Labels[CONTAINER_SERVICE_LABEL];
      return svc === undefined ? undefined : `${task.split('/')[0] ?? 'default'}/${svc}`;
    } catch {
      continue;
    }
  }
  return undefined;
}
