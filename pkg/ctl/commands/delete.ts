/**
 * `shoalctl delete -f FILE | KIND NAME... | KIND/NAME...`: deletes each object named, prints
 * `service/web deleted`; a failure is reported and the rest go on (`--ignore-not-found` skips
 * objects already gone).
 */
import type { Command } from 'commander';
import { errors, isShoalError, type ResourcePlural } from '../../api/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { loadManifests } from '../manifest.js';
import { collect } from '../options.js';
import { eachReported } from '../output.js';
import { parseRef, pluralOf, pluralOfKind, refText } from './kinds.js';

interface DeleteOpts {
  filename?: string[];
  namespace?: string;
  ignoreNotFound?: boolean;
}

interface Target {
  plural: ResourcePlural;
  ns: string | undefined;
  name: string;
}

async function targetsOfManifests(files: string[], o: DeleteOpts, ctx: CtlContext): Promise<Target[]> {
  const targets: Target[] = [];
  for (const f of files) {
    for (const d of await loadManifests(f, { cwd: ctx.cwd, stdin: ctx.stdin })) {
      const plural = pluralOfKind(d.object['kind']);
      const meta = (d.object['metadata'] ?? {}) as Record<string, unknown>;
      if (!plural || typeof meta['name'] !== 'string') throw errors.invalidArgument(`${d.source}: needs a kind (Service, Task, Node) and metadata.name`);
      targets.push({ plural, ns: typeof meta['namespace'] === 'string' ? meta['namespace'] : o.namespace, name: meta['name'] });
    }
  }
  return targets;
}

/** `KIND NAME...` or `KIND/NAME...`. */
function targetsOfArgs(args: string[], o: DeleteOpts): Target[] {
  if (args.length === 0) throw errors.invalidArgument('nothing to delete: give -f FILE, KIND NAME... or KIND/NAME...');
  const first = args[0] ?? '';
  if (first.includes('/')) return args.map((a) => ({ ...parseRef(a), ns: o.namespace }));
  const plural = pluralOf(first);
  if (args.length < 2) throw errors.invalidArgument(`delete ${first}: give at least one NAME`);
  return args.slice(1).map((name) => ({ plural, ns: o.namespace, name }));
}

async function deleteCommand(args: string[], o: DeleteOpts, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  let targets: Target[];
  if (o.filename && o.filename.length > 0) {
    if (args.length > 0) throw errors.invalidArgument('give either -f FILE or KIND NAME, not both');
    targets = await targetsOfManifests(o.filename, o, ctx);
  } else {
    targets = targetsOfArgs(args, o);
  }
  await eachReported(ctx, targets, async (t) => {
    try {
      await c.delete(t.plural, t.ns, t.name);
      ctx.stdout.write(`${refText(t.plural, t.name)} deleted\n`);
    } catch (err) {
      if (!(isShoalError(err, 'NotFound') && o.ignoreNotFound)) throw err;
    }
  });
}

export function registerDeleteCommand(program: Command, ctx: CtlContext): void {
  program
    .command('delete')
    .description('Delete objects named in manifests (-f) or by KIND NAME...')
    .argument('[args...]', 'KIND NAME... or KIND/NAME...')
    .option('-f, --filename <path>', 'manifest file, directory or - (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('--ignore-not-found', 'do not fail on objects that do not exist')
    .action(async (args: string[], o: DeleteOpts, cmd: Command) => deleteCommand(args, o, cmd, ctx));
}
