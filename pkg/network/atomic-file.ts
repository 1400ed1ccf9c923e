import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errors } from '../api/index.js';
import { writeFileAtomic as writeShared } from '../util/index.js';

/** Writes `data` atomically (the shared crash-safe writer), creating the directory first. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeShared(path, data, 0o600);
}

/** Reads and parses a JSON file; undefined when it does not exist; DataLoss when it is not JSON. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.dataLoss(`${path} is not valid JSON`, { cause: err });
  }
}
