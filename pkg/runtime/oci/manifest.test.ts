import { describe, expect, it } from 'vitest';
import { isShoalError, type ErrorCode } from '../../api/index.js';
import { sha256Digest } from './digest.js';
import { parseImageConfig } from './image-config.js';
import { parseManifest } from './manifest.js';
import * as mt from './media-types.js';
import { detectPlatform, selectPlatform } from './platform.js';

const d = (s: string) => sha256Digest(s);
const desc = (mediaType: string, s: string, extra: object = {}) => ({ mediaType, digest: d(s), size: s.length, ...extra });
const enc = (o: unknown) => Buffer.from(JSON.stringify(o));

function code(fn: () => unknown): { code: ErrorCode | undefined; message: string } {
  try {
    fn();
  } catch (e) {
    return { code: isShoalError(e) ? e.code : undefined, message: (e as Error).message };
  }
  return { code: undefined, message: '' };
}

const ociManifest = {
  schemaVersion: 2,
  mediaType: mt.OCI_MANIFEST,
  config: desc(mt.OCI_CONFIG, 'cfg'),
  layers: [desc(mt.OCI_LAYER_GZIP, 'l1'), desc(mt.OCI_LAYER_ZSTD, 'l2')],
};

describe('parseManifest', () => {
  it('parses an OCI manifest and a Docker manifest', () => {
    const p = parseManifest(enc(ociManifest), mt.OCI_MANIFEST);
    expect(p.kind).toBe('manifest');
    if (p.kind === 'manifest') expect(p.manifest.layers).toHaveLength(2);
    const docker = { ...ociManifest, mediaType: mt.DOCKER_MANIFEST, config: desc(mt.DOCKER_CONFIG, 'c'), layers: [desc(mt.DOCKER_LAYER_GZIP, 'x')] };
    expect(parseManifest(enc(docker), `${mt.DOCKER_MANIFEST}; charset=utf-8`).mediaType).toBe(mt.DOCKER_MANIFEST);
  });

  it('parses an OCI index and a Docker manifest list', () => {
    const idx = { schemaVersion: 2, mediaType: mt.OCI_INDEX, manifests: [desc(mt.OCI_MANIFEST, 'm', { platform: { os: 'linux', architecture: 'amd64' } })] };
    const p = parseManifest(enc(idx), mt.OCI_INDEX);
    expect(p.kind).toBe('index');
    const list = { ...idx, mediaType: mt.DOCKER_MANIFEST_LIST };
    expect(parseManifest(enc(list), mt.DOCKER_MANIFEST_LIST).kind).toBe('index');
  });

  it('infers the type from the document when the content type is generic', () => {
    const { mediaType: _omit, ...noType } = ociManifest;
    expect(parseManifest(enc(noType), 'application/json').mediaType).toBe(mt.OCI_MANIFEST);
    expect(parseManifest(enc({ schemaVersion: 2, manifests: [] }), undefined).mediaType).toBe(mt.OCI_INDEX);
    expect(parseManifest(enc({ ...ociManifest, mediaType: mt.DOCKER_MANIFEST }), '').mediaType).toBe(mt.DOCKER_MANIFEST);
  });

  it.each([
    ['not JSON', Buffer.from('{'), mt.OCI_MANIFEST, 'InvalidArgument', /not JSON/],
    ['array', enc([]), mt.OCI_MANIFEST, 'InvalidArgument', /JSON object/],
    ['schemaVersion 3', enc({ ...ociManifest, schemaVersion: 3 }), mt.OCI_MANIFEST, 'InvalidArgument', /schemaVersion: must be 2/],
    ['schema 1', enc({ schemaVersion: 1, name: 'x' }), 'application/json', 'Unimplemented', /schema 1/],
    ['mediaType mismatch', enc(ociManifest), mt.DOCKER_MANIFEST, 'InvalidArgument', /does not match/],
    ['unknown type', enc(ociManifest), 'application/vnd.example+json', 'InvalidArgument', /unsupported media type/],
    ['bad layer digest', enc({ ...ociManifest, layers: [{ ...desc(mt.OCI_LAYER, 'a'), digest: 'sha256:123' }] }), mt.OCI_MANIFEST, 'InvalidArgument', /layers\[0\]\.digest/],
    ['negative size', enc({ ...ociManifest, config: { ...desc(mt.OCI_CONFIG, 'a'), size: -1 } }), mt.OCI_MANIFEST, 'InvalidArgument', /config\.size/],
    ['missing layers', enc({ schemaVersion: 2, config: desc(mt.OCI_CONFIG, 'a') }), mt.OCI_MANIFEST, 'InvalidArgument', /layers/],
    ['missing config', enc({ schemaVersion: 2, layers: [] }), mt.OCI_MANIFEST, 'InvalidArgument', /config/],
    ['docker without mediaType', enc({ schemaVersion: 2, config: desc(mt.DOCKER_CONFIG, 'a'), layers: [] }), mt.DOCKER_MANIFEST, 'InvalidArgument', /mediaType: required/],
    ['index entry without digest', enc({ schemaVersion: 2, manifests: [{ mediaType: mt.OCI_MANIFEST, size: 1 }] }), mt.OCI_INDEX, 'InvalidArgument', /manifests\[0\]\.digest/],
    ['platform without os', enc({ schemaVersion: 2, manifests: [desc(mt.OCI_MANIFEST, 'a', { platform: { architecture: 'amd64' } })] }), mt.OCI_INDEX, 'InvalidArgument', /platform\.os/],
    ['index with layers', enc({ schemaVersion: 2, manifests: [], layers: [] }), mt.OCI_INDEX, 'InvalidArgument', /must not have/],
    ['too large', Buffer.alloc(5 * 1024 * 1024, 32), mt.OCI_MANIFEST, 'TooLarge', /limit/],
  ] as const)('rejects %s', (_name, bytes, ct, want, why) => {
    const r = code(() => parseManifest(bytes, ct));
    expect(r.code).toBe(want);
    expect(r.message).toMatch(why);
  });
});

