import { errors } from '../api/index.js';
import type { NetHost } from './host.js';
import type { Protocol } from './ports.js';

/** A recording NetHost: keeps a tiny model of links so `ip -j link show` answers sensibly. */
export class FakeNetHost implements NetHost {
  readonly calls: { cmd: string; args: string[]; input: string }[] = [];
  readonly sysctls = new Map<string, string>();
  readonly links = new Map<string, { master?: string }>();
  /** IPv4 addresses per link, as `ADDR/PREFIX` (from `addr add|del` lines of `ip -batch`). */
  readonly addrs = new Map<string, Set<string>>();
  readonly busyPorts = new Set<string>();
  saved = { nat: '', filter: '' };
  failOn: ((cmd: string, args: string[], input: string) => boolean) | undefined;
  private nextPort = 40000;

  run(cmd: string, args: string[], input = ''): Promise<string> {
    this.calls.push({ cmd, args, input });
    if (this.failOn?.(cmd, args, input) === true) return Promise.reject(errors.internal(`${cmd} failed (fake)`));
    if (cmd === 'ip' && args.join(' ') === '-j link show') {
      return Promise.resolve(JSON.stringify([...this.links].map(([ifname, l]) => ({ ifname, ...l }))));
    }
    if (cmd === 'ip' && args[0] === '-j' && args[1] === 'addr') {
      const dev = args[args.indexOf('dev') + 1] ?? '';
      const info = [...(this.addrs.get(dev) ?? [])].map((a) => ({ family: 'inet', local: a.split('/')[0], prefixlen: Number(a.split('/')[1]) }));
      return Promise.resolve(JSON.stringify(this.links.has(dev) ? [{ ifname: dev, addr_info: info }] : []));
    }
    if (cmd === 'ip' && args[0] === '-j' && args[1] === '-4') return Promise.resolve('[]');
    if (cmd === 'iptables-save') return Promise.resolve(args[1] === 'nat' ? this.saved.nat : this.saved.filter);
    if (cmd === 'ip' && args[0] === '-batch') {
      for (const line of input.split('\n')) {
        const w = line.split(' ');
        if (w[0] === 'link' && w[1] === 'add' && w[2] !== undefined) this.links.set(w[2], {});
        if (w[0] === 'link' && w[1] === 'set' && w[2] !== undefined && w[3] === 'master' && w[4] !== undefined) this.links.set(w[2], { master: w[4] });
        if (w[0] === 'link' && w[1] === 'del' && w[2] !== undefined) this.links.delete(w[2]);
        if (w[0] === 'addr' && (w[1] === 'add' || w[1] === 'del') && w[2] !== undefined && w[3] === 'dev' && w[4] !== undefined) {
          const set = this.addrs.get(w[4]) ?? new Set<string>();
          if (w[1] === 'add') set.add(w[2]);
          else set.delete(w[2]);
          this.addrs.set(w[4], set);
        }
      }
    }
    if (cmd === 'ip' && args[0] === 'link' && args[1] === 'del' && args[2] !== undefined) this.links.delete(args[2]);
    return Promise.resolve('');
  }
  writeSysctl(key: string, value: string): Promise<boolean> {
    this.sysctls.set(key, value);
    return Promise.resolve(true);
  }
  portFree(protocol: Protocol, hostIp: string, port: number): Promise<boolean> {
    return Promise.resolve(!this.busyPorts.has(`${port}/${protocol}`));
  }
  freePort(): Promise<number> {
    return Promise.resolve(this.nextPort++);
  }
  /** The rule text of the last iptables-restore of Shoal's chains. */
  lastRules(): string {
    const r = [...this.calls].reverse().find((c) => c.cmd === 'iptables-restore' && c.input.includes(':'));
    return r?.input ?? '';
  }
}
