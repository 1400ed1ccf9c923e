/**
 * `shoalctl create network NAME [-n NS] [-l|--label K=V]...`: a cluster Network (services that
 * list it in `spec.networks` can talk). `create` is docker's container create otherwise, so this
 * one reads its own arguments (they come after `network`, passed through by commander).
 */
import type { Command } from 'commander';
import { API_VERSION, errors, type Network } from '../../api/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';

export function parseCreateNetworkArgs(args: readonly string[]): { name: string; namespace: string | undefined; labels: Record<string, string> } {
  let name: string | undefined;
  let namespace: string | undefined;
  const labels: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw errors.invalidArgument(`${a} needs a value`);
      return v;
    };
    if (a === '-n' || a === '--namespace') namespace = value();
    else if (a.startsWith('--namespace=')) namespace = a.slice('--namespace='.length);
    else if (a === '-l' || a === '--label' || a.startsWith('--label=')) {
      const kv = a.startsWith('--label=') ? a.slice('--label='.length) : value();
      const eq = kv.indexOf('=');
      if (eq <= 0) throw errors.invalidArgument(`label "${kv}" must be KEY=VALUE`);
      labels[kv.slice(0, eq)] = kv.slice(eq + 1);
    } else if (a.startsWith('-')) throw errors.invalidArgument(`unknown option ${a} for create network (known: -n/--namespace, -l/--label)`);
    else if (name === undefined) name = a;
    else throw errors.invalidArgument(`create network takes one NAME, got "${name}" and "${a}"`);
  }
  if (name === undefined) throw errors.invalidArgument('usage: shoalctl create network NAME [-n NAMESPACE] [-l KEY=VALUE]...');
  return { name, namespace, labels };
}

export async function createClusterNetwork(args: readonly string[], cmd: Command, ctx: CtlContext): Promise<void> {
  const { name, namespace, labels } = parseCreateNetworkArgs(args);
  const c = await apiClient(cmd, ctx);
  const body: Network = {
    apiVersion: API_VERSION,
    kind: 'Network',
    metadata: { name, namespace: namespace ?? 'default', ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    spec: {},
  };
  await c.create<Network>('networks', namespace ?? 'default', body);
  ctx.stdout.write(`network/${name} created\n`);
}
