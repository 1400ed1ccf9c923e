/**
 * Image commands of shoalctl (engine level): pull, push, images, rmi, tag, import, login,
 * inspect. Each talks to the agent's engine API through EngineClient; nothing here touches the
 * image store directly.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { errors, isShoalError, toShoalError, type ImageResult, type ImageSummary } from '../../api/index.js';
import { asReadable, isPullResult, type EngineClient, type PullEvent } from '../../client/index.js';
import { withEngine } from '../clients.js';
import type { CtlContext } from '../context.js';
import { humanAge, humanSize, parseOutputFormat, printStructured, printTable, shortId } from '../format.js';
import { eachReported } from '../output.js';
import { ProgressRenderer } from '../progress.js';

type ProgressMode = 'auto' | 'plain' | 'quiet';

function progressMode(v: string | undefined, quiet: boolean | undefined): ProgressMode {
  if (quiet) return 'quiet';
  const m = (v ?? 'auto') as ProgressMode;
  if (!['auto', 'plain', 'quiet'].includes(m)) throw errors.invalidArgument(`unknown progress mode "${v}": use auto, plain or quiet`);
  return m;
}

/** Drives a streamed pull or push, drawing progress; returns the final event (the one with a digest). */
async function follow(events: AsyncGenerator<PullEvent>, ctx: CtlContext, mode: ProgressMode): Promise<ImageResult> {
  // auto: bars on a TTY, quiet in pipes (DESIGN.md section 8); plain: one line per layer state change.
  const out = mode === 'plain' ? Object.assign(Object.create(ctx.stderr) as typeof ctx.stderr, { isTTY: false }) : ctx.stderr;
  const renderer = new ProgressRenderer(out, mode === 'quiet' || (mode === 'auto' && ctx.stderr.isTTY !== true) ? 'quiet' : 'auto');
  let final: ImageResult | undefined;
  try {
    for await (const ev of events) {
      if (isPullResult(ev)) final = ev;
      else renderer.update(ev);
    }
  } finally {
    renderer.finish();
  }
  if (!final) throw errors.upstream('the engine ended the stream without a result');
  return final;
}

function repoTag(t: string): [string, string] {
  const at = t.indexOf('@');
  const base = at >= 0 ? t.slice(0, at) : t;
  const colon = base.lastIndexOf(':');
  if (colon > base.lastIndexOf('/')) return [base.slice(0, colon), base.slice(colon + 1)];
  return [base, '<none>'];
}

/** pull and push: a streamed transfer with progress on stderr. */
function registerTransfers(program: Command, ctx: CtlContext): void {
  program
    .command('pull')
    .description('pull an image from a registry')
    .argument('<image>', 'image reference, e.g. busybox or localhost:5000/team/app:1.0')
    .option('-q, --quiet', 'print only the image reference')
    .option('--progress <mode>', 'auto (bars on a TTY), plain (one line per layer change) or quiet', 'auto')
    .action(async (image: string, o: { quiet?: boolean; progress?: string }, cmd: Command) => {
      const mode = progressMode(o.progress, o.quiet);
      const r = await withEngine(cmd, ctx, async (c) => follow(c.pullImage(image, ctx.signal), ctx, mode));
      if (!o.quiet) ctx.stdout.write(`Digest: ${r.digest}\n`);
      ctx.stdout.write(`${String(r['ref'] ?? image)}\n`);
    });

  program
    .command('push')
    .description('push an image to its registry')
    .argument('<image>', 'image reference (the registry is part of it)')
    .option('-q, --quiet', 'print only the pushed digest')
    .option('--progress <mode>', 'auto, plain or quiet', 'auto')
    .action(async (image: string, o: { quiet?: boolean; progress?: string }, cmd: Command) => {
      const mode = progressMode(o.progress, o.quiet);
      const r = await withEngine(cmd, ctx, async (c) => follow(c.pushImage(image, ctx.signal), ctx, mode));
      ctx.stdout.write(o.quiet ? `${r.digest}\n` : `${r.ref || image}: digest: ${r.digest}\n`);
    });
}

/** The rows of `images`: one per reference, `<none>` for an image without one. */
function imageRows(list: ImageSummary[]): { repo: string; tag: string; img: ImageSummary }[] {
  const rows: { repo: string; tag: string; img: ImageSummary }[] = [];
  for (const img of list) {
    if (img.RepoTags.length === 0) rows.push({ repo: '<none>', tag: '<none>', img });
    for (const t of img.RepoTags) {
      const [repo, tag] = repoTag(t);
      rows.push({ repo, tag, img });
    }
  }
  return rows;
}

