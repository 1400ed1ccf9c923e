/*
 * The default seccomp filter: a deny list covering what Docker's default profile refuses to a
 * container without CAP_SYS_ADMIN and friends. Other architectures (and x32) are killed,
 * namespace-creating clone flags and unknown personalities get EPERM, clone3 gets ENOSYS so
 * libcs fall back to clone, where the flags can be inspected.
 */
#include "runtime.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SHOAL_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "unsupported architecture for the seccomp filter"
#endif

#define X32_BIT 0x40000000u
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

static const int denied[] = {
    SYS_keyctl, SYS_add_key, SYS_request_key, SYS_kexec_load, SYS_kexec_file_load, SYS_init_module,
    SYS_finit_module, SYS_delete_module, SYS_mount, SYS_umount2, SYS_pivot_root, SYS_unshare, SYS_setns,
    SYS_bpf, SYS_userfaultfd, SYS_perf_event_open, SYS_io_uring_setup, SYS_io_uring_enter,
    SYS_io_uring_register, SYS_acct, SYS_swapon, SYS_swapoff, SYS_reboot, SYS_settimeofday,
    SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex, SYS_open_by_handle_at, SYS_name_to_handle_at,
    SYS_lookup_dcookie, SYS_quotactl, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount,
    SYS_open_tree, SYS_mount_setattr, SYS_syslog, SYS_kcmp, SYS_process_vm_readv, SYS_process_vm_writev,
    SYS_get_mempolicy, SYS_set_mempolicy, SYS_mbind, SYS_move_pages, SYS_vhangup, SYS_nfsservctl,
#ifdef SYS_quotactl_fd
    SYS_quotactl_fd,
#endif
#ifdef SYS_uselib
    SYS_uselib,
#endif
#ifdef SYS_ustat
    SYS_ustat,
#endif
#ifdef SYS_sysfs
    SYS_sysfs,
#endif
#ifdef SYS__sysctl
    SYS__sysctl,
#endif
#ifdef SYS_iopl
    SYS_iopl,
#endif
#ifdef SYS_ioperm
    SYS_ioperm,
#endif
#ifdef SYS_create_module
    SYS_create_module,
#endif
#ifdef SYS_get_kernel_syms
    SYS_get_kernel_syms,
#endif
#ifdef SYS_query_module
    SYS_query_module,
#endif
#ifdef SYS_vm86
    SYS_vm86,
#endif
#ifdef SYS_vm86old
    SYS_vm86old,
#endif
};

/* Personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26 variants, and the query. */
static const unsigned personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffffu};

#define NDENIED (sizeof denied / sizeof denied[0])
#define NPERS (sizeof personas / sizeof personas[0])
#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG0 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

int install_seccomp(void) {
  struct sock_filter f[16 + 2 * NDENIED + 8 + NPERS + 8];
  unsigned n = 0;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SHOAL_AUDIT_ARCH, 1, 0);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
  f[n++] = (struct sock_filter)LD_NR;
#if defined(__x86_64__)
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
#endif
  for (unsigned i = 0; i < NDENIED; i++) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i], 0, 1);
    f[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | EPERM);
  }
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | ENOSYS);
  /* clone: the flags are argument 0 on x86_64 and arm64; the low 32 bits hold them. */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
  f[n++] = (struct sock_filter)LD_ARG0;
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | EPERM);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
  /* personality(x): only the listed x. */
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_personality, 0, (unsigned char)(NPERS + 2));
  f[n++] = (struct sock_filter)LD_ARG0;
  for (unsigned i = 0; i < NPERS; i++)
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, personas[i], (unsigned char)(NPERS - i), 0);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_ERRNO | EPERM);
  f[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}
