import { errors, parseIPv4 } from '../api/index.js';

export type Protocol = 'tcp' | 'udp';

/** A published port as asked: hostPort 0 means "pick a free one"; hostIp '' means every address. */
export interface PortSpec {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

function port(text: string, what: string, spec: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw errors.invalidArgument(`invalid ${what} "${text}" in port mapping "${spec}"`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) throw errors.invalidArgument(`${what} ${n} out of range in port mapping "${spec}"`);
  return n;
}

/** Parses `[ip:]hostPort:containerPort[/tcp|udp]`, `ip::containerPort` and `containerPort[/proto]`. Ranges are not supported. */
export function parsePortSpec(spec: string): PortSpec {
  const trimmed = spec.trim();
  const slash = trimmed.lastIndexOf('/');
  let protocol: Protocol = 'tcp';
  let rest = trimmed;
  if (slash >= 0) {
    const p = trimmed.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw errors.invalidArgument(`unsupported protocol "${p}" in port mapping "${spec}" (tcp or udp)`);
    protocol = p;
    rest = trimmed.slice(0, slash);
  }
  const parts = rest.split(':');
  let hostIp = '';
  let hostPort = '';
  let containerPort: string;
  if (parts.length === 1) containerPort = parts[0] ?? '';
  else if (parts.length === 2) [hostPort, containerPort] = [parts[0] ?? '', parts[1] ?? ''];
  else if (parts.length === 3) [hostIp, hostPort, containerPort] = [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
  else throw errors.invalidArgument(`invalid port mapping "${spec}" (expected [ip:]hostPort:containerPort[/tcp|udp])`);
  if (hostIp !== '') parseIPv4(hostIp);
  if (parts.length === 2 && hostPort === '') throw errors.invalidArgument(`missing host port in port mapping "${spec}"`);
  return {
    hostIp: hostIp === '0.0.0.0' ? '' : hostIp,
    hostPort: hostPort === '' ? 0 : port(hostPort, 'host port', spec, false),
    containerPort: port(containerPort, 'container port', spec, false),
    protocol,
  };
}

/** Two bindings clash when protocol and port match and their host addresses overlap ('' overlaps everything). */
export function portsClash(a: PortSpec, b: PortSpec): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

export function formatPort(p: PortSpec): string {
  return `${p.hostIp === '' ? '0.0.0.0' : p.hostIp}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}
