/*
 * Terminals (`tty`): the pty of a container's process and what holds its master.
 *
 * The pty is made by the process's own helper stage *inside* the container, after
 * pivot_root and after the process's credentials are in place (console_setup): it opens
 * /dev/pts/ptmx of the container's devpts instance, makes sure that is a devpts ptmx, takes
 * the peer with TIOCGPTPEER (no /dev/pts/<n> path is ever opened), makes it the controlling
 * terminal and stdio, and hands the master over a unix socket with SCM_RIGHTS, as runc does
 * with its console socket. The receiving side (the monitor, or the exec helper) checks the
 * fd before using it (recv_master): nothing on the host is opened by a path the container
 * can influence. docs/runtime-helper.md, "Terminals", says why this matters.
 *
 * The monitor then serves the master on `stateDir/attach.sock` (struct console): clients
 * send frames (input, resize, attach), attached clients get the output, and what is written
 * while nobody is attached is kept (the last RING_MAX bytes) for the next client to attach.
 * exec_tty_relay is the exec helper's smaller version: its own stdin and stdout, resize
 * lines on fd 3.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif

/* Frames on attach.sock (and, in the same format, from engine clients): type, u32 BE length,
 * payload. Input goes to the pty (when open_stdin), resize is u16 BE rows then cols, attach
 * (no payload) subscribes the connection to the output. */
enum { FRAME_INPUT = 0, FRAME_RESIZE = 1, FRAME_ATTACH = 2 };
#define FRAME_INPUT_MAX (1u << 20)

#define MAX_CLIENTS 16
#define CLIENT_OUT_MAX (1u << 20) /* output queued for a client that does not read: then it is dropped */
#define RING_MAX 16384            /* output kept while nobody is attached */
#define IN_MAX 65536              /* input queued for the pty */
#define READ_CHUNK 4096

/* The ptmx node of a devpts instance: char 5:2 with inode 2 (fs/devpts/inode.c, mknod_ptmx). */
static int is_devpts_ptmx(int fd) {
  struct stat st;
  struct statfs sf;
  if (fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0) return 0;
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 2) && st.st_ino == 2 && sf.f_type == DEVPTS_SUPER_MAGIC;
}

static int send_fd(int sock, int fd) {
  char byte = 'F';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  ssize_t r;
  do r = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r == 1 ? 0 : -1;
}

/*
 * Receives the one fd that follows a "console" line on `sock` and checks that it is the
 * master of a pty of a devpts instance (a devpts ptmx that answers TIOCGPTN). Returns it
 * (close-on-exec), or -1 with errno set; a wrong fd, or any extra fd, is closed.
 */
int recv_master(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(4 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r != 1) {
    if (r >= 0) errno = EPROTO;
    return -1;
  }
  int fd = -1, extra = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int f;
      memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
      if (fd < 0) fd = f;
      else close(f), extra = 1;
    }
  }
  unsigned ptn;
  if (fd < 0 || extra || (msg.msg_flags & MSG_CTRUNC) || !is_devpts_ptmx(fd) || ioctl(fd, TIOCGPTN, &ptn) < 0) {
    if (fd >= 0) close(fd);
    errno = EPROTO;
    return -1;
  }
  return fd;
}

/*
 * In the container (the init stage of `start`, the child of `exec`), after pivot_root and
 * the credentials: a new pty of the container's devpts instance, its master sent on `sock`
 * ("console" line, then the fd), its peer our controlling terminal and stdio. Errors go to
 * `errfd` and end the process.
 */
