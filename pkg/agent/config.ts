/**
 * shoal-agent configuration (DESIGN.md section 9): flags, an optional config file (JSON or
 * YAML, keys as the flags without dashes, kebab-case or camelCase), flags win. Normalised once
 * into a fully defaulted AgentConfig. Pure: argv, the file reader and the defaults come in.
 */
import { Command, CommanderError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { errors, toShoalError, type FieldCause } from '../api/index.js';
import { parseSubnet } from '../network/index.js';

export interface AgentConfig {
  socket: string;
  dataDir: string;
  runDir: string;
  /** Controller URLs, comma-separated (every controller of an HA cluster); absent: a standalone engine. */
  controller?: string;
  nodeName: string;
  advertiseAddr?: string;
  labels: Record<string, string>;
  /** Registries (host[:port]) where plain HTTP is allowed besides localhost/127.0.0.1. */
  insecureRegistries: string[];
  cgroupParent: string;
  metricsListen?: string;
  /** VXLAN UDP port of the cluster overlay (default 4789, IANA's). */
  vxlanPort: number;
  /** Cap on the decompressed size of one layer, in bytes. */
  maxLayerSize: number;
  /** Caps on the decompressed bytes and the tar entries of all layers one pull unpacks. */
  maxImageSize: number;
  maxImageEntries: number;
  /** Limits of containers and tasks that set none (0: unlimited). */
  defaultPidsLimit: number;
  defaultMemory: number;
  /** Registry credentials file (written by `shoalctl login` through the agent). */
  credentials: string;
  logLevel: string;
  /**
   * Default bridge of the node (`--bridge NAME`, default `shoal0`). `--bridge none` turns bridge
   * networking off, as `dockerd --bridge=none` does: bridge-mode containers then get a
   * loopback-only network.
   */
  bridge?: string;
  /**
   * Subnet of the default bridge (`--bridge-subnet`, default 10.88.0.0/16). In a cluster
   * without the flag the bridge takes the node's podCIDR instead (`bridgeSubnetFromNode`).
   */
  bridgeSubnet: string;
  /** True with `--controller`, a bridge and no `--bridge-subnet`: the bridge uses the node's podCIDR. */
  bridgeSubnetFromNode: boolean;
  /** Prefix of Shoal's iptables chains (`--bridge-chain-prefix`, default SHOAL). */
  bridgeChainPrefix: string;
  /** `--join-token` or $SHOAL_JOIN_TOKEN: joins the cluster when the node holds no certificate of it yet. */
  joinToken?: string;
}

export interface AgentDefaults {
  hostname: string;
  /** Home of the user the agent runs as, for ~/.shoal/credentials.json. */
  home: string;
  /** $SHOAL_JOIN_TOKEN (the flag wins). */
  joinToken?: string;
}

export const DEFAULT_MAX_LAYER_SIZE = 16 * 1024 ** 3;
/** Podman's default is 2,048; threads count too, so leave room for a JVM. */
export const DEFAULT_PIDS_LIMIT = 4096;
export const DEFAULT_MAX_IMAGE_SIZE = 64 * 1024 ** 3;
/** Files, directories and links: the largest public images have a few hundred thousand. */
export const DEFAULT_MAX_IMAGE_ENTRIES = 2_000_000;

/** Parses `10g`, `512MiB`, `1000000` into bytes. */
export function parseByteSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw errors.invalidArgument(`invalid size "${s}": use a number of bytes or 512m, 10g`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n) || n <= 0) throw errors.invalidArgument(`invalid size "${s}": must be positive`);
  return n;
}

function parseLabel(s: string, field: string, causes: FieldCause[], into: Record<string, string>): void {
  const eq = s.indexOf('=');
  if (eq <= 0) {
    causes.push({ field, reason: 'FieldValueInvalid', message: `label "${s}" must be key=value` });
    return;
  }
  into[s.slice(0, eq)] = s.slice(eq + 1);
}

const camel = (k: string): string => k.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

const KNOWN = new Set([
  'socket', 'dataDir', 'runDir', 'controller', 'nodeName', 'advertiseAddr', 'label', 'labels', 'insecureRegistry',
  'insecureRegistries', 'cgroupParent', 'metricsListen', 'maxLayerSize', 'maxImageSize', 'maxImageEntries', 'defaultPidsLimit', 'defaultMemory', 'credentials', 'logLevel',
  'bridge', 'bridgeSubnet', 'bridgeChainPrefix', 'vxlanPort', 'joinToken',
]);

