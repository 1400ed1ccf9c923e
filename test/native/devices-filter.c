/*
 * Tests of native/runtime/devices.c without a kernel in the loop: the rule parser, and the
 * generated eBPF program run through a small interpreter of the instructions it emits,
 * compared with a direct reading of the rules for every type, access and a spread of device
 * numbers, for the rules given on the command line and for random rule sets; plus the
 * verifier's control-flow rules (no jump outside, no unreachable instruction).
 * Built and run by test/e2e/isolation-devices.test.ts:
 *   devices-filter check RULE...              prints "ok <cases>" or the first mismatch, exit 1
 *   devices-filter attach DIR ROUNDS RULE...  (root, DIR on cgroup2) attach_device_filters
 *                                             ROUNDS times; prints the median microseconds and
 *                                             how many device programs DIR holds afterwards
 */
#include "../../native/runtime/devices.c"

#include <time.h>

static int failures;

static void expect(int cond, const char *what) {
  if (!cond) {
    printf("FAIL %s\n", what);
    failures++;
  }
}

/* The rules read directly: any rule whose type, numbers and access letters cover the request. */
static int ref_allows(const struct dev_rule *r, size_t n, int type, long major, long minor, unsigned acc) {
  for (size_t i = 0; i < n; i++) {
    if (r[i].type && r[i].type != type) continue;
    if (r[i].major >= 0 && r[i].major != major) continue;
    if (r[i].minor >= 0 && r[i].minor != minor) continue;
    if (acc & ~r[i].access) continue;
    return 1;
  }
  return 0;
}

/* Interprets exactly the instruction forms device_filter_build emits; -1 on anything else
 * (an unknown opcode, a load not from the context, running off the end). */
static long run(const struct bpf_insn *p, size_t n, const uint32_t ctx[3]) {
  uint64_t r[11] = {0};
  int r1_is_ctx = 1;
  for (size_t pc = 0; pc < n;) {
    struct bpf_insn i = p[pc++];
    if (i.dst_reg > 10 || i.src_reg > 10) return -1;
    switch (i.code) {
    case BPF_LDX | BPF_MEM | BPF_W:
      if (i.src_reg != BPF_REG_1 || !r1_is_ctx || i.off < 0 || i.off > 8 || i.off % 4) return -1;
      r[i.dst_reg] = ctx[i.off / 4];
      break;
    case BPF_ALU | BPF_AND | BPF_K: r[i.dst_reg] = (uint32_t)r[i.dst_reg] & (uint32_t)i.imm; break;
    case BPF_ALU | BPF_RSH | BPF_K: r[i.dst_reg] = (uint32_t)r[i.dst_reg] >> (i.imm & 31); break;
    case BPF_ALU | BPF_MOV | BPF_X: r[i.dst_reg] = (uint32_t)r[i.src_reg]; break;
    case BPF_ALU | BPF_MOV | BPF_K: r[i.dst_reg] = (uint32_t)i.imm; break;
    case BPF_JMP | BPF_JNE | BPF_K:
      if (r[i.dst_reg] != (uint64_t)(int64_t)i.imm) pc += (size_t)i.off;
      break;
    case BPF_JMP | BPF_JNE | BPF_X:
      if (r[i.dst_reg] != r[i.src_reg]) pc += (size_t)i.off;
      break;
    case BPF_JMP | BPF_EXIT: return (long)r[0];
    default: return -1;
    }
    if (i.dst_reg == BPF_REG_1) r1_is_ctx = 0;
  }
  return -1;
}

/* What the kernel's verifier checks of the control flow: every jump lands inside the program,
 * nothing runs off its end, and no instruction is unreachable. 0 when all hold. */
static int check_cfg(const struct bpf_insn *p, size_t n) {
  char *seen = calloc(n, 1);
  size_t *stack = calloc(n * 2 + 1, sizeof *stack), top = 0;
  int bad = 0;
  stack[top++] = 0;
  while (top && !bad) {
    size_t pc = stack[--top];
    if (pc >= n) {
      bad = 1;
      break;
    }
    if (seen[pc]) continue;
    seen[pc] = 1;
    if (p[pc].code == (BPF_JMP | BPF_EXIT)) continue;
    if (BPF_CLASS(p[pc].code) == BPF_JMP) stack[top++] = pc + 1 + (size_t)p[pc].off;
    stack[top++] = pc + 1;
  }
  for (size_t i = 0; i < n && !bad; i++) bad = !seen[i];
  free(seen);
  free(stack);
  return bad;
}

static const long NUMS[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 136, 137, 253, 254, 255, 256, 4095, 65535, 1048575};
#define NNUMS (sizeof NUMS / sizeof NUMS[0])

/* Every type, access combination and pair of NUMS; returns the number of cases checked. */
static long compare(const struct dev_rule *rules, size_t n, const char *label) {
  struct bpf_insn *prog = calloc(8 + 9 * n, sizeof *prog);
  size_t len = device_filter_build(rules, n, prog);
  long cases = 0;
  if (check_cfg(prog, len)) {
    printf("FAIL %s: a jump out of the program, or an unreachable instruction (the verifier refuses both)\n", label);
    failures++;
    free(prog);
    return cases;
  }
  for (int type = BPF_DEVCG_DEV_BLOCK; type <= BPF_DEVCG_DEV_CHAR; type++)
    for (unsigned acc = 1; acc <= DEV_ACC_ALL; acc++)
      for (size_t a = 0; a < NNUMS; a++)
        for (size_t b = 0; b < NNUMS; b++) {
          uint32_t ctx[3] = {(acc << 16) | (uint32_t)type, (uint32_t)NUMS[a], (uint32_t)NUMS[b]};
          long got = run(prog, len, ctx), want = ref_allows(rules, n, type, NUMS[a], NUMS[b], acc);
          cases++;
          if (got != want) {
            printf("FAIL %s: %c %ld:%ld access %u: program says %ld, rules say %ld\n", label, type == 1 ? 'b' : 'c', NUMS[a],
                   NUMS[b], acc, got, want);
            failures++;
            free(prog);
            return cases;
          }
        }
  free(prog);
  return cases;
}

