/**
 * `shoalctl create network NAME [-n NS] [-l|--label K=V]...`: a cluster Network (services that
 * list it in `spec.networks` can talk). `create` is docker's container create otherwise, so this
 * one reads its own arguments (they come after `network`, passed through by commander).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { API_VERSION, errors, isShoalError, type Network } from '../../api/index.js';
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

/**
 * `shoalctl create secret|config NAME (--from-file FILE | --from-literal VALUE) [-n NS]`: a
 * Secret (sealed in etcd, mounted at /run/secrets/NAME) or a Config. `--from-file -` reads
 * standard input. An existing one is replaced (its services roll).
 */
export async function createSecretLike(kind: 'secret' | 'config', args: readonly string[], cmd: Command, ctx: CtlContext): Promise<void> {
  let name: string | undefined;
  let namespace: string | undefined;
  let value: Buffer | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (): string => {
      const v = args[++i];
      if (v === undefined) throw errors.invalidArgument(`${a} needs a value`);
      return v;
    };
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const inline = a.startsWith('--') && eq > 0 ? a.slice(eq + 1) : undefined;
    if (flag === '-n' || flag === '--namespace') namespace = inline ?? next();
    else if (flag === '--from-literal') value = Buffer.from(inline ?? next());
    else if (flag === '--from-file') {
      const f = inline ?? next();
      value = f === '-' ? await readAll(ctx.stdin) : await readFile(isAbsolute(f) ? f : resolve(ctx.cwd, f)).catch((err: unknown) => {
        throw errors.invalidArgument(`cannot read ${f}: ${(err as Error).message}`);
      });
    } else if (a.startsWith('-')) throw errors.invalidArgument(`unknown option ${a} for create ${kind} (known: --from-file, --from-literal, -n/--namespace)`);
    else if (name === undefined) name = a;
    else throw errors.invalidArgument(`create ${kind} takes one NAME, got "${name}" and "${a}"`);
  }
  if (name === undefined || value === undefined) throw errors.invalidArgument(`usage: shoalctl create ${kind} NAME (--from-file FILE | --from-literal VALUE) [-n NAMESPACE]`);
  const c = await apiClient(cmd, ctx);
  const plural = kind === 'secret' ? 'secrets' : 'configs';
  const ns = namespace ?? 'default';
  const body = { apiVersion: API_VERSION, kind: kind === 'secret' ? 'Secret' : 'Config', metadata: { name, namespace: ns }, data: value.toString('base64') };
  try {
    await c.create(plural, ns, body as unknown as Network);
    ctx.stdout.write(`${kind}/${name} created\n`);
  } catch (err) {
    if (!isShoalError(err, 'AlreadyExists')) throw err;
    await c.replace(plural, ns, name, body as unknown as Network);
    ctx.stdout.write(`${kind}/${name} replaced (services that use it roll to the new value)\n`);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const ch of stream) chunks.push(typeof ch === 'string' ? Buffer.from(ch) : ch);
  return Buffer.concat(chunks);
}
