/** Docker's default security settings for a container. */

/** The 14 capabilities Docker grants by default (CapEff 00000000a80425fb). */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * None: containers inherit the agent's limits. (Docker asks for RLIMIT_NOFILE 1048576, which
 * fails where the agent's own hard limit is lower and CAP_SYS_RESOURCE is already dropped.)
 */
export const DEFAULT_RLIMITS: Array<{ type: string; soft: number; hard: number }> = [];

export const DEFAULT_STOP_TIMEOUT_S = 10;
export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 3;
/** Docker prints this for a container that never started or finished. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';
