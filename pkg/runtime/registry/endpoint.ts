/**
 * Where a registry lives: the host to contact for an image domain (docker.io is served by
 * registry-1.docker.io) and the scheme. HTTPS always, except loopback registries and those
 * the operator listed as insecure, which are spoken to in plain HTTP.
 */
export interface RegistryEndpoint {
  /** The image domain as written in references (`docker.io`, `127.0.0.1:5001`). */
  domain: string;
  /** host[:port] actually contacted. */
  host: string;
  scheme: 'https' | 'http';
  /** `https://registry-1.docker.io` */
  baseUrl: string;
}

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_HOST = 'registry-1.docker.io';

/** The host name of `host[:port]` or `[v6]:port`, lower-cased, without brackets. */
export function hostname(domain: string): string {
  const d = domain.toLowerCase();
  if (d.startsWith('[')) {
    const end = d.indexOf(']');
    return end > 0 ? d.slice(1, end) : d;
  }
  const colon = d.lastIndexOf(':');
  return colon >= 0 ? d.slice(0, colon) : d;
}

/** localhost, 127.0.0.0/8 and ::1 (Docker treats these as insecure by default). */
export function isLoopbackDomain(domain: string): boolean {
  const h = hostname(domain);
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * The endpoint of `domain`. `insecureRegistries` entries are `host[:port]`; an entry without a
 * port matches the host on any port.
 */
export function registryEndpoint(domain: string, insecureRegistries: readonly string[] = []): RegistryEndpoint {
  const d = domain.toLowerCase();
  const host = d === DOCKER_HUB_DOMAIN || d === 'index.docker.io' ? DOCKER_HUB_HOST : domain;
  const listed = insecureRegistries.some((e) => {
    const x = e.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '');
    return x === d || (!/:\d+$/.test(x) && x === hostname(d));
  });
  const scheme = isLoopbackDomain(domain) || listed ? 'http' : 'https';
  return { domain, host, scheme, baseUrl: `${scheme}://${host}` };
}
