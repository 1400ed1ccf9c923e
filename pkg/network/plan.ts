/**
 * Pure planning: from the desired state (networks and endpoints) to the text that the applier
 * feeds to `ip -batch -` and `iptables-restore --noflush`. Nothing here runs a command.
 */
import { cidrContains, parseIPv4 } from '../api/index.js';
import { parseSubnet } from './cidr.js';
import type { PortSpec, Protocol } from './ports.js';

export interface NetworkSpec {
  name: string;
  bridge: string;
  subnet: string;
  gateway: string;
}

/** One container attached to one network. `ports` have their host port resolved (never 0). */
export interface Endpoint {
  containerId: string;
  network: string;
  ip: string;
  mac: string;
  hostVeth: string;
  ports: PortSpec[];
  aliases: string[];
  name: string;
}

/**
 * A node-local load balancer for a published port (a service's `mode: ingress` port): new
 * connections to `port` on any host address are spread evenly over `backends` (containers on
 * Shoal bridges), with `-m statistic --mode random` (no IPVS module needed).
 */
export interface IngressPort {
  protocol: Protocol;
  port: number;
  backends: { ip: string; port: number }[];
}

export interface Chains {
  postrouting: string;
  dnat: string;
  forward: string;
}

export function chainsOf(prefix: string): Chains {
  return { postrouting: `${prefix}-POSTROUTING`, dnat: `${prefix}-DNAT`, forward: `${prefix}-FORWARD` };
}

/** The jump rules from the built-in chains (table, chain, rule spec after the chain name). */
export function jumpRules(prefix: string): { table: 'nat' | 'filter'; chain: string; spec: string }[] {
  const c = chainsOf(prefix);
  return [
    { table: 'nat', chain: 'PREROUTING', spec: `-m addrtype --dst-type LOCAL -j ${c.dnat}` },
    { table: 'nat', chain: 'OUTPUT', spec: `-m addrtype --dst-type LOCAL -j ${c.dnat}` },
    { table: 'nat', chain: 'POSTROUTING', spec: `-j ${c.postrouting}` },
    { table: 'filter', chain: 'FORWARD', spec: `-j ${c.forward}` },
  ];
}

const MAX_IFNAME = 15;

/** Host-side and (temporary, before rename to eth0) container-side veth names, at most 15 characters. */
export function vethNames(vethPrefix: string, containerId: string): { host: string; peer: string } {
  const id = containerId.replace(/[^a-zA-Z0-9]/g, '');
  const room = MAX_IFNAME - vethPrefix.length - 1;
  return { host: `${vethPrefix}h${id.slice(0, room)}`, peer: `${vethPrefix}c${id.slice(0, room)}` };
}

/** Bridge name of a user-defined network: `shoal-` and the first 9 characters of its id. */
export function bridgeNameOf(networkId: string): string {
  return `shoal-${networkId.slice(0, 9)}`;
}

