/**
 * Reads newline-delimited JSON (or any newline-delimited text) from a byte stream: the one
 * line splitter of the API and engine clients, the controller's tunnel relay and the agent's
 * tunnel. UTF-8 characters split across chunks are kept whole; blank lines are skipped; a
 * line longer than `maxLineBytes` is an Upstream error (a peer must not make us buffer
 * without bound).
 */
import { StringDecoder } from 'node:string_decoder';
import { errors } from '../api/index.js';

export interface NdjsonOptions {
  /** Longest line accepted, in bytes of text (default 4 MiB). */
  maxLineBytes?: number;
}

export async function* ndjsonLines(body: AsyncIterable<unknown>, opts: NdjsonOptions = {}): AsyncGenerator<string> {
  const max = opts.maxLineBytes ?? 4 * 1024 * 1024;
  const dec = new StringDecoder('utf8');
  let buf = '';
  for await (const chunk of body) {
    buf += typeof chunk === 'string' ? chunk : dec.write(chunk as Buffer);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== '') yield line;
    }
    if (buf.length > max) throw errors.upstream(`a line of the stream is longer than ${max} bytes`);
  }
  buf += dec.end();
  if (buf.trim() !== '') yield buf.trim();
}

/** Parses one line as JSON; Upstream naming `who` when it is not. */
export function parseJsonLine<T>(line: string, who: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw errors.upstream(`${who} sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
}
