/**
 * shoal-controller's settings (DESIGN.md section 9): flags, an optional --config file
 * (YAML or JSON, keys in camelCase or kebab-case), defaults; flags win over the file.
 * Parsing is pure: the caller passes argv and a file reader.
 */
import { Command, CommanderError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { cidrsOverlap, isCidr, parseCidr, parseDurationMs, PortSet, ShoalError } from '../../pkg/api/index.js';

export interface ControllerConfig {
  listenHost: string;
  listenPort: number;
  dataDir: string;
  /** External etcd client URLs; undefined: run the embedded etcd under dataDir. */
  etcd: string[] | undefined;
  clusterCIDR: string;
  /** Virtual IPs of services. */
  serviceCIDR: string;
  nodeTimeoutMs: number;
  /** Seconds of the leader-election lease (how fast another controller takes over). */
  leaderLeaseSeconds: number;
  /** An etcd snapshot to restore into the embedded etcd before it starts (flag only: a one-off, not a setting). */
  restore: string | undefined;
  /** The key that seals the cluster's CA key and encryption keys; undefined: `<data-dir>/cluster.key` (made on first start). */
  clusterKeyFile: string | undefined;
  /** Lifetime of node certificates (`--cert-expiry`, default 90 days). */
  certExpiryMs: number;
  /** `--allowed-host-ports`: the cluster's own ports that services may publish anyway. */
  allowedHostPorts: PortSet;
  /** `--audit-log FILE`: a JSON line per mutating request and per exec. */
  auditLog: string | undefined;
  /** `--tls-san NAME[,NAME...]`: more DNS names or addresses in the serving certificate (a load balancer's). */
  tlsSans: string[];
}

export const CONTROLLER_DEFAULTS = {
  listen: '0.0.0.0:6443',
  dataDir: '/var/lib/shoal/controller',
  clusterCIDR: '10.244.0.0/16',
  serviceCIDR: '10.96.0.0/16',
  nodeTimeout: '5s',
  leaderLease: '3s',
  certExpiry: '90d',
} as const;

interface Raw {
  listen?: unknown;
  dataDir?: unknown;
  etcd?: unknown;
  clusterCIDR?: unknown;
  serviceCIDR?: unknown;
  nodeTimeout?: unknown;
  leaderLease?: unknown;
  clusterKeyFile?: unknown;
  certExpiry?: unknown;
  allowedHostPorts?: unknown;
  auditLog?: unknown;
  tlsSan?: unknown;
}

const FILE_KEYS: Record<string, keyof Raw> = {
  listen: 'listen',
  dataDir: 'dataDir',
  'data-dir': 'dataDir',
  etcd: 'etcd',
  clusterCIDR: 'clusterCIDR',
  clusterCidr: 'clusterCIDR',
  'cluster-cidr': 'clusterCIDR',
  serviceCIDR: 'serviceCIDR',
  serviceCidr: 'serviceCIDR',
  'service-cidr': 'serviceCIDR',
  nodeTimeout: 'nodeTimeout',
  'node-timeout': 'nodeTimeout',
  leaderLease: 'leaderLease',
  'leader-lease': 'leaderLease',
  clusterKeyFile: 'clusterKeyFile',
  'cluster-key-file': 'clusterKeyFile',
  certExpiry: 'certExpiry',
  'cert-expiry': 'certExpiry',
  allowedHostPorts: 'allowedHostPorts',
  'allowed-host-ports': 'allowedHostPorts',
  auditLog: 'auditLog',
  'audit-log': 'auditLog',
  tlsSan: 'tlsSan',
  'tls-san': 'tlsSan',
};

export async function parseControllerConfig(argv: string[], readFile: (path: string) => Promise<string>): Promise<ControllerConfig> {
  const cmd = new Command('shoal-controller')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .allowExcessArguments(false)
    .option('--listen <host:port>', `API listen address (default ${CONTROLLER_DEFAULTS.listen})`)
    .option('--data-dir <dir>', `data directory (default ${CONTROLLER_DEFAULTS.dataDir})`)
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (absent: embedded etcd under the data dir)')
    .option('--cluster-cidr <cidr>', `pod network of the cluster (default ${CONTROLLER_DEFAULTS.clusterCIDR})`)
    .option('--service-cidr <cidr>', `virtual IPs of services (default ${CONTROLLER_DEFAULTS.serviceCIDR})`)
    .option('--node-timeout <duration>', `missed-heartbeat period before a node is down (default ${CONTROLLER_DEFAULTS.nodeTimeout})`)
    .option('--leader-lease <duration>', `leader election lease (default ${CONTROLLER_DEFAULTS.leaderLease})`)
    .option('--cluster-key-file <file>', 'the key (32 bytes, base64) that seals the cluster CA and encryption keys in etcd; every controller of a cluster needs the same one (default: <data-dir>/cluster.key, made on first start)')
    .option('--cert-expiry <duration>', `lifetime of node certificates, e.g. 90d or 720h (default ${CONTROLLER_DEFAULTS.certExpiry})`)
    .option('--allowed-host-ports <ports>', "the cluster's own ports (22, 2379, 2380, 4789, the API's) that services may publish anyway, e.g. 22,2379-2380 (default none)")
    .option('--tls-san <names>', 'more DNS names or IP addresses for the serving certificate, comma-separated (a load balancer in front of the controllers)')
    .option('--audit-log <file>', 'append a JSON line per mutating request and per exec to this file (mode 0600)')
    .option('--restore <snapshot>', 'restore the embedded etcd from a snapshot (shoalctl cluster backup) into a --data-dir that holds none; not with --etcd')
    .option('--config <file>', 'YAML or JSON file with the same settings; flags win');
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new ShoalError('InvalidArgument', err.message.replace(/^error: /, ''));
    throw err;
  }
  const flags = cmd.opts<{ listen?: string; dataDir?: string; etcd?: string; clusterCidr?: string; serviceCidr?: string; nodeTimeout?: string; leaderLease?: string; config?: string; restore?: string; clusterKeyFile?: string; certExpiry?: string; allowedHostPorts?: string; auditLog?: string; tlsSan?: string }>();
  let file: Raw = {};
  if (flags.config !== undefined) file = parseConfigFile(flags.config, await readConfig(flags.config, readFile));
  const raw: Raw = {
    listen: flags.listen ?? file.listen ?? CONTROLLER_DEFAULTS.listen,
    dataDir: flags.dataDir ?? file.dataDir ?? CONTROLLER_DEFAULTS.dataDir,
    etcd: flags.etcd ?? file.etcd,
    clusterCIDR: flags.clusterCidr ?? file.clusterCIDR ?? CONTROLLER_DEFAULTS.clusterCIDR,
    serviceCIDR: flags.serviceCidr ?? file.serviceCIDR ?? CONTROLLER_DEFAULTS.serviceCIDR,
    nodeTimeout: flags.nodeTimeout ?? file.nodeTimeout ?? CONTROLLER_DEFAULTS.nodeTimeout,
    leaderLease: flags.leaderLease ?? file.leaderLease ?? CONTROLLER_DEFAULTS.leaderLease,
    clusterKeyFile: flags.clusterKeyFile ?? file.clusterKeyFile,
    certExpiry: flags.certExpiry ?? file.certExpiry ?? CONTROLLER_DEFAULTS.certExpiry,
    allowedHostPorts: flags.allowedHostPorts ?? file.allowedHostPorts,
    auditLog: flags.auditLog ?? file.auditLog,
    tlsSan: flags.tlsSan ?? file.tlsSan,
  };
  return validate(raw, flags.restore);
}

