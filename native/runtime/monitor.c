/*
 * `start`: the launcher forks the monitor and exits once the monitor has answered the driver.
 * The monitor (its own session, reparented to init, so it outlives the agent) clones the
 * container's PID 1 into new namespaces, puts it into its cgroups, relays the start protocol
 * on fd 3, then holds the container's stdout/stderr (JSON-lines log with rotation), an
 * optional stdin FIFO, and writes exit.json when PID 1 ends.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct logw {
  int fd;
  long long size, max;
  int files;
  const char *path;
};

struct stream {
  int fd;
  const char *name;
  size_t n;
  char buf[16384];
};

static int log_open(struct logw *l, struct config *c) {
  l->path = c->log_path;
  l->max = c->log_max_bytes;
  l->files = c->log_max_files < 1 ? 1 : c->log_max_files;
  l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (l->fd < 0) return -1;
  struct stat st;
  l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
  return 0;
}

/* log -> log.1 -> log.2 ... ; the oldest beyond `files` is overwritten by the rename. */
static void log_rotate(struct logw *l) {
  close(l->fd);
  char from[4200], to[4200];
  for (int i = l->files - 1; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof from, "%s", l->path);
    else snprintf(from, sizeof from, "%s.%d", l->path, i - 1);
    snprintf(to, sizeof to, "%s.%d", l->path, i);
    rename(from, to);
  }
  l->fd = open(l->path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
  l->size = 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  size_t len;
  unsigned min;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) len = 2, min = 0x80;
  else if (p[0] >= 0xe0 && p[0] <= 0xef) len = 3, min = 0x800;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) len = 4, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  unsigned cp = p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* One Docker json-file line: {"log":"...","stream":"stdout","time":"..."}. Invalid UTF-8
 * becomes U+FFFD, as Docker's JSON encoder does. */
static void log_emit(struct logw *l, const char *stream, const char *data, size_t len) {
  if (l->fd < 0) return;
  char *line = malloc(len * 6 + 128);
  if (!line) return;
  char *p = line + sprintf(line, "{\"log\":\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)data[i];
    switch (ch) {
    case '"': *p++ = '\\'; *p++ = '"'; break;
    case '\\': *p++ = '\\'; *p++ = '\\'; break;
    case '\n': *p++ = '\\'; *p++ = 'n'; break;
    case '\r': *p++ = '\\'; *p++ = 'r'; break;
    case '\t': *p++ = '\\'; *p++ = 't'; break;
    default:
      if (ch < 0x20 || ch == 0x7f) {
        p += sprintf(p, "\\u%04x", ch);
      } else if (ch < 0x80) {
        *p++ = (char)ch;
      } else {
        size_t u = utf8_len((const unsigned char *)data + i, len - i);
        if (u == 0) {
          p += sprintf(p, "\\ufffd");
        } else {
          memcpy(p, data + i, u);
          p += u;
          i += u - 1;
        }
      }
    }
  }
  char ts[64];
  format_time(ts, sizeof ts);
  p += sprintf(p, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, ts);
  size_t n = (size_t)(p - line);
  if (l->max > 0 && l->size > 0 && l->size + (long long)n > l->max) log_rotate(l);
  if (l->fd >= 0 && write_all(l->fd, line, n) == 0) l->size += (long long)n;
  free(line);
}

/* Reads what is available; emits complete lines, or the whole buffer when it is full.
 * Returns 0 at EOF. */
static int stream_pump(struct stream *s, struct logw *l) {
  ssize_t r = read(s->fd, s->buf + s->n, sizeof s->buf - s->n);
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (r == 0) {
    if (s->n) log_emit(l, s->name, s->buf, s->n);
    s->n = 0;
    return 0;
  }
  s->n += (size_t)r;
  size_t start = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (s->buf[i] != '\n') continue;
    log_emit(l, s->name, s->buf + start, i + 1 - start);
    start = i + 1;
  }
  if (start == 0 && s->n == sizeof s->buf) start = s->n, log_emit(l, s->name, s->buf, s->n);
  memmove(s->buf, s->buf + start, s->n - start);
  s->n -= start;
  return 1;
}

static void fail(pid_t pid, const char *code, const char *msg) {
  if (code) send_line(CTL_FD, "error %s %s", code, msg);
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  _exit(1);
}

