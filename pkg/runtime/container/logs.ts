/**
 * Reader of Docker json-file logs: `<log>` is the live file, `<log>.1`, `<log>.2`, ... are
 * older rotations (the monitor writes and rotates them). Supports everything, `tail` (read
 * backwards from the end, so a huge log costs only what is returned), `since`, and `follow`
 * (polls, follows the live file through rotation, ends once the container has exited and the
 * file is drained).
 */
import { createReadStream, watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { dirname } from 'node:path';
import { ShoalError, type LogEntry } from '../../api/index.js';

export interface ReadLogsOptions {
  tail?: number;
  since?: Date;
  follow?: boolean;
  /** For follow: true once the container has exited (no more output will come). */
  exited?: () => boolean;
  /** For follow: settles when the container exits, so the follower ends at once instead of at the next poll. */
  exitSignal?: Promise<unknown>;
  signal?: AbortSignal;
  pollMs?: number;
}

export function parseLogLine(line: string): LogEntry | undefined {
  if (!line) return undefined;
  try {
    const v = JSON.parse(line) as Partial<LogEntry>;
    if (typeof v.log !== 'string') return undefined;
    return { stream: v.stream === 'stderr' ? 'stderr' : 'stdout', time: typeof v.time === 'string' ? v.time : '', log: v.log };
  } catch {
    return undefined;
  }
}

/** The reader's options of a logs request (`tail` -1: all), checked: InvalidArgument names the bad one. */
export function readLogsOptions(opts: { tail?: number; since?: string; follow?: boolean; signal?: AbortSignal }): ReadLogsOptions {
  let since: Date | undefined;
  if (opts.since !== undefined && opts.since !== '') {
    since = parseSince(opts.since);
    if (!since) throw new ShoalError('InvalidArgument', `invalid since ${JSON.stringify(opts.since)}: want RFC 3339 or unix seconds`);
  }
  if (opts.tail !== undefined && (!Number.isInteger(opts.tail) || opts.tail < -1)) {
    throw new ShoalError('InvalidArgument', `invalid tail ${opts.tail}: want a non-negative integer`);
  }
  return {
    ...(opts.tail !== undefined && opts.tail >= 0 ? { tail: opts.tail } : {}),
    ...(since ? { since } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    follow: opts.follow ?? false,
  };
}

/** Parses `since`: RFC 3339 or unix seconds (with fractions). */
export function parseSince(input: string): Date | undefined {
  if (/^\d+(\.\d+)?$/.test(input)) return new Date(Number(input) * 1000);
  const d = new Date(input);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

async function existingRotations(logPath: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i < 1000; i++) {
    const p = `${logPath}.${i}`;
    try {
      await stat(p);
      out.push(p);
    } catch {
      break;
    }
  }
  return out; // newest rotation first
}

async function openOrUndefined(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The last `n` complete lines of `fh` before byte `end`, oldest first. */
async function lastLines(fh: FileHandle, end: number, n: number): Promise<string[]> {
  const chunk = 64 * 1024;
  let pos = end;
  let rest = Buffer.alloc(0);
  const lines: string[] = [];
  while (pos > 0 && lines.length < n) {
    const len = Math.min(chunk, pos);
    pos -= len;
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, pos);
    rest = Buffer.concat([buf, rest]);
    let nl = rest.lastIndexOf(10, rest.length - 1);
    // drop the trailing newline of the file
    if (nl === rest.length - 1 && lines.length === 0 && pos + rest.length === end) {
      rest = rest.subarray(0, rest.length - 1);
      nl = rest.lastIndexOf(10);
    }
    while (nl >= 0 && lines.length < n) {
      lines.push(rest.subarray(nl + 1).toString('utf8'));
      rest = rest.subarray(0, nl);
      nl = rest.lastIndexOf(10);
    }
  }
  if (pos === 0 && lines.length < n && rest.length > 0) lines.push(rest.toString('utf8'));
  return lines.reverse();
}

async function* fileLines(path: string, signal?: AbortSignal): AsyncGenerator<string> {
  const stream = createReadStream(path, signal ? { signal } : {});
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    rl.close();
    stream.destroy();
  }
}

export async function* readLogs(logPath: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const { signal } = opts;
  const keep = (e: LogEntry | undefined): e is LogEntry =>
    e !== undefined && (opts.since === undefined || !e.time || new Date(e.time) >= opts.since);

  let fh = await openOrUndefined(logPath);
  let ino = fh ? (await fh.stat()).ino : -1;
  let pos = fh ? (await fh.stat()).size : 0;
  let watcher: FSWatcher | undefined;
  try {
    // 1. What is there now.
    if (opts.tail !== undefined && opts.tail >= 0) {
      const want = opts.tail;
      let lines = fh && want > 0 ? await lastLines(fh, pos, want) : [];
      if (lines.length < want) {
        for (const rot of await existingRotations(logPath)) {
          const r = await openOrUndefined(rot);
          if (!r) break;
          try {
            const more = await lastLines(r, (await r.stat()).size, want - lines.length);
            lines = [...more, ...lines];
          } finally {
            await r.close();
          }
          if (lines.length >= want) break;
        }
      }
      for (const l of lines) {
        const e = parseLogLine(l);
        if (keep(e)) yield e;
      }
    } else {
      for (const rot of (await existingRotations(logPath)).reverse()) {
        for await (const l of fileLines(rot, signal)) {
          const e = parseLogLine(l);
          if (keep(e)) yield e;
        }
      }
      if (fh) {
        let partial = '';
        for await (const piece of readRange(fh, 0, pos)) {
          const text = partial + piece;
          const parts = text.split('\n');
          partial = parts.pop() ?? '';
          for (const l of parts) {
            const e = parseLogLine(l);
            if (keep(e)) yield e;
          }
        }
        const e = parseLogLine(partial);
        if (keep(e)) yield e;
      }
    }
    if (!opts.follow) return;

    // 2. Follow: read the live file when its directory reports a change (inotify: a write, or
    // the new file of a rotation) and, as a backstop, every second (every pollMs without a
    // watcher); on rotation drain the old handle and reopen. Following a service's hundred
    // replicas then costs nothing while they are quiet.
    let partial = '';
    let dirty = false;
    let wake: (() => void) | undefined;
    try {
      watcher = watch(dirname(logPath), () => {
        dirty = true;
        wake?.();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined;
    }
    const pollMs = watcher !== undefined ? Math.max(opts.pollMs ?? 100, 1000) : (opts.pollMs ?? 100);
    for (;;) {
      if (signal?.aborted) return;
      dirty = false;
      const exitedBefore = opts.exited?.() ?? false;
      let progressed = false;
      if (fh) {
        for await (const piece of readRange(fh, pos, Infinity)) {
          pos += Buffer.byteLength(piece);
          progressed = true;
          const parts = (partial + piece).split('\n');
          partial = parts.pop() ?? '';
          for (const l of parts) {
            const e = parseLogLine(l);
            if (keep(e)) yield e;
          }
        }
      }
      const cur = await stat(logPath).catch(() => undefined);
      if (cur && cur.ino !== ino) {
        // Rotated: the old handle is drained (above); continue with the new file.
        await fh?.close();
        fh = await openOrUndefined(logPath);
        ino = fh ? (await fh.stat()).ino : -1;
        pos = 0;
        partial = '';
        continue;
      }
      if (exitedBefore && !progressed) {
        const e = parseLogLine(partial);
        if (keep(e)) yield e;
        return;
      }
      if (!progressed && !dirty) {
        const pause = new AbortController();
        const onAbort = (): void => pause.abort();
        wake = onAbort;
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          const waits: Promise<unknown>[] = [delay(pollMs, undefined, { signal: pause.signal })];
          if (opts.exitSignal && !exitedBefore) waits.push(opts.exitSignal);
          await Promise.race(waits);
        } catch {
          if (signal?.aborted) return;
        } finally {
          wake = undefined;
          signal?.removeEventListener('abort', onAbort);
          pause.abort();
        }
        if (signal?.aborted) return;
      }
    }
  } finally {
    watcher?.close();
    await fh?.close();
  }
}

async function* readRange(fh: FileHandle, start: number, end: number): AsyncGenerator<string> {
  const buf = Buffer.alloc(64 * 1024);
  let pos = start;
  let carry = Buffer.alloc(0);
  while (pos < end) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    // keep multi-byte characters whole: cut at the last newline
    const data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
    const nl = data.lastIndexOf(10);
    if (nl < 0) {
      carry = data;
      continue;
    }
    carry = Buffer.from(data.subarray(nl + 1));
    yield data.subarray(0, nl + 1).toString('utf8');
  }
  if (carry.length > 0) yield carry.toString('utf8');
}
