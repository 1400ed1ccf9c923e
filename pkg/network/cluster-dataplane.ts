/**
 * The node's cluster dataplane (the shell around cluster-plan.ts): the VXLAN device, the
 * routes, neighbours and FDB entries of the peers, the ipsets, Shoal's cluster chains and the
 * policy rules of mesh replies. Each apply reads back what the kernel has on the device (so a
 * new agent process removes what an earlier one left for peers that are gone), then changes
 * only what differs; the device is recreated only when its identity (VNI, port, local address)
 * changed, so connections through the overlay survive an agent restart. One apply at a time.
 */
import { errors, isShoalError, ShoalError, toShoalError } from '../api/index.js';
import {
  clusterJumps, clusterRulesText, ipsetRestoreText, MESH_RULE_PREF, planLinks, planSets, vtepAddressOf,
  type ClusterNames, type LinkState,
} from './cluster-plan.js';
import type { ClusterDataplane, ClusterDataplaneOptions, ClusterNetworkSpec, DataplaneStats, OverlaySelf } from './cluster-spec.js';
import type { NetHost } from './host.js';

/** VXLAN encapsulation: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

interface VxInfo {
  id?: number;
  port?: number;
  local?: string;
  address?: string;
  mtu?: number;
}

export function createClusterDataplane(opts: ClusterDataplaneOptions): ClusterDataplane {
  return new RealClusterDataplane(opts);
}

class RealClusterDataplane implements ClusterDataplane {
  private readonly host: NetHost;
  private readonly names: ClusterNames;
  private readonly vni: number;
  private chain: Promise<unknown> = Promise.resolve();
  /** self + peers of the last successful link programming: unchanged, the links are not read again. */
  private linkKey: string | undefined;
  /** What iptables-save would show of our chains after the last successful apply (saves three reads). */
  private savedCache: Record<'nat' | 'filter' | 'mangle', string> | undefined;
  private lastSets: string[] | undefined;
  private readonly st: DataplaneStats = { rules: 0, endpoints: 0, peers: 0, lastApplyMs: 0, applies: 0, failures: 0 };

  constructor(opts: ClusterDataplaneOptions) {
    this.host = opts.host;
    this.names = { prefix: opts.chainPrefix, bridge: opts.bridge, vx: opts.vxlanDevice ?? 'shoal-vx' };
    this.vni = opts.vni ?? 4096;
  }

  stats(): DataplaneStats {
    return { ...this.st };
  }

  apply(spec: ClusterNetworkSpec, signal?: AbortSignal): Promise<void> {
    const run = this.chain.then(async () => {
      if (signal?.aborted) throw new ShoalError('Canceled', 'cluster dataplane apply canceled');
      const t0 = performance.now();
      try {
        await this.applyNow(spec);
        this.st.applies++;
        this.st.peers = spec.peers.length;
        this.st.endpoints = spec.services.reduce((n, s) => n + s.endpoints.length, 0);
      } catch (err) {
        // Unknown state after a failure: read everything back next time.
        this.linkKey = undefined;
        this.savedCache = undefined;
        this.lastSets = undefined;
        this.st.failures++;
        throw isShoalError(err) ? err : errors.internal(`cluster dataplane: ${toShoalError(err).message}`, { cause: err });
      } finally {
        this.st.lastApplyMs = performance.now() - t0;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async applyNow(spec: ClusterNetworkSpec): Promise<void> {
    const { vx, prefix } = this.names;
    // Peers change rarely, endpoints often: the device and the links are read and programmed
    // only when self or the peers changed (always on the first apply of a process).
    const linkKey = JSON.stringify([spec.self, spec.peers]);
    if (linkKey !== this.linkKey) {
      this.linkKey = undefined;
      await this.ensureDevice(spec.self);
      const links = planLinks(spec.peers, await this.readLinkState(), vx, this.names.bridge);
      if (links.ip.length > 0) await this.host.run('ip', ['-batch', '-'], links.ip.join('\n') + '\n');
      if (links.bridge.length > 0) await this.host.run('bridge', ['-batch', '-'], links.bridge.join('\n') + '\n');
      if (links.policy.length > 0) await this.host.run('ip', ['-batch', '-'], links.policy.join('\n') + '\n');
      this.linkKey = linkKey;
    }
    const sets = planSets(spec, prefix);
    await this.host.run('ipset', ['restore'], ipsetRestoreText(sets));
    const saved = this.savedCache ?? (await this.saved());
    this.savedCache = undefined;
    const { text, rules } = clusterRulesText(spec, this.names, saved);
    await this.host.run('iptables-restore', ['--noflush'], text);
    this.savedCache = savedAfter(text, clusterJumps(this.names));
    this.st.rules = rules;
    // Sets of networks no service uses any more go once no rule names them (the kernel's list on
    // the first apply of a process, the last apply's afterwards).
    const before = this.lastSets ?? (await this.ownSets());
    const stale = before.filter((s) => s.startsWith(`${prefix}-n`) && !sets.has(s) && !s.endsWith('-t'));
    if (stale.length > 0) await this.host.run('ipset', ['restore'], stale.map((s) => `destroy ${s}`).join('\n') + '\n').catch(() => undefined);
    this.lastSets = [...sets.keys()];
  }

  /** Creates the VXLAN device, or keeps it when its identity matches; address, MAC, MTU, up, sysctls. */
  private async ensureDevice(self: OverlaySelf): Promise<void> {
    const { vx } = this.names;
    const cur = await this.readDevice();
    const mtu = (await this.underlayMtu(self.address)) - VXLAN_OVERHEAD;
    const cmds: string[] = [];
    if (cur !== undefined && (cur.id !== this.vni || cur.port !== self.port || cur.local !== self.address)) cmds.push(`link del ${vx}`);
    if (cur === undefined || cmds.length > 0) {
      cmds.push(`link add ${vx} type vxlan id ${this.vni} dstport ${self.port} local ${self.address} nolearning`);
    }
    if (cur?.address !== self.vtepMAC || cmds.length > 0) cmds.push(`link set ${vx} address ${self.vtepMAC}`);
    if (cur?.mtu !== mtu || cmds.length > 0) cmds.push(`link set ${vx} mtu ${mtu}`);
    cmds.push(`link set ${vx} up`);
    const addr = `${vtepAddressOf(self.podCIDR)}/32`;
    const have = await this.host.run('ip', ['-j', '-4', 'addr', 'show', 'dev', vx]).then(parseAddrs, () => [] as string[]);
    if (!have.includes(addr) || cmds.some((c) => c.startsWith('link add'))) {
      for (const a of have) if (a !== addr) cmds.push(`addr del ${a} dev ${vx}`);
      cmds.push(`addr replace ${addr} dev ${vx}`);
    }
    await this.host.run('ip', ['-batch', '-'], cmds.join('\n') + '\n');
    await this.host.writeSysctl(`net.ipv4.conf.${vx}.rp_filter`, '2');
    await this.host.writeSysctl(`net.ipv4.conf.${vx}.route_localnet`, '1');
    await this.host.writeSysctl('net.ipv4.ip_forward', '1');
  }

  private async readDevice(): Promise<VxInfo | undefined> {
    let out: string;
    try {
      out = await this.host.run('ip', ['-d', '-j', 'link', 'show', 'dev', this.names.vx]);
    } catch {
      return undefined;
    }
    const j = (JSON.parse(out || '[]') as { address?: string; mtu?: number; linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string } } }[])[0];
    if (j === undefined) return undefined;
    if (j.linkinfo?.info_kind !== 'vxlan') return { address: j.address ?? '' };
    const d = j.linkinfo.info_data ?? {};
    return { id: d.id, port: d.port, local: d.local, address: j.address, mtu: j.mtu } as VxInfo;
  }

  private async underlayMtu(address: string): Promise<number> {
    const out = await this.host.run('ip', ['-j', '-4', 'addr', 'show']).catch(() => '[]');
    const links = JSON.parse(out || '[]') as { ifname?: string; mtu?: number; addr_info?: { local?: string }[] }[];
    const dev = links.find((l) => l.ifname !== this.names.vx && (l.addr_info ?? []).some((a) => a.local === address));
    if (dev === undefined) throw errors.failedPrecondition(`no interface holds the advertise address ${address}: the overlay needs the node's own underlay address`);
    return dev.mtu ?? 1500;
  }

  private async readLinkState(): Promise<LinkState> {
    const { vx } = this.names;
    const state: LinkState = { routes: new Map(), neigh: new Map(), fdb: new Map(), rules: new Map() };
    const json = async <T>(cmd: string, args: string[]): Promise<T[]> => JSON.parse((await this.host.run(cmd, args).catch(() => '[]')) || '[]') as T[];
    for (const r of await json<{ dst?: string; gateway?: string }>('ip', ['-j', '-4', 'route', 'show', 'dev', vx])) {
      if (r.dst !== undefined && r.gateway !== undefined) state.routes.set(r.dst, r.gateway);
    }
    for (const n of await json<{ dst?: string; lladdr?: string; state?: string[] }>('ip', ['-j', '-4', 'neigh', 'show', 'dev', vx])) {
      if (n.dst !== undefined && n.lladdr !== undefined && (n.state ?? []).includes('PERMANENT')) state.neigh.set(n.dst, n.lladdr);
    }
    for (const f of await json<{ mac?: string; dst?: string; port?: number }>('bridge', ['-j', 'fdb', 'show', 'dev', vx])) {
      if (f.mac !== undefined && f.dst !== undefined && f.mac !== '00:00:00:00:00:00') state.fdb.set(f.mac, `${f.dst} ${f.port ?? 4789}`);
    }
    for (const r of await json<{ priority?: number; fwmark?: string; fwmask?: string; table?: string }>('ip', ['-j', 'rule', 'show'])) {
      if (r.priority === MESH_RULE_PREF && r.fwmark !== undefined) state.rules.set(`${r.fwmark}/${r.fwmask ?? '0xffffffff'}`, Number(r.table));
    }
    return state;
  }

  private async saved(): Promise<Record<'nat' | 'filter' | 'mangle', string>> {
    const out = { nat: '', filter: '', mangle: '' };
    for (const t of ['nat', 'filter', 'mangle'] as const) out[t] = await this.host.run('iptables-save', ['-t', t]);
    return out;
  }

  private async ownSets(): Promise<string[]> {
    const out = await this.host.run('ipset', ['list', '-n']).catch(() => '');
    return out.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(`${this.names.prefix}-`));
  }

  async teardown(): Promise<void> {
    await this.chain;
    this.linkKey = undefined;
    this.savedCache = undefined;
    this.lastSets = undefined;
    const { prefix, vx } = this.names;
    const saved = await this.saved();
    const jumps = clusterJumps(this.names);
    let text = '';
    for (const t of ['nat', 'filter', 'mangle'] as const) {
      const lines = saved[t].split('\n');
      const rules = new Set(lines.filter((l) => l.startsWith('-A ')).map((l) => l.trim()));
      const chains = lines.map((l) => /^:(\S+) /.exec(l)?.[1]).filter((c): c is string => c !== undefined && c.startsWith(`${prefix}-`) && isClusterChain(c, prefix));
      const out = [`*${t}`];
      for (const j of jumps[t]) if (rules.has(`-A ${j.chain} ${j.rule}`)) out.push(`-D ${j.chain} ${j.rule}`);
      for (const c of chains) out.push(`-F ${c}`);
      for (const c of chains) out.push(`-X ${c}`);
      out.push('COMMIT');
      text += out.join('\n') + '\n';
    }
    await this.host.run('iptables-restore', ['--noflush'], text);
    const state = await this.readLinkState();
    const policy = planLinks([], state, vx, this.names.bridge).policy;
    if (policy.length > 0) await this.host.run('ip', ['-batch', '-'], policy.join('\n') + '\n').catch(() => undefined);
    await this.host.run('ip', ['link', 'del', vx]).catch(() => undefined);
    const sets = (await this.ownSets()).filter((s) => s === `${prefix}-podnets` || s === `${prefix}-nodes` || /^.+-n[0-9a-f]{8}(-t)?$/.test(s));
    if (sets.length > 0) await this.host.run('ipset', ['restore'], sets.map((s) => `destroy ${s}`).join('\n') + '\n');
  }
}

