/**
 * The bridge network as the container manager's NetworkHook: attaches a container's network
 * namespace and answers its addresses, its /etc/hosts line and its nameservers (the runtime
 * writes the files).
 */
import { hostsEntry, type NetworkAttachment, type NetworkHook, type NetworkRequest } from '../runtime/index.js';
import type { NetworkMode } from '../api/index.js';
import type { AttachOptions, BridgeNetwork } from './bridge-network.js';
import { containerNameservers } from './nameservers.js';

export interface NetworkHookOptions {
  /** Ports, aliases and network of a container (the hook interface only carries id, name and mode). */
  optionsOf?: (containerId: string) => AttachOptions | undefined;
  /** The host's /etc/resolv.conf content. */
  hostResolvConf: () => string;
  /** Networks whose embedded DNS runs (user networks): their containers use the gateway as nameserver. */
  hasDns?: (network: string) => boolean;
}

/**
 * Adapts BridgeNetwork to the container manager's NetworkHook: bridge mode attaches, `none` and
 * `host` get nothing. Shape of the result: `networks[<network>] = {IPAddress, Gateway, MacAddress, IPPrefixLen}`.
 */
export function bridgeNetworkHook(net: BridgeNetwork, o: NetworkHookOptions): NetworkHook {
  return {
    async attach(c: { id: string; name: string; networkMode: NetworkMode }, pid: number, req?: NetworkRequest): Promise<NetworkAttachment> {
      if (c.networkMode !== 'bridge') return { networks: {} };
      const opts: AttachOptions = { ...(o.optionsOf?.(c.id) ?? {}), ...(req ?? {}) };
      const r = await net.attach(c.id, pid, { ...opts, name: opts.name ?? c.name });
      const dns = o.hasDns?.(r.network) === true ? r.gateway : undefined;
      // Only the container's own line: the container manager writes the localhost lines itself.
      const hostsLine = hostsEntry(r.ip, [c.id.slice(0, 12), c.name, ...(opts.aliases ?? [])]);
      return {
        networks: { [r.network]: { IPAddress: r.ip, Gateway: r.gateway, MacAddress: r.mac, IPPrefixLen: r.prefixLen } },
        hostsEntries: [hostsLine],
        dnsServers: containerNameservers(o.hostResolvConf(), dns),
        ports: r.ports.map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol })),
      };
    },
    async detach(c: { id: string }): Promise<void> {
      await net.detach(c.id);
    },
  };
}
