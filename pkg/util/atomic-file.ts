/**
 * Crash-safe small files: write a temp file beside the target, fsync it, rename it over the
 * target, fsync the directory. A reader (or the next start after a crash) sees the old content
 * or the new, never a mix; a failed write leaves no temp file behind, and a full disk fails
 * with the FailedPrecondition of explainNoSpace (which filesystem, which file).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { errors } from '../api/index.js';
import { basename, dirname, join } from 'node:path';
import { explainNoSpace } from './disk-full.js';

/** Writes `data` (bytes, text, or a stream of chunks such as a download) crash-safely over `path`. */
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/;

/** True for the temp file name writeFileAtomic writes beside a target (a crash may leave one behind). */
export function isAtomicTempFile(name: string): boolean {
  return TEMP_NAME.test(name);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array | AsyncIterable<Uint8Array>, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
      else for await (const chunk of data) await fh.write(chunk);
      await fh.chmod(mode); // whatever the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw await explainNoSpace(err, path);
  }
  const dh = await open(dirname(path), 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** `value` as indented JSON, atomically. */
export function writeJsonAtomic(path: string, value: unknown, mode = 0o600): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode);
}

/** The parsed JSON file, or undefined when it is missing or not valid JSON (a half-made record). */
export async function readJsonFile<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** writeFileAtomic, creating the directory first. */
export async function writeFileAtomicIn(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw await explainNoSpace(err, path, `creating the directory of ${path}`);
  }
  await writeFileAtomic(path, data, mode);
}

/**
 * The parsed JSON file of a record that must be whole: undefined when it does not exist,
 * DataLoss when it is not valid JSON (the caller reports and skips it, or fails).
 */
export async function readJsonStrict(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw errors.internal(`read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.dataLoss(`${path} is not valid JSON`, { cause: err });
  }
}
