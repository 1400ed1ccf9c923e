/** Reads a byte stream as UTF-8 text, stopping after `maxBytes` (an error document needs no more). */
export async function readText(body: AsyncIterable<unknown>, maxBytes = Infinity): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    chunks.push(b);
    size += b.length;
    if (size > maxBytes) break;
  }
  const all = Buffer.concat(chunks);
  return (size > maxBytes ? all.subarray(0, maxBytes) : all).toString('utf8');
}
