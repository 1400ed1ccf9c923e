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
#include <stdarg.h>
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
  unsigned long long dropped; /* lines lost since the last one written (a full disk) */
  int lost_errno;             /* why the last of them was lost */
};

struct stream {
  int fd;
  const char *name;
  struct console *tee; /* tty: what is read also goes to the attached clients */
  size_t n;
  char buf[16384];
};

/* (Re)opens the live log for appending; -1 (errno set) when it cannot. */
static int log_reopen(struct logw *l) {
  l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (l->fd < 0) return -1;
  struct stat st;
  l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
  return 0;
}

static int log_open(struct logw *l, struct config *c) {
  l->path = c->log_path;
  l->max = c->log_max_bytes;
  l->files = c->log_max_files < 1 ? 1 : c->log_max_files;
  l->dropped = 0;
  l->lost_errno = 0;
  return log_reopen(l);
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

/* Appends one whole line or nothing: a write cut short (ENOSPC, EDQUOT, EIO) is truncated
 * away, so the file never holds half a JSON line. Returns -1 (errno set) when nothing was added. */
static int log_append(struct logw *l, const char *line, size_t n) {
  if (l->fd < 0 && log_reopen(l) < 0) return -1; /* a failed rotation: try again each line */
  if (l->max > 0 && l->size > 0 && l->size + (long long)n > l->max) {
    log_rotate(l);
    if (l->fd < 0) return -1;
  }
  if (write_all(l->fd, line, n) == 0) {
    l->size += (long long)n;
    return 0;
  }
  int e = errno;
  if (ftruncate(l->fd, (off_t)l->size) < 0) {
    /* Cannot cut it: re-read the size, the next line starts after whatever landed. */
    struct stat st;
    if (fstat(l->fd, &st) == 0) l->size = st.st_size;
  }
  errno = e;
  return -1;
}

/* Writes a line, first telling how many were lost before it (once there is room again);
 * a line that cannot be written is counted, never fatal: the container keeps running. */
static void log_line(struct logw *l, const char *line, size_t n) {
  if (l->dropped > 0) {
    char ts[64], note[256];
    format_time(ts, sizeof ts);
    int k = snprintf(note, sizeof note,
                     "{\"log\":\"shoal: %llu log line%s dropped: %s\\n\",\"stream\":\"stderr\",\"time\":\"%s\"}\n",
                     l->dropped, l->dropped == 1 ? "" : "s", strerror(l->lost_errno), ts);
    if (k < 0 || (size_t)k >= sizeof note || log_append(l, note, (size_t)k) < 0) {
      l->dropped++;
      l->lost_errno = errno;
      return;
    }
    l->dropped = 0;
  }
  if (log_append(l, line, n) < 0) {
    l->dropped++;
    l->lost_errno = errno;
  }
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
  char *line = malloc(len * 6 + 128);
  if (!line) {
    l->dropped++;
    l->lost_errno = ENOMEM;
    return;
  }
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
  log_line(l, line, (size_t)(p - line));
  free(line);
}

/* Reads what is available; emits complete lines, or the whole buffer when it is full.
 * Returns 0 at EOF. */
static int stream_pump(struct stream *s, struct logw *l) {
  ssize_t r = read(s->fd, s->buf + s->n, sizeof s->buf - s->n);
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0; /* a pty without a peer: EIO */
  if (r == 0) {
    if (s->n) log_emit(l, s->name, s->buf, s->n);
    s->n = 0;
    return 0;
  }
  if (s->tee) console_output(s->tee, s->buf + s->n, (size_t)r);
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

/* Everything the monitor holds while the container lives. */
struct monitor {
  struct config *c;
  int donefd;           /* the launcher's pipe: closed once the driver has its answer */
  pid_t pid;            /* the container's PID 1 (host pid), 0 before the clone */
  int sync[2];          /* socketpair to PID 1's init stage (fd 3 inside) */
  int outp[2], errp[2]; /* PID 1's stdout and stderr (not with a tty) */
  int in;               /* PID 1's stdin: the FIFO's read end or /dev/null (tty: its stdio until the pty) */
  int fifo_keep;        /* a writer kept open on the stdin FIFO until SIGUSR1, or -1 */
  char fifo[4200];      /* stateDir/stdin, when open_stdin */
  sigset_t sigs;        /* SIGCHLD and SIGUSR1, blocked and read through sfd */
  int sfd;              /* signalfd */
  struct logw log;
  int lfd;              /* tty: the listening attach socket */
  int master;           /* tty: the pty's master, from PID 1 */
};

/* The wire code of a failed write: a full disk or quota is FailedPrecondition (nothing to
 * retry until someone frees space, as the agent reports it), anything else Internal. */
static const char *write_error_code(int e) {
  return e == ENOSPC || e == EDQUOT ? "FailedPrecondition" : "Internal";
}

/* Reports "error <code> <message>" to the driver (unless code is NULL: the driver already has
 * its answer or is gone), kills PID 1 if it exists, and exits 1. */
static void fail(pid_t pid, const char *code, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
static void fail(pid_t pid, const char *code, const char *fmt, ...) {
  if (code) {
    char msg[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_line(CTL_FD, "error %s %s", code, msg);
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  _exit(1);
}

/* A restart reuses the state dir: the previous run's files must not answer for this one. */
static void remove_stale_files(const struct config *c) {
  static const char *const names[] = {"exit.json", "exit.json.tmp", "pid.json", "pid.json.tmp"};
  char path[4200];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", c->state_dir, names[i]);
    unlink(path);
  }
}

/* PID 1's stdin: with open_stdin a FIFO stateDir/stdin, of which the monitor keeps a writer
 * open so the container never sees EOF between attaches; else /dev/null. With a tty, stdin
 * (and the rest of stdio) is /dev/null until the init stage puts the pty there. */
static void open_stdin(struct monitor *m) {
  m->in = -1;
  m->fifo_keep = -1;
  if (m->c->tty) {
    m->in = open("/dev/null", O_RDWR | O_CLOEXEC);
  } else if (m->c->open_stdin) {
    snprintf(m->fifo, sizeof m->fifo, "%s/stdin", m->c->state_dir);
    unlink(m->fifo);
    if (mkfifo(m->fifo, 0600) < 0) fail(0, "Internal", "mkfifo stdin");
    m->fifo_keep = open(m->fifo, O_RDWR | O_CLOEXEC);
    if (m->fifo_keep < 0) fail(0, "Internal", "open stdin fifo");
    m->in = open(m->fifo, O_RDONLY | O_CLOEXEC);
  } else {
    m->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (m->in < 0) fail(0, "Internal", "open stdin");
}

/* SIGCHLD (PID 1 exited) and SIGUSR1 (the driver's closeStdin: drop the keep-open writer, so
 * the container reads EOF on stdin once the attached client has closed its end; `run -i`,
 * Docker's StdinOnce) arrive through a signalfd. */
static void open_signalfd(struct monitor *m) {
  sigemptyset(&m->sigs);
  sigaddset(&m->sigs, SIGCHLD);
  sigaddset(&m->sigs, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &m->sigs, NULL) < 0) fail(0, "Internal", "block signals: %s", strerror(errno));
  m->sfd = signalfd(-1, &m->sigs, SFD_CLOEXEC | SFD_NONBLOCK);
  if (m->sfd < 0) fail(0, "Internal", "signalfd: %s", strerror(errno));
}

/* Before the clone: pipes, the sync socket, stdin, the log file and the signalfd. */
static void monitor_setup(struct monitor *m) {
  if (chdir("/") < 0) fail(0, "Internal", "chdir /");
  signal(SIGPIPE, SIG_IGN); /* a vanished driver must not kill the monitor */
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m->sync) < 0 ||
      (!m->c->tty && (pipe2(m->outp, O_CLOEXEC) < 0 || pipe2(m->errp, O_CLOEXEC) < 0)))
    fail(0, "Internal", "socketpair/pipe failed");
  remove_stale_files(m->c);
  open_stdin(m);
  if (m->c->tty && (m->lfd = console_listen(m->c->state_dir)) < 0)
    fail(0, "Internal", "attach socket in %s: %s", m->c->state_dir, strerror(errno));
  if (log_open(&m->log, m->c) < 0) fail(0, write_error_code(errno), "open log %s: %s", m->c->log_path, strerror(errno));
  open_signalfd(m);
}

/* Clones PID 1 into new namespaces. The child gets stdio on 0-2 and the sync socket on 3
 * (replacing the driver's channel), everything else close-on-exec, and becomes the sealed
 * `init` stage; the parent keeps its ends and returns. */
static void clone_container(struct monitor *m) {
  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (strcmp(m->c->network, "host")) flags |= CLONE_NEWNET;
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) fail(0, "Internal", "clone namespaces: %s", strerror(errno));
  if (pid == 0) {
    sigprocmask(SIG_UNBLOCK, &m->sigs, NULL);
    signal(SIGPIPE, SIG_DFL);
    int out = m->c->tty ? m->in : m->outp[1], err = m->c->tty ? m->in : m->errp[1];
    if (dup2(m->in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(m->sync[1], CTL_FD) < 0) _exit(1);
    char *argv[] = {"shoal-runtime", "init", NULL};
    /* The init stage (and the --init reaper, which stays) needs none of the agent's
     * environment (a join token may be in it): the container's comes with the config. */
    clearenv();
    reexec_sealed(argv, CTL_FD);
    _exit(1); /* not reached: reexec_sealed execs or reports and exits */
  }
  m->pid = pid;
  close(m->sync[1]);
  if (!m->c->tty) {
    close(m->outp[1]);
    close(m->errp[1]);
  }
  close(m->in);
}

/* PID 1 joins the container's cgroups before its init stage goes on. On cgroup v2 the device
 * program is attached first, so nothing of the container runs in the cgroup without it. */
static void join_cgroups(struct monitor *m) {
  char msg[4400];
  const char *code = attach_device_filters(m->c, msg, sizeof msg);
  if (code) fail(m->pid, code, "%s", msg);
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)m->pid);
  for (size_t i = 0; i < m->c->cgroups.n; i++) {
    if (write_str(m->c->cgroups.v[i], pidbuf) < 0) fail(m->pid, "Internal", "join cgroup %s: %s", m->c->cgroups.v[i], strerror(errno));
  }
}

