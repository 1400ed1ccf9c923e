// shoal-controller entry point: flags/config → store (embedded or external etcd) → the
// controller (API server on every replica; orchestrator, scheduler and node monitor on the
// elected leader) → orderly shutdown on SIGTERM/SIGINT.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { destination, pino } from 'pino';
import { toShoalError } from '../../pkg/api/index.js';
import { EtcdSupervisor } from '../../pkg/controller/index.js';
import { EtcdStore } from '../../pkg/store/index.js';
import { parseControllerConfig, type ControllerConfig } from './config.js';

const log = pino({ name: 'shoal-controller', level: process.env['SHOAL_LOG_LEVEL'] ?? 'info' }, destination(2));

let config: ControllerConfig;
try {
  config = await parseControllerConfig(process.argv.slice(2), (p) => readFile(p, 'utf8'));
} catch (err) {
  process.stderr.write(`shoal-controller: ${toShoalError(err).message}\n`);
  process.exit(2);
}

const shutdown = new AbortController();
// Keeps the process alive until shutdown even while nothing else holds the event loop.
const keepAlive = setInterval(() => {}, 1 << 30);
shutdown.signal.addEventListener('abort', () => clearInterval(keepAlive), { once: true });
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (shutdown.signal.aborted) {
      log.warn(`second ${sig}: exiting now`);
      process.exit(130);
    }
    log.info(`${sig}: shutting down`);
    shutdown.abort();
  });
}

const logger = {
  info: (m: string) => log.info(m),
  warn: (m: string) => log.warn(m),
  error: (m: string) => log.error(m),
};

let supervisor: EtcdSupervisor | undefined;
let store: EtcdStore | undefined;
let exitCode = 0;
try {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  let endpoints = config.etcd;
  if (endpoints === undefined) {
    supervisor = await EtcdSupervisor.start({ dir: join(config.dataDir, 'etcd'), logger });
    endpoints = supervisor.endpoints;
  }
  log.info({ endpoints, embedded: supervisor !== undefined }, 'using etcd');
  store = new EtcdStore({ endpoints });
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
  await store?.close().catch((err: unknown) => log.warn(`closing store: ${toShoalError(err).message}`));
  await supervisor?.stop().catch((err: unknown) => log.warn(`stopping embedded etcd: ${toShoalError(err).message}`));
  clearInterval(keepAlive);
  log.info('stopped');
}
process.exit(exitCode);

/**
 * Serves the API and runs the leader-only control loops until `signal` fires, then stops
 * them (API closed, leadership resigned, watches cancelled) before returning.
 */
async function runController(_store: EtcdStore, _config: ControllerConfig, signal: AbortSignal): Promise<void> {
  // TODO(wiring): the API server factory (engineer V, pkg/controller/api) and the leader
  // election + control loops (engineer O) are wired here as they land.
  log.error('shoal-controller: the API server and control loops are not wired in yet');
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
