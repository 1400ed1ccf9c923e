/**
 * `shoalctl get services|tasks|nodes [NAME] [-o table|wide|json|yaml] [-w]`: a table for
 * people, the API objects for scripts (lists as `...List` objects). With `-w` the list is
 * followed by a watch from its revision: a row per change in tables, a watch event per line in
 * json/yaml, until interrupted.
 */
import type { Command } from 'commander';
import { errors, type ApiObject, type List, type ResourcePlural } from '../../api/index.js';
import type { ApiClient, ListOptions } from '../../client/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { formatTable, parseOutputFormat, printStructured, type Column, type OutputFormat } from '../format.js';
import { pluralOf } from './kinds.js';
import { columnsFor, tasksPerNode, type TableCtx } from './tables.js';

interface GetOpts {
  output?: string;
  watch?: boolean;
  selector?: string;
  fieldSelector?: string;
  namespace?: string;
  allNamespaces?: boolean;
  reveal?: boolean;
}

function listOptions(o: GetOpts, name: string | undefined, all: boolean): ListOptions {
  const fieldSelector = [o.fieldSelector, name !== undefined ? `metadata.name=${name}` : undefined].filter(Boolean).join(',');
  return {
    ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
    all,
    ...(o.selector !== undefined ? { labelSelector: o.selector } : {}),
    ...(fieldSelector !== '' ? { fieldSelector } : {}),
  };
}

async function getCommand(kind: string, name: string | undefined, o: GetOpts, cmd: Command, ctx: CtlContext): Promise<void> {
  const plural = pluralOf(kind);
  const fmt = parseOutputFormat(o.output, ['table', 'wide', 'json', 'yaml']);
  const c = await apiClient(cmd, ctx);
  const all = Boolean(o.allNamespaces) && plural !== 'nodes';
  const listOpts = listOptions(o, name, all);
  const t: TableCtx = { wide: fmt === 'wide', allNamespaces: all };
  if (plural === 'nodes' && (fmt === 'table' || fmt === 'wide')) t.tasksPerNode = await tasksPerNode(c);
  const cols = columnsFor(plural, t);

  let list: List<ApiObject>;
  if (name !== undefined && !o.watch) {
    const obj = o.reveal
      ? await c.call<ApiObject>('GET', `${c.path(plural, o.namespace ?? 'default', name)}?reveal=1`)
      : await c.get<ApiObject>(plural, o.namespace, name);
    if (fmt === 'json' || fmt === 'yaml') return printStructured(ctx.stdout, fmt, obj);
    list = { apiVersion: 'shoal/v1', kind: `${obj.kind}List`, metadata: { resourceVersion: obj.metadata.resourceVersion ?? '' }, items: [obj] };
  } else {
    list = await c.list<ApiObject>(plural, listOpts);
  }
  if (fmt === 'json' || fmt === 'yaml') {
    if (!o.watch) return printStructured(ctx.stdout, fmt, list);
    for (const item of list.items) ctx.stdout.write(JSON.stringify({ type: 'ADDED', object: item }) + '\n');
  } else if (list.items.length === 0 && !o.watch) {
    ctx.stderr.write(all || plural === 'nodes' ? `No resources found\n` : `No resources found in ${o.namespace ?? 'default'} namespace.\n`);
    return;
  } else {
    ctx.stdout.write(formatTable(list.items, cols));
  }
  if (o.watch) await watchList(c, plural, { ...listOpts, resourceVersion: list.metadata.resourceVersion }, list, fmt, cols, ctx);
}

/** Prints each change after `list` until interrupted. */
async function watchList(
  c: ApiClient,
  plural: ResourcePlural,
  opts: ListOptions & { resourceVersion: string },
  list: List<ApiObject>,
  fmt: OutputFormat,
  cols: Column<ApiObject>[],
  ctx: CtlContext,
): Promise<void> {
  // Rows of later events are laid out with the initial rows, so the columns stay aligned.
  const row = (obj: ApiObject): string => {
    const lines = formatTable([...list.items, obj], cols).trimEnd().split('\n');
    return (lines[lines.length - 1] ?? '') + '\n';
  };
  try {
    for await (const ev of c.watch<ApiObject>(plural, opts, ctx.signal)) {
      if (ev.type === 'BOOKMARK') continue;
      if (fmt === 'json' || fmt === 'yaml') ctx.stdout.write(JSON.stringify(ev) + '\n');
      else ctx.stdout.write(ev.type === 'DELETED' ? row(ev.object).replace(/\n$/, '   (deleted)\n') : row(ev.object));
    }
  } catch (err) {
    if (ctx.signal.aborted) return;
    throw err;
  }
}

export function registerGetCommand(program: Command, ctx: CtlContext): void {
  program
    .command('get')
    .description('List services, tasks or nodes (or show one)')
    .argument('<kind>', 'services|tasks|nodes|networks|endpoints|secrets|configs')
    .argument('[name]')
    .option('-o, --output <format>', 'table, wide, json or yaml', 'table')
    .option('-w, --watch', 'after listing, watch for changes')
    .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
    .option('--field-selector <selector>', 'field selector, e.g. spec.nodeName=n1')
    .option('-n, --namespace <ns>', 'namespace (default "default")')
    .option('-A, --all-namespaces', 'every namespace')
    .option('--reveal', "a secret's value too (admin only; with NAME)")
    .action(async (kind: string, name: string | undefined, o: GetOpts, cmd: Command) => {
      if (o.reveal && name === undefined) throw errors.invalidArgument('--reveal shows one secret: give its NAME');
      return getCommand(kind, name, o, cmd, ctx);
    });
}
