/*
 * `shoal-runtime spawner SOCKET`: a small long-lived process that forks `start` launchers for
 * the agent. Forking the agent itself (a Node process of 100 MB or more) costs 10-50 ms of its
 * main thread per container, because the kernel copies its page tables and libuv waits for the
 * child's exec; forking this process costs well under a millisecond.
 *
 * The agent writes one line per container on our stdin: `start <token>` (32 hex digits).
 * The forked child connects twice to SOCKET, the agent's listening Unix socket (in its run
 * dir, mode 0600), and introduces each connection with `<token> ctl` and `<token> err`; the
 * first becomes fd 3 (the control channel of docs/runtime-helper.md), the second stderr.
 * Then the child execs `shoal-runtime start` (this binary, through /proc/self/exe), which
 * reads the config on fd 3 and runs the launcher. Nothing from the agent is executed or interpreted here but the token,
 * which only names the connections.
 *
 * The spawner dies with the agent (PDEATHSIG) or when its stdin closes; launchers and
 * monitors it forked do not (PDEATHSIG is not inherited across fork), so a start in flight
 * sees the agent's end of fd 3 close and aborts through the normal protocol.
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN_LEN 32

static int connect_as(const char *path, const char *token, const char *kind) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || send_line(fd, "%s %s", token, kind) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The forked child: wire up fds 0-3 as `start` expects them, then be `start`. */
static void child(const char *path, const char *token) __attribute__((noreturn));
static void child(const char *path, const char *token) {
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  int ctl = connect_as(path, token, "ctl");
  int err = connect_as(path, token, "err");
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (ctl < 0 || err < 0 || null < 0) _exit(121);
  if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0 || dup2(ctl, CTL_FD) < 0) _exit(121);
  close_fds_from(CTL_FD + 1);
  /* dup2 onto the same number (the socket may already be fd 3) keeps close-on-exec: clear it. */
  for (int fd = 0; fd <= CTL_FD; fd++)
    if (fcntl(fd, F_SETFD, 0) < 0) _exit(121);
  /* Become `shoal-runtime start` for real (a fresh image, argv and state: the launcher and the
   * monitor it forks show up as `start` in ps, as before the spawner); exec of this small
   * static binary costs a fraction of a millisecond. */
  char *argv[] = {"shoal-runtime", "start", NULL};
  char *envp[] = {NULL};
  execve("/proc/self/exe", argv, envp);
  die_msg(CTL_FD, "Internal", "exec shoal-runtime start: %m");
}

static void reap(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static int valid_token(const char *t) {
  if (strlen(t) != TOKEN_LEN) return 0;
  for (const char *p = t; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

int spawner_main(const char *path) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) return 1;
  if (getppid() == 1) return 0; /* the agent is already gone */
  signal(SIGPIPE, SIG_IGN);
  char buf[4096];
  size_t have = 0;
  for (;;) {
    struct pollfd p = {.fd = 0, .events = POLLIN};
    int r = poll(&p, 1, 1000);
    reap();
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return 1;
    if (r == 0) continue;
    ssize_t n = read(0, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0; /* the agent closed our stdin: done */
    have += (size_t)n;
    buf[have] = '\0';
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', have - (size_t)(line - buf))) != NULL) {
      *nl = '\0';
      if (!strncmp(line, "start ", 6) && valid_token(line + 6)) {
        pid_t pid = fork();
        if (pid == 0) child(path, line + 6);
        if (pid < 0) dprintf(2, "shoal-runtime spawner: fork: %s\n", strerror(errno));
      } else {
        dprintf(2, "shoal-runtime spawner: ignoring a malformed request\n");
      }
      line = nl + 1;
    }
    have -= (size_t)(line - buf);
    memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0; /* a line longer than any request: drop it */
  }
}