/** Parses agent arguments (without node and script) into a config; InvalidArgument/Invalid on bad input. */
export async function parseAgentConfig(
  argv: readonly string[],
  readFile: (path: string) => Promise<string>,
  defaults: AgentDefaults,
): Promise<AgentConfig> {
  const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
  const cmd = new Command('shoal-agent')
    .description('Shoal node agent: the engine API on a UNIX socket, images, containers')
    .option('--socket <path>', 'engine API socket (default /run/shoal/agent.sock)')
    .option('--data-dir <dir>', 'data directory (default /var/lib/shoal)')
    .option('--run-dir <dir>', 'runtime state directory (default /run/shoal)')
    .option('--controller <url[,url...]>', 'controller URL, or the URLs of every controller of an HA cluster (absent: standalone engine)')
    .option('--node-name <name>', 'node name (default: hostname)')
    .option('--advertise-addr <ip>', 'address other nodes reach this one at')
    .option('--label <k=v>', 'node label (repeatable)', collect)
    .option('--insecure-registry <host:port>', 'allow plain HTTP to this registry (repeatable)', collect)
    .option('--cgroup-parent <name>', 'cgroup parent (default shoal)')
    .option('--metrics-listen <host:port>', 'Prometheus metrics address (off when absent)')
    .option('--vxlan-port <port>', 'UDP port of the cluster overlay (default 4789)')
    .option('--join-token <token>', 'join the cluster with this token (shoalctl cluster join-token worker); also $SHOAL_JOIN_TOKEN')
    .option('--max-layer-size <size>', 'cap on the decompressed size of one layer (default 16g)')
    .option('--max-image-size <size>', 'cap on the decompressed size of the layers one pull unpacks (default 64g)')
    .option('--default-pids-limit <n>', `pids limit of a container or task that sets none (default ${DEFAULT_PIDS_LIMIT}; 0: unlimited)`)
    .option('--default-memory <size>', 'memory limit of a container or task that sets none (default: unlimited)')
    .option('--max-image-entries <n>', 'cap on the files, directories and links of the layers one pull unpacks (default 2000000)')
    .option('--credentials <file>', 'registry credentials file (default ~/.shoal/credentials.json)')
    .option('--log-level <level>', 'log level (default info)')
    .option('--bridge <name>', 'default bridge of the node (default shoal0; none: no bridge networking)')
    .option('--bridge-subnet <cidr>', 'subnet of the default bridge (default 10.88.0.0/16)')
    .option('--bridge-chain-prefix <prefix>', "prefix of Shoal's iptables chains (default SHOAL)")
    .option('--config <file>', 'config file (JSON or YAML); flags win')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .allowExcessArguments(false);
  try {
    cmd.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) {
      throw errors.invalidArgument(cmd.helpInformation());
    }
    throw errors.invalidArgument(err instanceof Error ? err.message.replace(/^error: /, '') : String(err));
  }
  const flags = cmd.opts<Record<string, unknown>>();

  const file: Record<string, unknown> = {};
  if (typeof flags['config'] === 'string') {
    const path = flags['config'];
    let text: string;
    try {
      text = await readFile(path);
    } catch (err) {
      throw errors.invalidArgument(`cannot read config file ${path}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text); // YAML is a superset of JSON
    } catch (err) {
      throw errors.invalidArgument(`config file ${path} is neither JSON nor YAML: ${(err as Error).message}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw errors.invalidArgument(`config file ${path} must hold a mapping of options`);
      for (const [k, v] of Object.entries(doc)) file[camel(k)] = v;
    }
  }
  const causes: FieldCause[] = [];
  for (const k of Object.keys(file)) {
    if (!KNOWN.has(k)) causes.push({ field: k, reason: 'FieldValueNotSupported', message: `unknown option "${k}" in the config file` });
  }
  const pick = (k: string): unknown => flags[k] ?? file[k];
  const str = (k: string): string | undefined => {
    const v = pick(k);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') {
      causes.push({ field: k, reason: 'FieldValueInvalid', message: `${k} must be a non-empty string` });
      return undefined;
    }
    return v;
  };
  const list = (...keys: string[]): string[] => {
    for (const k of keys) {
      const v = flags[k] ?? file[k];
      if (v === undefined) continue;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
        causes.push({ field: k, reason: 'FieldValueInvalid', message: `${k} must be a list of strings` });
        return [];
      }
      return v as string[];
    }
    return [];
  };

  const labels: Record<string, string> = {};
  const fileLabels = file['labels'];
  if (fileLabels && typeof fileLabels === 'object' && !Array.isArray(fileLabels)) {
    for (const [k, v] of Object.entries(fileLabels)) labels[k] = String(v);
  }
  for (const l of list('label')) parseLabel(l, 'label', causes, labels);

  const maxLayerSize = sizeField(pick('maxLayerSize'), 'maxLayerSize', DEFAULT_MAX_LAYER_SIZE, causes);
  const maxImageSize = sizeField(pick('maxImageSize'), 'maxImageSize', DEFAULT_MAX_IMAGE_SIZE, causes);
  const maxImageEntries = countField(pick('maxImageEntries'), 'maxImageEntries', DEFAULT_MAX_IMAGE_ENTRIES, causes);
  const [defaultPidsLimit, defaultMemory] = [countField(pick('defaultPidsLimit'), 'defaultPidsLimit', DEFAULT_PIDS_LIMIT, causes, true), sizeField(pick('defaultMemory'), 'defaultMemory', 0, causes)];

  const cfg: AgentConfig = {
    socket: str('socket') ?? '/run/shoal/agent.sock',
    dataDir: str('dataDir') ?? '/var/lib/shoal',
    runDir: str('runDir') ?? '/run/shoal',
    nodeName: str('nodeName') ?? defaults.hostname,
    labels,
    insecureRegistries: list('insecureRegistry', 'insecureRegistries'),
    cgroupParent: str('cgroupParent') ?? 'shoal',
    vxlanPort: 4789,
    maxLayerSize,
    maxImageSize,
    maxImageEntries,
    defaultPidsLimit,
    defaultMemory,
    credentials: str('credentials') ?? `${defaults.home.replace(/\/$/, '')}/.shoal/credentials.json`,
    logLevel: str('logLevel') ?? 'info',
    bridgeSubnet: str('bridgeSubnet') ?? '10.88.0.0/16',
    bridgeSubnetFromNode: false,
    bridgeChainPrefix: str('bridgeChainPrefix') ?? 'SHOAL',
  };
  const bridge = str('bridge') ?? 'shoal0';
  if (bridge !== 'none') {
    if (!/^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/.test(bridge)) causes.push({ field: 'bridge', reason: 'FieldValueInvalid', message: `bridge "${bridge}" must be an interface name of at most 15 characters` });
    cfg.bridge = bridge;
  }
  try {
    parseSubnet(cfg.bridgeSubnet);
  } catch (err) {
    causes.push({ field: 'bridgeSubnet', reason: 'FieldValueInvalid', message: `bridge ${toShoalError(err).message}` });
  }
  if (!/^[A-Z][A-Z0-9_]{0,15}$/.test(cfg.bridgeChainPrefix)) causes.push({ field: 'bridgeChainPrefix', reason: 'FieldValueInvalid', message: 'must be A-Z, 0-9, _ (at most 16)' });
  const controller = str('controller');
  cfg.bridgeSubnetFromNode = controller !== undefined && cfg.bridge !== undefined && str('bridgeSubnet') === undefined;
  if (controller !== undefined) cfg.controller = controllerSetting(controller, causes);
  const joinToken = joinTokenSetting(str('joinToken') ?? defaults.joinToken, controller, causes);
  if (joinToken !== undefined) cfg.joinToken = joinToken;
  const adv = str('advertiseAddr');
  if (adv !== undefined) cfg.advertiseAddr = adv;
  const metrics = str('metricsListen');
  if (metrics !== undefined) cfg.metricsListen = metrics;
  cfg.vxlanPort = portSetting(pick('vxlanPort'), 'vxlanPort', 4789, causes);
  for (const k of ['socket', 'dataDir', 'runDir', 'credentials'] as const) {
    if (!cfg[k].startsWith('/')) causes.push({ field: k, reason: 'FieldValueInvalid', message: `${k} must be an absolute path` });
  }
  if (causes.length > 0) throw errors.invalid(`invalid agent configuration: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, causes);
  return cfg;
}

/** `--controller URL[,URL...]`: https only (the controller serves HTTPS only). */
function controllerSetting(controller: string, causes: FieldCause[]): string {
  const urls = controller.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) causes.push({ field: 'controller', reason: 'FieldValueRequired', message: 'at least one controller URL is needed' });
  for (const u of urls) if (!/^https:\/\/[^\s/]+/.test(u)) causes.push({ field: 'controller', reason: 'FieldValueInvalid', message: `controller "${u}" must be an https:// URL (the controller serves HTTPS only)` });
  return urls.join(',');
}

