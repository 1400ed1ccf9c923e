/**
 * `--user` resolution against the image's /etc/passwd and /etc/group (read from the overlay
 * lower dirs, top layer first, through readFileInRoot: never through a symlink to the host).
 * Parsing is pure; reading the files is a thin shell.
 */
import { ShoalError } from '../../api/index.js';
import { readFileInRoot } from '../rootfs/index.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

const isNum = (s: string) => /^\d+$/.test(s);

/** `""` (root), `name`, `uid`, `name:group`, `uid:gid`, ... as Docker resolves them. */
export function resolveUser(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): ResolvedUser {
  const [userPart = '', groupPart] = spec.split(':', 2);
  let uid = 0;
  let gid = 0;
  let name: string | undefined;
  let home = '/';
  if (userPart === '') {
    const root = passwd.find((p) => p.uid === 0);
    name = root?.name ?? 'root';
    home = root?.home ?? '/root';
  } else if (isNum(userPart)) {
    uid = Number(userPart);
    const p = passwd.find((e) => e.uid === uid);
    if (p) {
      gid = p.gid;
      name = p.name;
      home = p.home;
    }
  } else {
    const p = passwd.find((e) => e.name === userPart);
    if (!p) throw userError(`unable to find user ${userPart}: no matching entries in passwd file`);
    uid = p.uid;
    gid = p.gid;
    name = p.name;
    home = p.home;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (isNum(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw userError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  if (uid > 2 ** 31 - 1 || gid > 2 ** 31 - 1) throw userError(`uid/gid out of range in ${JSON.stringify(spec)}`);
  const additionalGids =
    name === undefined || groupPart !== undefined
      ? []
      : [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  return { uid, gid, additionalGids, home };
}

function userError(message: string): ShoalError {
  return new ShoalError('Invalid', message, { causes: [{ field: 'user', reason: 'FieldValueInvalid', message }] });
}

/** passwd and group are a few KiB; anything near this is not one. */
export const MAX_ACCOUNT_FILE_BYTES = 4 * 1024 * 1024;

/**
 * `/etc/<file>` of an image as its container sees it ('' when absent): resolved inside the union
 * of its lower dirs (top first), never through a symlink to the host, a regular file of at most
 * 4 MiB (readFileInRoot; a device, a FIFO, a directory or a larger file fails the caller).
 * `dangling` says why an absent file is absent when a symlink led nowhere.
 */
function readAccountFile(lowerDirs: readonly string[], path: string, image: string): { text: string; dangling?: string } {
  const r = readFileInRoot(lowerDirs, path, { what: `image ${image}`, maxBytes: MAX_ACCOUNT_FILE_BYTES });
  if (r.found) return { text: r.data.toString('utf8') };
  return r.resolved === path ? { text: '' } : { text: '', dangling: `${path} in image ${image} is a symlink to ${r.resolved}, which the image does not have` };
}

/** `spec` resolved against the image's /etc/passwd and /etc/group; `image` names it in errors. */
export async function resolveImageUser(spec: string, lowerDirs: readonly string[], image: string): Promise<ResolvedUser> {
  const files = [readAccountFile(lowerDirs, '/etc/passwd', image), readAccountFile(lowerDirs, '/etc/group', image)] as const;
  const [passwd, group] = files;
  try {
    return resolveUser(spec, parsePasswd(passwd.text), parseGroup(group.text));
  } catch (err) {
    const why = files.flatMap((f) => (f.dangling !== undefined ? [f.dangling] : []));
    if (!(err instanceof ShoalError) || why.length === 0) throw err;
    throw userError(`${err.message} (${why.join('; ')})`);
  }
}
