import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cidrsOverlap, errors, formatIPv4, isShoalError, type NetworkInfo } from '../api/index.js';
import { readJsonStrict, writeFileAtomicIn } from '../util/index.js';
import { gatewayOf, parseSubnet } from './cidr.js';
import type { NetHost } from './host.js';
import { DiskIpamStore, Ipam, type IpamStore } from './ipam-store.js';
import {
  bridgeNameOf,
  macOf,
  missingJumps,
  planBridge,
  planContainerLinks,
  planHostLinks,
  planRules,
  planTeardown,
  presentJumps,
  vethNames,
  type Endpoint,
  type IngressPort,
  type NetworkSpec,
} from './plan.js';
import { parsePortSpec, portsClash, type PortSpec } from './ports.js';
import { DnsServer } from './dns/server.js';

export interface BridgeNetworkOptions {
  dataDir: string;
  host: NetHost;
  ipamStore?: IpamStore;
  /** Prefix of Shoal's iptables chains (default SHOAL → SHOAL-POSTROUTING, SHOAL-DNAT, SHOAL-FORWARD). */
  chainPrefix?: string;
  /** Prefix of veth names (default `sh`); sync only ever deletes links with this prefix. */
  vethPrefix?: string;
  /** Pool user networks take /24 subnets from (default 10.89.0.0/16 .. 10.99.0.0/16 as 10.89.0.0/12 clipped). */
  userPool?: { first: string; last: string };
  /** Set bridge-nf-call-iptables=1 when br_netfilter is loaded (default true). */
  brNetfilter?: boolean;
  now?: () => Date;
}

export interface AttachOptions {
  /** Network name; default the first ensure()d network. */
  network?: string;
  ports?: (string | PortSpec)[];
  aliases?: string[];
  /** Container name, answered by the embedded DNS. */
  name?: string;
}

export interface AttachResult {
  network: string;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
  ports: PortSpec[];
}

interface State {
  endpoints: Endpoint[];
}

/**
 * Bridge networking of one node. Holds the desired state (networks and endpoints), persists it,
 * and re-applies Shoal's chains as a whole after each change, so the rules are always exactly the
 * plan of the current state. Mutations are serialised.
 */
