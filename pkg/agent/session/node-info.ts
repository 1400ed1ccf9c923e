/**
 * What the agent reports about its machine: capacity (CPU and memory, lowered by the agent's
 * own cgroup limits), kernel and cgroup version, and the Node object it registers. The parsers
 * and `desiredNode` are pure; `probeMachine` is the thin shell that reads /proc and /sys.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { API_VERSION, formatCpuMillis, formatMemoryBytes, type Node, type NodeOverlay, type NodeStatus } from '../../api/index.js';

export const DEFAULT_MAX_PODS = 110;
/** Annotation where the agent records the pod CIDR it uses (`spec.podCIDR` as it last saw it). */
export const POD_CIDR_ANNOTATION = 'shoal.agent/pod-cidr';

export interface MachineInfo {
  cpuMillis: number;
  memoryBytes: number;
  kernel: string;
  arch: string;
  cgroupVersion: 1 | 2;
}

/** The cgroup path of a controller (`memory`, `cpu`) from /proc/self/cgroup; v2: the unified path. */
export function cgroupPathOf(procSelfCgroup: string, controller: string, version: 1 | 2): string | undefined {
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (version === 2 && m[1] === '0' && m[2] === '') return m[3];
    if (version === 1 && (m[2] ?? '').split(',').includes(controller)) return m[3];
  }
  return undefined;
}

/** A memory limit file (`memory.limit_in_bytes` or `memory.max`): bytes, or undefined when unlimited. */
export function parseMemoryLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  // v1 reports "unlimited" as a huge page-rounded number.
  if (!Number.isFinite(n) || n <= 0 || n >= 2 ** 62) return undefined;
  return n;
}

/** CPU limit in millicores from v1 `cfs_quota_us`/`cfs_period_us` or v2 `cpu.max` ("max 100000"). */
export function parseCpuLimit(quotaText: string, periodText?: string): number | undefined {
  const parts = quotaText.trim().split(/\s+/);
  const quota = parts[0];
  const period = periodText !== undefined ? Number(periodText.trim()) : Number(parts[1] ?? '100000');
  if (quota === undefined || quota === 'max' || quota === '-1') return undefined;
  const q = Number(quota);
  if (!Number.isFinite(q) || q <= 0 || !Number.isFinite(period) || period <= 0) return undefined;
  return Math.max(1, Math.floor((q / period) * 1000));
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the machine: CPUs and memory, lowered by the agent's cgroup limits when tighter. */
export async function probeMachine(root = '/sys/fs/cgroup'): Promise<MachineInfo> {
  const cgroupVersion: 1 | 2 = (await readText(`${root}/cgroup.controllers`)) !== undefined ? 2 : 1;
  let cpuMillis = os.availableParallelism() * 1000;
  let memoryBytes = os.totalmem();
  const self = (await readText('/proc/self/cgroup')) ?? '';
  if (cgroupVersion === 2) {
    const p = cgroupPathOf(self, '', 2);
    if (p !== undefined) {
      const mem = parseMemoryLimit((await readText(`${root}${p}/memory.max`)) ?? '');
      const cpu = parseCpuLimit((await readText(`${root}${p}/cpu.max`)) ?? 'max');
      if (mem !== undefined) memoryBytes = Math.min(memoryBytes, mem);
      if (cpu !== undefined) cpuMillis = Math.min(cpuMillis, cpu);
    }
  } else {
    const mp = cgroupPathOf(self, 'memory', 1);
    if (mp !== undefined) {
      const mem = parseMemoryLimit((await readText(`${root}/memory${mp}/memory.limit_in_bytes`)) ?? '');
      if (mem !== undefined) memoryBytes = Math.min(memoryBytes, mem);
    }
    const cp = cgroupPathOf(self, 'cpu', 1);
    if (cp !== undefined) {
      const quota = await readText(`${root}/cpu${cp}/cpu.cfs_quota_us`);
      const period = await readText(`${root}/cpu${cp}/cpu.cfs_period_us`);
      const cpu = quota !== undefined ? parseCpuLimit(quota, period) : undefined;
      if (cpu !== undefined) cpuMillis = Math.min(cpuMillis, cpu);
    }
  }
  return { cpuMillis, memoryBytes, kernel: os.release(), arch: process.arch, cgroupVersion };
}

export interface NodeIdentity {
  nodeName: string;
  labels: Record<string, string>;
  advertiseAddr?: string;
  hostname: string;
  agentVersion: string;
  maxPods?: number;
  /** The node's VXLAN endpoint, when it takes part in the cluster network. */
  overlay?: NodeOverlay;
}

/** The status the agent reports for its node. */
export function nodeStatusOf(id: NodeIdentity, m: MachineInfo, now: Date): NodeStatus {
  const res = { cpu: formatCpuMillis(m.cpuMillis), memory: formatMemoryBytes(m.memoryBytes), pods: id.maxPods ?? DEFAULT_MAX_PODS };
  const addresses: NonNullable<NodeStatus['addresses']> = [];
  if (id.advertiseAddr !== undefined) addresses.push({ type: 'InternalIP', address: id.advertiseAddr });
  addresses.push({ type: 'Hostname', address: id.hostname });
  return {
    state: 'ready',
    message: 'agent registered',
    addresses,
    capacity: res,
    allocatable: { ...res },
    lastHeartbeat: now.toISOString(),
    info: { kernel: m.kernel, os: 'linux', arch: m.arch, cgroupVersion: m.cgroupVersion, agentVersion: id.agentVersion },
    ...(id.overlay !== undefined ? { overlay: { ...id.overlay } } : {}),
  };
}

/**
 * The Node to write: a new one, or the existing one with the agent's labels merged into
 * `spec.labels` and `metadata.labels` and the status replaced, but for `state` and `message`:
 * whether a known node is ready is the node monitor's call, made on heartbeats (an agent
 * restarting on a node marked down must not make it ready before its first beat lands).
 * `spec.availability` and `spec.podCIDR` stay the controller's/user's. The pod CIDR in use is
 * recorded as an annotation.
 */
/** The agent's status with the node monitor's `state` and `message` of the existing node. */
function keepLiveness(mine: NodeStatus, theirs: NodeStatus): NodeStatus {
  const { message: _mine, ...rest } = mine;
  return { ...rest, state: theirs.state, ...(theirs.message !== undefined ? { message: theirs.message } : {}) };
}

export function desiredNode(existing: Node | undefined, id: NodeIdentity, status: NodeStatus): Node {
  if (existing === undefined) {
    return {
      apiVersion: API_VERSION,
      kind: 'Node',
      metadata: { name: id.nodeName, labels: { ...id.labels } },
      spec: { availability: 'active', labels: { ...id.labels } },
      status,
    };
  }
  const annotations = { ...existing.metadata.annotations };
  if (existing.spec.podCIDR !== undefined) annotations[POD_CIDR_ANNOTATION] = existing.spec.podCIDR;
  return {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels: { ...existing.metadata.labels, ...id.labels },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: { ...existing.spec, labels: { ...existing.spec.labels, ...id.labels } },
    status: keepLiveness(status, existing.status),
  };
}
