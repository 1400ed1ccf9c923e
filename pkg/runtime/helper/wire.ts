/**
 * The config the driver sends to `shoal-runtime` on fd 3 and the lines the helper answers
 * with (docs/runtime-helper.md). Pure: no I/O, so the encoding is unit-tested without root.
 *
 * Framing: `<byte length>\n` then that many bytes of NUL-terminated strings, alternating key
 * and value; list fields repeat their key. Nothing a string can hold breaks the framing except
 * NUL, which is refused.
 */
import { ShoalError, type ErrorCode, type TerminalSize } from '../../api/index.js';
import type { ContainerProcess, ExecSpec, LaunchSpec } from './driver.js';
import { DEFAULT_DEVICE_RULES } from '../cgroups/devices.js';

/** Linux capability numbers (include/uapi/linux/capability.h). */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
};

/** RLIMIT_* resource numbers (asm-generic/resource.h, x86_64 and arm64). */
export const RLIMIT_NUMBERS: Readonly<Record<string, number>> = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
};

/** Bit mask of the named capabilities (as /proc/<pid>/status prints CapEff). */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(capabilityNumber(n));
  return mask;
}

export function capabilityNumber(name: string): number {
  const key = name.toUpperCase().startsWith('CAP_') ? name.toUpperCase() : `CAP_${name.toUpperCase()}`;
  const n = CAPABILITY_NUMBERS[key];
  if (n === undefined) throw new ShoalError('InvalidArgument', `unknown capability ${JSON.stringify(name)}`);
  return n;
}

export function rlimitNumber(type: string): number {
  const key = type.toUpperCase().startsWith('RLIMIT_') ? type.toUpperCase() : `RLIMIT_${type.toUpperCase()}`;
  const n = RLIMIT_NUMBERS[key];
  if (n === undefined) throw new ShoalError('InvalidArgument', `unknown rlimit ${JSON.stringify(type)}`);
  return n;
}

type Pair = [key: string, value: string];

function limitValue(v: number, what: string): string {
  if (v === -1 || v === Infinity) return '-1';
  if (!Number.isSafeInteger(v) || v < 0) throw new ShoalError('InvalidArgument', `${what}: ${v} is not a valid limit`);
  return String(v);
}

function idValue(v: number, what: string): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xfffffffe) throw new ShoalError('InvalidArgument', `${what} ${v} is not a valid id`);
  return String(v);
}

/** The fields the start config and the exec config share: the process's security settings. */
function securityPairs(spec: LaunchSpec): Pair[] {
  const out: Pair[] = [['nnp', spec.process.noNewPrivileges ? '1' : '0']];
  for (const c of spec.process.capabilities) out.push(['cap', String(capabilityNumber(c))]);
  for (const r of spec.process.rlimits) {
    out.push(['rlimit', `${rlimitNumber(r.type)} ${limitValue(r.soft, r.type)} ${limitValue(r.hard, r.type)}`]);
  }
  out.push(['seccomp', spec.seccomp === 'unconfined' ? 'unconfined' : 'default']);
  for (const f of spec.cgroupProcsFiles) out.push(['cgroup', f]);
  return out;
}

function processPairs(args: string[], env: string[], cwd: string, user: LaunchSpec['process']['user']): Pair[] {
  if (args.length === 0 || args[0] === '') throw new ShoalError('InvalidArgument', 'no command to run: args is empty');
  if (!cwd.startsWith('/')) throw new ShoalError('InvalidArgument', `working directory ${JSON.stringify(cwd)} is not absolute`);
  const out: Pair[] = [];
  for (const a of args) out.push(['arg', a]);
  for (const e of env) out.push(['env', e]);
  out.push(['cwd', cwd], ['uid', idValue(user.uid, 'uid')], ['gid', idValue(user.gid, 'gid')]);
  for (const g of user.additionalGids) out.push(['gids', idValue(g, 'gid')]);
  return out;
}

function encode(pairs: Pair[]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    if (v.includes('\0')) throw new ShoalError('InvalidArgument', `${k}: value contains a NUL byte`);
    parts.push(Buffer.from(`${k}\0${v}\0`, 'utf8'));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(`${body.length}\n`), body]);
}

