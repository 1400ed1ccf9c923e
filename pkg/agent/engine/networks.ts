/**
 * Engine routes for the node's networks: `POST/GET /v1/networks`, `GET/DELETE /v1/networks/:name`.
 * They go through the `NetworkApi` seam; the agent implements it with `NodeNetworks` (a
 * BridgeNetwork plus the embedded DNS server of each user network).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fieldPath, ShoalError, type FieldCause, type NetworkCreateRequest, type NetworkDetail, type NetworkInfo } from '../../api/index.js';
import type { BridgeNetwork, DnsServer } from '../../network/index.js';
import { NETWORK_NAME_RE, upstreamNameservers } from '../../network/index.js';
import { flag, type Query } from './query.js';

export interface NetworkApi {
  list(): NetworkInfo[];
  inspect(name: string): NetworkDetail;
  create(name: string, o: { subnet?: string }): Promise<NetworkInfo>;
  remove(name: string, o: { force?: boolean }): Promise<void>;
}

/** A user network's name (also the form of a container's network aliases). */
const RESERVED = new Set(['bridge', 'host', 'none', 'default']);

/** Validates `{name, subnet?}`; Invalid with field causes. */
export function parseNetworkCreateBody(body: unknown): NetworkCreateRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ShoalError('InvalidArgument', 'the network spec must be a JSON object');
  const b = body as Record<string, unknown>;
  const causes: FieldCause[] = [];
  for (const k of Object.keys(b)) if (k !== 'name' && k !== 'subnet') causes.push({ field: fieldPath('', k), reason: 'FieldValueNotSupported', message: 'unknown field' });
  const name = b['name'];
  if (typeof name !== 'string' || name === '') causes.push({ field: 'name', reason: 'FieldValueRequired', message: 'a network name is required' });
  else if (!NETWORK_NAME_RE.test(name)) causes.push({ field: 'name', reason: 'FieldValueInvalid', message: `invalid network name "${name}": want [a-zA-Z0-9][a-zA-Z0-9_.-]*` });
  else if (RESERVED.has(name)) causes.push({ field: 'name', reason: 'FieldValueInvalid', message: `"${name}" is a network mode, not a network name` });
  const subnet = b['subnet'];
  if (subnet !== undefined && subnet !== null && typeof subnet !== 'string') causes.push({ field: 'subnet', reason: 'FieldValueInvalid', message: 'must be a CIDR string' });
  if (causes.length > 0) throw new ShoalError('Invalid', `invalid network spec: ${causes.map((c) => `${c.field}: ${c.message}`).join('; ')}`, { causes });
  return { name: name as string, ...(typeof subnet === 'string' && subnet !== '' ? { subnet } : {}) };
}

export function networkRoutes(app: FastifyInstance, opts: { networks: NetworkApi }): void {
  const n = opts.networks;
  type NameReq = FastifyRequest<{ Params: { name: string }; Querystring: Query }>;
  app.get('/v1/networks', async () => n.list());
  app.post('/v1/networks', async (req, reply) => {
    const spec = parseNetworkCreateBody(req.body);
    const info = await n.create(spec.name, spec.subnet !== undefined ? { subnet: spec.subnet } : {});
    return reply.code(201).send(info);
  });
  app.get('/v1/networks/:name', async (req: NameReq) => n.inspect(req.params.name));
  app.delete('/v1/networks/:name', async (req: NameReq, reply) => {
    await n.remove(req.params.name, { force: flag(req.query['force'], 'force') });
    return reply.code(204).send();
  });
}

/** The agent's NetworkApi: user networks get an embedded DNS server on their gateway. */
export class NodeNetworks implements NetworkApi {
  private readonly dns = new Map<string, DnsServer>();

  constructor(
    readonly net: BridgeNetwork,
    private readonly o: { hostResolvConf: () => string; onError?: (err: unknown, what: string) => void },
  ) {}

  /** Starts the DNS of every user network (agent start). */
  async startAll(): Promise<void> {
    for (const info of this.net.listNetworks()) {
      if (info.user) await this.startDns(info.name);
    }
  }

  hasDns(network: string): boolean {
    return this.dns.has(network);
  }

  private async startDns(name: string): Promise<void> {
    if (this.dns.has(name)) return;
    try {
      const s = await this.net.startDns(name, upstreamNameservers(this.o.hostResolvConf()), {
        onError: (err) => this.o.onError?.(err, `dns of network ${name}`),
      });
      this.dns.set(name, s);
    } catch (err) {
      // Without DNS, containers still get addresses; they fall back to the host's resolvers.
      this.o.onError?.(err, `starting the dns of network ${name}`);
    }
  }

  list(): NetworkInfo[] {
    return this.net.listNetworks();
  }

  inspect(name: string): NetworkDetail {
    return this.net.inspectNetwork(name);
  }

  async create(name: string, o: { subnet?: string }): Promise<NetworkInfo> {
    const info = await this.net.createNetwork(name, o);
    await this.startDns(name);
    return info;
  }

  async remove(name: string, o: { force?: boolean }): Promise<void> {
    const info = this.net.inspectNetwork(name);
    if (!info.user) throw new ShoalError('FailedPrecondition', `network ${name} is the node's default bridge and cannot be removed`);
    if (info.endpoints.length > 0 && o.force !== true) {
      throw new ShoalError('FailedPrecondition', `network ${name} has ${info.endpoints.length} attached container(s); remove them first`);
    }
    const s = this.dns.get(name);
    this.dns.delete(name);
    await s?.close();
    await this.net.removeNetwork(name, o);
  }

  /** Closes the DNS servers; links, rules and addresses stay (containers keep their network). */
  async close(): Promise<void> {
    const all = [...this.dns.values()];
    this.dns.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}
