/**
 * Names of layer entries: normalised to components inside the target, and classified as
 * whiteouts per the OCI layer spec. Pure functions; every path layer apply touches goes
 * through `entryComponents` first.
 */
import { ShoalError } from '../../api/index.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';

/**
 * Splits an entry name into components: leading `/` and `./` are dropped, empty and `.`
 * components are ignored, and a `..` component is rejected (InvalidArgument), never resolved.
 * An empty result names the target directory itself.
 */
export function entryComponents(name: string, what = 'layer entry'): string[] {
  if (name.includes('\0')) throw new ShoalError('InvalidArgument', `${what} ${JSON.stringify(name)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      throw new ShoalError('InvalidArgument', `${what} ${JSON.stringify(name)} has a ".." component; refusing a path that could leave the target directory`);
    }
    out.push(part);
  }
  return out;
}

export type EntryClass =
  | { kind: 'plain' }
  /** `.wh..wh..opq`: the parent directory hides everything below it in lower layers. */
  | { kind: 'opaque'; dir: string[] }
  /** `.wh.<name>`: `<name>` is deleted from lower layers. */
  | { kind: 'whiteout'; path: string[] }
  /** Other `.wh..wh.*` names: aufs metadata, ignored. */
  | { kind: 'meta' };

export function classifyEntry(components: readonly string[], name: string): EntryClass {
  const last = components.at(-1);
  for (let i = 0; i < components.length - 1; i++) {
    const c = components[i] ?? '';
    if (c.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
    if (c.startsWith(WHITEOUT_PREFIX)) {
      throw new ShoalError('InvalidArgument', `layer entry ${JSON.stringify(name)}: whiteout name ${JSON.stringify(c)} used as a directory`);
    }
  }
  if (last === undefined || !last.startsWith(WHITEOUT_PREFIX)) return { kind: 'plain' };
  const parent = components.slice(0, -1);
  if (last === WHITEOUT_OPAQUE) return { kind: 'opaque', dir: parent };
  if (last.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'meta' };
  const target = last.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new ShoalError('InvalidArgument', `layer entry ${JSON.stringify(name)} is a whiteout without a valid name to delete`);
  }
  return { kind: 'whiteout', path: [...parent, target] };
}