async function readConfig(path: string, readFile: (path: string) => Promise<string>): Promise<string> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ShoalError('InvalidArgument', `cannot read config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function parseConfigFile(path: string, text: string): Raw {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ShoalError('InvalidArgument', `config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ShoalError('InvalidArgument', `config file ${path}: expected a mapping of settings`);
  const out: Raw = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const key = FILE_KEYS[k];
    if (key === undefined) throw new ShoalError('InvalidArgument', `config file ${path}: unknown setting "${k}" (known: ${Object.keys(FILE_KEYS).join(', ')})`);
    out[key] = v;
  }
  return out;
}

function validate(raw: Raw, restore: string | undefined): ControllerConfig {
  const problems: string[] = [];
  const listen = String(raw.listen);
  const m = /^(.*):(\d+)$/.exec(listen);
  let listenHost = '0.0.0.0';
  let listenPort = 6443;
  if (!m || Number(m[2]) > 65535) problems.push(`listen: "${listen}" is not HOST:PORT`);
  else {
    listenHost = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0';
    listenPort = Number(m[2]);
  }
  const dataDir = typeof raw.dataDir === 'string' && raw.dataDir !== '' ? raw.dataDir : undefined;
  if (dataDir === undefined) problems.push('data-dir: must be a non-empty path');
  let etcd: string[] | undefined;
  if (raw.etcd !== undefined && raw.etcd !== null && raw.etcd !== '') {
    const list = Array.isArray(raw.etcd) ? raw.etcd.map(String) : String(raw.etcd).split(',');
    etcd = list.map((s) => s.trim()).filter((s) => s !== '');
    for (const u of etcd) {
      try {
        const url = new URL(u);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`etcd: "${u}" must be an http:// or https:// URL`);
      } catch {
        problems.push(`etcd: "${u}" is not a URL`);
      }
    }
    if (etcd.length === 0) problems.push('etcd: empty list of URLs');
  }
  const clusterCIDR = String(raw.clusterCIDR);
  if (!isCidr(clusterCIDR, { strict: false })) problems.push(`cluster-cidr: "${clusterCIDR}" is not an IPv4 CIDR like 10.244.0.0/16`);
  const serviceCIDR = String(raw.serviceCIDR);
  if (!isCidr(serviceCIDR, { strict: false })) problems.push(`service-cidr: "${serviceCIDR}" is not an IPv4 CIDR like 10.96.0.0/16`);
  else if (parseCidr(serviceCIDR, { strict: false }).prefix > 28) problems.push(`service-cidr: "${serviceCIDR}" is too small: want /28 or larger`);
  else if (isCidr(clusterCIDR, { strict: false }) && cidrsOverlap(parseCidr(serviceCIDR, { strict: false }), parseCidr(clusterCIDR, { strict: false }))) {
    problems.push(`service-cidr: ${serviceCIDR} overlaps the cluster CIDR ${clusterCIDR}: virtual IPs and task addresses must not collide`);
  }
  const nodeTimeoutMs = durationMs(raw.nodeTimeout, 'node-timeout', problems);
  const leaderLeaseMs = durationMs(raw.leaderLease, 'leader-lease', problems);
  if (restore === '') problems.push('restore: needs the path of a snapshot file');
  if (restore !== undefined && etcd !== undefined) {
    problems.push('restore: restores the embedded etcd and cannot be used with --etcd (restore an external etcd cluster with etcdctl snapshot restore on each member; see docs/ha.md)');
  }
  const clusterKeyFile = raw.clusterKeyFile === undefined || raw.clusterKeyFile === null ? undefined : String(raw.clusterKeyFile);
  if (clusterKeyFile === '') problems.push('cluster-key-file: needs a path');
  const certText = String(raw.certExpiry);
  const days = /^(\d+)d$/.exec(certText);
  const certExpiryMs = days ? Number(days[1]) * 86_400_000 : durationMs(certText, 'cert-expiry', problems);
  if (certExpiryMs < 3_600_000 || certExpiryMs > 3650 * 86_400_000) problems.push(`cert-expiry: "${certText}" must be between 1h and 3650d`);
  let allowedHostPorts = PortSet.EMPTY;
  if (raw.allowedHostPorts !== undefined && raw.allowedHostPorts !== null) {
    try {
      allowedHostPorts = PortSet.parse(Array.isArray(raw.allowedHostPorts) ? raw.allowedHostPorts.join(',') : String(raw.allowedHostPorts));
    } catch (err) {
      problems.push(`allowed-host-ports: ${(err as Error).message}`);
    }
  }
  const auditLog = raw.auditLog === undefined || raw.auditLog === null ? undefined : String(raw.auditLog);
  if (auditLog === '') problems.push('audit-log: needs a path');
  const tlsSans = (Array.isArray(raw.tlsSan) ? raw.tlsSan.map(String) : raw.tlsSan === undefined || raw.tlsSan === null ? [] : String(raw.tlsSan).split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const n of tlsSans) if (!/^[A-Za-z0-9.:*-]{1,253}$/.test(n)) problems.push(`tls-san: "${n}" is not a DNS name or an IP address`);
  if (problems.length > 0) throw new ShoalError('InvalidArgument', `invalid settings: ${problems.join('; ')}`);
  return {
    allowedHostPorts,
    auditLog,
    tlsSans,
    listenHost,
    listenPort,
    dataDir: dataDir as string,
    etcd,
    clusterCIDR,
    serviceCIDR,
    nodeTimeoutMs,
    leaderLeaseSeconds: Math.max(1, Math.ceil(leaderLeaseMs / 1000)),
    restore: restore === undefined || restore === '' ? undefined : restore,
    clusterKeyFile,
    certExpiryMs,
  };
}

/** A duration setting: a string with units (`5s`, `500ms`, `1m30s`), or a number of seconds from a config file. */
function durationMs(v: unknown, name: string, problems: string[]): number {
  let ms: number | undefined;
  try {
    ms = typeof v === 'number' ? v * 1000 : parseDurationMs(String(v));
  } catch {
    ms = undefined;
  }
  if (ms === undefined || !(ms > 0)) {
    problems.push(`${name}: "${String(v)}" is not a positive duration like 5s or 500ms`);
    return 1000;
  }
  return ms;
}


