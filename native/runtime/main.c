/*
 * shoal-runtime start|exec|init|version|spawner SOCKET
 *
 * `init` and `exec` first re-execute themselves from a sealed memfd copy, so no process of
 * the helper that a container can see (PID 1 before its execve or in --init mode, the exec
 * child) maps the on-disk binary, which therefore cannot be reopened for writing through
 * /proc/<pid>/exe (CVE-2019-5736); the sealed copy then makes itself non-dumpable, so none of
 * them can be ptraced or read through /proc/<pid>/ by the container. `init` is internal: the
 * monitor starts it as the container's PID 1. The config arrives on fd 3 (see
 * docs/runtime-helper.md).
 */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int is_sealed_self(void) {
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int seals = fcntl(fd, F_GET_SEALS);
  close(fd);
  return seals >= 0 && (seals & F_SEAL_WRITE);
}

void reexec_sealed(char **argv, int errfd) {
  if (is_sealed_self()) return;
  int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (src < 0) die_msg(errfd, "Internal", "open /proc/self/exe: %m");
  struct stat st;
  if (fstat(src, &st) < 0) die_msg(errfd, "Internal", "stat self: %m");
  int mfd = memfd_create("shoal-runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) die_msg(errfd, "Internal", "memfd_create: %m");
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(mfd, src, NULL, (size_t)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die_msg(errfd, "Internal", "copy self to memfd: %m");
    left -= n;
  }
  close(src);
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    die_msg(errfd, "Internal", "seal memfd: %m");
  char *none[] = {NULL}; /* clearenv() leaves environ NULL, which fexecve refuses */
  fexecve(mfd, argv, environ ? environ : none);
  die_msg(errfd, "Internal", "fexecve sealed copy: %m");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    dprintf(2, "usage: shoal-runtime start|exec|init|version (config on fd 3; see docs/runtime-helper.md)\n");
    return 2;
  }
  if (!strcmp(argv[1], "version")) {
    printf("shoal-runtime 1\n");
    return 0;
  }
  if (!strcmp(argv[1], "spawner")) {
    if (argc != 3) {
      dprintf(2, "usage: shoal-runtime spawner SOCKET (requests on stdin; see docs/runtime-helper.md)\n");
      return 2;
    }
    return spawner_main(argv[2]);
  }
  if (strcmp(argv[1], "start") && strcmp(argv[1], "exec") && strcmp(argv[1], "init")) {
    dprintf(2, "shoal-runtime: unknown command %s\n", argv[1]);
    return 2;
  }
  if (fcntl(CTL_FD, F_GETFD) < 0) {
    dprintf(2, "shoal-runtime: fd 3 (the control channel) is not open\n");
    return 2;
  }
  /* The long-lived monitor runs from the file (pages shared by all monitors); whatever a
   * container can see (its init stage, exec) runs from a sealed copy. */
  if (strcmp(argv[1], "start")) {
    reexec_sealed(argv, CTL_FD);
    /* Non-dumpable before anything of a container can reach us (the execve above made us
     * dumpable again): a container's process may not ptrace us nor open /proc/<pid>/{mem,
     * environ,fd,...} of us, although we share its uid and soon its capabilities, in the init
     * stage, in the exec helper and its child until their execve, and for good in the --init
     * reaper. As runc's nsexec (CVE-2016-9962). The user's program is dumpable again after its
     * execve, as in Docker. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die_msg(CTL_FD, "Internal", "prctl(PR_SET_DUMPABLE, 0): %m");
  }
  struct config c;
  if (read_config(CTL_FD, &c) < 0) die_msg(CTL_FD, "InvalidArgument", "malformed config on fd 3");
  if (!strcmp(argv[1], "start")) return start_main(&c);
  if (!strcmp(argv[1], "init")) container_main(&c, CTL_FD);
  return exec_main(&c);
}
