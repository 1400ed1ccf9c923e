/**
 * `shoalctl cluster backup FILE`: the controller's etcd snapshot, written crash-safely: the
 * bytes go to a hidden temp file beside FILE (mode 0600: a snapshot holds every object),
 * the client checks their sha256 trailer, the file is synced and renamed over FILE only
 * when all is well. Anything else leaves no file behind. Restore it with
 * `shoal-controller --restore FILE --data-dir NEW-DIR` (docs/ha.md).
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';

async function backupCommand(file: string, cmd: Command, ctx: CtlContext): Promise<void> {
  const target = resolve(ctx.cwd, file);
  const c = await apiClient(cmd, ctx);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.part`);
  let bytes = 0;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      for await (const chunk of c.backup(ctx.signal)) {
        bytes += chunk.length;
        await fh.write(chunk);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(target), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  ctx.stdout.write(`backup written to ${file} (${bytes} bytes)\n`);
}

export function registerBackupCommand(cluster: Command, ctx: CtlContext): void {
  cluster
    .command('backup')
    .description('Save a snapshot of the cluster state (etcd) to FILE; restore with shoal-controller --restore')
    .argument('<file>', 'where to write the snapshot')
    .action(async (file: string, _o: unknown, cmd: Command) => backupCommand(file, cmd, ctx));
}