/** A locally administered MAC derived from the address, as Docker does (02:42:...); here 02:5e:... */
export function macOf(ip: string): string {
  const n = parseIPv4(ip);
  const bytes = [0x02, 0x5e, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The complete content of Shoal's chains; applying it flushes and rewrites those chains only. */
export function planRules(prefix: string, networks: NetworkSpec[], endpoints: Endpoint[], ingress: IngressPort[] = []): string {
  const c = chainsOf(prefix);
  const nat: string[] = ['*nat', `:${c.postrouting} - [0:0]`, `:${c.dnat} - [0:0]`];
  const filter: string[] = ['*filter', `:${c.forward} - [0:0]`];
  const byName = new Map(networks.map((n) => [n.name, n]));
  const sorted = [...networks].sort((a, b) => a.name.localeCompare(b.name));

  // Isolation first: nothing passes from one Shoal bridge to another.
  for (const a of sorted) for (const b of sorted) if (a.bridge !== b.bridge) filter.push(`-A ${c.forward} -i ${a.bridge} -o ${b.bridge} -j DROP`);
  for (const n of sorted) {
    const subnet = parseSubnet(n.subnet).cidr;
    nat.push(`-A ${c.postrouting} -s ${subnet} ! -o ${n.bridge} -j MASQUERADE`);
    // localhost:hostPort DNATed from OUTPUT leaves with a 127/8 source: masquerade it to the gateway.
    nat.push(`-A ${c.postrouting} -s 127.0.0.0/8 -o ${n.bridge} -j MASQUERADE`);
    filter.push(`-A ${c.forward} -o ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  }
  const eps = [...endpoints].sort((a, b) => a.containerId.localeCompare(b.containerId) || a.network.localeCompare(b.network));
  for (const e of eps) {
    const n = byName.get(e.network);
    if (n === undefined) continue;
    for (const p of e.ports) {
      const dst = p.hostIp === '' ? '' : ` -d ${p.hostIp}/32`;
      nat.push(`-A ${c.dnat}${dst} -p ${p.protocol} -m ${p.protocol} --dport ${p.hostPort} -j DNAT --to-destination ${e.ip}:${p.containerPort}`);
      // Hairpin: a container reaching a published port of its own bridge must see replies come back through the host.
      nat.push(`-A ${c.postrouting} -s ${n.subnet} -d ${e.ip}/32 -p ${p.protocol} -m ${p.protocol} --dport ${p.containerPort} -j MASQUERADE`);
      filter.push(`-A ${c.forward} -d ${e.ip}/32 -o ${n.bridge} -p ${p.protocol} -m ${p.protocol} --dport ${p.containerPort} -j ACCEPT`);
    }
  }
  const subnets = sorted.map((n) => ({ n, s: parseSubnet(n.subnet) }));
  const bridgeOf = (ip: string): NetworkSpec | undefined => {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return undefined;
    const a = parseIPv4(ip);
    return subnets.find((x) => cidrContains(x.s, a))?.n;
  };
  for (const ing of [...ingress].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol))) {
    const backends = ing.backends.filter((b) => bridgeOf(b.ip) !== undefined).sort((a, b) => a.ip.localeCompare(b.ip) || a.port - b.port);
    const m = `-p ${ing.protocol} -m ${ing.protocol} --dport ${ing.port}`;
    backends.forEach((b, i) => {
      const left = backends.length - i;
      // Rule i takes 1/(n-i) of what reaches it: an even spread over the n backends.
      const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(8)}` : '';
      nat.push(`-A ${c.dnat} ${m}${pick} -j DNAT --to-destination ${b.ip}:${b.port}`);
    });
    for (const b of backends) {
      const n = bridgeOf(b.ip)!;
      nat.push(`-A ${c.postrouting} -s ${n.subnet} -d ${b.ip}/32 -p ${ing.protocol} -m ${ing.protocol} --dport ${b.port} -j MASQUERADE`);
      filter.push(`-A ${c.forward} -d ${b.ip}/32 -o ${n.bridge} -p ${ing.protocol} -m ${ing.protocol} --dport ${b.port} -j ACCEPT`);
    }
  }
  // Egress and traffic within a bridge (the latter seen here when br_netfilter is on).
  for (const n of sorted) filter.push(`-A ${c.forward} -i ${n.bridge} -j ACCEPT`);
  nat.push('COMMIT');
  filter.push('COMMIT');
  return `${[...nat, ...filter].join('\n')}\n`;
}

/** Removes Shoal's chains and their jumps (only those present, as listed in `present`). */
export function planTeardown(prefix: string, presentJumps: { table: 'nat' | 'filter'; chain: string; spec: string }[]): string {
  const c = chainsOf(prefix);
  const lines: string[] = ['*nat'];
  for (const j of presentJumps.filter((x) => x.table === 'nat')) lines.push(`-D ${j.chain} ${j.spec}`);
  lines.push(`:${c.postrouting} - [0:0]`, `:${c.dnat} - [0:0]`, `-X ${c.postrouting}`, `-X ${c.dnat}`, 'COMMIT', '*filter');
  for (const j of presentJumps.filter((x) => x.table === 'filter')) lines.push(`-D ${j.chain} ${j.spec}`);
  lines.push(`:${c.forward} - [0:0]`, `-X ${c.forward}`, 'COMMIT');
  return `${lines.join('\n')}\n`;
}

/** Jumps to insert (first position) because `iptables-save` output lacks them. */
export function missingJumps(prefix: string, saved: { nat: string; filter: string }): string {
  const lines: string[] = [];
  for (const t of ['nat', 'filter'] as const) {
    const present = new Set(saved[t].split('\n').map((l) => l.trim()));
    const add = jumpRules(prefix).filter((j) => j.table === t && !present.has(`-A ${j.chain} ${j.spec}`));
    if (add.length === 0) continue;
    lines.push(`*${t}`, ...add.map((j) => `-I ${j.chain} 1 ${j.spec}`), 'COMMIT');
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function presentJumps(prefix: string, saved: { nat: string; filter: string }): ReturnType<typeof jumpRules> {
  return jumpRules(prefix).filter((j) => saved[j.table].split('\n').some((l) => l.trim() === `-A ${j.chain} ${j.spec}`));
}

/** `ip -batch` lines for the bridge: created when absent, addressed when the gateway is missing, up. */
export function planBridge(n: NetworkSpec, exists: boolean, hasAddress: boolean): string[] {
  const prefix = parseSubnet(n.subnet).prefix;
  const out: string[] = [];
  if (!exists) out.push(`link add ${n.bridge} type bridge`);
  if (!hasAddress) out.push(`addr add ${n.gateway}/${prefix} dev ${n.bridge}`);
  out.push(`link set ${n.bridge} up`);
  return out;
}

/** Host-side `ip -batch` lines of an attach: the veth pair, one end into the bridge, the other into the netns of `pid`. */
export function planHostLinks(n: NetworkSpec, e: Endpoint, peer: string, pid: number): string[] {
  return [`link add ${e.hostVeth} type veth peer name ${peer} netns ${pid}`, `link set ${e.hostVeth} master ${n.bridge} up`];
}

/** `ip -batch` lines run inside the container's netns. */
export function planContainerLinks(n: NetworkSpec, e: Endpoint, peer: string, ifname = 'eth0'): string[] {
  const prefix = parseSubnet(n.subnet).prefix;
  return [
    `link set ${peer} name ${ifname}`,
    `link set ${ifname} address ${e.mac}`,
    `addr add ${e.ip}/${prefix} dev ${ifname}`,
    `link set ${ifname} up`,
    'link set lo up',
    `route add default via ${n.gateway} dev ${ifname}`,
  ];
}
