/**
 * A container's /etc/hostname, /etc/hosts and /etc/resolv.conf: the one home of their text.
 * The builders are pure; `writeEtcFiles` is the thin shell the container manager calls (the
 * files sit in the container's data dir and are bind-mounted over /etc/... by the helper).
 * The network decides *which* names and nameservers (pkg/network); the runtime decides the
 * files' format.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/index.js';

/** The lines every container's /etc/hosts starts with (Docker's, plus the hostname on 127.0.1.1). */
function baseHosts(hostname: string): string[] {
  return ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `127.0.1.1\t${hostname}`];
}

export interface HostsInput {
  hostname: string;
  /** Extra `ip\tname...` lines (the container's own address from its network, e.g. `hostsEntry`). */
  entries?: string[];
}

/** /etc/hosts: localhost lines, the hostname on 127.0.1.1, then `entries`; newline-terminated. */
export function hostsFile(input: HostsInput): string {
  return [...baseHosts(input.hostname), ...(input.entries ?? []), ''].join('\n');
}

/** One /etc/hosts line: `ip<TAB>names...`, empty names dropped, duplicates kept once (first wins). */
export function hostsEntry(ip: string, names: readonly string[]): string {
  return `${ip}\t${[...new Set(names.filter((n) => n !== ''))].join(' ')}`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

export interface ResolvConfLines {
  /** The values of the `nameserver` lines, in order. */
  nameservers: string[];
  /** Every other non-blank line (search, domain, options, comments), verbatim. */
  other: string[];
}

const NAMESERVER_LINE = /^\s*nameserver\s/;

/** Splits resolv.conf text into its nameservers and the rest. */
export function parseResolvConf(text: string): ResolvConfLines {
  const nameservers: string[] = [];
  const other: string[] = [];
  for (const line of text.split('\n')) {
    if (NAMESERVER_LINE.test(line)) {
      const value = /^\s*nameserver\s+(\S+)/.exec(line)?.[1];
      if (value !== undefined) nameservers.push(value);
    } else if (line.trim() !== '') {
      other.push(line);
    }
  }
  return { nameservers, other };
}

/**
 * A container's resolv.conf when its network chose the nameservers (loopback ones of the host
 * cannot work inside): those, then every other line of the host's file.
 */
export function resolvConfFile(hostResolvConf: string, nameservers: readonly string[]): string {
  return [...nameservers.map((n) => `nameserver ${n}`), ...parseResolvConf(hostResolvConf).other, ''].join('\n');
}

export interface EtcFilesInput {
  hostname: string;
  /** From the network attachment; none before the network is attached. */
  hostsEntries?: string[];
  /** From the network attachment; absent: the host's resolv.conf is copied as it is. */
  dnsServers?: string[];
  /** Path of the host's resolv.conf (a missing one gives an empty file). */
  hostResolvConf: string;
}

/**
 * Writes `hostname`, `hosts` and `resolv.conf` into `dir`. `replace` (before the start) writes
 * each atomically, so a failure (a full disk) leaves the old file or none, never half of one;
 * `in-place` rewrites the files the helper has already bind-mounted (a rename would leave the
 * mount on the old inode); a failure there fails the start, and the next start replaces them.
 */
export async function writeEtcFiles(dir: string, input: EtcFilesInput, mode: 'replace' | 'in-place' = 'replace'): Promise<void> {
  const host = await readFile(input.hostResolvConf, 'utf8').catch(() => '');
  const files: [string, string][] = [
    ['hostname', hostnameFile(input.hostname)],
    ['hosts', hostsFile({ hostname: input.hostname, entries: input.hostsEntries ?? [] })],
    // Without nameservers from the network: the host's file as it is.
    ['resolv.conf', input.dnsServers !== undefined ? resolvConfFile(host, input.dnsServers) : host],
  ];
  for (const [name, text] of files) {
    if (mode === 'replace') await writeFileAtomic(join(dir, name), text, 0o644);
    else await writeFile(join(dir, name), text);
  }
}
