/*
 * The default seccomp filter: Docker's default profile (moby/profiles, seccomp v0.2.3) as an
 * allow-list. Contract:
 *   - another architecture, or an x32 syscall on x86_64: the process is killed;
 *   - a syscall in the lists below: allowed (the capability groups only when the container's
 *     capability set has that capability, as Docker does with the bounding set);
 *   - clone with a namespace flag (without CAP_SYS_ADMIN), personality outside Docker's five
 *     values, socket of family AF_ALG or AF_VSOCK, and every other syscall number, including
 *     whatever a future kernel adds: ERRNO(EPERM);
 *   - clone3 without CAP_SYS_ADMIN: ERRNO(ENOSYS), so libcs fall back to clone, whose flags
 *     the filter can read.
 * Layout (docs/runtime-helper.md, "Seccomp"): an action per syscall number is filled in a
 * table, runs of equal actions become intervals, and the intervals are searched with a
 * balanced tree of unsigned comparisons, so any syscall costs about log2(intervals) jumps.
 */
#include "runtime.h"

#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture for the seccomp filter"
#endif

/* Syscalls newer than the headers of older build hosts. From 424 on, every architecture uses
 * the same numbers. */
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_map_shadow_stack
#define SYS_map_shadow_stack 453
#endif
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#endif
#ifndef SYS_futex_wait
#define SYS_futex_wait 455
#endif
#ifndef SYS_futex_requeue
#define SYS_futex_requeue 456
#endif
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif
#ifndef SYS_lsm_get_self_attr
#define SYS_lsm_get_self_attr 459
#endif
#ifndef SYS_lsm_set_self_attr
#define SYS_lsm_set_self_attr 460
#endif
#ifndef SYS_lsm_list_modules
#define SYS_lsm_list_modules 461
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif
#if defined(__x86_64__) && !defined(SYS_uretprobe)
#define SYS_uretprobe 335
#endif

/* Every number in the lists is below this; the table is indexed by it. */
#define NR_TABLE 512

/* Docker's unconditional list, the part both x86_64 and arm64 have (32-bit-only names such
 * as fstat64 or socketcall do not exist on either), plus ptrace and process_vm_readv/writev,
 * which Docker allows on kernels >= 4.8 (this helper needs 5.6 for openat2). */
