/**
 * Attaching to a terminal container before it starts (`run -t`, as Docker's attach-then-start):
 * a waiter registered on a created container is connected to the monitor's attach socket while
 * the start is between `created` and `go` (the process has not run yet, so nothing it writes is
 * missed), and gets its session once the start is recorded: the attachment and the exit of that
 * run. A failed start rejects it. The manager keeps the waiters on the container's Entry.
 */
import { ShoalError, toShoalError } from '../../api/index.js';
import type { TerminalAttachment } from '../helper/driver.js';

export interface ExitInfo {
  StatusCode: number;
  OOMKilled: boolean;
}

export interface TerminalSession {
  terminal: TerminalAttachment;
  /** The exit of the run attached to. */
  exit: Promise<ExitInfo>;
}

export interface TerminalWaiter {
  resolve(s: TerminalSession): void;
  reject(err: unknown): void;
  /** Connected during the start, before the process ran. */
  terminal?: TerminalAttachment;
}

/** Waits in `waiters` for the container's next start; the client leaving (`signal`) withdraws it. */
export function waitForStart(waiters: TerminalWaiter[], signal?: AbortSignal): Promise<TerminalSession> {
  return new Promise<TerminalSession>((resolve, reject) => {
    const onAbort = (): void => {
      const i = waiters.indexOf(w);
      if (i >= 0) waiters.splice(i, 1);
      w.terminal?.close();
      reject(new ShoalError('Canceled', 'attach canceled'));
    };
    const w: TerminalWaiter = {
      resolve: (s) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      },
      reject: (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(toShoalError(err));
      },
    };
    if (signal?.aborted) return reject(new ShoalError('Canceled', 'attach canceled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    waiters.push(w);
  });
}

/** During the start (onCreated): connects each waiter; one that cannot connect is rejected and dropped. */
export async function connectWaiters(waiters: TerminalWaiter[], connect: () => Promise<TerminalAttachment>): Promise<void> {
  for (const w of [...waiters]) {
    try {
      w.terminal = await connect();
    } catch (err) {
      waiters.splice(waiters.indexOf(w), 1);
      w.reject(err);
    }
  }
}

/** After the start: each connected waiter gets its session, or everyone the start's error. */
export function settleWaiters(waiters: TerminalWaiter[], outcome: { exit: Promise<ExitInfo> } | { error: unknown }): void {
  for (const w of waiters.splice(0)) {
    if ('error' in outcome || !w.terminal) {
      w.terminal?.close();
      w.reject('error' in outcome ? outcome.error : new ShoalError('FailedPrecondition', 'container is not running'));
    } else {
      w.resolve({ terminal: w.terminal, exit: outcome.exit });
    }
  }
}
