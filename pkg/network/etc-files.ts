/** Pure generators of a container's /etc/hosts, /etc/hostname and /etc/resolv.conf. */

export interface HostsInput {
  hostname: string;
  ip?: string;
  aliases?: string[];
  /** Extra `ip name...` lines (e.g. --add-host). */
  extra?: string[];
}

export function hostsFile(input: HostsInput): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
  if (input.ip !== undefined) lines.push(`${input.ip}\t${[input.hostname, ...(input.aliases ?? [])].join(' ')}`);
  for (const e of input.extra ?? []) lines.push(e);
  return `${lines.join('\n')}\n`;
}

export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

export interface ResolvConf {
  content: string;
  nameservers: string[];
  /** Why the nameserver list differs from the host's, for logs. */
  note?: string;
}

function isLoopback(ns: string): boolean {
  return ns.startsWith('127.') || ns === '::1' || ns === '0.0.0.0';
}

/**
 * The container's resolv.conf from the host's: loopback nameservers cannot work inside a network
 * namespace and are removed. With `embeddedDns` (the gateway address of a user network) that
 * server is the only nameserver, as Docker does, and it forwards to the host's upstreams.
 * When no nameserver is left, the file has none and `note` says so.
 */
export function resolvConf(host: string, embeddedDns?: string): ResolvConf {
  const keep: string[] = [];
  const upstream: string[] = [];
  let dropped = 0;
  for (const raw of host.split('\n')) {
    const line = raw.trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (m?.[1] !== undefined) {
      if (isLoopback(m[1])) dropped++;
      else upstream.push(m[1]);
      continue;
    }
    if (/^(search|domain|options)\s/.test(line)) keep.push(line);
  }
  const nameservers = embeddedDns !== undefined ? [embeddedDns] : upstream;
  const content = [...nameservers.map((n) => `nameserver ${n}`), ...keep].join('\n');
  const result: ResolvConf = { content: content === '' ? '' : `${content}\n`, nameservers };
  if (nameservers.length === 0) result.note = `no usable nameserver: the host has only loopback ones (${dropped} removed)`;
  return result;
}

/** The upstream servers the embedded DNS forwards to: the host's non-loopback nameservers. */
export function upstreamNameservers(host: string): string[] {
  return resolvConf(host).nameservers;
}