static const unsigned short always[] = {
    SYS_accept, SYS_accept4, SYS_adjtimex, SYS_bind, SYS_brk, SYS_cachestat, SYS_capget, SYS_capset,
    SYS_chdir, SYS_clock_adjtime, SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep, SYS_close,
    SYS_close_range, SYS_connect, SYS_copy_file_range, SYS_dup, SYS_dup3, SYS_epoll_create1, SYS_epoll_ctl,
    SYS_epoll_pwait, SYS_epoll_pwait2, SYS_eventfd2, SYS_execve, SYS_execveat, SYS_exit, SYS_exit_group,
    SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate, SYS_fanotify_mark, SYS_fchdir, SYS_fchmod,
    SYS_fchmodat, SYS_fchmodat2, SYS_fchown, SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr,
    SYS_flistxattr, SYS_flock, SYS_fremovexattr, SYS_fsetxattr, SYS_fstat, SYS_fstatfs, SYS_fsync,
    SYS_ftruncate, SYS_futex, SYS_futex_requeue, SYS_futex_wait, SYS_futex_waitv, SYS_futex_wake,
    SYS_getcpu, SYS_getcwd, SYS_getdents64, SYS_getegid, SYS_geteuid, SYS_getgid, SYS_getgroups,
    SYS_getitimer, SYS_getpeername, SYS_getpgid, SYS_getpid, SYS_getppid, SYS_getpriority, SYS_getrandom,
    SYS_getresgid, SYS_getresuid, SYS_getrlimit, SYS_get_robust_list, SYS_getrusage, SYS_getsid,
    SYS_getsockname, SYS_getsockopt, SYS_gettid, SYS_gettimeofday, SYS_getuid, SYS_getxattr, SYS_getxattrat,
    SYS_inotify_add_watch, SYS_inotify_init1, SYS_inotify_rm_watch, SYS_io_cancel, SYS_ioctl,
    SYS_io_destroy, SYS_io_getevents, SYS_io_pgetevents, SYS_ioprio_get, SYS_ioprio_set, SYS_io_setup,
    SYS_io_submit, SYS_kill, SYS_landlock_add_rule, SYS_landlock_create_ruleset, SYS_landlock_restrict_self,
    SYS_lgetxattr, SYS_linkat, SYS_listen, SYS_listmount, SYS_listxattr, SYS_listxattrat, SYS_llistxattr,
    SYS_lremovexattr, SYS_lseek, SYS_lsetxattr, SYS_madvise, SYS_map_shadow_stack, SYS_membarrier,
    SYS_memfd_create, SYS_memfd_secret, SYS_mincore, SYS_mkdirat, SYS_mknodat, SYS_mlock, SYS_mlock2,
    SYS_mlockall, SYS_mmap, SYS_mprotect, SYS_mq_getsetattr, SYS_mq_notify, SYS_mq_open,
    SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink, SYS_mremap, SYS_mseal, SYS_msgctl, SYS_msgget,
    SYS_msgrcv, SYS_msgsnd, SYS_msync, SYS_munlock, SYS_munlockall, SYS_munmap, SYS_name_to_handle_at,
    SYS_nanosleep, SYS_newfstatat, SYS_openat, SYS_openat2, SYS_pidfd_open, SYS_pidfd_send_signal,
    SYS_pipe2, SYS_pkey_alloc, SYS_pkey_free, SYS_pkey_mprotect, SYS_ppoll, SYS_prctl, SYS_pread64,
    SYS_preadv, SYS_preadv2, SYS_prlimit64, SYS_process_mrelease, SYS_process_vm_readv,
    SYS_process_vm_writev, SYS_pselect6, SYS_ptrace, SYS_pwrite64, SYS_pwritev, SYS_pwritev2, SYS_read,
    SYS_readahead, SYS_readlinkat, SYS_readv, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages,
    SYS_removexattr, SYS_removexattrat, SYS_renameat, SYS_renameat2, SYS_restart_syscall, SYS_rseq,
    SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigprocmask, SYS_rt_sigqueueinfo, SYS_rt_sigreturn,
    SYS_rt_sigsuspend, SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo, SYS_sched_getaffinity,
    SYS_sched_getattr, SYS_sched_getparam, SYS_sched_get_priority_max, SYS_sched_get_priority_min,
    SYS_sched_getscheduler, SYS_sched_rr_get_interval, SYS_sched_setaffinity, SYS_sched_setattr,
    SYS_sched_setparam, SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_semctl, SYS_semget,
    SYS_semop, SYS_semtimedop, SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto, SYS_setfsgid,
    SYS_setfsuid, SYS_setgid, SYS_setgroups, SYS_setitimer, SYS_setpgid, SYS_setpriority, SYS_setregid,
    SYS_setresgid, SYS_setresuid, SYS_setreuid, SYS_setrlimit, SYS_set_robust_list, SYS_setsid,
    SYS_setsockopt, SYS_set_tid_address, SYS_setuid, SYS_setxattr, SYS_setxattrat, SYS_shmat, SYS_shmctl,
    SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack, SYS_signalfd4, SYS_socketpair, SYS_splice,
    SYS_statfs, SYS_statmount, SYS_statx, SYS_symlinkat, SYS_sync, SYS_sync_file_range, SYS_syncfs,
    SYS_sysinfo, SYS_tee, SYS_tgkill, SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun,
    SYS_timer_gettime, SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime,
    SYS_times, SYS_tkill, SYS_truncate, SYS_umask, SYS_uname, SYS_unlinkat, SYS_utimensat, SYS_vmsplice,
    SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
};

#if defined(__x86_64__)
/* The rest of Docker's list that exists on x86_64 only (the pre-*at calls and friends), and
 * its amd64 entries arch_prctl and modify_ldt. */
static const unsigned short always_x86_64[] = {
    SYS_access, SYS_alarm, SYS_arch_prctl, SYS_chmod, SYS_chown, SYS_creat, SYS_dup2, SYS_epoll_create,
    SYS_epoll_ctl_old, SYS_epoll_wait, SYS_epoll_wait_old, SYS_eventfd, SYS_fork, SYS_futimesat,
    SYS_getdents, SYS_getpgrp, SYS_get_thread_area, SYS_inotify_init, SYS_lchown, SYS_link, SYS_lstat,
    SYS_mkdir, SYS_mknod, SYS_modify_ldt, SYS_open, SYS_pause, SYS_pipe, SYS_poll, SYS_readlink, SYS_rename,
    SYS_rmdir, SYS_select, SYS_set_thread_area, SYS_signalfd, SYS_stat, SYS_symlink, SYS_time, SYS_unlink,
    SYS_uretprobe, SYS_utime, SYS_utimes, SYS_vfork,
};
#endif