static void monitor(struct config *c, int donefd) {
  if (chdir("/") < 0) fail(0, "Internal", "chdir /");
  signal(SIGPIPE, SIG_IGN); /* a vanished driver must not kill the monitor */
  int sp[2], outp[2], errp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
      pipe2(errp, O_CLOEXEC) < 0)
    fail(0, "Internal", "socketpair/pipe failed");
  /* A restart reuses the state dir: the previous run's files must not answer for this one. */
  char stale[4200];
  static const char *const stale_names[] = {"exit.json", "exit.json.tmp", "pid.json", "pid.json.tmp"};
  for (int i = 0; i < 4; i++) {
    snprintf(stale, sizeof stale, "%s/%s", c->state_dir, stale_names[i]);
    unlink(stale);
  }
  int in = -1, fifo_keep = -1;
  char fifo[4200];
  if (c->open_stdin) {
    /* The monitor keeps a writer open so the container never sees EOF between attaches. */
    snprintf(fifo, sizeof fifo, "%s/stdin", c->state_dir);
    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0) fail(0, "Internal", "mkfifo stdin");
    fifo_keep = open(fifo, O_RDWR | O_CLOEXEC);
    if (fifo_keep < 0) fail(0, "Internal", "open stdin fifo");
    in = open(fifo, O_RDONLY | O_CLOEXEC);
  } else {
    in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (in < 0) fail(0, "Internal", "open stdin");
  struct logw lw;
  if (log_open(&lw, c) < 0) {
    char m[4300];
    snprintf(m, sizeof m, "open log %s: %s", c->log_path, strerror(errno));
    fail(0, "Internal", m);
  }
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  /* SIGUSR1 from the driver: drop the keep-open writer, so the container reads EOF on stdin
   * once the attached client has closed its end (`run -i`, Docker's StdinOnce). */
  sigaddset(&chld, SIGUSR1);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (strcmp(c->network, "host")) flags |= CLONE_NEWNET;
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) {
    char m[256];
    snprintf(m, sizeof m, "clone namespaces: %s", strerror(errno));
    fail(0, "Internal", m);
  }
  if (pid == 0) {
    /* PID 1 of the new namespaces: stdio on 0-2, the sync socket on 3 (replacing the driver's
     * channel), everything else is close-on-exec; then the sealed `init` stage. */
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(in, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0 || dup2(sp[1], CTL_FD) < 0) _exit(1);
    char *argv[] = {"shoal-runtime", "init", NULL};
    reexec_sealed(argv, CTL_FD);
    _exit(1); /* not reached: reexec_sealed execs or reports and exits */
  }
  close(sp[1]);
  close(outp[1]);
  close(errp[1]);
  close(in);
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
  for (size_t i = 0; i < c->cgroups.n; i++) {
    if (write_str(c->cgroups.v[i], pidbuf) < 0) {
      char m[4300];
      snprintf(m, sizeof m, "join cgroup %s: %s", c->cgroups.v[i], strerror(errno));
      fail(pid, "Internal", m);
    }
  }
  if (send_config(sp[0], c) < 0 || send_line(sp[0], "cgroups") < 0) fail(pid, "Internal", "container init died");
  /* The driver runs its network hook now, while PID 1 builds the root filesystem. */
  if (send_line(CTL_FD, "created %d", (int)pid) < 0) fail(pid, NULL, NULL);
  char line[4096];
  if (read_line(CTL_FD, line, sizeof line) < 0 || strcmp(line, "go")) fail(pid, NULL, NULL);
  int n = read_line(sp[0], line, sizeof line);
  if (n < 0) fail(pid, "Internal", "container init exited during setup");
  if (strncmp(line, "error ", 6) == 0) {
    send_line(CTL_FD, "%s", line);
    fail(pid, NULL, NULL);
  }
  if (strcmp(line, "ready")) fail(pid, "Internal", "unexpected message from container init");
  if (send_line(sp[0], "exec") < 0) fail(pid, "Internal", "container init died");
  /* The socket closes on a successful execve (close-on-exec); otherwise an error comes first. */
  n = read_line(sp[0], line, sizeof line);
  if (n >= 0) {
    send_line(CTL_FD, "%s", strncmp(line, "error ", 6) == 0 ? line : "error Internal unexpected message after exec");
    fail(pid, NULL, NULL);
  }
  close(sp[0]);
  char st[64] = "0", mst[64] = "0", json[512];
  proc_start_time(pid, st, sizeof st);
  proc_start_time(getpid(), mst, sizeof mst);
  snprintf(json, sizeof json, "{\"pid\":%d,\"pidStartTime\":\"%s\",\"monitorPid\":%d,\"monitorStartTime\":\"%s\"}\n",
           (int)pid, st, (int)getpid(), mst);
  char pidfile[4200];
  snprintf(pidfile, sizeof pidfile, "%s/pid.json", c->state_dir);
  if (write_file_atomic(pidfile, json) < 0) fail(pid, "Internal", "write pid.json");
  send_line(CTL_FD, "started %d %s %d", (int)pid, st, (int)getpid());
  /* From here on nothing of the driver's is held: the agent may exit or die. */
  close(CTL_FD);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  close(devnull);
  close(donefd);

  struct stream *out = calloc(1, sizeof *out), *err = calloc(1, sizeof *err);
  if (!out || !err) abort();
  out->fd = outp[0];
  out->name = "stdout";
  err->fd = errp[0];
  err->name = "stderr";
  int status = 0, exited = 0;
  struct timespec deadline = {0, 0};
  for (;;) {
    struct pollfd pf[3] = {{sfd, POLLIN, 0}, {out->fd, POLLIN, 0}, {err->fd, POLLIN, 0}};
    int timeout = -1;
    if (exited) {
      /* After PID 1 dies the kernel kills the rest of the namespace; give the pipes a moment. */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
      if ((out->fd < 0 && err->fd < 0) || ms <= 0) break;
      timeout = (int)ms;
    }
    int r = poll(pf, 3, timeout);
    if (r < 0 && errno != EINTR) break;
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
        if (si.ssi_signo == SIGUSR1 && fifo_keep >= 0) {
          close(fifo_keep);
          fifo_keep = -1;
        }
      }
      int ws;
      pid_t w;
      while ((w = waitpid(-1, &ws, WNOHANG)) > 0) {
        if (w == pid) {
          status = ws;
          exited = 1;
          clock_gettime(CLOCK_MONOTONIC, &deadline);
          deadline.tv_sec += 3;
        }
      }
    }
    if (pf[1].revents && out->fd >= 0 && !stream_pump(out, &lw)) close(out->fd), out->fd = -1;
    if (pf[2].revents && err->fd >= 0 && !stream_pump(err, &lw)) close(err->fd), err->fd = -1;
  }
  if (out->n) log_emit(&lw, "stdout", out->buf, out->n);
  if (err->n) log_emit(&lw, "stderr", err->buf, err->n);
  /* stdin goes first, so nobody can attach once the exit is visible. */
  if (c->open_stdin) {
    unlink(fifo);
    if (fifo_keep >= 0) close(fifo_keep);
  }
  char ts[64], exitjson[256], exitfile[4200];
  format_time(ts, sizeof ts);
  if (WIFSIGNALED(status))
    snprintf(exitjson, sizeof exitjson, "{\"exitCode\":%d,\"signal\":\"%s\",\"finishedAt\":\"%s\"}\n",
             128 + WTERMSIG(status), signal_name(WTERMSIG(status)), ts);
  else
    snprintf(exitjson, sizeof exitjson, "{\"exitCode\":%d,\"finishedAt\":\"%s\"}\n", WEXITSTATUS(status), ts);
  snprintf(exitfile, sizeof exitfile, "%s/exit.json", c->state_dir);
  write_file_atomic(exitfile, exitjson);
  _exit(0);
}

int start_main(struct config *c) {
  if (!c->state_dir || !c->log_path || c->lower.n == 0 || !c->upper || !c->work)
    die_msg(CTL_FD, "InvalidArgument", "start needs state_dir, log_path, lower, upper and work");
  int done[2];
  if (pipe2(done, O_CLOEXEC) < 0) die_msg(CTL_FD, "Internal", "pipe: %m");
  pid_t m = fork();
  if (m < 0) die_msg(CTL_FD, "Internal", "fork monitor: %m");
  if (m > 0) {
    /* The launcher: wait until the monitor is done talking to the driver, then leave, so the
     * monitor is reparented away from the agent. */
    close(done[1]);
    close(CTL_FD);
    char b;
    while (read(done[0], &b, 1) < 0 && errno == EINTR) {
    }
    return 0;
  }
  close(done[0]);
  setsid();
  monitor(c, done[1]);
  return 0;
}