/* The start protocol between the driver (fd 3) and PID 1 (the sync socket), up to a
 * successful execve: config → "cgroups" → "created P" → "go" → ["console" + the pty's
 * master (tty)] → "ready" → "exec" → EOF. */
static void relay_start(struct monitor *m) {
  int sp = m->sync[0];
  pid_t pid = m->pid;
  if (send_config(sp, m->c) < 0 || send_line(sp, "cgroups") < 0) fail(pid, "Internal", "container init died");
  /* The driver runs its network hook now, while PID 1 builds the root filesystem. */
  if (send_line(CTL_FD, "created %d", (int)pid) < 0) fail(pid, NULL, NULL);
  char line[4096];
  if (read_line(CTL_FD, line, sizeof line) < 0 || strcmp(line, "go")) fail(pid, NULL, NULL);
  if (read_line(sp, line, sizeof line) < 0) fail(pid, "Internal", "container init exited during setup");
  if (m->c->tty && strcmp(line, "console") == 0) {
    if ((m->master = recv_master(sp)) < 0) fail(pid, "Internal", "the container's console is not a pty master: %s", strerror(errno));
    if (read_line(sp, line, sizeof line) < 0) fail(pid, "Internal", "container init exited during setup");
  }
  if (strncmp(line, "error ", 6) == 0) {
    send_line(CTL_FD, "%s", line);
    fail(pid, NULL, NULL);
  }
  if (strcmp(line, "ready") || (m->c->tty && m->master < 0)) fail(pid, "Internal", "unexpected message from container init");
  if (send_line(sp, "exec") < 0) fail(pid, "Internal", "container init died");
  /* The socket closes on a successful execve (close-on-exec); otherwise an error comes first. */
  if (read_line(sp, line, sizeof line) >= 0) {
    send_line(CTL_FD, "%s", strncmp(line, "error ", 6) == 0 ? line : "error Internal unexpected message after exec");
    fail(pid, NULL, NULL);
  }
  close(sp);
}

