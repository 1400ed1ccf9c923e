/**
 * `shoalctl apply -f FILE|DIR|- [--wait]`: creates each object of the manifests, or replaces
 * its spec (and labels/annotations) when it exists and differs; prints `service/web
 * created|configured|unchanged`. A failing document is reported with its source and the rest
 * go on. `--wait` then follows each applied service until ready (wait.ts).
 */
import type { Command } from 'commander';
import { errors, isShoalError, parseDurationMs, type ApiObject } from '../../api/index.js';
import type { ApiClient } from '../../client/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';
import { loadManifests, type ManifestDoc } from '../manifest.js';
import { collect } from '../options.js';
import { formatError } from '../output.js';
import { pluralOfKind, refText } from './kinds.js';
import { waitForService } from './wait.js';

type ApplyResult = 'created' | 'configured' | 'unchanged';

/** Equal as JSON, whatever the key order; undefined members count as absent. */
function sameJson(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(norm);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) out[k] = norm(x);
      }
      return out;
    }
    return v;
  };
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** Creates the object, or replaces its spec (and labels/annotations) when it exists; status is never sent. */
async function applyOne(c: ApiClient, doc: ManifestDoc, defaultNs: string | undefined): Promise<{ ref: string; result: ApplyResult; object: ApiObject }> {
  const obj = structuredClone(doc.object);
  const kind = obj['kind'];
  const plural = pluralOfKind(kind);
  if (!plural || plural === 'tasks') {
    throw errors.invalidArgument(`${doc.source}: kind ${JSON.stringify(kind)} cannot be applied (use Service or Node)`);
  }
  const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
  const name = typeof meta['name'] === 'string' ? meta['name'] : undefined;
  const ns = plural === 'nodes' ? undefined : typeof meta['namespace'] === 'string' ? meta['namespace'] : (defaultNs ?? 'default');
  const ref = refText(plural, name ?? '<unnamed>');
  delete obj['status'];
  if (name === undefined) {
    // Let the server report every problem, metadata.name included.
    return { ref, result: 'created', object: await c.create(plural, ns, obj) };
  }
  for (let attempt = 0; ; attempt++) {
    const cur = await c.find<ApiObject>(plural, ns, name);
    if (!cur) {
      try {
        return { ref, result: 'created', object: await c.create(plural, ns, obj) };
      } catch (err) {
        if (isShoalError(err, 'AlreadyExists') && attempt < 3) continue;
        throw err;
      }
    }
    const labels = meta['labels'] ?? cur.metadata.labels;
    const annotations = meta['annotations'] ?? cur.metadata.annotations;
    // A secret's value is never read back: it is sent every time (the server keeps it when unchanged).
    const sameData = plural !== 'secrets' && sameJson(obj['data'], (cur as { data?: unknown }).data);
    if (sameJson(obj['spec'], cur.spec) && (sameData || (plural !== 'secrets' && obj['data'] === undefined)) && sameJson(labels, cur.metadata.labels) && sameJson(annotations, cur.metadata.annotations)) {
      return { ref, result: 'unchanged', object: cur };
    }
    const body = { ...obj, metadata: { ...meta, resourceVersion: cur.metadata.resourceVersion } };
    try {
      return { ref, result: 'configured', object: await c.replace(plural, ns, name, body) };
    } catch (err) {
      if (isShoalError(err, 'Conflict') && attempt < 3) continue;
      throw err;
    }
  }
}

/** `error: <source>: <reason>: <message>`: which document failed. */
function prefixError(source: string, err: unknown): string {
  const text = formatError(err);
  return text.replace(/^error: /, `error: ${source}: `);
}

interface ApplyOpts {
  filename: string[];
  namespace?: string;
  wait?: boolean;
  timeout?: string;
}

async function applyCommand(o: ApplyOpts, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  const docs: ManifestDoc[] = [];
  for (const f of o.filename) docs.push(...(await loadManifests(f, { cwd: ctx.cwd, stdin: ctx.stdin })));
  if (docs.length === 0) throw errors.invalidArgument(`no objects found in ${o.filename.join(', ')}`);
  let failed = 0;
  const toWait: { ns: string; name: string }[] = [];
  // Networks, secrets and configs first: a service that names one is refused until it exists (stable sort).
  const first = (d: (typeof docs)[number]): number => Number(['Network', 'Secret', 'Config'].includes(String(d.object['kind'])));
  docs.sort((a, b) => first(b) - first(a));
  for (const doc of docs) {
    try {
      const r = await applyOne(c, doc, o.namespace);
      ctx.stdout.write(`${r.ref} ${r.result}\n`);
      if (r.object.kind === 'Service') toWait.push({ ns: r.object.metadata.namespace ?? 'default', name: r.object.metadata.name });
    } catch (err) {
      if (isShoalError(err, 'Unavailable')) throw err;
      failed++;
      ctx.stderr.write(prefixError(doc.source, err));
    }
  }
  if (o.wait) {
    const timeoutMs = o.timeout ? parseDurationMs(o.timeout) : 300_000;
    if (timeoutMs <= 0) throw errors.invalidArgument(`invalid --timeout "${o.timeout}": want a positive duration such as 90s or 5m`);
    for (const w of toWait) {
      try {
        await waitForService(c, w.ns, w.name, ctx, timeoutMs);
        ctx.stdout.write(`service/${w.name} ready\n`);
      } catch (err) {
        failed++;
        ctx.stderr.write(formatError(err));
      }
    }
  }
  if (failed > 0) ctx.setExitCode(1);
}

export function registerApplyCommand(program: Command, ctx: CtlContext): void {
  program
    .command('apply')
    .description('Create or update objects from manifests (FILE, DIR or - for stdin)')
    .requiredOption('-f, --filename <path>', 'manifest file, directory or - (repeatable)', collect)
    .option('-n, --namespace <ns>', 'namespace for objects that name none')
    .option('--wait', 'wait until every applied service is ready')
    .option('--timeout <duration>', 'how long --wait waits, e.g. 90s or 10m (default 5m)')
    .action(async (o: ApplyOpts, cmd: Command) => applyCommand(o, cmd, ctx));
}
