import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatTable, humanAge, humanSize, parseOutputFormat, printYaml } from './format.js';
import { ProgressRenderer, statusText } from './progress.js';

describe('format', () => {
  it('aligns columns, right-aligns when asked, and flattens newlines', () => {
    const t = formatTable(
      [
        { a: 'x', n: 5 },
        { a: 'longer\nname', n: 12345 },
      ],
      [
        { header: 'NAME', value: (r) => r.a },
        { header: 'SIZE', value: (r) => String(r.n), align: 'right' },
      ],
    );
    expect(t).toBe(`NAME${' '.repeat(11)}SIZE\nx${' '.repeat(17)}5\nlonger name   12345\n`);
  });

  it('prints sizes and ages as docker does', () => {
    expect(humanSize(512)).toBe('512B');
    expect(humanSize(1_234_567)).toBe('1.23MB');
    expect(humanSize(45_600_000)).toBe('45.6MB');
    const now = new Date('2024-01-10T00:00:00Z');
    expect(humanAge('2024-01-09T23:59:00Z', now)).toBe('1 minute ago');
    expect(humanAge('2024-01-07T00:00:00Z', now)).toBe('3 days ago');
    expect(humanAge(undefined, now)).toBe('-');
  });

  it('rejects unknown output formats by name', () => {
    expect(parseOutputFormat('json')).toBe('json');
    expect(() => parseOutputFormat('xml')).toThrow(/unknown output format "xml"/);
  });

  it('prints YAML', () => {
    const out = new PassThrough();
    let s = '';
    out.on('data', (d: Buffer) => (s += d.toString()));
    printYaml(out, { kind: 'ImageList', items: [] });
    expect(s).toBe('kind: ImageList\nitems: []\n');
  });
});

describe('ProgressRenderer', () => {
  it('redraws every layer in place on a TTY', () => {
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    let s = '';
    out.on('data', (d: Buffer) => (s += d.toString()));
    let t = 0;
    const r = new ProgressRenderer(out, 'auto', () => (t += 1000));
    r.update({ id: 'aaa', status: 'waiting' });
    r.update({ id: 'bbb', status: 'downloading', current: 5, total: 10 });
    r.update({ id: 'aaa', status: 'done' });
    r.finish();
    expect(s).toContain('\x1b[2A'); // cursor back over the two lines
    expect(s.split('\x1b[2A').at(-1)).toContain('aaa: Pull complete');
    expect(statusText({ status: 'downloading', current: 5, total: 10 }, true)).toMatch(/^Downloading \[=+> +\] 5B\/10B$/);
  });

  it('stays silent when quiet', () => {
    const out = new PassThrough();
    let s = '';
    out.on('data', (d: Buffer) => (s += d.toString()));
    const r = new ProgressRenderer(out, 'quiet');
    r.update({ id: 'a', status: 'done' });
    r.finish();
    expect(s).toBe('');
  });
});
