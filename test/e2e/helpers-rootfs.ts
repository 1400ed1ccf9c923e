/**
 * A minimal busybox root filesystem for runtime tests: /bin/busybox (static) plus one symlink
 * per applet, /etc/passwd and /etc/group with root and nobody, and the usual empty dirs.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUSYBOX = '/bin/busybox';

export function haveBusybox(): boolean {
  return existsSync(BUSYBOX);
}

/** Fills `dir` (created if missing) with the busybox root filesystem; returns `dir`. */
export function makeBusyboxRootfs(dir: string): string {
  for (const d of ['bin', 'etc', 'proc', 'dev', 'sys', 'tmp', 'mnt', 'root', 'home', 'var', 'usr/bin']) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  copyFileSync(BUSYBOX, join(dir, 'bin/busybox'));
  execFileSync('chmod', ['0755', join(dir, 'bin/busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) {
    if (a.includes('/') || a.startsWith('[')) continue;
    symlinkSync('busybox', join(dir, 'bin', a));
  }
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(dir, 'etc/hostname'), 'image\n');
  writeFileSync(join(dir, 'image-marker'), 'busybox-test-image\n');
  return dir;
}