describe('media types', () => {
  it('knows layer compression and distributability', () => {
    expect(mt.layerCompression(mt.DOCKER_LAYER_GZIP)).toBe('gzip');
    expect(mt.layerCompression(mt.OCI_LAYER)).toBe('none');
    expect(mt.layerCompression(mt.OCI_LAYER_ZSTD)).toBe('zstd');
    expect(mt.layerCompression(mt.OCI_CONFIG)).toBeUndefined();
    expect(mt.isNonDistributableLayer(mt.DOCKER_FOREIGN_LAYER)).toBe(true);
    expect(mt.isNonDistributableLayer(mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP)).toBe(true);
    expect(mt.isNonDistributableLayer(mt.OCI_LAYER_GZIP)).toBe(false);
    expect(mt.MANIFEST_ACCEPT.split(', ')).toHaveLength(4);
  });
});

describe('selectPlatform', () => {
  const entry = (s: string, platform: object) => desc(mt.OCI_MANIFEST, s, { platform });
  const index = {
    schemaVersion: 2 as const,
    manifests: [
      entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      entry('armv6', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      entry('amd64', { os: 'linux', architecture: 'amd64' }),
      entry('amd64v3', { os: 'linux', architecture: 'amd64', variant: 'v3' }),
      entry('win', { os: 'windows', architecture: 'amd64' }),
      entry('att', { os: 'unknown', architecture: 'unknown' }),
    ],
  };
  it.each([
    [{ os: 'linux', architecture: 'amd64' }, 'amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v2' }, 'amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v3' }, 'amd64v3'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v4' }, 'amd64v3'],
    [{ os: 'linux', architecture: 'x86_64' }, 'amd64'],
    [{ os: 'linux', architecture: 'arm64' }, 'arm64'],
    [{ os: 'linux', architecture: 'aarch64' }, 'arm64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'armv6'],
    [{ os: 'windows', architecture: 'amd64' }, 'win'],
  ])('%j -> %s', (want, which) => {
    expect(selectPlatform(index, want).digest).toBe(d(which));
  });
  it('NotFound lists what the index has', () => {
    const r = code(() => selectPlatform(index, { os: 'linux', architecture: 's390x' }));
    expect(r.code).toBe('NotFound');
    expect(r.message).toMatch(/linux\/s390x.*linux\/arm64\/v8, linux\/arm\/v6, linux\/amd64,/);
    expect(r.message).not.toMatch(/unknown/);
    expect(code(() => selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v5' })).code).toBe('NotFound');
  });
  it('detects the node platform from process.arch', () => {
    expect(detectPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(detectPlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(detectPlatform('arm', '6')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(detectPlatform('ia32').architecture).toBe('386');
  });
});

describe('parseImageConfig', () => {
  const cfg = {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/', User: '1000', ExposedPorts: { '80/tcp': {} }, Labels: { a: 'b' }, StopSignal: 'SIGTERM', Volumes: { '/data': {} } },
    rootfs: { type: 'layers', diff_ids: [d('x')] },
    history: [{ created_by: 'import' }],
  };
  it('parses a config', () => {
    const c = parseImageConfig(enc(cfg));
    expect(c.config?.Cmd).toEqual(['sh']);
    expect(c.rootfs.diff_ids).toEqual([d('x')]);
  });
  it.each([
    [{ ...cfg, os: undefined }, /os/],
    [{ ...cfg, rootfs: { type: 'x', diff_ids: [] } }, /rootfs\.type/],
    [{ ...cfg, rootfs: { type: 'layers', diff_ids: ['nope'] } }, /diff_ids\[0\]/],
    [{ ...cfg, config: { Env: 'PATH=/bin' } }, /config\.Env/],
    [{ ...cfg, config: { User: 0 } }, /config\.User/],
  ])('rejects %#', (doc, why) => {
    const r = code(() => parseImageConfig(enc(doc)));
    expect(r.code).toBe('InvalidArgument');
    expect(r.message).toMatch(why);
  });
});
