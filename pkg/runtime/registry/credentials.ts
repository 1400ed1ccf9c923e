/**
 * Registry credentials: a small interface, an in-memory implementation for tests, and a file
 * implementation in Docker's config format (`{"auths": {"host:port": {"auth": base64(user:pass)}}}`),
 * written atomically (temp file + rename) with mode 0600.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ShoalError } from '../../api/index.js';
import { writeJsonAtomic } from '../../util/index.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialStore {
  get(host: string): Promise<Credentials | undefined>;
  set(host: string, username: string, password: string): Promise<void>;
  /** True when something was removed. */
  remove(host: string): Promise<boolean>;
}

/**
 * The key credentials are stored under: the image domain (`docker.io` for Docker Hub, whatever
 * alias was used), without scheme or path.
 */
export function credentialKey(host: string): string {
  let h = host.trim().toLowerCase().replace(/^https?:\/\//, '');
  h = h.split('/')[0] ?? h;
  if (h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com') return 'docker.io';
  return h;
}

export class MemoryCredentialStore implements CredentialStore {
  private readonly entries = new Map<string, Credentials>();

  async get(host: string): Promise<Credentials | undefined> {
    return this.entries.get(credentialKey(host));
  }

  async set(host: string, username: string, password: string): Promise<void> {
    this.entries.set(credentialKey(host), { username, password });
  }

  async remove(host: string): Promise<boolean> {
    return this.entries.delete(credentialKey(host));
  }
}

interface FileShape {
  auths?: Record<string, { auth?: string; username?: string; password?: string; [k: string]: unknown }>;
  [k: string]: unknown;
}

export class FileCredentialStore implements CredentialStore {
  /** `path` is chosen by the caller (shoalctl uses `~/.shoal/credentials.json`). */
  constructor(readonly path: string) {}

  private async load(): Promise<FileShape> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ShoalError('Unavailable', `cannot read credentials file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    if (text.trim() === '') return {};
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ShoalError('InvalidArgument', `credentials file ${this.path} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new ShoalError('InvalidArgument', `credentials file ${this.path} must hold a JSON object`);
    }
    const shape = doc as FileShape;
    if (shape.auths !== undefined && (typeof shape.auths !== 'object' || shape.auths === null)) {
      throw new ShoalError('InvalidArgument', `credentials file ${this.path}: "auths" must be an object`);
    }
    return shape;
  }

  private async save(doc: FileShape): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    try {
      await writeJsonAtomic(this.path, doc, 0o600);
    } catch (err) {
      throw new ShoalError('Unavailable', `cannot write credentials file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async get(host: string): Promise<Credentials | undefined> {
    const auths = (await this.load()).auths ?? {};
    const key = credentialKey(host);
    const entry = Object.entries(auths).find(([k]) => credentialKey(k) === key)?.[1];
    if (!entry) return undefined;
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new ShoalError('InvalidArgument', `credentials file ${this.path}: the entry for ${key} is not base64(user:password)`);
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      return { username: entry.username, password: entry.password };
    }
    return undefined;
  }

  async set(host: string, username: string, password: string): Promise<void> {
    if (username === '' || username.includes(':')) {
      throw new ShoalError('InvalidArgument', `invalid user name "${username}": must be non-empty and without ':'`);
    }
    const doc = await this.load();
    const key = credentialKey(host);
    const auths = Object.fromEntries(Object.entries(doc.auths ?? {}).filter(([k]) => credentialKey(k) !== key));
    auths[key] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
    await this.save({ ...doc, auths });
  }

  async remove(host: string): Promise<boolean> {
    const doc = await this.load();
    const key = credentialKey(host);
    const before = Object.keys(doc.auths ?? {});
    const auths = Object.fromEntries(Object.entries(doc.auths ?? {}).filter(([k]) => credentialKey(k) !== key));
    if (Object.keys(auths).length === before.length) return false;
    await this.save({ ...doc, auths });
    return true;
  }
}
