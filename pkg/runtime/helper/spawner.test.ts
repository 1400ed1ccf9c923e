/**
 * HelperSpawner against the real `shoal-runtime spawner` (native/build; skipped when it is not
 * built). A launcher that receives a malformed config answers `error InvalidArgument` on its
 * fd 3 without touching any namespace, so these tests need no root.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isShoalError } from '../../api/index.js';
import { LineReader } from './line-reader.js';
import { defaultBinaryPath } from './native-driver.js';
import { HelperSpawner } from './spawner.js';

const BIN = defaultBinaryPath();

describe.skipIf(!existsSync(BIN))('HelperSpawner', () => {
  let dir = '';
  let sp: HelperSpawner | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-spawner-'));
  });
  afterEach(async () => {
    await sp?.close();
    sp = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function malformed(s: HelperSpawner): Promise<string | undefined> {
    const h = await s.launch();
    const lines = new LineReader(h.ctl);
    h.ctl.resume();
    h.ctl.write('5\nabc\0\0');
    const line = await lines.next(AbortSignal.timeout(5000));
    lines.close();
    h.ctl.destroy();
    h.stderr.destroy();
    return line;
  }

  it('launches `start` processes whose fd 3 is a connection to us, many at once', async () => {
    sp = new HelperSpawner(BIN, join(dir, 's.sock'));
    const got = await Promise.all(Array.from({ length: 20 }, () => malformed(sp as HelperSpawner)));
    for (const l of got) expect(l).toMatch(/^error InvalidArgument /);
  });

  it('drops connections that do not carry a pending token, and keeps serving', async () => {
    sp = new HelperSpawner(BIN, join(dir, 's.sock'));
    expect(await malformed(sp)).toMatch(/^error InvalidArgument /);
    for (const hello of [`${'0'.repeat(32)} ctl\n`, 'garbage\n', 'x'.repeat(100)]) {
      const closed = await new Promise<boolean>((resolve) => {
        const c = connect(join(dir, 's.sock'), () => c.write(hello));
        c.on('close', () => resolve(true));
        c.on('error', () => undefined);
        setTimeout(() => resolve(false), 3000).unref();
      });
      expect(closed).toBe(true);
    }
    expect(await malformed(sp)).toMatch(/^error InvalidArgument /);
  });

  it('starts a new spawner after the old one died', async () => {
    sp = new HelperSpawner(BIN, join(dir, 's.sock'));
    expect(await malformed(sp)).toMatch(/^error InvalidArgument /);
    const pid = (sp as unknown as { child?: { pid?: number } }).child?.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid as number, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    expect(await malformed(sp)).toMatch(/^error InvalidArgument /);
  });

  it('refuses launches after close and removes its socket', async () => {
    sp = new HelperSpawner(BIN, join(dir, 's.sock'));
    expect(await malformed(sp)).toMatch(/^error InvalidArgument /);
    await sp.close();
    expect(existsSync(join(dir, 's.sock'))).toBe(false);
    const err = await sp.launch().catch((e: unknown) => e);
    expect(isShoalError(err) && err.code).toBe('Unavailable');
  });

  it('refuses a socket path longer than a Unix socket can have', () => {
    expect(() => new HelperSpawner(BIN, `/${'x'.repeat(120)}`)).toThrow(/longer than 107 bytes/);
  });
});