/** `--join-token` (or $SHOAL_JOIN_TOKEN): Swarm's shape, and only with --controller. */
function joinTokenSetting(token: string | undefined, controller: string | undefined, causes: FieldCause[]): string | undefined {
  if (token === undefined || token === '') return undefined;
  if (controller === undefined) causes.push({ field: 'joinToken', reason: 'FieldValueInvalid', message: 'a join token needs --controller' });
  else if (!/^SHOAL-1-[0-9a-f]{64}-[0-9a-z]{25}$/.test(token)) causes.push({ field: 'joinToken', reason: 'FieldValueInvalid', message: 'not a join token: want SHOAL-1-<CA fingerprint>-<secret> from "shoalctl cluster join-token worker"' });
  else return token;
  return undefined;
}

/** A port setting: a flag's string or a config file's number; the default when absent. */
function portSetting(v: unknown, field: string, dflt: number, causes: FieldCause[]): number {
  if (v === undefined || v === null) return dflt;
  const text = String(v);
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    causes.push({ field, reason: 'FieldValueInvalid', message: `${field} "${text}" must be a port number 1-65535` });
    return dflt;
  }
  return Number(text);
}

/** A byte size from a flag or the file ("1g", 1073741824); a cause names the field when it is bad. */
function sizeField(v: unknown, field: string, def: number, causes: FieldCause[]): number {
  if (v === undefined) return def;
  try {
    return parseByteSize(String(v));
  } catch (err) {
    causes.push({ field, reason: 'FieldValueInvalid', message: (err as Error).message });
    return def;
  }
}

function countField(v: unknown, field: string, def: number, causes: FieldCause[], zeroOk = false): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (Number.isSafeInteger(n) && (n > 0 || (zeroOk && n === 0))) return n;
  causes.push({ field, reason: 'FieldValueInvalid', message: `must be a ${zeroOk ? 'non-negative' : 'positive'} integer, got "${String(v)}"` });
  return def;
}
