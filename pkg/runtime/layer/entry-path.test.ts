import { describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { detectCompression } from './decompress.js';
import { classifyEntry, entryComponents } from './entry-path.js';

function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    return isShoalError(err) ? err.code : 'non-shoal';
  }
}

describe('entryComponents', () => {
  it.each([
    ['a/b/c', ['a', 'b', 'c']],
    ['./a/b/', ['a', 'b']],
    ['/abs/path', ['abs', 'path']],
    ['//x//y', ['x', 'y']],
    ['./', []],
    ['.', []],
    ['a/./b', ['a', 'b']],
    ['a/..b', ['a', '..b']],
    ['...', ['...']],
    ['b..', ['b..']],
  ])('%s -> %j', (name, want) => {
    expect(entryComponents(name)).toEqual(want);
  });

  it.each(['..', '../x', 'a/../b', 'a/../..', 'foo/../../x', '/../etc', 'a/..', 'a\0b'])('rejects %j', (name) => {
    expect(code(() => entryComponents(name))).toBe('InvalidArgument');
  });
});

describe('classifyEntry', () => {
  const c = (name: string): unknown => classifyEntry(entryComponents(name), name);
  it('classifies whiteouts, opaque markers and aufs metadata', () => {
    expect(c('a/b')).toEqual({ kind: 'plain' });
    expect(c('a/.wh.b')).toEqual({ kind: 'whiteout', path: ['a', 'b'] });
    expect(c('.wh.top')).toEqual({ kind: 'whiteout', path: ['top'] });
    expect(c('a/.wh..wh..opq')).toEqual({ kind: 'opaque', dir: ['a'] });
    expect(c('.wh..wh..opq')).toEqual({ kind: 'opaque', dir: [] });
    expect(c('.wh..wh.plnk/123.456')).toEqual({ kind: 'meta' });
    expect(c('a/.wh..wh.aufs')).toEqual({ kind: 'meta' });
    expect(c('a/x.wh.y')).toEqual({ kind: 'plain' });
  });
  it.each(['.wh.', 'a/.wh.', '.wh..', '.wh...', '.wh.a/b'])('rejects %j', (name) => {
    expect(code(() => c(name))).toBe('InvalidArgument');
  });
});

describe('detectCompression', () => {
  it('reads magic bytes', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from('ustar-ish data'))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
    expect(code(() => detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])))).toBe('Unimplemented');
    expect(code(() => detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))).toBe('Unimplemented');
    expect(code(() => detectCompression(Buffer.from('BZh91AY')))).toBe('Unimplemented');
  });
});
