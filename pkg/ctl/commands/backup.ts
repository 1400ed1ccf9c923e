/**
 * `shoalctl cluster backup FILE`: the controller's etcd snapshot, written crash-safely: the
 * bytes go to a hidden temp file beside FILE (mode 0600: a snapshot holds every object),
 * the client checks their sha256 trailer, the file is synced and renamed over FILE only
 * when all is well. Anything else leaves no file behind. Restore it with
 * `shoal-controller --restore FILE --data-dir NEW-DIR` (docs/ha.md).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../util/index.js';
import { apiClient } from '../clients.js';
import type { CtlContext } from '../context.js';

async function backupCommand(file: string, cmd: Command, ctx: CtlContext): Promise<void> {
  const c = await apiClient(cmd, ctx);
  let bytes = 0;
  const counted = async function* (): AsyncGenerator<Uint8Array> {
    for await (const chunk of c.backup(ctx.signal)) {
      bytes += chunk.length;
      yield chunk;
    }
  };
  await writeFileAtomic(resolve(ctx.cwd, file), counted(), 0o600);
  ctx.stdout.write(`backup written to ${file} (${bytes} bytes)\n`);
}

export function registerBackupCommand(cluster: Command, ctx: CtlContext): void {
  cluster
    .command('backup')
    .description('Save a snapshot of the cluster state (etcd) to FILE; restore with shoal-controller --restore')
    .argument('<file>', 'where to write the snapshot')
    .action(async (file: string, _o: unknown, cmd: Command) => backupCommand(file, cmd, ctx));
}