/* pid.json (atomic), then "started P T M" to the driver. */
static void record_started(struct monitor *m) {
  char st[64] = "0", mst[64] = "0", json[512], pidfile[4200];
  proc_start_time(m->pid, st, sizeof st);
  proc_start_time(getpid(), mst, sizeof mst);
  snprintf(json, sizeof json, "{\"pid\":%d,\"pidStartTime\":\"%s\",\"monitorPid\":%d,\"monitorStartTime\":\"%s\"}\n",
           (int)m->pid, st, (int)getpid(), mst);
  snprintf(pidfile, sizeof pidfile, "%s/pid.json", m->c->state_dir);
  if (write_file_atomic(pidfile, json) < 0) fail(m->pid, write_error_code(errno), "write %s: %s", pidfile, strerror(errno));
  send_line(CTL_FD, "started %d %s %d", (int)m->pid, st, (int)getpid());
}

/* From here on nothing of the driver's is held: the agent may exit or die. */
static void detach_from_driver(struct monitor *m) {
  close(CTL_FD);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  close(devnull);
  close(m->donefd);
}

/* Drains the signalfd: SIGUSR1 drops the stdin writer; reaps children. Returns 1 (and PID 1's
 * wait status in *status) once PID 1 has exited. */
static int handle_signals(struct monitor *m, int *status) {
  struct signalfd_siginfo si;
  while (read(m->sfd, &si, sizeof si) > 0) {
    if (si.ssi_signo == SIGUSR1 && m->fifo_keep >= 0) {
      close(m->fifo_keep);
      m->fifo_keep = -1;
    }
  }
  int ws, exited = 0;
  pid_t w;
  while ((w = waitpid(-1, &ws, WNOHANG)) > 0) {
    if (w == m->pid) {
      *status = ws;
      exited = 1;
    }
  }
  return exited;
}

