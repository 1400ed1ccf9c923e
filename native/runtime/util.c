/* Small helpers: line I/O on the control channel, the config decoder, files, /proc. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int send_line(int fd, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  /* A message is one line: newlines inside it would break the framing. */
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n') buf[i] = ' ';
  buf[n++] = '\n';
  return write_all(fd, buf, (size_t)n);
}

/* Writes "error <code> <message>" to fd (when >= 0) and exits 1. */
void die_msg(int fd, const char *code, const char *fmt, ...) {
  char msg[3000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (fd >= 0) send_line(fd, "error %s %s", code, msg);
  else dprintf(2, "shoal-runtime: %s\n", msg);
  _exit(1);
}

/* Reads one '\n'-terminated line byte by byte (so nothing after it is consumed). Returns its
 * length without the newline, or -1 on EOF/error before a newline. */
int read_line(int fd, char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    if (ch == '\n') break;
    if (n + 1 < cap) buf[n++] = ch;
  }
  buf[n] = 0;
  return (int)n;
}

static void strv_push(struct strv *s, char *v) {
  if (s->n + 1 >= s->cap) {
    s->cap = s->cap ? s->cap * 2 : 8;
    s->v = realloc(s->v, s->cap * sizeof(char *));
    if (!s->v) abort();
  }
  s->v[s->n++] = v;
  s->v[s->n] = NULL;
}

static unsigned long long parse_u64(const char *s) {
  if (strcmp(s, "-1") == 0 || strcmp(s, "unlimited") == 0) return ~0ULL;
  return strtoull(s, NULL, 10);
}

/* Decodes the key/value config. Unknown keys are an error (a TS/C version mismatch). */
int read_config(int fd, struct config *c) {
  char head[32];
  if (read_line(fd, head, sizeof head) < 0) return -1;
  size_t len = strtoul(head, NULL, 10);
  if (len == 0 || len > (64u << 20)) return -1;
  char *buf = malloc(len + 1);
  if (!buf) return -1;
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(fd, buf + got, len - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  buf[len] = 0;
  memset(c, 0, sizeof *c);
  c->raw = malloc(len);
  if (!c->raw) return -1;
  memcpy(c->raw, buf, len);
  c->rawlen = len;
  c->log_max_files = 1;
  c->network = "new";
  c->cwd = "/";
  char *p = buf, *end = buf + len;
  while (p < end) {
    char *k = p;
    p += strlen(p) + 1;
    if (p >= end) return -1;
    char *v = p;
    p += strlen(p) + 1;
    if (!strcmp(k, "id")) c->id = v;
    else if (!strcmp(k, "state_dir")) c->state_dir = v;
    else if (!strcmp(k, "log_path")) c->log_path = v;
    else if (!strcmp(k, "log_max_bytes")) c->log_max_bytes = strtoll(v, NULL, 10);
    else if (!strcmp(k, "log_max_files")) c->log_max_files = atoi(v);
    else if (!strcmp(k, "lower")) strv_push(&c->lower, v);
    else if (!strcmp(k, "upper")) c->upper = v;
    else if (!strcmp(k, "work")) c->work = v;
    else if (!strcmp(k, "hostname")) c->hostname = v;
    else if (!strcmp(k, "arg")) strv_push(&c->args, v);
    else if (!strcmp(k, "env")) strv_push(&c->env, v);
    else if (!strcmp(k, "cwd")) c->cwd = v;
    else if (!strcmp(k, "uid")) c->uid = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(k, "gid")) c->gid = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(k, "gids")) strv_push(&c->gids, v);
    else if (!strcmp(k, "nnp")) c->nnp = atoi(v);
    else if (!strcmp(k, "cap")) {
      int n = atoi(v);
      if (n < 0 || n > 63) return -1;
      c->caps |= 1ULL << n;
    } else if (!strcmp(k, "rlimit")) { /* "<resource> <soft> <hard>" */
      if (c->nrl >= 32) return -1;
      char *s1 = strchr(v, ' '), *s2 = s1 ? strchr(s1 + 1, ' ') : NULL;
      if (!s2) return -1;
      *s1 = 0;
      *s2 = 0;
      c->rl[c->nrl].res = atoi(v);
      c->rl[c->nrl].soft = parse_u64(s1 + 1);
      c->rl[c->nrl].hard = parse_u64(s2 + 1);
      c->nrl++;
    } else if (!strcmp(k, "open_stdin")) c->open_stdin = atoi(v);
    else if (!strcmp(k, "tty")) c->tty = atoi(v);
    else if (!strcmp(k, "console_size")) { /* "<rows> <cols>" */
      unsigned rows, cols;
      if (sscanf(v, "%u %u", &rows, &cols) != 2 || rows > 65535 || cols > 65535) return -1;
      c->tty_rows = (unsigned short)rows;
      c->tty_cols = (unsigned short)cols;
    }
    else if (!strcmp(k, "bind")) { /* "r" or "w", then the source; bind_dst follows */
      c->binds = realloc(c->binds, (c->nbinds + 1) * sizeof *c->binds);
      if (!c->binds) abort();
      c->binds[c->nbinds].ro = v[0] == 'r';
      c->binds[c->nbinds].src = v + 1;
      c->binds[c->nbinds].dst = NULL;
      c->nbinds++;
    } else if (!strcmp(k, "bind_dst")) {
      if (c->nbinds == 0) return -1;
      c->binds[c->nbinds - 1].dst = v;
    } else if (!strcmp(k, "etc_hosts")) c->etc_hosts = v;
    else if (!strcmp(k, "etc_hostname")) c->etc_hostname = v;
    else if (!strcmp(k, "etc_resolv")) c->etc_resolv = v;
    else if (!strcmp(k, "network")) c->network = v;
    else if (!strcmp(k, "cgroup")) strv_push(&c->cgroups, v);
    else if (!strcmp(k, "device")) strv_push(&c->devices, v);
    else if (!strcmp(k, "seccomp")) c->seccomp = !strcmp(v, "default");
    else if (!strcmp(k, "init")) c->init = atoi(v);
    else if (!strcmp(k, "mask")) strv_push(&c->masked, v);
    else if (!strcmp(k, "ro_path")) strv_push(&c->ro_paths, v);
    else if (!strcmp(k, "pid")) c->pid = (pid_t)atoi(v);
    else if (!strcmp(k, "pid_start")) c->pid_start = v;
    else return -1;
  }
  for (size_t i = 0; i < c->nbinds; i++)
    if (!c->binds[i].dst) return -1;
  if (c->args.n == 0) return -1;
  return 0;
}

