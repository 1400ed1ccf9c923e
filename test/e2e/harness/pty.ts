/**
 * Runs a command on a real pseudo-terminal, for tests of terminal sessions: python3's pty module
 * forks it with a pty as its stdio and controlling terminal (of the given size) and relays. The
 * test types with `write`, resizes the window with `resize` (TIOCSWINSZ on the master: the
 * command gets SIGWINCH, as from a terminal emulator), waits for output with `expect`, and gets
 * the command's exit code from `exited`. `kill` ends it (closing the pty hangs it up).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

const HOST = String.raw`
import base64, fcntl, json, os, pty, select, struct, sys, termios
rows, cols, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(argv[0], argv)
buf, stdin_open = b'', True
while True:
    r, _, _ = select.select([fd, 0] if stdin_open else [fd], [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        d = os.read(0, 65536)
        if not d:
            stdin_open = False
        buf += d
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            m = json.loads(line)
            if m['t'] == 'i':
                os.write(fd, base64.b64decode(m['d']))
            else:
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', m['rows'], m['cols'], 0, 0))
_, st = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(st)
sys.exit(code if code >= 0 else 128 - code)
`;

export function ptyAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import pty, termios, fcntl'], { stdio: 'ignore' }).status === 0;
}

export interface PtyProcess {
  /** Everything the command wrote to its terminal so far. */
  output(): string;
  /** Types `text` (bytes as given: '\r' is Enter, '\x03' Ctrl-C). */
  write(text: string): void;
  resize(rows: number, cols: number): void;
  /** Waits until the output after `from` (an offset into output()) matches; the match, its `index` an offset into output(). */
  match(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<RegExpExecArray>;
  /** As match; the offset just past the match. */
  expect(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<number>;
  /** The command's exit code (128+n when killed by signal n). */
  exited: Promise<number>;
  kill(): void;
}

export function spawnInPty(argv: string[], opts: { rows: number; cols: number; env?: NodeJS.ProcessEnv }): PtyProcess {
  const child: ChildProcess = spawn('python3', ['-c', HOST, String(opts.rows), String(opts.cols), ...argv], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { TERM: 'xterm', ...(opts.env ?? process.env) },
  });
  let out = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    for (const w of waiters) w();
  });
  const exited = new Promise<number>((resolve) => child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + 9 : 255))));
  const send = (m: object): void => {
    if (child.stdin && !child.stdin.destroyed) child.stdin.write(JSON.stringify(m) + '\n');
  };
  const match = (re: RegExp, o: { from?: number; timeoutMs?: number } = {}): Promise<RegExpExecArray> =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const from = o.from ?? 0;
      const check = (): void => {
        const m = re.exec(out.slice(from));
        if (!m) return;
        done();
        m.index += from;
        resolve(m);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${String(re)}; the terminal shows after offset ${from}: ${JSON.stringify(out.slice(from).slice(-2000))}`));
      }, o.timeoutMs ?? 15_000);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    output: () => out,
    write: (text) => send({ t: 'i', d: Buffer.from(text, 'utf8').toString('base64') }),
    resize: (rows, cols) => send({ t: 'r', rows, cols }),
    match,
    expect: async (re, o = {}) => {
      const m = await match(re, o);
      return m.index + m[0].length;
    },
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
