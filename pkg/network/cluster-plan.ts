/**
 * The cluster dataplane's plan (pure): from a ClusterNetworkSpec, the text of Shoal's cluster
 * chains (one `iptables-restore --noflush`), the ipsets (one `ipset restore`), and the link
 * deltas (routes, neighbours, FDB entries, policy rules) against what the node has now.
 *
 *   nat     <P>-SVC        from PREROUTING and OUTPUT: a VIP → <P>-S-<h>, its endpoints spread
 *                          evenly with `statistic random` (DNAT keeps the port: any port works)
 *           <P>-MESH       from PREROUTING and OUTPUT for local destinations: a published ingress
 *                          port → <P>-M-<h>, every endpoint in the cluster (no SNAT: the client's
 *                          address reaches the task)
 *           <P>-OVL-POST   first in POSTROUTING: a task reaching itself through a VIP or the mesh
 *                          is masqueraded (hairpin); pod to pod is never masqueraded; 127/8 to the
 *                          overlay is
 *   filter  <P>-ISOLATE    first in FORWARD (and OUTPUT for the VIP rejects): a VIP without
 *                          endpoints is refused; replies pass; a local task accepts pod sources
 *                          only from its networks' sets (node addresses pass)
 *           <P>-OVL-FWD    after it: accept to and from the overlay device and what was DNATed
 *                          (a FORWARD policy of DROP, Docker's, is fine)
 *   mangle  <P>-MESH-MARK  first in PREROUTING: a new connection from a peer's VTEP whose source
 *                          is outside the pod CIDRs (a routing-mesh client) is connmarked with the
 *                          peer's index; replies from the bridge get the mark back, and a policy
 *                          rule sends them over the overlay to the node that took the connection.
 */
import { createHash } from 'node:crypto';
import { formatIPv4, parseCidr } from '../api/index.js';
import type { ClusterNetworkSpec, MeshService, OverlayPeer } from './cluster-spec.js';

export interface ClusterNames {
  prefix: string;
  bridge: string;
  vx: string;
}

/** Bits of the firewall mark that carry a peer's index (policy routing of mesh replies). */
export const MESH_MARK_MASK = 0x0fff0000;
/** Routing tables of mesh replies: base + peer index. */
export const MESH_TABLE_BASE = 20000;
/** Priority of the policy rules of mesh replies. */
export const MESH_RULE_PREF = 5300;

const h8 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** The podCIDR's network address: the VTEP address of its node (flannel's scheme). */
export function vtepAddressOf(podCIDR: string): string {
  return formatIPv4(parseCidr(podCIDR, { strict: false }).network);
}

/** A peer's stable index (1..4095) from its podCIDR: the /24 number inside a /12. */
export function peerIndex(podCIDR: string): number {
  return ((parseCidr(podCIDR, { strict: false }).network >>> 8) & 0xfff) + 1;
}

export function meshMark(podCIDR: string): number {
  return (peerIndex(podCIDR) << 16) >>> 0;
}

export function networkSetName(prefix: string, network: string): string {
  return `${prefix}-n${h8(network)}`;
}

export function podnetsSet(prefix: string): string {
  return `${prefix}-podnets`;
}

export function nodesSet(prefix: string): string {
  return `${prefix}-nodes`;
}

function inCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr, { strict: false });
  const parts = ip.split('.').map(Number);
  const n = ((((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0);
  const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
  return ((n & mask) >>> 0) === c.network;
}

/** Every ipset the spec needs: name → type and members. */
export function planSets(spec: ClusterNetworkSpec, prefix: string): Map<string, { type: 'hash:ip' | 'hash:net'; members: string[] }> {
  const sets = new Map<string, { type: 'hash:ip' | 'hash:net'; members: string[] }>();
  sets.set(podnetsSet(prefix), { type: 'hash:net', members: [spec.self.podCIDR, ...spec.peers.map((p) => p.podCIDR)] });
  sets.set(nodesSet(prefix), { type: 'hash:ip', members: [spec.self, ...spec.peers].map((n) => vtepAddressOf(n.podCIDR)) });
  for (const s of spec.services) {
    for (const net of s.networks) {
      const name = networkSetName(prefix, net);
      const set = sets.get(name) ?? { type: 'hash:ip' as const, members: [] };
      for (const e of s.endpoints) set.members.push(e.ip);
      sets.set(name, set);
    }
  }
  for (const v of sets.values()) v.members = [...new Set(v.members)].sort();
  return sets;
}

/** `ipset restore` input: each set filled as a temporary one and swapped in (atomic per set). */
export function ipsetRestoreText(sets: Map<string, { type: string; members: string[] }>): string {
  const out: string[] = [];
  for (const [name, { type, members }] of sets) {
    const tmp = `${name}-t`;
    out.push(`create ${name} ${type} -exist`, `create ${tmp} ${type} -exist`, `flush ${tmp}`);
    for (const m of members) out.push(`add ${tmp} ${m} -exist`);
    out.push(`swap ${tmp} ${name}`, `destroy ${tmp}`);
  }
  return out.join('\n') + '\n';
}

/** DNAT rules that spread evenly over `targets`; `proto` is needed when a target names a port. */
function dnatSpread(chain: string, targets: string[], proto?: string): string[] {
  const p = proto !== undefined ? ` -p ${proto}` : '';
  return targets.map((to, i) => {
    const left = targets.length - i;
    const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}` : '';
    return `-A ${chain}${p}${pick} -j DNAT --to-destination ${to}`;
  });
}

function natRules(spec: ClusterNetworkSpec, n: ClusterNames): { chains: string[]; rules: string[] } {
  const P = n.prefix;
  const chains = [`${P}-SVC`, `${P}-MESH`, `${P}-OVL-POST`];
  const rules: string[] = [];
  for (const s of spec.services) {
    if (s.virtualIP === undefined || s.endpoints.length === 0) continue;
    const chain = `${P}-S-${h8(s.key)}`;
    chains.push(chain);
    rules.push(`-A ${P}-SVC -d ${s.virtualIP}/32 -j ${chain}`, ...dnatSpread(chain, s.endpoints.map((e) => e.ip)));
  }
  const ports = new Map<string, MeshService['ingress'][number] & { eps: string[] }>();
  for (const s of spec.services) {
    for (const p of s.ingress) {
      const key = `${p.protocol}/${p.port}`;
      if (ports.has(key)) continue; // the API refuses two services on one port
      ports.set(key, { ...p, eps: s.endpoints.map((e) => `${e.ip}:${p.targetPort}`) });
    }
  }
  for (const [key, p] of [...ports].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (p.eps.length === 0) continue;
    const chain = `${P}-M-${h8(key)}`;
    chains.push(chain);
    rules.push(`-A ${P}-MESH -p ${p.protocol} --dport ${p.port} -j ${chain}`, ...dnatSpread(chain, p.eps, p.protocol));
  }
  const pod = podnetsSet(P);
  for (const ip of localEndpoints(spec)) rules.push(`-A ${P}-OVL-POST -s ${ip}/32 -d ${ip}/32 -j MASQUERADE`);
  rules.push(
    `-A ${P}-OVL-POST -m set --match-set ${pod} src -m set --match-set ${pod} dst -j ACCEPT`,
    `-A ${P}-OVL-POST -s 127.0.0.0/8 -o ${n.vx} -j MASQUERADE`,
  );
  return { chains, rules };
}

/** Endpoint addresses on this node, each once. */
function localEndpoints(spec: ClusterNetworkSpec): string[] {
  const out = new Set<string>();
  for (const s of spec.services) for (const e of s.endpoints) if (inCidr(e.ip, spec.self.podCIDR)) out.add(e.ip);
  return [...out].sort();
}

function filterRules(spec: ClusterNetworkSpec, n: ClusterNames): { chains: string[]; rules: string[] } {
  const P = n.prefix;
  const rules: string[] = [];
  for (const s of spec.services) {
    if (s.virtualIP !== undefined && s.endpoints.length === 0) {
      rules.push(`-A ${P}-SVC-REJECT -d ${s.virtualIP}/32 -j REJECT --reject-with icmp-port-unreachable`);
    }
  }
  rules.push(`-A ${P}-ISOLATE -j ${P}-SVC-REJECT`, `-A ${P}-ISOLATE -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`, `-A ${P}-ISOLATE -m set --match-set ${nodesSet(P)} src -j RETURN`);
  const nets = new Map<string, Set<string>>();
  for (const s of spec.services) {
    for (const e of s.endpoints) {
      if (!inCidr(e.ip, spec.self.podCIDR)) continue;
      const set = nets.get(e.ip) ?? new Set<string>();
      for (const net of s.networks) set.add(net);
      nets.set(e.ip, set);
    }
  }
  for (const [ip, set] of [...nets].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    for (const net of [...set].sort()) rules.push(`-A ${P}-ISOLATE -d ${ip}/32 -m set --match-set ${networkSetName(P, net)} src -j RETURN`);
    rules.push(`-A ${P}-ISOLATE -d ${ip}/32 -m set --match-set ${podnetsSet(P)} src -j DROP`);
  }
  rules.push(`-A ${P}-OVL-FWD -i ${n.vx} -j ACCEPT`, `-A ${P}-OVL-FWD -o ${n.vx} -j ACCEPT`, `-A ${P}-OVL-FWD -m conntrack --ctstate DNAT -j ACCEPT`);
  return { chains: [`${P}-ISOLATE`, `${P}-SVC-REJECT`, `${P}-OVL-FWD`], rules };
}

function mangleRules(spec: ClusterNetworkSpec, n: ClusterNames): { chains: string[]; rules: string[] } {
  const P = n.prefix;
  const rules: string[] = [];
  for (const p of spec.peers) {
    rules.push(
      `-A ${P}-MESH-MARK -i ${n.vx} -m conntrack --ctstate NEW -m set ! --match-set ${podnetsSet(P)} src -m mac --mac-source ${p.vtepMAC} -j CONNMARK --set-xmark 0x${meshMark(p.podCIDR).toString(16)}/0x${MESH_MARK_MASK.toString(16)}`,
    );
  }
  const mask = `0x${MESH_MARK_MASK.toString(16)}`;
  rules.push(`-A ${P}-MESH-MARK -i ${n.bridge} -j CONNMARK --restore-mark --nfmask ${mask} --ctmask ${mask}`);
  return { chains: [`${P}-MESH-MARK`], rules };
}

/** The jumps into the chains, in the order they must come first in each built-in chain. */
export function clusterJumps(n: ClusterNames): Record<'nat' | 'filter' | 'mangle', { chain: string; rule: string }[]> {
  const P = n.prefix;
  return {
    nat: [
      { chain: 'PREROUTING', rule: `-j ${P}-SVC` },
      { chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${P}-MESH` },
      { chain: 'OUTPUT', rule: `-j ${P}-SVC` },
      { chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${P}-MESH` },
      { chain: 'POSTROUTING', rule: `-j ${P}-OVL-POST` },
    ],
    filter: [
      { chain: 'FORWARD', rule: `-j ${P}-ISOLATE` },
      { chain: 'FORWARD', rule: `-j ${P}-OVL-FWD` },
      { chain: 'OUTPUT', rule: `-j ${P}-SVC-REJECT` },
    ],
    mangle: [{ chain: 'PREROUTING', rule: `-j ${P}-MESH-MARK` }],
  };
}

/**
 * The `iptables-restore --noflush` input: every chain declared (which flushes it) and filled.
 * `saved` is `iptables-save`'s text per table: jumps are (re)inserted at the top, in order,
 * when one is missing; stale chains of an earlier plan (`<P>-S-*`, `<P>-M-*`) are deleted.
 */
export function clusterRulesText(spec: ClusterNetworkSpec, n: ClusterNames, saved: Record<'nat' | 'filter' | 'mangle', string>): { text: string; rules: number } {
  const parts = { nat: natRules(spec, n), filter: filterRules(spec, n), mangle: mangleRules(spec, n) };
  const jumps = clusterJumps(n);
  let text = '';
  let count = 0;
  for (const table of ['nat', 'filter', 'mangle'] as const) {
    const { chains, rules } = parts[table];
    const lines = [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`)];
    const existing = new Set(saved[table].split('\n').filter((l) => l.startsWith('-A ')).map((l) => l.trim()));
    const present = jumps[table].map((j) => existing.has(`-A ${j.chain} ${j.rule}`));
    if (present.some((p) => !p)) {
      jumps[table].forEach((j, i) => {
        if (present[i]) lines.push(`-D ${j.chain} ${j.rule}`);
      });
      const pos = new Map<string, number>();
      for (const j of jumps[table]) {
        const at = (pos.get(j.chain) ?? 0) + 1;
        pos.set(j.chain, at);
        lines.push(`-I ${j.chain} ${at} ${j.rule}`);
      }
    }
    lines.push(...rules);
    const stale = new Set<string>();
    for (const l of saved[table].split('\n')) {
      const m = /^:(\S+) /.exec(l);
      if (m?.[1] !== undefined && (m[1].startsWith(`${n.prefix}-S-`) || m[1].startsWith(`${n.prefix}-M-`)) && !chains.includes(m[1])) stale.add(m[1]);
    }
    for (const c of stale) lines.push(`:${c} - [0:0]`);
    for (const c of stale) lines.push(`-X ${c}`);
    lines.push('COMMIT');
    count += rules.length;
    text += lines.join('\n') + '\n';
  }
  return { text, rules: count };
}