export class BridgeNetwork {
  private readonly networks = new Map<string, NetworkInfo>();
  private endpoints: Endpoint[] = [];
  private ingress: IngressPort[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private jumpsChecked = false;
  /** The chains text last applied, to skip identical rewrites (reset by sync and teardown). */
  private lastRules: string | undefined;
  private readonly ipam: Ipam;
  private readonly prefix: string;
  private readonly vethPrefix: string;

  private constructor(private readonly opts: BridgeNetworkOptions) {
    this.ipam = new Ipam(opts.ipamStore ?? new DiskIpamStore(opts.dataDir));
    this.prefix = opts.chainPrefix ?? 'SHOAL';
    this.vethPrefix = opts.vethPrefix ?? 'sh';
    if (!/^[A-Z][A-Z0-9_]{0,15}$/.test(this.prefix)) throw errors.invalidArgument(`invalid chain prefix "${this.prefix}"`);
    if (!/^[a-z][a-z0-9]{0,5}$/.test(this.vethPrefix)) throw errors.invalidArgument(`invalid veth prefix "${this.vethPrefix}"`);
  }

  /** Loads user networks and endpoints from `<dataDir>/network/`. Call ensure() for the default bridge, then sync(). */
  static async create(opts: BridgeNetworkOptions): Promise<BridgeNetwork> {
    const bn = new BridgeNetwork(opts);
    const nets = (await readJsonStrict(bn.networksPath())) as { networks?: NetworkInfo[] } | undefined;
    for (const n of nets?.networks ?? []) bn.networks.set(n.name, n);
    const st = (await readJsonStrict(bn.statePath())) as State | undefined;
    bn.endpoints = st?.endpoints ?? [];
    return bn;
  }

  private networksPath(): string {
    return join(this.opts.dataDir, 'network', 'networks.json');
  }
  private statePath(): string {
    return join(this.opts.dataDir, 'network', 'endpoints.json');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async saveNetworks(): Promise<void> {
    const user = [...this.networks.values()].filter((n) => n.user);
    await writeFileAtomicIn(this.networksPath(), JSON.stringify({ networks: user }, null, 1));
  }
  private async saveState(): Promise<void> {
    await writeFileAtomicIn(this.statePath(), JSON.stringify({ endpoints: this.endpoints } satisfies State, null, 1));
  }

  private async ipBatch(lines: string[], pid?: number): Promise<void> {
    if (lines.length === 0) return;
    const input = `${lines.join('\n')}\n`;
    if (pid === undefined) await this.opts.host.run('ip', ['-batch', '-'], input);
    else await this.opts.host.run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-batch', '-'], input);
  }

  private async links(): Promise<{ ifname: string; master?: string }[]> {
    return JSON.parse(await this.opts.host.run('ip', ['-j', 'link', 'show'])) as { ifname: string; master?: string }[];
  }

  private async saved(): Promise<{ nat: string; filter: string }> {
    const [nat, filter] = await Promise.all([
      this.opts.host.run('iptables-save', ['-t', 'nat']),
      this.opts.host.run('iptables-save', ['-t', 'filter']),
    ]);
    return { nat, filter };
  }

  /** Rewrites Shoal's chains from the current state; installs the jumps once; removes everything when no network is left. */
  private async applyRules(): Promise<void> {
    const nets = [...this.networks.values()];
    if (nets.length === 0) {
      const saved = await this.saved();
      if (saved.nat.includes(`:${this.prefix}-`) || saved.filter.includes(`:${this.prefix}-`)) {
        await this.opts.host.run('iptables-restore', ['--noflush'], planTeardown(this.prefix, presentJumps(this.prefix, saved)));
      }
      this.jumpsChecked = false;
      this.lastRules = undefined;
      return;
    }
    const rules = planRules(this.prefix, nets, this.endpoints, this.ingress);
    // Most containers publish no port: their attach/detach leaves the chains as they are, and
    // skipping an identical rewrite saves an iptables-restore (tens of ms) per start and stop.
    if (this.jumpsChecked && rules === this.lastRules) return;
    let text = rules;
    if (!this.jumpsChecked) text += missingJumps(this.prefix, await this.saved());
    this.lastRules = undefined;
    await this.opts.host.run('iptables-restore', ['--noflush'], text);
    this.lastRules = rules;
    this.jumpsChecked = true;
  }

  /**
   * Creates (idempotently) a bridge network that is not a user network, e.g. the default `shoal0`.
   * A different subnet than the one it has (in memory, or in its IPAM state from before a
   * restart) is a Conflict, unless `replace` is set and no container holds an address on it:
   * then the bridge moves to the new subnet (a node joining a cluster takes its podCIDR).
   */
  ensure(spec: { name: string; subnet: string; bridge?: string }, o: { replace?: boolean } = {}): Promise<NetworkInfo> {
    return this.serial(async () => {
      const subnet = parseSubnet(spec.subnet);
      let existing = this.networks.get(spec.name);
      if (existing !== undefined && spec.bridge !== undefined && spec.bridge !== existing.bridge) {
        throw errors.conflict(`network ${spec.name} exists on bridge ${existing.bridge}, not ${spec.bridge}`);
      }
      const stored = await this.ipam.stored(spec.name);
      const oldSubnet = existing?.subnet ?? stored?.subnet;
      if (oldSubnet !== undefined && oldSubnet !== subnet.cidr) {
        const holders = Object.keys(stored?.leases ?? {}).length + this.endpoints.filter((e) => e.network === spec.name).length;
        if (existing !== undefined && o.replace !== true) {
          throw errors.conflict(`network ${spec.name} exists with subnet ${existing.subnet} on ${existing.bridge}`);
        }
        if (holders > 0) {
          throw errors.conflict(`network ${spec.name} cannot move from ${oldSubnet} to ${subnet.cidr}: containers still hold addresses on it; remove them first`);
        }
        await this.ipam.removeNetwork(spec.name);
        existing = existing === undefined ? undefined : { ...existing, subnet: subnet.cidr, gateway: formatIPv4(gatewayOf(subnet)) };
      }
      const info: NetworkInfo = existing ?? {
        id: randomBytes(16).toString('hex'),
        name: spec.name,
        bridge: spec.bridge ?? spec.name,
        subnet: subnet.cidr,
        gateway: formatIPv4(gatewayOf(subnet)),
        user: false,
        created: (this.opts.now?.() ?? new Date()).toISOString(),
      };
      await this.bringUp(info);
      this.networks.set(info.name, info);
      await this.applyRules();
      return { ...info };
    });
  }

  /**
   * Sets the node's load-balanced published ports (services' ingress ports and the local
   * containers behind them) and rewrites the chains when that changes anything. Backends not on
   * a Shoal bridge are ignored.
   */
  setIngress(ports: IngressPort[]): Promise<void> {
    return this.serial(async () => {
      for (const p of ports) {
        if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw errors.invalidArgument(`invalid ingress port ${p.port}`);
        if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw errors.invalidArgument(`invalid ingress protocol ${String(p.protocol)}`);
      }
      this.ingress = ports.map((p) => ({ ...p, backends: p.backends.map((b) => ({ ...b })) }));
      await this.applyRules();
    });
  }

  /** The subnet a non-user network had before this process started (from its IPAM state). */
  async storedSubnet(name: string): Promise<string | undefined> {
    return (await this.ipam.stored(name))?.subnet;
  }

  private async bringUp(n: NetworkSpec): Promise<void> {
    const links = await this.links();
    const exists = links.some((l) => l.ifname === n.bridge);
    let hasAddress = false;
    const stale: string[] = [];
    if (exists) {
      const addrs = JSON.parse(await this.opts.host.run('ip', ['-j', 'addr', 'show', 'dev', n.bridge])) as { addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
      for (const x of addrs.flatMap((a) => a.addr_info ?? [])) {
        if (x.local === n.gateway) hasAddress = true;
        // An IPv4 address of an earlier subnet (the bridge moved to the node's podCIDR) goes.
        else if (x.family === 'inet' && x.local !== undefined && x.prefixlen !== undefined) stale.push(`addr del ${x.local}/${x.prefixlen} dev ${n.bridge}`);
      }
    }
    await this.ipBatch([...stale, ...planBridge(n, exists, hasAddress)]);
    await this.opts.host.writeSysctl('net.ipv4.ip_forward', '1');
    await this.opts.host.writeSysctl(`net.ipv4.conf.${n.bridge}.route_localnet`, '1');
    if (this.opts.brNetfilter ?? true) await this.opts.host.writeSysctl('net.bridge.bridge-nf-call-iptables', '1');
  }

  /** Creates a user-defined network with its own bridge and a /24 from the pool (or the given subnet). */
  createNetwork(name: string, o: { subnet?: string } = {}): Promise<NetworkInfo> {
    return this.serial(async () => {
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/.test(name)) throw errors.invalidArgument(`invalid network name "${name}"`);
      if (this.networks.has(name)) throw errors.alreadyExists(`network ${name} already exists`, { kind: 'Network', name });
      const taken = [...this.networks.values()].map((n) => parseSubnet(n.subnet));
      const routes = JSON.parse(await this.opts.host.run('ip', ['-j', '-4', 'route', 'show'])) as { dst?: string }[];
      for (const r of routes) if (r.dst !== undefined && r.dst.includes('/')) taken.push(...safeSubnet(r.dst));
      let subnet: string;
      if (o.subnet !== undefined) {
        const s = parseSubnet(o.subnet);
        const clash = [...this.networks.values()].find((n) => cidrsOverlap(parseSubnet(n.subnet), s));
        if (clash !== undefined) throw errors.conflict(`subnet ${o.subnet} overlaps network ${clash.name} (${clash.subnet})`);
        subnet = s.cidr;
      } else subnet = this.pickSubnet(taken);
      const id = randomBytes(16).toString('hex');
      const s = parseSubnet(subnet);
      const info: NetworkInfo = {
        id,
        name,
        bridge: bridgeNameOf(id),
        subnet,
        gateway: formatIPv4(gatewayOf(s)),
        user: true,
        created: (this.opts.now?.() ?? new Date()).toISOString(),
      };
      await this.bringUp(info);
      this.networks.set(name, info);
      try {
        await this.saveNetworks();
        await this.applyRules();
      } catch (err) {
        this.networks.delete(name);
        await this.opts.host.run('ip', ['link', 'del', info.bridge]).catch(() => undefined);
        throw err;
      }
      return { ...info };
    });
  }

  private pickSubnet(taken: { network: number; size: number; cidr: string; prefix: number }[]): string {
    const first = parseSubnetStart(this.opts.userPool?.first ?? '10.89.0.0');
    const last = parseSubnetStart(this.opts.userPool?.last ?? '10.99.255.0');
    for (let net = first; net <= last; net += 256) {
      const cand = parseSubnet(`${formatIPv4(net)}/24`);
      if (!taken.some((t) => cidrsOverlap(t, cand))) return cand.cidr;
    }
    throw errors.unavailable('no free /24 left in the user network pool');
  }

  listNetworks(): NetworkInfo[] {
    return [...this.networks.values()].map((n) => ({ ...n })).sort((a, b) => a.name.localeCompare(b.name));
  }

  inspectNetwork(name: string): NetworkInfo & { endpoints: Endpoint[] } {
    const n = this.networks.get(name);
    if (n === undefined) throw errors.notFound(`network ${name} not found`, { kind: 'Network', name });
    return { ...n, endpoints: this.endpoints.filter((e) => e.network === name).map((e) => ({ ...e })) };
  }

  /** Removes the bridge, its rules and its IPAM state. Refuses (FailedPrecondition) while containers are attached unless `force`. */
  removeNetwork(name: string, o: { force?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const n = this.networks.get(name);
      if (n === undefined) throw errors.notFound(`network ${name} not found`, { kind: 'Network', name });
      const eps = this.endpoints.filter((e) => e.network === name);
      if (eps.length > 0 && o.force !== true) {
        throw errors.failedPrecondition(`network ${name} has ${eps.length} attached container(s): ${eps.map((e) => e.name || e.containerId.slice(0, 12)).join(', ')}`);
      }
      for (const e of eps) await this.deleteLink(e.hostVeth);
      this.endpoints = this.endpoints.filter((e) => e.network !== name);
      await this.saveState();
      await this.deleteLink(n.bridge);
      this.networks.delete(name);
      if (n.user) await this.saveNetworks();
      await this.ipam.removeNetwork(name);
      await this.applyRules();
    });
  }

  /**
   * Deletes a link that may already be gone: a container's veth goes with its network namespace,
   * asynchronously, so a check-then-delete races with the kernel. One `ip` spawn, not two.
   */
  private async deleteLink(name: string): Promise<void> {
    try {
      await this.opts.host.run('ip', ['link', 'del', name]);
    } catch (err) {
      if (/Cannot find device|does not exist/i.test(err instanceof Error ? err.message : String(err))) return;
      if (!(await this.links()).some((l) => l.ifname === name)) return;
      throw err;
    }
  }

  /**
   * Connects the network namespace of `pid` to a network: veth pair, eth0 with an address, default
   * route, published ports. Idempotent per container. On any failure nothing is left behind.
   */
  attach(containerId: string, pid: number, o: AttachOptions = {}): Promise<AttachResult> {
    return this.serial(async () => {
      if (!/^[a-zA-Z0-9_.-]{1,128}$/.test(containerId)) throw errors.invalidArgument(`invalid container id "${containerId}"`);
      if (!Number.isInteger(pid) || pid <= 0) throw errors.invalidArgument(`invalid pid ${pid}`);
      const networkName = o.network ?? [...this.networks.values()].find((n) => !n.user)?.name;
      const n = networkName === undefined ? undefined : this.networks.get(networkName);
      if (n === undefined) throw errors.notFound(`network ${o.network ?? '(default)'} not found`, { kind: 'Network', name: o.network ?? '' });
      const existing = this.endpoints.find((e) => e.containerId === containerId);
      if (existing !== undefined) {
        if (existing.network !== n.name) throw errors.unimplemented(`container ${containerId} is already on network ${existing.network}; one network per container for now`);
        return this.result(n, existing);
      }
      const ports = await this.resolvePorts((o.ports ?? []).map((p) => (typeof p === 'string' ? parsePortSpec(p) : { ...p })));
      const ip = await this.ipam.reserve(n.name, n.subnet, containerId);
      const names = vethNames(this.vethPrefix, containerId);
      const ep: Endpoint = {
        containerId,
        network: n.name,
        ip,
        mac: macOf(ip),
        hostVeth: names.host,
        ports,
        aliases: [...new Set(o.aliases ?? [])],
        name: o.name ?? '',
      };
      try {
        await this.ipBatch([...planHostLinks(n, ep, names.peer, pid), `link set ${ep.hostVeth} type bridge_slave hairpin on`]);
        await this.ipBatch(planContainerLinks(n, ep, names.peer), pid);
        this.endpoints.push(ep);
        await this.saveState();
        await this.applyRules();
      } catch (err) {
        this.endpoints = this.endpoints.filter((e) => e !== ep);
        await this.deleteLink(ep.hostVeth).catch(() => undefined);
        await this.saveState().catch(() => undefined);
        await this.applyRules().catch(() => undefined);
        await this.ipam.release(n.name, containerId);
        throw err;
      }
      return this.result(n, ep);
    });
  }

  private result(n: NetworkSpec, e: Endpoint): AttachResult {
    return { network: n.name, ip: e.ip, prefixLen: parseSubnet(n.subnet).prefix, gateway: n.gateway, mac: e.mac, ports: e.ports.map((p) => ({ ...p })) };
  }

  private async resolvePorts(wanted: PortSpec[]): Promise<PortSpec[]> {
    const inUse = this.endpoints.flatMap((e) => e.ports);
    const out: PortSpec[] = [];
    for (const p of wanted) {
      if (p.hostPort === 0) {
        let port = 0;
        for (let i = 0; i < 20 && port === 0; i++) {
          const cand = await this.opts.host.freePort(p.protocol, p.hostIp);
          const c = { ...p, hostPort: cand };
          if (![...inUse, ...out].some((q) => portsClash(q, c))) port = cand;
        }
        if (port === 0) throw errors.unavailable(`no free host port found for container port ${p.containerPort}/${p.protocol}`);
        out.push({ ...p, hostPort: port });
        continue;
      }
      const other = [...inUse, ...out].find((q) => portsClash(q, p));
      if (other !== undefined) throw errors.conflict(`host port ${p.hostPort}/${p.protocol} is already published by another container`);
      if (!(await this.opts.host.portFree(p.protocol, p.hostIp, p.hostPort))) {
        throw errors.conflict(`host port ${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol} is already in use on the host`);
      }
      out.push(p);
    }
    return out;
  }

  /** Removes the container's veth, rules and address. Unknown containers are a no-op. */
  detach(containerId: string): Promise<void> {
    return this.serial(async () => {
      const eps = this.endpoints.filter((e) => e.containerId === containerId);
      if (eps.length === 0) return;
      for (const e of eps) await this.deleteLink(e.hostVeth);
      this.endpoints = this.endpoints.filter((e) => e.containerId !== containerId);
      await this.saveState();
      await this.applyRules();
      for (const e of eps) await this.ipam.release(e.network, containerId);
    });
  }

  /**
   * After an agent restart: forgets endpoints of containers not in `existing`, deletes their links
   * (and any link with Shoal's veth prefix that no endpoint owns), releases their addresses and
   * rewrites the chains (so there are no duplicates).
   */
  sync(existing: Iterable<string>): Promise<{ removed: string[] }> {
    return this.serial(async () => {
      const keep = new Set(existing);
      const removed = this.endpoints.filter((e) => !keep.has(e.containerId) || !this.networks.has(e.network));
      this.endpoints = this.endpoints.filter((e) => !removed.includes(e));
      const owned = new Set(this.endpoints.map((e) => e.hostVeth));
      const stale = (await this.links())
        .map((l) => l.ifname.split('@')[0] ?? l.ifname)
        .filter((name) => (name.startsWith(`${this.vethPrefix}h`) || name.startsWith(`${this.vethPrefix}c`)) && !owned.has(name));
      if (stale.length > 0) await this.ipBatch(stale.map((s) => `link del ${s}`));
      await this.saveState();
      const alive = new Set(this.endpoints.map((e) => e.containerId));
      for (const n of this.networks.values()) await this.ipam.retain(n.name, alive);
      this.jumpsChecked = false;
      this.lastRules = undefined;
      await this.applyRules();
      return { removed: [...new Set(removed.map((e) => e.containerId))] };
    });
  }

  /** Addresses of `name` (container name or alias) on `network`, for the embedded DNS. */
  lookup(network: string, name: string): string[] {
    const q = name.toLowerCase().replace(/\.$/, '');
    return this.endpoints
      .filter((e) => e.network === network && (e.name.toLowerCase() === q || e.aliases.some((a) => a.toLowerCase() === q) || e.containerId.slice(0, 12) === q))
      .map((e) => e.ip);
  }

  /**
   * Starts the embedded DNS of a network on its gateway address (port 53 unless given), answering
   * its containers' names and aliases and forwarding other names to `upstreams`. The caller owns
   * the server: close it (or abort `signal`) before removeNetwork.
   */
  startDns(network: string, upstreams: string[], o: { port?: number; signal?: AbortSignal; onError?: (err: unknown) => void } = {}): Promise<DnsServer> {
    const n = this.networks.get(network);
    if (n === undefined) return Promise.reject(errors.notFound(`network ${network} not found`, { kind: 'Network', name: network }));
    return DnsServer.start({
      address: n.gateway,
      port: o.port ?? 53,
      lookup: (name) => this.lookup(network, name),
      upstreams,
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.onError === undefined ? {} : { onError: o.onError }),
    });
  }

  endpointOf(containerId: string): Endpoint | undefined {
    const e = this.endpoints.find((x) => x.containerId === containerId);
    return e === undefined ? undefined : { ...e };
  }
}

function safeSubnet(cidr: string): ReturnType<typeof parseSubnet>[] {
  try {
    return [parseSubnet(cidr)];
  } catch (err) {
    if (isShoalError(err)) return [];
    throw err;
  }
}

function parseSubnetStart(addr: string): number {
  return parseSubnet(`${addr}/24`).network;
}
