/*
 * Device control on cgroup v2. cgroup v1 has devices.deny/devices.allow files (written by
 * pkg/runtime/cgroups/v1.ts); v2 has none: access to device nodes is decided by a
 * BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup, as runc and crun do. This file
 * compiles the container's rules (the `device` keys of the config, in devices.allow syntax:
 * "c 1:3 rwm", "b *:* m", "a") into such a program by hand (no libbpf), loads it with
 * bpf(BPF_PROG_LOAD) and attaches it (BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) to every cgroup
 * directory of the container that is on a cgroup2 filesystem. The monitor does this before
 * it writes PID 1 into the cgroup, so nothing of the container ever runs there without it;
 * any failure refuses the start (fail closed). docs/runtime-helper.md, "Device control".
 *
 * The program: deny by default; a rule allows when type, major, minor match and the access
 * asked for (read, write, mknod; open(O_RDWR) asks for both) is within the rule's letters.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define DEV_ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)
#define DEV_MAJOR_MAX 4095L    /* 12 bits (MAJORBITS in the kernel) */
#define DEV_MINOR_MAX 1048575L /* 20 bits */
#define DEV_RULES_MAX 256

struct dev_rule {
  int type;          /* 0 = any ('a'), BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR */
  long major, minor; /* -1 = any ('*') */
  unsigned access;   /* BPF_DEVCG_ACC_* bits */
};

static int parse_devnum(const char **p, long *out, long max) {
  if (**p == '*') {
    (*p)++;
    *out = -1;
    return 0;
  }
  if (**p < '0' || **p > '9') return -1;
  long v = 0;
  while (**p >= '0' && **p <= '9') {
    v = v * 10 + (**p - '0');
    if (v > max) return -1;
    (*p)++;
  }
  *out = v;
  return 0;
}

/* "a", or "<a|b|c> <major|*>:<minor|*> <r w m, each at most once>". 0, or -1 when malformed. */
static int device_rule_parse(const char *s, struct dev_rule *r) {
  r->major = r->minor = -1;
  r->access = DEV_ACC_ALL;
  switch (s[0]) {
  case 'a': r->type = 0; break;
  case 'b': r->type = BPF_DEVCG_DEV_BLOCK; break;
  case 'c': r->type = BPF_DEVCG_DEV_CHAR; break;
  default: return -1;
  }
  const char *p = s + 1;
  if (*p == 0) return r->type == 0 ? 0 : -1;
  if (*p++ != ' ' || parse_devnum(&p, &r->major, DEV_MAJOR_MAX) < 0 || *p++ != ':' ||
      parse_devnum(&p, &r->minor, DEV_MINOR_MAX) < 0 || *p++ != ' ')
    return -1;
  r->access = 0;
  for (; *p; p++) {
    unsigned bit = *p == 'r' ? BPF_DEVCG_ACC_READ : *p == 'w' ? BPF_DEVCG_ACC_WRITE : *p == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
    if (!bit || (r->access & bit)) return -1;
    r->access |= bit;
  }
  return r->access ? 0 : -1;
}

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

/*
 * The program for `n` rules into `out` (room for 8 + 9n instructions); returns the count.
 *   r2 = ctx->access_type & 0xffff (BPF_DEVCG_DEV_*)   r3 = ctx->access_type >> 16 (BPF_DEVCG_ACC_*)
 *   r4 = ctx->major                                     r5 = ctx->minor
 * then one block per rule, each condition jumping to the next block when it does not hold:
 *   if r2 != type goto next; r1 = r3 & access; if r1 != r3 goto next;
 *   if r4 != major goto next; if r5 != minor goto next; return 1
 * and at the end: return 0. A rule without conditions (a *:* rwm) ends the program there: the
 * verifier refuses unreachable instructions.
 */