/** The link state the dataplane manages on the VXLAN device, as read back from the kernel. */
export interface LinkState {
  /** Route destination (`A.B.C.D/N`) → gateway. */
  routes: Map<string, string>;
  /** Neighbour address → MAC. */
  neigh: Map<string, string>;
  /** FDB MAC → `dst port`. */
  fdb: Map<string, string>;
  /** Policy rules: fwmark text (`0x10000/0xfff0000`) → table. */
  rules: Map<string, number>;
}

export interface LinkPlan {
  ip: string[];
  bridge: string[];
  /** Policy-rule and table commands (one `ip -batch` after the routes). */
  policy: string[];
}

/** What to change on the device so it matches the peers. */
export function planLinks(peers: readonly OverlayPeer[], cur: LinkState, vx: string, bridge: string): LinkPlan {
  const plan: LinkPlan = { ip: [], bridge: [], policy: [] };
  const want = { routes: new Map<string, string>(), neigh: new Map<string, string>(), fdb: new Map<string, string>(), rules: new Map<string, number>() };
  for (const p of peers) {
    const gw = vtepAddressOf(p.podCIDR);
    want.routes.set(p.podCIDR, gw);
    want.neigh.set(gw, p.vtepMAC);
    want.fdb.set(p.vtepMAC, `${p.address} ${p.port}`);
    want.rules.set(`0x${meshMark(p.podCIDR).toString(16)}/0x${MESH_MARK_MASK.toString(16)}`, MESH_TABLE_BASE + peerIndex(p.podCIDR));
  }
  for (const [gw, mac] of want.neigh) if (cur.neigh.get(gw) !== mac) plan.ip.push(`neigh replace ${gw} lladdr ${mac} dev ${vx} nud permanent`);
  for (const [dst, gw] of want.routes) if (cur.routes.get(dst) !== gw) plan.ip.push(`route replace ${dst} via ${gw} dev ${vx} onlink`);
  for (const dst of cur.routes.keys()) if (!want.routes.has(dst)) plan.ip.push(`route del ${dst} dev ${vx}`);
  for (const gw of cur.neigh.keys()) if (!want.neigh.has(gw)) plan.ip.push(`neigh del ${gw} dev ${vx}`);
  for (const [mac, dst] of want.fdb) {
    if (cur.fdb.get(mac) === dst) continue;
    const [addr, port] = dst.split(' ');
    if (cur.fdb.has(mac)) plan.bridge.push(`fdb del ${mac} dev ${vx} self`);
    plan.bridge.push(`fdb append ${mac} dev ${vx} dst ${addr} port ${port} self permanent`);
  }
  for (const mac of cur.fdb.keys()) if (!want.fdb.has(mac)) plan.bridge.push(`fdb del ${mac} dev ${vx} self`);
  for (const p of peers) {
    const table = MESH_TABLE_BASE + peerIndex(p.podCIDR);
    plan.policy.push(`route replace default via ${vtepAddressOf(p.podCIDR)} dev ${vx} onlink table ${table}`);
  }
  for (const [mark, table] of want.rules) if (cur.rules.get(mark) !== table) // iif: only replies coming from the tasks; the VXLAN packets that carry them keep the mark and must not loop back in.
    plan.policy.push(`rule add fwmark ${mark} iif ${bridge} lookup ${table} pref ${MESH_RULE_PREF}`);
  for (const [mark, table] of cur.rules) {
    if (want.rules.get(mark) === table) continue;
    plan.policy.push(`rule del pref ${MESH_RULE_PREF} fwmark ${mark} lookup ${table}`);
    if (![...want.rules.values()].includes(table)) plan.policy.push(`route flush table ${table}`);
  }
  return plan;
}