/* Docker's groups that a capability in the container's set turns on. */
static const unsigned short with_dac_read_search[] = {SYS_open_by_handle_at};
static const unsigned short with_sys_admin[] = {
    SYS_bpf, SYS_clone, SYS_clone3, SYS_fanotify_init, SYS_fsconfig, SYS_fsmount, SYS_fsopen, SYS_fspick,
#ifdef SYS_lookup_dcookie /* gone from the headers of kernels that removed it (6.10) */
    SYS_lookup_dcookie,
#endif
    SYS_lsm_get_self_attr, SYS_lsm_list_modules, SYS_lsm_set_self_attr, SYS_mount, SYS_mount_setattr,
    SYS_move_mount, SYS_open_tree, SYS_perf_event_open, SYS_quotactl, SYS_quotactl_fd, SYS_setdomainname,
    SYS_sethostname, SYS_setns, SYS_syslog, SYS_umount2, SYS_unshare,
};
static const unsigned short with_sys_boot[] = {SYS_reboot};
static const unsigned short with_sys_chroot[] = {SYS_chroot};
static const unsigned short with_sys_module[] = {SYS_delete_module, SYS_init_module, SYS_finit_module};
static const unsigned short with_sys_pacct[] = {SYS_acct};
static const unsigned short with_sys_ptrace[] = {SYS_kcmp, SYS_pidfd_getfd, SYS_process_madvise};
#if defined(__x86_64__)
static const unsigned short with_sys_rawio[] = {SYS_iopl, SYS_ioperm};
#endif
static const unsigned short with_sys_time[] = {SYS_settimeofday, SYS_clock_settime};
static const unsigned short with_sys_tty_config[] = {SYS_vhangup};
static const unsigned short with_sys_nice[] = {SYS_get_mempolicy, SYS_mbind, SYS_set_mempolicy,
                                               SYS_set_mempolicy_home_node};
static const unsigned short with_syslog[] = {SYS_syslog};
static const unsigned short with_bpf[] = {SYS_bpf};
static const unsigned short with_perfmon[] = {SYS_perf_event_open};

struct group {
  int cap; /* -1: always */
  const unsigned short *nr;
  unsigned n;
};
#define GROUP(cap, list) {(cap), (list), sizeof(list) / sizeof((list)[0])}

static const struct group groups[] = {
    GROUP(-1, always),
#if defined(__x86_64__)
    GROUP(-1, always_x86_64),
    GROUP(CAP_SYS_RAWIO, with_sys_rawio),
#endif
    GROUP(CAP_DAC_READ_SEARCH, with_dac_read_search),
    GROUP(CAP_SYS_ADMIN, with_sys_admin),
    GROUP(CAP_SYS_BOOT, with_sys_boot),
    GROUP(CAP_SYS_CHROOT, with_sys_chroot),
    GROUP(CAP_SYS_MODULE, with_sys_module),
    GROUP(CAP_SYS_PACCT, with_sys_pacct),
    GROUP(CAP_SYS_PTRACE, with_sys_ptrace),
    GROUP(CAP_SYS_TIME, with_sys_time),
    GROUP(CAP_SYS_TTY_CONFIG, with_sys_tty_config),
    GROUP(CAP_SYS_NICE, with_sys_nice),
    GROUP(CAP_SYSLOG, with_syslog),
    GROUP(CAP_BPF, with_bpf),
    GROUP(CAP_PERFMON, with_perfmon),
};

/* What a syscall number gets. The last four look at argument 0 (or answer ENOSYS). */
enum action { DENY, ALLOW, CLONE_NO_NS, CLONE3_ENOSYS, SOCKET_FAMILY, PERSONALITY };

/* Namespace flags of clone (Docker's mask 0x7E020000). */
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
/* socket families Docker refuses: AF_ALG and AF_VSOCK (39, between them, is AF_NFC: allowed). */
#define AF_ALG_NR 38
#define AF_VSOCK_NR 40
/* Personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26 of each, and the query. */
static const unsigned personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffffu};
#define NPERS (sizeof personas / sizeof personas[0])

#define X32_BIT 0x40000000u
/* BPF_MAXINSNS; the x86_64 filter with every capability is well under 400. */
#define MAX_INSNS 4096

/* The low 32 bits of argument n: socket's family, personality and clone's flags are ints to
 * the kernel, which ignores the high half, so comparing it would be wrong (a caller could set
 * it to slip past a 64-bit comparison). */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]))
#else
#define ARG_LO(n) (offsetof(struct seccomp_data, args[n]) + 4)
#endif

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

struct prog {
  struct sock_filter f[MAX_INSNS];
  unsigned n;
  int overflow;
};

static void put(struct prog *p, struct sock_filter ins) {
  if (p->n >= MAX_INSNS) {
    p->overflow = 1;
    return;
  }
  p->f[p->n++] = ins;
}

static void stmt(struct prog *p, unsigned short code, unsigned k) { put(p, (struct sock_filter)BPF_STMT(code, k)); }

static void jump(struct prog *p, unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  put(p, (struct sock_filter)BPF_JUMP(code, k, jt, jf));
}