/** The framed config for `shoal-runtime start`. */
export function encodeStartConfig(spec: LaunchSpec): Buffer {
  if (spec.rootfs.lowerDirs.length === 0) throw new ShoalError('InvalidArgument', 'rootfs needs at least one lower dir');
  const pairs: Pair[] = [
    ['id', spec.id],
    ['state_dir', spec.stateDir],
    ['log_path', spec.logPath],
    ['log_max_bytes', String(Math.max(0, Math.floor(spec.logMaxBytes)))],
    ['log_max_files', String(Math.max(1, Math.floor(spec.logMaxFiles)))],
  ];
  for (const l of spec.rootfs.lowerDirs) {
    if (l.includes(':') || l.includes(',')) throw new ShoalError('InvalidArgument', `layer path ${l} contains ':' or ','`);
    pairs.push(['lower', l]);
  }
  pairs.push(['upper', spec.rootfs.upperDir], ['work', spec.rootfs.workDir], ['hostname', spec.hostname]);
  pairs.push(...processPairs(spec.process.args, spec.process.env, spec.process.cwd, spec.process.user));
  pairs.push(...securityPairs(spec));
  for (const r of spec.deviceRules ?? DEFAULT_DEVICE_RULES) pairs.push(['device', r]);
  pairs.push(['open_stdin', spec.process.openStdin ? '1' : '0']);
  if (spec.process.terminal) pairs.push(...terminalPairs(spec.process.consoleSize));
  for (const m of spec.mounts) {
    if (!m.destination.startsWith('/')) throw new ShoalError('InvalidArgument', `mount destination ${m.destination} is not absolute`);
    pairs.push(['bind', `${m.readOnly ? 'r' : 'w'}${m.source}`], ['bind_dst', m.destination]);
  }
  if (spec.etcFiles.hosts) pairs.push(['etc_hosts', spec.etcFiles.hosts]);
  if (spec.etcFiles.hostname) pairs.push(['etc_hostname', spec.etcFiles.hostname]);
  if (spec.etcFiles.resolvConf) pairs.push(['etc_resolv', spec.etcFiles.resolvConf]);
  pairs.push(['network', spec.network], ['init', spec.init ? '1' : '0']);
  for (const p of spec.maskedPaths) pairs.push(['mask', p]);
  for (const p of spec.readonlyPaths) pairs.push(['ro_path', p]);
  return encode(pairs);
}

/** `tty`, and `console_size` `"<rows> <cols>"` when one is known. */
function terminalPairs(size: TerminalSize | undefined): Pair[] {
  const out: Pair[] = [['tty', '1']];
  if (size && (size.rows > 0 || size.cols > 0)) {
    if (![size.rows, size.cols].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff)) {
      throw new ShoalError('InvalidArgument', `invalid console size ${size.rows}x${size.cols}`);
    }
    out.push(['console_size', `${size.rows} ${size.cols}`]);
  }
  return out;
}

/**
 * The framed config for `shoal-runtime exec` into the container whose PID 1 is `target`: the
 * helper joins it through a pidfd only if the pid still has the recorded start time.
 */
export function encodeExecConfig(spec: LaunchSpec, target: ContainerProcess, exec: Pick<ExecSpec, 'args' | 'env' | 'cwd' | 'user' | 'tty'>): Buffer {
  const { pid, pidStartTime } = target;
  if (!Number.isInteger(pid) || pid <= 0) throw new ShoalError('InvalidArgument', `invalid container pid ${pid}`);
  if (!/^\d+$/.test(pidStartTime)) throw new ShoalError('InvalidArgument', `invalid start time ${JSON.stringify(pidStartTime)} for container pid ${pid}`);
  const pairs: Pair[] = [['id', spec.id], ['pid', String(pid)], ['pid_start', pidStartTime], ...processPairs(exec.args, exec.env, exec.cwd, exec.user), ...securityPairs(spec)];
  if (exec.tty) pairs.push(...terminalPairs(exec.tty.size));
  return encode(pairs);
}

/** The line that sets the window size of a tty exec (fd 3, after the config). */
export function resizeLine(size: TerminalSize): string {
  return `resize ${Math.max(0, Math.min(0xffff, Math.floor(size.rows)))} ${Math.max(0, Math.min(0xffff, Math.floor(size.cols)))}\n`;
}

export type HelperMessage =
  | { type: 'created'; pid: number }
  | { type: 'started'; pid: number; pidStartTime: string; monitorPid: number }
  | { type: 'error'; code: ErrorCode; message: string };

const CODES = new Set<string>(['InvalidArgument', 'NotFound', 'FailedPrecondition', 'PermissionDenied', 'Internal', 'Unavailable']);

/** Parses one line from the helper; anything unexpected is an Internal error message. */
export function parseHelperLine(line: string): HelperMessage {
  const [word, a, b, c] = line.split(' ');
  if (word === 'created' && a && /^\d+$/.test(a)) return { type: 'created', pid: Number(a) };
  if (word === 'started' && a && b && c && /^\d+$/.test(a) && /^\d+$/.test(c)) {
    return { type: 'started', pid: Number(a), pidStartTime: b, monitorPid: Number(c) };
  }
  if (word === 'error' && a) {
    const rest = line.slice('error '.length + a.length + 1);
    if (CODES.has(a)) return { type: 'error', code: a as ErrorCode, message: rest };
    return { type: 'error', code: 'Internal', message: line.slice('error '.length) };
  }
  return { type: 'error', code: 'Internal', message: `unexpected message from shoal-runtime: ${JSON.stringify(line)}` };
}