static size_t device_filter_build(const struct dev_rule *rules, size_t n, struct bpf_insn *out) {
  size_t k = 0;
  const int16_t NEXT = 0x7fff; /* placeholder, patched once the block's end is known */
  out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, 0, 0);
  out[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
  out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1, 0, 0);
  out[k++] = insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
  out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, 4, 0);
  out[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, 8, 0);
  for (size_t i = 0; i < n; i++) {
    const struct dev_rule *r = &rules[i];
    size_t start = k;
    if (r->type) out[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, NEXT, r->type);
    if (r->access != DEV_ACC_ALL) {
      out[k++] = insn(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
      out[k++] = insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t)r->access);
      out[k++] = insn(BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, NEXT, 0);
    }
    if (r->major >= 0) out[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, NEXT, (int32_t)r->major);
    if (r->minor >= 0) out[k++] = insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, NEXT, (int32_t)r->minor);
    int unconditional = k == start;
    out[k++] = insn(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
    out[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (size_t j = start; j < k; j++)
      if (BPF_CLASS(out[j].code) == BPF_JMP && out[j].off == NEXT) out[j].off = (int16_t)(k - (j + 1));
    if (unconditional) return k;
  }
  out[k++] = insn(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
  out[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return k;
}

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

static int prog_load(const struct bpf_insn *insns, size_t n, char *log, size_t logcap) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = (uint32_t)n;
  a.license = (uint64_t)(uintptr_t)"Apache";
  if (log) {
    log[0] = 0;
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = (uint32_t)logcap;
    a.log_level = 1;
  }
  snprintf(a.prog_name, sizeof a.prog_name, "shoal_devices");
  return (int)sys_bpf(BPF_PROG_LOAD, &a);
}

/* The last non-empty line of the verifier's log (its verdict), in place. */
static const char *last_line(char *log) {
  size_t len = strlen(log);
  while (len && (log[len - 1] == '\n' || log[len - 1] == ' ')) log[--len] = 0;
  char *nl = strrchr(log, '\n');
  return nl ? nl + 1 : log;
}

/* The rules of `c`, parsed into `rules` (room for DEV_RULES_MAX); NULL, or the error code with
 * msg set. Checked on every start, v1 or v2, so a config that a v2 host would refuse is refused
 * everywhere. */
static const char *parse_device_rules(const struct config *c, struct dev_rule *rules, char *msg, size_t cap) {
  if (c->devices.n > DEV_RULES_MAX) {
    snprintf(msg, cap, "device control: %zu device rules, at most %d", c->devices.n, DEV_RULES_MAX);
    return "InvalidArgument";
  }
  for (size_t i = 0; i < c->devices.n; i++) {
    if (device_rule_parse(c->devices.v[i], &rules[i]) < 0) {
      snprintf(msg, cap, "device rule \"%s\": want \"a\" or \"<a|b|c> <major|*>:<minor|*> <rwm>\"", c->devices.v[i]);
      return "InvalidArgument";
    }
  }
  return NULL;
}

/* Compiles and loads the rules; the program's fd, or -1 with *code and msg set. */
static int load_device_program(const struct dev_rule *rules, size_t nrules, const char **code, char *msg, size_t cap) {
  if (nrules == 0) {
    *code = "InvalidArgument";
    snprintf(msg, cap, "device control on cgroup v2: the config has no device rules (refusing to start without them)");
    return -1;
  }
  struct bpf_insn *insns = calloc(8 + 9 * nrules, sizeof *insns);
  if (!insns) {
    *code = "Internal";
    snprintf(msg, cap, "device control: out of memory");
    return -1;
  }
  size_t n = device_filter_build(rules, nrules, insns);
  int fd = prog_load(insns, n, NULL, 0);
  if (fd < 0 && errno == EPERM) {
    /* Before Linux 5.11 BPF memory counts against RLIMIT_MEMLOCK. The monitor's own limit:
     * PID 1 is already cloned and keeps the one it was given. */
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_MEMLOCK, &inf) == 0) fd = prog_load(insns, n, NULL, 0);
  }
  if (fd < 0) {
    int e = errno;
    char *log = malloc(65536);
    const char *verdict = "";
    if (log && prog_load(insns, n, log, 65536) < 0) verdict = last_line(log);
    *code = "FailedPrecondition";
    snprintf(msg, cap,
             "device control on cgroup v2: bpf(BPF_PROG_LOAD) of the device program: %s%s%s (needs Linux >= 4.15 with "
             "CONFIG_CGROUP_BPF, and CAP_SYS_ADMIN or CAP_BPF); refusing to start without it",
             strerror(e), *verdict ? ": " : "", verdict);
    free(log);
  }
  free(insns);
  return fd;
}

/* Flags 0 (neither ALLOW_MULTI nor ALLOW_OVERRIDE): the cgroup holds exactly this one program,
 * a second attach replaces it atomically, and no cgroup below can attach one of its own. */
static int prog_attach(int progfd, int cgfd) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.target_fd = (uint32_t)cgfd;
  a.attach_bpf_fd = (uint32_t)progfd;
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = 0;
  return (int)sys_bpf(BPF_PROG_ATTACH, &a);
}

const char *attach_device_filters(const struct config *c, char *msg, size_t cap) {
  struct dev_rule rules[DEV_RULES_MAX];
  const char *code = parse_device_rules(c, rules, msg, cap);
  if (code) return code;
  int progfd = -1;
  for (size_t i = 0; i < c->cgroups.n && !code; i++) {
    /* The config names the files to join (cgroup.procs, tasks): their directory is the cgroup. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", c->cgroups.v[i]);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
      code = "InvalidArgument";
      snprintf(msg, cap, "cgroup file %s: not inside a cgroup directory", c->cgroups.v[i]);
      break;
    }
    *slash = 0;
    struct statfs sf;
    if (statfs(dir, &sf) < 0) {
      code = "Internal";
      snprintf(msg, cap, "cgroup %s: %s", dir, strerror(errno));
      break;
    }
    if (sf.f_type != CGROUP2_SUPER_MAGIC) continue; /* v1: devices.allow, written by the cgroup manager */
    int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0 || fstatfs(cgfd, &sf) < 0) {
      code = "Internal";
      snprintf(msg, cap, "cgroup %s: %s", dir, strerror(errno));
    } else if (sf.f_type != CGROUP2_SUPER_MAGIC) {
      code = "Internal";
      snprintf(msg, cap, "cgroup %s: no longer on cgroup2 once opened", dir);
    } else if (progfd < 0 && (progfd = load_device_program(rules, c->devices.n, &code, msg, cap)) < 0) {
      /* code and msg set */
    } else if (prog_attach(progfd, cgfd) < 0) {
      int e = errno;
      code = "FailedPrecondition";
      snprintf(msg, cap,
               "device control on cgroup v2: bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) to %s: %s%s; refusing to start "
               "without it",
               dir, strerror(e),
               e == EPERM ? " (an ancestor cgroup holds a device program that allows no override, or the program on "
                            "this cgroup was attached by someone else with BPF_F_ALLOW_MULTI)"
               : e == EINVAL ? " (the kernel cannot attach cgroup device programs: CONFIG_CGROUP_BPF)"
                             : "");
    }
    if (cgfd >= 0) close(cgfd);
  }
  if (progfd >= 0) close(progfd); /* the attachment holds its own reference */
  return code;
}
