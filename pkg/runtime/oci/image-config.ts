/**
 * The image configuration blob (OCI image config / Docker container image v1): what a
 * container inherits from its image, and the diff_ids that identify the unpacked layers.
 */
import { ShoalError, type ImageRuntimeConfig } from '../../api/index.js';
import { isDigest, type Digest } from './digest.js';

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

function bad(field: string, why: string): ShoalError {
  return new ShoalError('InvalidArgument', `invalid image config: ${field}: ${why}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strList(v: unknown, field: string, nullable = false): void {
  if (v === undefined || (nullable && v === null)) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(field, 'must be a list of strings');
}

/** Parses and checks an image config; InvalidArgument names the bad field. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  } catch (err) {
    throw new ShoalError('InvalidArgument', `invalid image config: not JSON: ${(err as Error).message}`);
  }
  if (!isObj(doc)) throw bad('(root)', 'must be an object');
  if (typeof doc.architecture !== 'string' || !doc.architecture) throw bad('architecture', 'required string');
  if (typeof doc.os !== 'string' || !doc.os) throw bad('os', 'required string');
  if (!isObj(doc.rootfs)) throw bad('rootfs', 'required object');
  if (doc.rootfs.type !== 'layers') throw bad('rootfs.type', `must be "layers", got ${JSON.stringify(doc.rootfs.type)}`);
  const ids = doc.rootfs.diff_ids;
  if (!Array.isArray(ids)) throw bad('rootfs.diff_ids', 'required list of digests');
  ids.forEach((d, i) => {
    if (!isDigest(d)) throw bad(`rootfs.diff_ids[${i}]`, `invalid digest ${JSON.stringify(d)}`);
  });
  if (doc.config !== undefined && doc.config !== null) {
    const c = doc.config;
    if (!isObj(c)) throw bad('config', 'must be an object');
    strList(c.Env, 'config.Env', true);
    strList(c.Cmd, 'config.Cmd', true);
    strList(c.Entrypoint, 'config.Entrypoint', true);
    for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'string') throw bad(`config.${k}`, 'must be a string');
    }
    for (const k of ['ExposedPorts', 'Volumes', 'Labels'] as const) {
      if (c[k] !== undefined && c[k] !== null && !isObj(c[k])) throw bad(`config.${k}`, 'must be an object');
    }
  }
  if (doc.history !== undefined && !Array.isArray(doc.history)) throw bad('history', 'must be a list');
  return doc as unknown as ImageConfig;
}