/** What `iptables-save` shows of our chains and jumps once `text` is applied (only what the planner reads). */
function savedAfter(text: string, jumps: ReturnType<typeof clusterJumps>): Record<'nat' | 'filter' | 'mangle', string> {
  const out = { nat: '', filter: '', mangle: '' };
  for (const part of text.split('COMMIT')) {
    const table = /^\s*\*(nat|filter|mangle)/.exec(part)?.[1] as 'nat' | 'filter' | 'mangle' | undefined;
    if (table === undefined) continue;
    const deleted = new Set(part.split('\n').filter((l) => l.startsWith('-X ')).map((l) => l.slice(3)));
    const chains = part.split('\n').filter((l) => l.startsWith(':') && !deleted.has(l.slice(1).split(' ')[0] ?? ''));
    out[table] = [...chains, ...jumps[table].map((j) => `-A ${j.chain} ${j.rule}`)].join('\n') + '\n';
  }
  return out;
}

/** The chains this dataplane owns (the bridge manager's DNAT/POSTROUTING/FORWARD are not). */
function isClusterChain(c: string, prefix: string): boolean {
  const rest = c.slice(prefix.length + 1);
  return ['SVC', 'MESH', 'OVL-POST', 'ISOLATE', 'SVC-REJECT', 'OVL-FWD', 'MESH-MARK'].includes(rest) || /^(S|M)-[0-9a-f]{8}$/.test(rest);
}

function parseAddrs(out: string): string[] {
  const j = JSON.parse(out || '[]') as { addr_info?: { local?: string; prefixlen?: number; family?: string }[] }[];
  return (j[0]?.addr_info ?? []).filter((a) => a.family === 'inet' || a.family === undefined).map((a) => `${a.local}/${a.prefixlen}`);
}