/* Milliseconds until `deadline` (CLOCK_MONOTONIC), at most 0 when it has passed. */
static long ms_until(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* The monitor's life after `started`: logs PID 1's stdout and stderr (with a tty: the pty's
 * output, as stdout, also relayed to the attached clients of `con`), handles SIGUSR1, waits
 * for PID 1. After it dies the kernel kills the rest of the namespace; the pipes get at most
 * 3 s more to drain. Returns PID 1's wait status. */
static int event_loop(struct monitor *m, struct console *con) {
  struct stream *out = calloc(1, sizeof *out), *err = calloc(1, sizeof *err);
  if (!out || !err) abort();
  out->fd = m->c->tty ? fcntl(m->master, F_DUPFD_CLOEXEC, 3) : m->outp[0];
  out->name = "stdout";
  out->tee = con;
  err->fd = m->c->tty ? -1 : m->errp[0];
  err->name = "stderr";
  int status = 0, exited = 0;
  struct timespec deadline = {0, 0};
  for (;;) {
    struct pollfd pf[3 + 2 + 16] = {{m->sfd, POLLIN, 0}, {out->fd, POLLIN, 0}, {err->fd, POLLIN, 0}};
    int n = 3 + (con ? console_pollfds(con, pf + 3, (int)(sizeof pf / sizeof pf[0]) - 3) : 0);
    int timeout = -1;
    if (exited) {
      long ms = ms_until(&deadline);
      if ((out->fd < 0 && err->fd < 0) || ms <= 0) break;
      timeout = (int)ms;
    }
    int r = poll(pf, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) break;
    if (con && r > 0) console_events(con, pf + 3, n - 3);
    if (pf[0].revents && handle_signals(m, &status)) {
      exited = 1;
      clock_gettime(CLOCK_MONOTONIC, &deadline);
      deadline.tv_sec += 3;
    }
    if (pf[1].revents && out->fd >= 0 && !stream_pump(out, &m->log)) close(out->fd), out->fd = -1;
    if (pf[2].revents && err->fd >= 0 && !stream_pump(err, &m->log)) close(err->fd), err->fd = -1;
  }
  if (out->n) log_emit(&m->log, "stdout", out->buf, out->n);
  if (err->n) log_emit(&m->log, "stderr", err->buf, err->n);
  return status;
}

/* stdin goes first, so nobody can attach once the exit is visible. */
static void close_stdin(struct monitor *m) {
  if (!m->c->open_stdin) return;
  unlink(m->fifo);
  if (m->fifo_keep >= 0) close(m->fifo_keep);
}

/* exit.json (atomic): the exit code, or 128+n and the signal name when killed by signal n. */
static void record_exit(const struct config *c, int status) {
  char ts[64], exitjson[256], exitfile[4200];
  format_time(ts, sizeof ts);
  if (WIFSIGNALED(status))
    snprintf(exitjson, sizeof exitjson, "{\"exitCode\":%d,\"signal\":\"%s\",\"finishedAt\":\"%s\"}\n",
             128 + WTERMSIG(status), signal_name(WTERMSIG(status)), ts);
  else
    snprintf(exitjson, sizeof exitjson, "{\"exitCode\":%d,\"finishedAt\":\"%s\"}\n", WEXITSTATUS(status), ts);
  snprintf(exitfile, sizeof exitfile, "%s/exit.json", c->state_dir);
  write_file_atomic(exitfile, exitjson);
}

/* The per-container monitor, from set-up to exit.json; never returns. */
static void monitor(struct config *c, int donefd) __attribute__((noreturn));
static void monitor(struct config *c, int donefd) {
  struct monitor m = {.c = c, .donefd = donefd, .pid = 0, .in = -1, .fifo_keep = -1, .sfd = -1, .lfd = -1, .master = -1};
  monitor_setup(&m);
  clone_container(&m);
  join_cgroups(&m);
  relay_start(&m);
  record_started(&m);
  detach_from_driver(&m);
  struct console *con = NULL;
  if (c->tty) {
    /* Out of memory here: the container still runs and logs, nobody can attach. */
    con = console_open(c, m.master);
    if (con) console_set_listener(con, m.lfd);
  }
  int status = event_loop(&m, con);
  if (con) console_close(con);
  close_stdin(&m);
  record_exit(c, status);
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
