// shoal-agent entry point: flags/config file → startAgent (engine API on the UNIX socket,
// images, and the runtime as it lands) → clean shutdown on SIGTERM/SIGINT.
import { readFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { destination, pino } from 'pino';
import { toShoalError } from '../../pkg/api/index.js';
import { parseAgentConfig, startAgent, type AgentConfig } from '../../pkg/agent/index.js';
import { protectFromOom } from '../../pkg/util/index.js';
import { shutdownOnSignals } from '../shutdown.js';

let config: AgentConfig;
try {
  config = await parseAgentConfig(process.argv.slice(2), (p) => readFile(p, 'utf8'), {
    hostname: hostname(),
    home: process.env['HOME'] ?? homedir(),
    ...(process.env['SHOAL_JOIN_TOKEN'] !== undefined ? { joinToken: process.env['SHOAL_JOIN_TOKEN'] } : {}),
  });
} catch (err) {
  process.stderr.write(`shoal-agent: ${toShoalError(err).message}\n`);
  process.exit(2);
}

const log = pino({ name: 'shoal-agent', level: process.env['SHOAL_LOG_LEVEL'] ?? config.logLevel }, destination(2));
const shutdown = { signal: shutdownOnSignals(log) };

const oom = await protectFromOom();
if (oom !== undefined) log.warn(oom);
let exitCode = 0;
try {
  const agent = await startAgent(config, { logger: log, signal: shutdown.signal });
  await new Promise<void>((resolve) => {
    if (shutdown.signal.aborted) resolve();
    else shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await agent.close();
  log.info('stopped');
} catch (err) {
  const e = toShoalError(err);
  log.error({ code: e.code }, e.message);
  process.stderr.write(`shoal-agent: ${e.message}\n`);
  exitCode = 1;
}
process.exit(exitCode);
