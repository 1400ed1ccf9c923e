import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errors } from '../api/index.js';
import { readJsonStrict, writeFileAtomicIn } from '../util/index.js';
import { emptyIpam, release, reserve, retain, type IpamState } from './ipam.js';

/** A network's name (also the name of its IPAM file): Docker's rule, at most 63 characters. */
export const NETWORK_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Where IPAM states live; one state per network name. */
export interface IpamStore {
  load(network: string): Promise<IpamState | undefined>;
  save(network: string, state: IpamState): Promise<void>;
  remove(network: string): Promise<void>;
}


/** `<dataDir>/network/ipam/<network>.json`, written atomically. */
export class DiskIpamStore implements IpamStore {
  constructor(private readonly dataDir: string) {}

  private path(network: string): string {
    if (!NETWORK_NAME_RE.test(network)) throw errors.invalidArgument(`invalid network name "${network}"`);
    return join(this.dataDir, 'network', 'ipam', `${network}.json`);
  }

  async load(network: string): Promise<IpamState | undefined> {
    const raw = await readJsonStrict(this.path(network));
    if (raw === undefined) return undefined;
    const s = raw as Partial<IpamState>;
    if (typeof s.subnet !== 'string' || typeof s.last !== 'number' || typeof s.leases !== 'object' || s.leases === null) {
      throw errors.dataLoss(`IPAM file of network ${network} is malformed`);
    }
    return { subnet: s.subnet, last: s.last, leases: { ...s.leases } };
  }

  async save(network: string, state: IpamState): Promise<void> {
    await writeFileAtomicIn(this.path(network), JSON.stringify(state, null, 1));
  }

  async remove(network: string): Promise<void> {
    await rm(this.path(network), { force: true });
  }
}

/**
 * The IPAM shell: serialises the operations of each network, loads the state, applies the pure
 * core and saves before answering, so an address is never handed out twice, even across restarts.
 */
export class Ipam {
  private readonly queues = new Map<string, Promise<unknown>>();
  constructor(private readonly store: IpamStore) {}

  private serial<T>(network: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(network) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(network, next.catch(() => undefined));
    return next;
  }

  private async state(network: string, subnet: string): Promise<IpamState> {
    const s = await this.store.load(network);
    if (s === undefined) return emptyIpam(subnet);
    if (s.subnet !== subnet) {
      throw errors.failedPrecondition(`network ${network} has subnet ${s.subnet} in its IPAM state, not ${subnet}`);
    }
    return s;
  }

  reserve(network: string, subnet: string, containerId: string): Promise<string> {
    return this.serial(network, async () => {
      const before = await this.state(network, subnet);
      const { state, ip } = reserve(before, containerId);
      if (state !== before) await this.store.save(network, state);
      return ip;
    });
  }

  release(network: string, containerId: string): Promise<void> {
    return this.serial(network, async () => {
      const before = await this.store.load(network);
      if (before === undefined) return;
      const after = release(before, containerId);
      if (after !== before) await this.store.save(network, after);
    });
  }

  /** Keeps only the leases of `keep`; returns the released container ids. */
  retain(network: string, keep: ReadonlySet<string>): Promise<string[]> {
    return this.serial(network, async () => {
      const before = await this.store.load(network);
      if (before === undefined) return [];
      const gone = Object.keys(before.leases).filter((id) => !keep.has(id));
      if (gone.length > 0) await this.store.save(network, retain(before, keep));
      return gone;
    });
  }

  leases(network: string): Promise<Record<string, string>> {
    return this.serial(network, async () => ({ ...((await this.store.load(network))?.leases ?? {}) }));
  }

  /** The subnet and leases recorded for a network, if any (e.g. the default bridge's subnet before a restart). */
  stored(network: string): Promise<IpamState | undefined> {
    return this.serial(network, () => this.store.load(network));
  }

  removeNetwork(network: string): Promise<void> {
    return this.serial(network, () => this.store.remove(network));
  }
}
