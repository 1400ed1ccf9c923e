// shoalctl entry point: builds the command context from the real process and runs the program.
import { homedir } from 'node:os';
import { CommanderError } from 'commander';
import { buildProgram, printError, type CtlContext } from '../../pkg/ctl/index.js';

const ac = new AbortController();
let exitCode = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    exitCode = 130;
    ac.abort();
  });
}

const ctx: CtlContext = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  home: process.env['HOME'] ?? homedir(),
  cwd: process.cwd(),
  signal: ac.signal,
  setExitCode: (c) => {
    exitCode = c;
  },
};

// A terminal session restores the terminal itself; this covers a crash in the middle of one.
process.once('exit', () => {
  try {
    if (process.stdin.isTTY && process.stdin.isRaw) process.stdin.setRawMode(false);
  } catch {
    // stdin already closed: nothing left to restore through it
  }
});

try {
  await buildProgram(ctx).parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    exitCode = err.exitCode;
  } else {
    printError(process.stderr, err);
    exitCode = exitCode || 1;
  }
}
process.exitCode = exitCode;