/* One interval's verdict; the accumulator holds the syscall number on entry. */
static void emit_leaf(struct prog *p, enum action a) {
  switch (a) {
  case DENY: stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM)); return;
  case ALLOW: stmt(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW); return;
  case CLONE3_ENOSYS: stmt(p, BPF_RET | BPF_K, RET_ERRNO(ENOSYS)); return;
  case CLONE_NO_NS:
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    jump(p, BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    stmt(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return;
  case SOCKET_FAMILY: /* allow < 38, 39, > 40 */
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    jump(p, BPF_JMP | BPF_JGT | BPF_K, AF_VSOCK_NR, 3, 0);
    jump(p, BPF_JMP | BPF_JEQ | BPF_K, AF_ALG_NR + 1, 2, 0);
    jump(p, BPF_JMP | BPF_JGE | BPF_K, AF_ALG_NR, 0, 1);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    stmt(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return;
  case PERSONALITY:
    stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
    for (unsigned i = 0; i < NPERS; i++) jump(p, BPF_JMP | BPF_JEQ | BPF_K, personas[i], (unsigned char)(NPERS - i), 0);
    stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
    stmt(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return;
  }
}

struct interval {
  unsigned lo; /* up to the next interval's lo; the last one is open-ended */
  unsigned char action;
};

/*
 * Intervals [a, b) as a balanced search tree: "nr >= lo of the middle one? right half : left
 * half". The left half follows the comparison (jf = 0); jt skips over it, through a BPF_JA
 * when it is longer than the 255 instructions a conditional jump can skip.
 */
static void emit_tree(struct prog *p, const struct interval *iv, unsigned a, unsigned b) {
  if (b - a == 1) {
    emit_leaf(p, (enum action)iv[a].action);
    return;
  }
  unsigned mid = a + (b - a) / 2;
  unsigned node = p->n;
  jump(p, BPF_JMP | BPF_JGE | BPF_K, iv[mid].lo, 0, 0);
  unsigned left = p->n;
  emit_tree(p, iv, a, mid);
  if (p->overflow) return;
  unsigned len = p->n - left;
  if (len <= 255) {
    p->f[node].jt = (unsigned char)len;
  } else {
    put(p, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0)); /* room for the trampoline */
    if (p->overflow) return;
    memmove(&p->f[left + 1], &p->f[left], len * sizeof p->f[0]);
    p->f[left] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, len);
    p->f[node].jf = 1;
  }
  emit_tree(p, iv, mid, b);
}

/* Builds the filter for a container whose capability set is `caps` (bit n = capability n).
 * Returns 0, or -1 with errno EINVAL if a list names a number past NR_TABLE or the program
 * does not fit. */
static int build_filter(unsigned long long caps, struct prog *p) {
  unsigned char act[NR_TABLE];
  memset(act, DENY, sizeof act);
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    if (groups[g].cap >= 0 && !(caps & (1ULL << groups[g].cap))) continue;
    for (unsigned i = 0; i < groups[g].n; i++) {
      if (groups[g].nr[i] >= NR_TABLE) {
        errno = EINVAL;
        return -1;
      }
      act[groups[g].nr[i]] = ALLOW;
    }
  }
  act[SYS_socket] = SOCKET_FAMILY;
  act[SYS_personality] = PERSONALITY;
  if (!(caps & (1ULL << CAP_SYS_ADMIN))) {
    act[SYS_clone] = CLONE_NO_NS;
    act[SYS_clone3] = CLONE3_ENOSYS;
  }

  struct interval iv[NR_TABLE + 1];
  unsigned niv = 0;
  for (unsigned nr = 0; nr < NR_TABLE; nr++)
    if (niv == 0 || iv[niv - 1].action != act[nr]) iv[niv++] = (struct interval){nr, act[nr]};
  if (iv[niv - 1].action != DENY) iv[niv++] = (struct interval){NR_TABLE, DENY};

  p->n = 0;
  p->overflow = 0;
  stmt(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, SHOAL_AUDIT_ARCH, 1, 0);
  stmt(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  /* x32 numbers carry bit 30; -1 (no syscall, e.g. a tracer's skip) is not x32. */
  jump(p, BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 3);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 1, 0);
  stmt(p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  stmt(p, BPF_RET | BPF_K, RET_ERRNO(EPERM));
#endif
  emit_tree(p, iv, 0, niv);
  if (p->overflow) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

int install_seccomp(unsigned long long caps) {
  static struct prog p; /* 32 KiB: off the stack; each process builds its own once */
  if (build_filter(caps, &p) < 0) return -1;
  struct sock_fprog prog = {.len = (unsigned short)p.n, .filter = p.f};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