/* Sends the config again, framed as it arrived. */
int send_config(int fd, const struct config *c) {
  if (send_line(fd, "%zu", c->rawlen) < 0) return -1;
  return write_all(fd, c->raw, c->rawlen);
}

/* Writes path.tmp, fsyncs, renames over path: readers see the old or the new file, never half. */
int write_file_atomic(const char *path, const char *data) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (write_all(fd, data, strlen(data)) < 0 || fsync(fd) < 0) {
    int e = errno; /* for the caller's message: ENOSPC, EDQUOT... */
    close(fd);
    unlink(tmp);
    errno = e;
    return -1;
  }
  close(fd);
  return rename(tmp, path);
}

int write_str(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int r = write_all(fd, data, strlen(data));
  int e = errno;
  close(fd);
  errno = e;
  return r;
}

/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot). */
int proc_start_time(pid_t pid, char *out, size_t cap) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  p++; /* now at " S ppid ..." : field 3 onwards */
  int field = 2;
  char *tok = strtok(p, " ");
  while (tok) {
    field++;
    if (field == 22) {
      snprintf(out, cap, "%s", tok);
      return 0;
    }
    tok = strtok(NULL, " ");
  }
  return -1;
}

/* RFC 3339 with nanoseconds, UTC: 2026-11-22T07:00:00.123456789Z */
void format_time(char *out, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, cap, "%s.%09ldZ", base, ts.tv_nsec);
}

const char *signal_name(int sig) {
  static const char *names[] = {
      [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",     [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
      [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",   [SIGBUS] = "SIGBUS",   [SIGFPE] = "SIGFPE",
      [SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1",   [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
      [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM",   [SIGTERM] = "SIGTERM", [SIGCHLD] = "SIGCHLD",
      [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP",   [SIGTSTP] = "SIGTSTP", [SIGTTIN] = "SIGTTIN",
      [SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG",     [SIGXCPU] = "SIGXCPU", [SIGXFSZ] = "SIGXFSZ",
      [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH", [SIGIO] = "SIGIO",
      [SIGPWR] = "SIGPWR",   [SIGSYS] = "SIGSYS",
  };
  if (sig > 0 && sig < (int)(sizeof names / sizeof names[0]) && names[sig]) return names[sig];
  return "SIGUNKNOWN";
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Marks every fd >= lowfd close-on-exec, so no host fd reaches the container (CVE-2024-21626). */
void close_fds_from(int lowfd) {
  if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd = lowfd; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
}