static void parse_cases(void) {
  struct dev_rule r;
  expect(device_rule_parse("c 1:3 rwm", &r) == 0 && r.type == BPF_DEVCG_DEV_CHAR && r.major == 1 && r.minor == 3 &&
             r.access == DEV_ACC_ALL,
         "parse c 1:3 rwm");
  expect(device_rule_parse("b *:* m", &r) == 0 && r.type == BPF_DEVCG_DEV_BLOCK && r.major == -1 && r.minor == -1 &&
             r.access == BPF_DEVCG_ACC_MKNOD,
         "parse b *:* m");
  expect(device_rule_parse("c 136:* wr", &r) == 0 && r.minor == -1 && r.access == (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE),
         "parse c 136:* wr");
  expect(device_rule_parse("a", &r) == 0 && r.type == 0 && r.major == -1 && r.access == DEV_ACC_ALL, "parse a");
  expect(device_rule_parse("a *:* r", &r) == 0 && r.type == 0 && r.access == BPF_DEVCG_ACC_READ, "parse a *:* r");
  expect(device_rule_parse("c 4095:1048575 m", &r) == 0, "parse largest numbers");
  static const char *bad[] = {"",          "c",          "x 1:3 rwm", "c 1:3",     "c 1:3 ",   "c 1:3 rwx", "c 1:3 rr",
                              "c 1 3 rwm", "c 1:3  rwm", "c -1:3 r",  "c 4096:0 r", "c 0:1048576 r", "c 1:3 rwm ", "b",
                              "a 1",       "c :3 r",     "c 1: r",    " c 1:3 r"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char what[64];
    snprintf(what, sizeof what, "refuse \"%s\"", bad[i]);
    expect(device_rule_parse(bad[i], &r) < 0, what);
  }
}

static void random_rule(struct dev_rule *r, unsigned *seed) {
  r->type = rand_r(seed) % 3;
  r->major = rand_r(seed) % 3 ? NUMS[rand_r(seed) % NNUMS] % (DEV_MAJOR_MAX + 1) : -1;
  r->minor = rand_r(seed) % 3 ? NUMS[rand_r(seed) % NNUMS] : -1;
  r->access = 1 + (unsigned)rand_r(seed) % DEV_ACC_ALL;
}

static int check(int argc, char **argv) {
  parse_cases();
  struct dev_rule rules[DEV_RULES_MAX];
  size_t n = 0;
  for (int i = 0; i < argc && n < DEV_RULES_MAX; i++, n++) {
    if (device_rule_parse(argv[i], &rules[n]) < 0) {
      printf("FAIL the given rule \"%s\" does not parse\n", argv[i]);
      return 1;
    }
  }
  long cases = compare(rules, n, "the given rules");
  /* Deny-all, one rule of each shape, an unconditional rule in the middle (the program ends
   * there), and random sets. */
  cases += compare(rules, 0, "no rules");
  unsigned seed = 14;
  for (int round = 0; round < 300 && !failures; round++) {
    size_t k = 1 + (size_t)rand_r(&seed) % 8;
    for (size_t i = 0; i < k; i++) random_rule(&rules[i], &seed);
    if (round % 50 == 0) rules[k / 2] = (struct dev_rule){.type = 0, .major = -1, .minor = -1, .access = DEV_ACC_ALL};
    char label[32];
    snprintf(label, sizeof label, "random set %d", round);
    cases += compare(rules, k, label);
  }
  if (failures) return 1;
  printf("ok %ld\n", cases);
  return 0;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return x < y ? -1 : x > y;
}

static int attach(const char *dir, int rounds, int argc, char **argv) {
  char procs[PATH_MAX];
  snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
  char *cg[] = {procs};
  struct config c;
  memset(&c, 0, sizeof c);
  c.cgroups.v = cg;
  c.cgroups.n = 1;
  c.devices.v = argv;
  c.devices.n = (size_t)argc;
  long *us = calloc((size_t)rounds, sizeof *us);
  char msg[4400];
  for (int i = 0; i < rounds; i++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *code = attach_device_filters(&c, msg, sizeof msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (code) {
      printf("FAIL %s %s\n", code, msg);
      return 1;
    }
    us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
  }
  qsort(us, (size_t)rounds, sizeof *us, cmp_long);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  uint32_t ids[64];
  union bpf_attr q;
  memset(&q, 0, sizeof q);
  q.query.target_fd = (uint32_t)fd;
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = (uint64_t)(uintptr_t)ids;
  q.query.prog_cnt = 64;
  if (fd < 0 || sys_bpf(BPF_PROG_QUERY, &q) < 0) {
    printf("FAIL query %s: %s\n", dir, strerror(errno));
    return 1;
  }
  printf("median_us=%ld max_us=%ld programs=%u flags=%u\n", us[rounds / 2], us[rounds - 1], q.query.prog_cnt,
         q.query.attach_flags);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "check")) return check(argc - 2, argv + 2);
  if (argc >= 4 && !strcmp(argv[1], "attach")) return attach(argv[2], atoi(argv[3]), argc - 4, argv + 4);
  fprintf(stderr, "usage: devices-filter check RULE... | attach DIR ROUNDS RULE...\n");
  return 2;
}
