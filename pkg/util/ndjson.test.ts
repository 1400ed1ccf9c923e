import { describe, expect, it } from 'vitest';
import { ndjsonLines, parseJsonLine } from './ndjson.js';

async function lines(chunks: (string | Buffer)[], max?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const l of ndjsonLines((async function* () { yield* chunks; })(), max === undefined ? {} : { maxLineBytes: max })) out.push(l);
  return out;
}

describe('ndjsonLines', () => {
  it('splits across chunks, skips blank lines, keeps the last line without a newline', async () => {
    expect(await lines(['{"a":1}\n{"b"', ':2}\n\n', '  \n{"c":3}'])).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('keeps a UTF-8 character split between two chunks whole', async () => {
    const bytes = Buffer.from('{"x":"é"}\n');
    const cut = bytes.indexOf(0xc3) + 1;
    expect(await lines([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(['{"x":"é"}']);
  });

  it('refuses a line over the limit', async () => {
    await expect(lines(['x'.repeat(100)], 10)).rejects.toMatchObject({ code: 'Upstream' });
  });

  it('parseJsonLine names who sent a bad line', () => {
    expect(parseJsonLine<{ a: number }>('{"a":1}', 'x').a).toBe(1);
    expect(() => parseJsonLine('nope', 'the engine')).toThrow(/the engine sent a line that is not JSON/);
  });
});