/** images, rmi and tag: the local image store. */
function registerLocalImages(program: Command, ctx: CtlContext): void {
  program
    .command('images')
    .description('list images')
    .option('-q, --quiet', 'print image ids only')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { quiet?: boolean; output?: string }, cmd: Command) => {
      const format = parseOutputFormat(o.output);
      const list = await withEngine(cmd, ctx, (c) => c.listImages(ctx.signal));
      if (o.quiet) {
        ctx.stdout.write([...new Set(list.map((i) => shortId(i.Id)))].map((s) => `${s}\n`).join(''));
        return;
      }
      if (format === 'json' || format === 'yaml') return printStructured(ctx.stdout, format, { apiVersion: 'shoal/v1', kind: 'ImageList', items: list });
      const now = new Date();
      printTable(ctx.stdout, imageRows(list), [
        { header: 'REPOSITORY', value: (r) => r.repo },
        { header: 'TAG', value: (r) => r.tag },
        { header: 'IMAGE ID', value: (r) => shortId(r.img.Id) },
        { header: 'CREATED', value: (r) => humanAge(r.img.Created, now) },
        { header: 'SIZE', value: (r) => humanSize(r.img.Size) },
      ]);
    });

  program
    .command('rmi')
    .description('remove images (untag; the image goes when no tag is left)')
    .argument('<image...>', 'references or image ids')
    .option('-f, --force', 'remove even when tagged several times or used by a container')
    .action(async (images: string[], o: { force?: boolean }, cmd: Command) => {
      await withEngine(cmd, ctx, (c) =>
        eachReported(ctx, images, async (img) => {
          const r = await c.removeImage(img, o.force === true, ctx.signal);
          for (const u of r.untagged) ctx.stdout.write(`Untagged: ${u}\n`);
          for (const d of r.deleted) ctx.stdout.write(`Deleted: ${d}\n`);
        }),
      );
    });

  program
    .command('tag')
    .description('give an image another reference')
    .argument('<source>', 'existing image (reference or id)')
    .argument('<target>', 'new reference')
    .action(async (source: string, target: string, _o: unknown, cmd: Command) => {
      await withEngine(cmd, ctx, (c) => c.tagImage(source, target, ctx.signal));
    });
}

async function importCommand(rootfs: string, ref: string, cmd: Command, ctx: CtlContext): Promise<void> {
  let body;
  if (rootfs === '-') {
    body = asReadable(ctx.stdin);
  } else {
    const path = isAbsolute(rootfs) ? rootfs : join(ctx.cwd, rootfs);
    const st = await stat(path).catch((err: unknown) => {
      throw errors.invalidArgument(`cannot read ${rootfs}: ${(err as Error).message}`);
    });
    if (!st.isFile()) throw errors.invalidArgument(`${rootfs} is not a file`);
    body = createReadStream(path);
  }
  const r = await withEngine(cmd, ctx, (c) => c.importImage(ref, body, ctx.signal));
  ctx.stdout.write(`${r.id}\n`);
}

async function loginCommand(registry: string, o: { username?: string; password?: string; passwordStdin?: boolean }, cmd: Command, ctx: CtlContext): Promise<void> {
  const username = o.username;
  if (!username) throw errors.invalidArgument('login needs a user name: -u USER');
  let password = o.password;
  if (o.passwordStdin) {
    if (password !== undefined) throw errors.invalidArgument('--password and --password-stdin are mutually exclusive');
    const chunks: Buffer[] = [];
    for await (const ch of ctx.stdin) chunks.push(Buffer.from(ch as Buffer));
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (password === undefined) throw errors.invalidArgument('login needs a password: -p PASSWORD or --password-stdin');
  const pw = password;
  const r = await withEngine(cmd, ctx, (c) => c.login(registry, username, pw, ctx.signal));
  ctx.stdout.write(`${r.status}\n`);
}

async function inspectCommand(names: string[], o: { type?: string; output?: string }, cmd: Command, ctx: CtlContext): Promise<void> {
  const format = parseOutputFormat(o.output, ['json', 'yaml']);
  if (o.type !== undefined && o.type !== 'container' && o.type !== 'image') {
    throw errors.invalidArgument(`unknown --type "${o.type}": use container or image`);
  }
  const found: unknown[] = [];
  await withEngine(cmd, ctx, (c) => eachReported(ctx, names, async (name) => void found.push(await inspectOne(c, name, o.type, ctx.signal))));
  printStructured(ctx.stdout, format === 'yaml' ? 'yaml' : 'json', found);
}

export function registerImagesCommands(program: Command, ctx: CtlContext): void {
  registerTransfers(program, ctx);
  registerLocalImages(program, ctx);

  program
    .command('import')
    .description('create a single-layer image from a root filesystem tar (or - for stdin)')
    .argument('<rootfs>', 'tar file (plain or gzip) or - for stdin')
    .argument('<ref>', 'reference for the new image')
    .action(async (rootfs: string, ref: string, _o: unknown, cmd: Command) => importCommand(rootfs, ref, cmd, ctx));

  program
    .command('login')
    .description('log in to a registry (the agent checks and stores the credentials)')
    .argument('<registry>', 'registry host[:port]')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (registry: string, o: { username?: string; password?: string; passwordStdin?: boolean }, cmd: Command) => loginCommand(registry, o, cmd, ctx));

  program
    .command('inspect')
    .description('show low-level information on containers or images')
    .argument('<name...>', 'container or image names/ids')
    .option('--type <type>', 'container or image (default: container first, then image)')
    .option('-o, --output <format>', 'json or yaml', 'json')
    .action(async (names: string[], o: { type?: string; output?: string }, cmd: Command) => inspectCommand(names, o, cmd, ctx));
}

async function inspectOne(c: EngineClient, name: string, type: string | undefined, signal: AbortSignal): Promise<unknown> {
  if (type !== 'image') {
    try {
      return await c.inspectContainer(name, signal);
    } catch (err) {
      const e = toShoalError(err);
      if (type === 'container' || e.code !== 'NotFound') throw e;
    }
  }
  try {
    return await c.inspectImage(name, signal);
  } catch (err) {
    if (type === undefined && isShoalError(err, 'NotFound')) throw errors.notFound(`no such container or image: ${name}`);
    throw err;
  }
}
