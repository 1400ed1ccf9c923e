/**
 * Attaching to terminal containers, for the manager: a running one at once; a created one when
 * it next starts (`run -t`, as Docker's attach-then-start). A waiter registered on a created
 * container is connected to the monitor's attach socket while the start is between `created`
 * and `go` (the process has not run yet, so nothing it writes is missed), and gets its session
 * once the start is recorded: the attachment and the exit of that run. A failed start rejects
 * it. The waiters live on the container's Entry.
 */
import { ShoalError, toShoalError, type TerminalSize } from '../../api/index.js';
import type { TerminalAttachment } from '../helper/driver.js';
import { isLive, type Entry } from './entry.js';

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

type Connect = () => Promise<TerminalAttachment>;

/** The exit of the container's current run. */
export function exitOf(e: Entry): Promise<ExitInfo> {
  return e.exited.then(() => ({ StatusCode: e.state.ExitCode, OOMKilled: e.state.OOMKilled }));
}

/** FailedPrecondition unless the container has a terminal (and, with `running`, runs). */
export function checkTerminal(e: Entry, o: { running?: boolean } = {}): void {
  const name = e.spec.Name.slice(1);
  if (!e.spec.Config.Tty) throw new ShoalError('FailedPrecondition', `container ${name} has no terminal (it was not created with tty)`);
  if (o.running && !isLive(e.state)) throw new ShoalError('FailedPrecondition', `container ${name} is not running`);
}

/**
 * A session with the container's terminal: at once when it runs, at its next start when it is
 * created. Anything else throws FailedPrecondition at the call (not through the promise), so a
 * caller can refuse before it answers.
 */
export function attachEntry(e: Entry, connect: Connect, signal?: AbortSignal): Promise<TerminalSession> {
  checkTerminal(e);
  if (isLive(e.state)) return liveSession(e, connect);
  if (e.state.Status !== 'created') throw new ShoalError('FailedPrecondition', `container ${e.spec.Name.slice(1)} is not running`);
  return waitForStart(e.terminalWaiters, signal);
}

async function liveSession(e: Entry, connect: Connect): Promise<TerminalSession> {
  const exit = exitOf(e);
  return { terminal: await connect(), exit };
}

/** During a start (onCreated): takes the container's waiters and connects them. */
export async function connectForStart(e: Entry, connect: Connect): Promise<TerminalWaiter[]> {
  const waiters = e.terminalWaiters.splice(0);
  if (waiters.length > 0) await connectWaiters(waiters, connect);
  return waiters;
}

/** After a recorded start: the waiters get their sessions; those that came during the start are attached now. */
export function startedForWaiters(e: Entry, waiters: TerminalWaiter[], connect: Connect): void {
  settleWaiters(waiters, { exit: exitOf(e) });
  for (const w of e.terminalWaiters.splice(0)) liveSession(e, connect).then(w.resolve, w.reject);
}

/** A failed start: the waiters it took, and those still waiting, get its error. */
export function startFailedForWaiters(e: Entry, waiters: TerminalWaiter[], err: unknown): void {
  settleWaiters([...waiters, ...e.terminalWaiters.splice(0)], { error: err });
}

/** The container is going away: nobody waits for its start any more. */
export function dropWaiters(e: Entry, err: unknown): void {
  settleWaiters(e.terminalWaiters.splice(0), { error: err });
}

/** Sets the window size of a running terminal container. */
export async function resizeEntry(e: Entry, resize: (size: TerminalSize) => Promise<void>, size: TerminalSize): Promise<void> {
  checkTerminal(e, { running: true });
  await resize(size);
}

/** Waits in `waiters` for the container's next start; the client leaving (`signal`) withdraws it. */
function waitForStart(waiters: TerminalWaiter[], signal?: AbortSignal): Promise<TerminalSession> {
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

/** Connects each waiter; one that cannot connect is rejected and dropped. */
async function connectWaiters(waiters: TerminalWaiter[], connect: () => Promise<TerminalAttachment>): Promise<void> {
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
function settleWaiters(waiters: TerminalWaiter[], outcome: { exit: Promise<ExitInfo> } | { error: unknown }): void {
  for (const w of waiters.splice(0)) {
    if ('error' in outcome || !w.terminal) {
      w.terminal?.close();
      w.reject('error' in outcome ? outcome.error : new ShoalError('FailedPrecondition', 'container is not running'));
    } else {
      w.resolve({ terminal: w.terminal, exit: outcome.exit });
    }
  }
}