void console_setup(struct config *c, int sock, int errfd) {
  /* /dev and /dev/pts are mount points the container cannot replace (no CAP_SYS_ADMIN);
   * O_NOFOLLOW and the checks below refuse anything else. */
  int pts = open("/dev/pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (pts < 0) die_msg(errfd, "Internal", "open /dev/pts: %m");
  int master = openat(pts, "ptmx", O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
  if (master < 0) die_msg(errfd, "Internal", "open /dev/pts/ptmx: %m");
  close(pts);
  if (!is_devpts_ptmx(master)) die_msg(errfd, "Internal", "/dev/pts/ptmx is not the ptmx of a devpts instance");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die_msg(errfd, "Internal", "unlock pty: %m");
  int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (peer < 0) die_msg(errfd, "Internal", "open the pty's peer (TIOCGPTPEER, Linux 4.13 or later): %m");
  if (c->tty_rows && c->tty_cols) {
    struct winsize ws = {.ws_row = c->tty_rows, .ws_col = c->tty_cols};
    if (ioctl(peer, TIOCSWINSZ, &ws) < 0) die_msg(errfd, "Internal", "set the window size: %m");
  }
  if (send_line(sock, "console") < 0 || send_fd(sock, master) < 0) die_msg(errfd, "Internal", "hand over the pty: %m");
  close(master);
  if (setsid() < 0) die_msg(errfd, "Internal", "setsid: %m");
  if (ioctl(peer, TIOCSCTTY, 0) < 0) die_msg(errfd, "Internal", "make the pty the controlling terminal: %m");
  for (int i = 0; i < 3; i++)
    if (dup2(peer, i) < 0) die_msg(errfd, "Internal", "pty as stdio: %m");
  if (peer > 2) close(peer);
}

static void set_winsize(int master, unsigned rows, unsigned cols) {
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(master, TIOCSWINSZ, &ws);
}

/* Writes what it can of buf[0..*n) to a non-blocking fd; keeps the rest. -1 on a hard error. */
static int flush_some(int fd, char *buf, size_t *n) {
  while (*n > 0) {
    ssize_t w = write(fd, buf, *n);
    if (w < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
    memmove(buf, buf + w, *n - (size_t)w);
    *n -= (size_t)w;
  }
  return 0;
}

static long ms_left(const struct timespec *deadline) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/*
 * The exec helper with a terminal: its stdin goes to the pty, the pty's output to its
 * stdout, "resize <rows> <cols>" lines on fd 3 set the window size, signals go to the
 * child. Returns the child's exit code (128+n when killed), once it has exited and the pty
 * is drained (at most 1 s more: a background process may hold it open).
 */
int exec_tty_relay(struct config *c, pid_t child, int master) {
  (void)c;
  sigset_t all;
  sigfillset(&all);
  int sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    kill(child, SIGKILL);
    die_msg(CTL_FD, "Internal", "signalfd: %m");
  }
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  static char in[IN_MAX], out[16384];
  size_t inn = 0;
  int in_open = 1, ctl_open = 1, exited = 0, status = 0;
  struct timespec deadline = {0, 0};
  for (;;) {
    int timeout = -1;
    if (exited) {
      long ms = ms_left(&deadline);
      if (master < 0 || ms <= 0) break;
      timeout = (int)ms;
    }
    struct pollfd pf[4] = {
        {sfd, POLLIN, 0},
        {in_open && inn < IN_MAX && master >= 0 ? 0 : -1, POLLIN, 0},
        {master, (short)(POLLIN | (inn ? POLLOUT : 0)), 0},
        {ctl_open ? CTL_FD : -1, POLLIN, 0},
    };
    if (poll(pf, 4, timeout) < 0 && errno != EINTR) break;
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGCHLD) {
          kill(child, (int)si.ssi_signo);
          continue;
        }
        if (!exited && waitpid(child, &status, WNOHANG) == child) {
          exited = 1;
          clock_gettime(CLOCK_MONOTONIC, &deadline);
          deadline.tv_sec += 1;
        }
      }
    }
    if (pf[1].revents) {
      ssize_t r = read(0, in + inn, IN_MAX - inn);
      if (r > 0) inn += (size_t)r;
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) in_open = 0;
    }
    if (master >= 0 && (pf[2].revents & POLLOUT) && flush_some(master, in, &inn) < 0) inn = 0;
    if (master >= 0 && (pf[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(master, out, sizeof out);
      if (r > 0) write_all(1, out, (size_t)r); /* a vanished reader (EPIPE) only loses output */
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) close(master), master = -1; /* EIO: no peer left */
    }
    if (pf[3].revents) {
      char line[64];
      unsigned rows, cols;
      if (read_line(CTL_FD, line, sizeof line) < 0) ctl_open = 0;
      else if (master >= 0 && sscanf(line, "resize %u %u", &rows, &cols) == 2 && rows < 65536 && cols < 65536) set_winsize(master, rows, cols);
    }
  }
  if (master >= 0) close(master);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ── the monitor's attach socket ────────────────────────────────────────────────────────── */

struct client {
  int fd;
  int attached;         /* sent FRAME_ATTACH: gets the output */
  unsigned char hdr[5]; /* the frame header being read */
  size_t hn;
  unsigned long left; /* payload bytes of the current frame still to come */
  unsigned char rs[4];
  size_t rn;
  char *out; /* output not yet written to it */
  size_t on, ocap;
};

