/**
 * bench/fuzz: the fuzzers of test/fuzz at scale. For each target (the controller API on a
 * MemoryStore, the engine API on the fake driver) it sends `--cases` requests made by
 * fast-check from `--seed` and prints the figures: cases, time, the HTTP status histogram,
 * the request generators, and every failure with the seed and path that replay it. A failure
 * is a broken rule of test/fuzz/check.ts (a 5xx, an error that is not a V1Status, a 422 cause
 * without a field, a rejection that changed the store, no answer) or an unhandled rejection or
 * uncaught exception in the process. Exit status 1 when there was any.
 *
 *   bench/fuzz [--cases N] [--seed S] [--target controller|engine|all] [--path P]
 *
 * --cases: per target (default 100000). --seed: default random (printed). --path: replay one
 * case of --target (fast-check's path, as printed with a failure) and print it in full.
 */
import { runControllerFuzz } from '../test/fuzz/controller-fuzz.js';
import { runEngineFuzz } from '../test/fuzz/engine-fuzz.js';
import type { FuzzReport, RunOptions } from '../test/fuzz/run.js';

interface Args {
  cases: number;
  seed: number;
  target: 'controller' | 'engine' | 'all';
  path?: string;
}

function usage(msg: string): never {
  process.stderr.write(`bench/fuzz: ${msg}\nusage: bench/fuzz [--cases N] [--seed S] [--target controller|engine|all] [--path P]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { cases: 100_000, seed: (Date.now() ^ (process.pid << 16)) >>> 1, target: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    i++;
    if (flag === '--cases') {
      a.cases = Number(value);
      if (!Number.isInteger(a.cases) || a.cases < 1) usage(`--cases must be a whole number >= 1, got ${value}`);
    } else if (flag === '--seed') {
      a.seed = Number(value);
      if (!Number.isInteger(a.seed)) usage(`--seed must be an integer, got ${value}`);
    } else if (flag === '--target') {
      if (value !== 'controller' && value !== 'engine' && value !== 'all') usage(`--target must be controller, engine or all, got ${value}`);
      a.target = value;
    } else if (flag === '--path') {
      if (!/^\d+(:\d+)*$/.test(value)) usage(`--path must look like 123 or 123:4:5, got ${value}`);
      a.path = value;
    } else usage(`unknown flag ${flag}`);
  }
  if (a.path !== undefined && a.target === 'all') usage('--path replays a case of one --target (controller or engine)');
  return a;
}

const unhandled = { rejections: [] as string[], exceptions: [] as string[] };
process.on('unhandledRejection', (err) => unhandled.rejections.push(String((err as Error)?.stack ?? err)));
process.on('uncaughtException', (err) => unhandled.exceptions.push(String(err?.stack ?? err)));

const pct = (n: number, of: number): string => `${((100 * n) / of).toFixed(1)}%`;

function print(title: string, r: FuzzReport, args: Args, target: string): void {
  const s = r.ms / 1000;
  console.log(`\n${title}`);
  console.log(`  cases        ${r.cases} in ${s.toFixed(1)} s (${Math.round(r.cases / s)} cases/s)`);
  const statuses = [...r.statuses].sort((a, b) => a[0] - b[0]).map(([k, n]) => `${k === 0 ? 'none' : k} ${n} (${pct(n, r.cases)})`);
  console.log(`  statuses     ${statuses.join('  ')}`);
  const gens = [...r.generators].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
  console.log(`  generators   ${gens.join(', ')}`);
  console.log(`  failures     ${r.failures.length}`);
  const seen = new Set<string>();
  for (const f of r.failures) {
    const kind = f.failure.replace(/\d+/g, 'N').slice(0, 80);
    if (seen.size >= 20) break;
    if (seen.has(kind)) continue;
    seen.add(kind);
    console.log(`    - ${f.failure}\n      replay: bench/fuzz --target ${target} --seed ${f.seed} --path ${f.path}\n      ${f.request}\n      -> ${f.status} ${f.body.slice(0, 300)}`);
  }
  if (r.failures.length > seen.size) console.log(`    (${r.failures.length - seen.size} more of the same kinds)`);
}

const args = parseArgs(process.argv.slice(2));
const replay = args.path !== undefined;
if (!replay) {
  console.log(`bench/fuzz: ${args.cases} cases per target, seed ${args.seed}`);
  console.log(`  (a failure prints its replay: bench/fuzz --target T --seed S --path P)`);
}

const TARGETS: { name: 'controller' | 'engine'; title: string; run: (o: RunOptions) => Promise<FuzzReport> }[] = [
  { name: 'controller', title: 'controller API (buildApiServer on a MemoryStore, app.inject)', run: runControllerFuzz },
  { name: 'engine', title: 'engine API (buildEngineApp: real image service, container manager on the fake driver, app.inject)', run: runEngineFuzz },
];

let failed = 0;
for (const t of TARGETS) {
  if (args.target !== 'all' && args.target !== t.name) continue;
  const progress = process.stderr.isTTY && !replay;
  const r = await t.run({
    seed: args.seed,
    cases: args.cases,
    ...(replay ? { path: args.path } : {}),
    onCase: (i, req, answer) => {
      if (replay) {
        console.log(`case ${i} (seed ${args.seed}, target ${t.name})`);
        console.log(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, payload: req.payload }, null, 2));
        console.log(`-> ${answer.status}${answer.failure ? ` FAILURE: ${answer.failure}` : ''}\n${answer.body}`);
      } else if (progress && (i + 1) % 5000 === 0) {
        process.stderr.write(`\r  ${t.name}: ${i + 1}/${args.cases}`);
      }
    },
  });
  if (progress) process.stderr.write('\r\x1b[K');
  if (!replay) print(t.title, r, args, t.name);
  failed += r.failures.length;
}

if (!replay) console.log(`\nunhandled rejections ${unhandled.rejections.length}, uncaught exceptions ${unhandled.exceptions.length}`);
for (const e of [...unhandled.rejections, ...unhandled.exceptions].slice(0, 5)) console.log(`  ${e.split('\n').slice(0, 4).join('\n  ')}`);
process.exit(failed > 0 || unhandled.rejections.length > 0 || unhandled.exceptions.length > 0 ? 1 : 0);