struct console {
  struct config *c;
  int master, lfd;
  struct client cl[MAX_CLIENTS];
  int ncl;
  char ring[RING_MAX]; /* output while nobody was attached (the last RING_MAX bytes) */
  size_t rn;
  char in[IN_MAX]; /* input for the pty */
  size_t inn;
  int pf_l, pf_m, pf_c[MAX_CLIENTS]; /* where console_pollfds put each fd */
};

/* stateDir/attach.sock, listening, mode 0600 (bound by a relative name: a state dir may be
 * longer than sun_path). */
int console_listen(const char *state_dir) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  strcpy(a.sun_path, ATTACH_SOCKET);
  int r = -1, e = 0;
  if (chdir(state_dir) == 0) {
    unlink(ATTACH_SOCKET);
    mode_t old = umask(077);
    r = bind(fd, (struct sockaddr *)&a, sizeof a);
    e = errno;
    umask(old);
    if (chdir("/") < 0 && r == 0) r = -1, e = errno;
  } else {
    e = errno;
  }
  if (r == 0 && listen(fd, MAX_CLIENTS) < 0) r = -1, e = errno;
  if (r < 0) {
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

struct console *console_open(struct config *c, int master) {
  struct console *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->c = c;
  k->master = master;
  k->lfd = -1;
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  return k;
}

void console_set_listener(struct console *k, int lfd) { k->lfd = lfd; }

static void client_drop(struct client *cl) {
  if (cl->fd >= 0) close(cl->fd);
  cl->fd = -1;
  free(cl->out);
  cl->out = NULL;
  cl->on = cl->ocap = 0;
}

static int client_queue(struct client *cl, const char *data, size_t n) {
  if (cl->on + n > CLIENT_OUT_MAX) return -1;
  if (cl->on + n > cl->ocap) {
    size_t cap = cl->ocap ? cl->ocap : 16384;
    while (cap < cl->on + n) cap *= 2;
    char *p = realloc(cl->out, cap);
    if (!p) return -1;
    cl->out = p;
    cl->ocap = cap;
  }
  memcpy(cl->out + cl->on, data, n);
  cl->on += n;
  return 0;
}

/* Output of the pty: to every attached client, else into the ring for the next one. */
void console_output(struct console *k, const char *data, size_t n) {
  int any = 0;
  for (int i = 0; i < k->ncl; i++) {
    struct client *cl = &k->cl[i];
    if (cl->fd < 0 || !cl->attached) continue;
    any = 1;
    /* A client that does not keep up is dropped rather than let it hold the container. */
    if (client_queue(cl, data, n) < 0 || flush_some(cl->fd, cl->out, &cl->on) < 0) client_drop(cl);
  }
  if (any) return;
  if (n >= RING_MAX) {
    memcpy(k->ring, data + n - RING_MAX, RING_MAX);
    k->rn = RING_MAX;
    return;
  }
  if (k->rn + n > RING_MAX) {
    size_t drop = k->rn + n - RING_MAX;
    memmove(k->ring, k->ring + drop, k->rn - drop);
    k->rn -= drop;
  }
  memcpy(k->ring + k->rn, data, n);
  k->rn += n;
}

static int frame_start(struct console *k, struct client *cl) {
  unsigned type = cl->hdr[0];
  cl->left = ((unsigned long)cl->hdr[1] << 24) | ((unsigned long)cl->hdr[2] << 16) | ((unsigned long)cl->hdr[3] << 8) | cl->hdr[4];
  cl->rn = 0;
  if (type == FRAME_INPUT) return cl->left <= FRAME_INPUT_MAX ? 0 : -1;
  if (type == FRAME_RESIZE) return cl->left == 4 ? 0 : -1;
  if (type == FRAME_ATTACH && cl->left == 0) {
    if (!cl->attached) {
      cl->attached = 1;
      if (client_queue(cl, k->ring, k->rn) < 0) return -1;
      k->rn = 0;
    }
    return 0;
  }
  return -1;
}

/* Reads what a client sent; -1 when it is gone or broke the framing. */
static int client_read(struct console *k, struct client *cl) {
  unsigned char buf[READ_CHUNK];
  size_t room = sizeof buf;
  if (k->c->open_stdin && IN_MAX - k->inn < room) room = IN_MAX - k->inn;
  if (room == 0) return 0;
  ssize_t r = read(cl->fd, buf, room);
  if (r == 0) return -1;
  if (r < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
  for (size_t i = 0; i < (size_t)r;) {
    if (cl->hn < 5) {
      cl->hdr[cl->hn++] = buf[i++];
      if (cl->hn == 5) {
        if (frame_start(k, cl) < 0) return -1;
        if (cl->left == 0) cl->hn = 0;
      }
      continue;
    }
    size_t take = (size_t)r - i < cl->left ? (size_t)r - i : cl->left;
    if (cl->hdr[0] == FRAME_INPUT && k->c->open_stdin) {
      memcpy(k->in + k->inn, buf + i, take); /* fits: the payload is at most what was read */
      k->inn += take;
    } else if (cl->hdr[0] == FRAME_RESIZE) {
      memcpy(cl->rs + cl->rn, buf + i, take);
      cl->rn += take;
      if (cl->rn == 4) set_winsize(k->master, (cl->rs[0] << 8) | cl->rs[1], (cl->rs[2] << 8) | cl->rs[3]);
    }
    i += take;
    cl->left -= take;
    if (cl->left == 0) cl->hn = 0;
  }
  return 0;
}

static void console_accept(struct console *k) {
  while (k->ncl < MAX_CLIENTS) {
    int fd = accept4(k->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid()) {
      close(fd);
      continue;
    }
    struct client *cl = &k->cl[k->ncl++];
    memset(cl, 0, sizeof *cl);
    cl->fd = fd;
  }
}

/* Fills pfds with the listener, the pty (when input waits) and the clients; returns how many. */
int console_pollfds(struct console *k, struct pollfd *pf, int max) {
  int n = 0;
  k->pf_l = k->pf_m = -1;
  int can_read = !k->c->open_stdin || IN_MAX - k->inn >= READ_CHUNK;
  if (k->lfd >= 0 && k->ncl < MAX_CLIENTS && n < max) k->pf_l = n, pf[n++] = (struct pollfd){k->lfd, POLLIN, 0};
  if (k->master >= 0 && k->inn > 0 && n < max) k->pf_m = n, pf[n++] = (struct pollfd){k->master, POLLOUT, 0};
  for (int i = 0; i < k->ncl; i++) {
    k->pf_c[i] = -1;
    if (n >= max) continue;
    short ev = (short)((can_read ? POLLIN : 0) | (k->cl[i].on ? POLLOUT : 0));
    k->pf_c[i] = n;
    pf[n++] = (struct pollfd){k->cl[i].fd, ev, 0};
  }
  return n;
}

void console_events(struct console *k, const struct pollfd *pf, int n) {
  (void)n;
  if (k->pf_m >= 0 && pf[k->pf_m].revents && flush_some(k->master, k->in, &k->inn) < 0) k->inn = 0;
  for (int i = 0; i < k->ncl; i++) {
    int j = k->pf_c[i];
    struct client *cl = &k->cl[i];
    if (j < 0 || !pf[j].revents) continue;
    if ((pf[j].revents & POLLOUT) && flush_some(cl->fd, cl->out, &cl->on) < 0) {
      client_drop(cl);
      continue;
    }
    if ((pf[j].revents & (POLLIN | POLLHUP | POLLERR)) && client_read(k, cl) < 0) client_drop(cl);
  }
  int w = 0;
  for (int i = 0; i < k->ncl; i++)
    if (k->cl[i].fd >= 0) k->cl[w++] = k->cl[i];
  k->ncl = w;
  if (k->inn > 0 && flush_some(k->master, k->in, &k->inn) < 0) k->inn = 0;
  if (k->pf_l >= 0 && pf[k->pf_l].revents) console_accept(k);
}

/* At the exit: nobody can connect any more; clients get what is queued (up to 1 s each), then EOF. */
void console_close(struct console *k) {
  if (k->lfd >= 0) {
    close(k->lfd);
    k->lfd = -1;
    if (chdir(k->c->state_dir) == 0) {
      unlink(ATTACH_SOCKET);
      if (chdir("/") < 0) { /* nothing left to do in the state dir */
      }
    }
  }
  for (int i = 0; i < k->ncl; i++) {
    struct client *cl = &k->cl[i];
    /* An attach frame not read yet (a process that was quick to exit) still gets the output. */
    if (!cl->attached && client_read(k, cl) < 0) {
      client_drop(cl);
      continue;
    }
    if (cl->on > 0) {
      fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) & ~O_NONBLOCK);
      struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
      setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      write_all(cl->fd, cl->out, cl->on);
    }
    client_drop(cl);
  }
  k->ncl = 0;
  if (k->master >= 0) close(k->master);
  k->master = -1;
}
