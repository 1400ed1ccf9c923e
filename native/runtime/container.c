/*
 * What runs inside the new namespaces before execve: the root filesystem (overlayfs, /proc,
 * /dev, /sys, cgroupfs, bind mounts, pivot_root, masked and read-only paths), the hostname,
 * and the process settings shared with `exec` (rlimits, credentials, capabilities,
 * no_new_privs, seccomp). Every failure is reported as "error <Code> <message>" on the sync
 * socket and ends the process; the monitor then kills what is left.
 */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

enum { K_NONE, K_DIR, K_FILE };

static int resolve_in_root(int rootfd, const char *rel, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (unsigned long long)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

/* As the kernel's MAXSYMLINKS: dangling links followed by hand while creating a mount target. */
#define MAX_TARGET_LINKS 40

/*
 * Opens `path` (symlinks resolved as if rootfd were "/", so an image cannot point a mount
 * target at the host) as an O_PATH fd, creating missing components as directories (and the
 * last one as a file for K_FILE). A component that is a dangling symlink (an image's
 * /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf) is followed by hand, as
 * RESOLVE_IN_ROOT would (absolute targets start at the root), and what it names is created
 * inside the root; at most MAX_TARGET_LINKS of them (ELOOP).
 */
static int open_in_root_hops(int rootfd, const char *path, int kind, int hops) {
  while (*path == '/') path++;
  if (!*path) return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  int fd = resolve_in_root(rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || kind == K_NONE) return fd;
  char buf[PATH_MAX];
  if (strlen(path) >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(buf, path);
  size_t len = strlen(buf);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char saved = buf[i];
    buf[i] = 0;
    int f = resolve_in_root(rootfd, buf, O_PATH);
    if (f >= 0) {
      close(f);
    } else if (errno == ENOENT) {
      char *slash = strrchr(buf, '/');
      int pfd;
      const char *name;
      if (slash) {
        *slash = 0;
        pfd = resolve_in_root(rootfd, buf, O_PATH | O_DIRECTORY);
        *slash = '/';
        name = slash + 1;
      } else {
        pfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        name = buf;
      }
      if (pfd < 0) return -1;
      char target[PATH_MAX];
      ssize_t tn = readlinkat(pfd, name, target, sizeof target - 1);
      if (tn > 0) {
        /* A dangling symlink: go on with its target (then the rest of the path), inside the root. */
        close(pfd);
        target[tn] = 0;
        const char *rest = path + i;
        size_t plen = slash ? (size_t)(slash - buf) : 0;
        char next[PATH_MAX];
        int n = target[0] == '/' ? snprintf(next, sizeof next, "%s%s", target, rest)
                                 : snprintf(next, sizeof next, "%.*s/%s%s", (int)plen, buf, target, rest);
        if (n < 0 || (size_t)n >= sizeof next) {
          errno = ENAMETOOLONG;
          return -1;
        }
        if (hops >= MAX_TARGET_LINKS) {
          errno = ELOOP;
          return -1;
        }
        return open_in_root_hops(rootfd, next, kind, hops + 1);
      }
      int r;
      if (saved == 0 && kind == K_FILE) {
        r = openat(pfd, name, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (r >= 0) close(r);
      } else {
        r = mkdirat(pfd, name, 0755);
        if (r < 0 && errno == EEXIST) r = 0;
      }
      int e = errno;
      close(pfd);
      if (r < 0) {
        errno = e;
        return -1;
      }
    } else {
      return -1;
    }
    buf[i] = saved;
  }
  return resolve_in_root(rootfd, path, O_PATH);
}

static int open_in_root(int rootfd, const char *path, int kind) { return open_in_root_hops(rootfd, path, kind, 0); }

static void fdpath(char *out, size_t cap, int fd) { snprintf(out, cap, "/proc/self/fd/%d", fd); }

/* Mounts onto `dst` inside the root; for a read-only bind, remounts the new mount read-only. */
/* Remounts the bind mount at `path` read-only, keeping the nosuid/nodev/noexec it already has
 * (a read-only remount that drops them fails with EPERM in a user namespace, and must never
 * loosen them anyway). `what` names it in the error. */
static void remount_readonly(int sync, const char *path, const char *what) {
  struct statvfs sv;
  unsigned long keep = 0;
  if (statvfs(path, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
    die_msg(sync, "Internal", "remount %s read-only: %m", what);
}

static void mount_in_root(int sync, int rootfd, const char *src, const char *dst, const char *type,
                          unsigned long flags, const char *data, int kind) {
  int fd = open_in_root(rootfd, dst, kind);
  /* A link loop or a file on the way is the image's doing, not ours. */
  if (fd < 0) die_msg(sync, errno == ELOOP || errno == ENOTDIR ? "InvalidArgument" : "Internal", "mount target %s: %m", dst);
  char t[64];
  fdpath(t, sizeof t, fd);
  if (mount(src, t, type, flags & ~(unsigned long)MS_RDONLY, data) < 0)
    die_msg(sync, "Internal", "mount %s on %s: %m", src, dst);
  close(fd);
  if ((flags & MS_BIND) && (flags & MS_RDONLY)) {
    /* The old fd names the mount point below the new mount: reopen to reach the new one. */
    fd = open_in_root(rootfd, dst, K_NONE);
    if (fd < 0) die_msg(sync, "Internal", "reopen %s: %m", dst);
    fdpath(t, sizeof t, fd);
    remount_readonly(sync, t, dst);
    close(fd);
  } else if (!(flags & MS_BIND) && (flags & MS_RDONLY)) {
    fd = open_in_root(rootfd, dst, K_NONE);
    if (fd < 0) die_msg(sync, "Internal", "reopen %s: %m", dst);
    fdpath(t, sizeof t, fd);
    if (mount(NULL, t, NULL, MS_REMOUNT | flags, data) < 0)
      die_msg(sync, "Internal", "remount %s read-only: %m", dst);
    close(fd);
  }
}

static void refuse_symlink(int sync, int rootfd, const char *name) {
  struct stat st;
  if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    die_msg(sync, "InvalidArgument", "/%s in the image is a symlink; refusing to mount over it", name);
}

static void mount_overlay(int sync, struct config *c, const char *root) {
  size_t cap = 64 + strlen(c->upper) + strlen(c->work);
  for (size_t i = 0; i < c->lower.n; i++) cap += strlen(c->lower.v[i]) + 1;
  char *opts = malloc(cap + c->lower.n * 24);
  if (!opts) die_msg(sync, "Internal", "out of memory");
  long page = sysconf(_SC_PAGESIZE);
  int shortpaths = (long)cap >= page - 1;
  char *p = opts + sprintf(opts, "lowerdir=");
  for (size_t i = 0; i < c->lower.n; i++) {
    if (i) *p++ = ':';
    if (shortpaths) {
      /* The option string must fit in a page: name each layer by an fd instead. */
      int fd = open(c->lower.v[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) die_msg(sync, "Internal", "open layer %s: %m", c->lower.v[i]);
      p += sprintf(p, "/proc/self/fd/%d", fd);
    } else {
      p += sprintf(p, "%s", c->lower.v[i]);
    }
  }
  sprintf(p, ",upperdir=%s,workdir=%s", c->upper, c->work);
  if (mount("overlay", root, "overlay", 0, opts) < 0) die_msg(sync, "Internal", "mount overlay rootfs: %m");
  free(opts);
}

static void mkdev(int sync, const char *root, const char *name, unsigned maj, unsigned min) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/dev/%s", root, name);
  if (mknod(path, S_IFCHR | 0666, makedev(maj, min)) < 0) die_msg(sync, "Internal", "mknod /dev/%s: %m", name);
  chmod(path, 0666); /* umask */
}

static void mount_dev(int sync, int rootfd, const char *root) {
  mount_in_root(sync, rootfd, "tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", K_DIR);
  mkdev(sync, root, "null", 1, 3);
  mkdev(sync, root, "zero", 1, 5);
  mkdev(sync, root, "full", 1, 7);
  mkdev(sync, root, "random", 1, 8);
  mkdev(sync, root, "urandom", 1, 9);
  mkdev(sync, root, "tty", 5, 0);
  char p[PATH_MAX];
  static const char *dirs[] = {"pts", "shm", "mqueue"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/dev/%s", root, dirs[i]);
    if (mkdir(p, 0755) < 0) die_msg(sync, "Internal", "mkdir /dev/%s: %m", dirs[i]);
  }
  snprintf(p, sizeof p, "%s/dev/pts", root);
  if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
    die_msg(sync, "Internal", "mount /dev/pts: %m");
  snprintf(p, sizeof p, "%s/dev/shm", root);
  if (mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    die_msg(sync, "Internal", "mount /dev/shm: %m");
  snprintf(p, sizeof p, "%s/dev/mqueue", root);
  if (mount("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die_msg(sync, "Internal", "mount /dev/mqueue: %m");
  static const char *links[][2] = {{"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},
                                   {"/proc/self/fd/0", "stdin"},  {"/proc/self/fd/1", "stdout"},
                                   {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}};
  for (int i = 0; i < 6; i++) {
    snprintf(p, sizeof p, "%s/dev/%s", root, links[i][1]);
    if (symlink(links[i][0], p) < 0) die_msg(sync, "Internal", "symlink /dev/%s: %m", links[i][1]);
  }
}

/* cgroupfs at /sys/fs/cgroup, read-only, rooted at the container's cgroup (cgroup namespace). */
static void mount_cgroupfs(int sync, const char *root) {
  const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  char target[PATH_MAX];
  snprintf(target, sizeof target, "%s/sys/fs/cgroup", root);
  struct statfs sf;
  if (statfs("/sys/fs/cgroup", &sf) < 0) return; /* no cgroupfs on the host */
  if (sf.f_type == CGROUP2_SUPER_MAGIC) {
    if (mount("cgroup2", target, "cgroup2", ro, NULL) < 0) die_msg(sync, "Internal", "mount cgroup2: %m");
    return;
  }
  /* v1 (or hybrid): a tmpfs with one read-only mount per hierarchy the host has. */
  if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0)
    die_msg(sync, "Internal", "mount tmpfs on /sys/fs/cgroup: %m");
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) die_msg(sync, "Internal", "read mountinfo: %m");
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    /* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
    char *sep = strstr(line, " - ");
    if (!sep) continue;
    char mp[PATH_MAX], fstype[64], source[256], super[1024];
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
    if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, super) != 3) continue;
    if (strncmp(mp, "/sys/fs/cgroup/", 15) != 0 || strchr(mp + 15, '/')) continue;
    const char *name = mp + 15;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", target, name);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) continue;
    if (!strcmp(fstype, "cgroup2")) {
      if (mount("cgroup2", dir, "cgroup2", ro, NULL) < 0) rmdir(dir);
    } else if (!strcmp(fstype, "cgroup")) {
      /* Same options as the host's hierarchy (a v1 mount must match them), minus rw/ro. */
      char opts[1024] = "";
      char *save = NULL;
      for (char *tok = strtok_r(super, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "rw") || !strcmp(tok, "ro")) continue;
        if (opts[0]) strncat(opts, ",", sizeof opts - strlen(opts) - 1);
        strncat(opts, tok, sizeof opts - strlen(opts) - 1);
      }
      if (mount("cgroup", dir, "cgroup", ro, opts) < 0) rmdir(dir);
    }
  }
  free(line);
  fclose(f);
  DIR *d = opendir("/sys/fs/cgroup");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_type != DT_LNK) continue;
      char src[PATH_MAX], lnk[PATH_MAX], to[PATH_MAX];
      snprintf(src, sizeof src, "/sys/fs/cgroup/%s", e->d_name);
      ssize_t n = readlink(src, to, sizeof to - 1);
      if (n <= 0) continue;
      to[n] = 0;
      snprintf(lnk, sizeof lnk, "%s/%s", target, e->d_name);
      if (symlink(to, lnk) < 0) { /* best effort */
      }
    }
    closedir(d);
  }
  if (mount(NULL, target, NULL, MS_REMOUNT | ro, "mode=755") < 0)
    die_msg(sync, "Internal", "remount /sys/fs/cgroup read-only: %m");
}

static void mask_paths(int sync, struct config *c) {
  for (size_t i = 0; i < c->masked.n; i++) {
    const char *p = c->masked.v[i];
    struct stat st;
    if (stat(p, &st) < 0) continue;
    int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL)
                                : mount("/dev/null", p, NULL, MS_BIND, NULL);
    if (r < 0) die_msg(sync, "Internal", "mask %s: %m", p);
  }
  for (size_t i = 0; i < c->ro_paths.n; i++) {
    const char *p = c->ro_paths.v[i];
    struct stat st;
    if (stat(p, &st) < 0) continue;
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) die_msg(sync, "Internal", "bind %s: %m", p);
    remount_readonly(sync, p, p);
  }
}

static void setup_rootfs(int sync, struct config *c) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die_msg(sync, "Internal", "make / private: %m");
  char root[PATH_MAX];
  snprintf(root, sizeof root, "%s/rootfs", c->state_dir);
  if (mkdir(root, 0755) < 0 && errno != EEXIST) die_msg(sync, "Internal", "mkdir %s: %m", root);
  mount_overlay(sync, c, root);
  int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die_msg(sync, "Internal", "open rootfs: %m");
  refuse_symlink(sync, rootfd, "proc");
  refuse_symlink(sync, rootfd, "dev");
  refuse_symlink(sync, rootfd, "sys");
  mount_in_root(sync, rootfd, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, K_DIR);
  mount_dev(sync, rootfd, root);
  /* A fresh sysfs in every network mode, as Docker's: it shows the devices of the netns we are
   * in (the host's under `network: host`) and has no submounts, so the host's tracefs, debugfs,
   * securityfs, bpffs, pstore... are not there at all (an rbind of the host's /sys carried them,
   * and MS_RDONLY on the bind did not reach them). */
  mount_in_root(sync, rootfd, "sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, K_DIR);
  mount_cgroupfs(sync, root);
  for (size_t i = 0; i < c->nbinds; i++) {
    struct stat st;
    if (stat(c->binds[i].src, &st) < 0) die_msg(sync, "InvalidArgument", "bind mount source %s: %m", c->binds[i].src);
    unsigned long fl = MS_BIND | MS_REC | (c->binds[i].ro ? MS_RDONLY : 0);
    mount_in_root(sync, rootfd, c->binds[i].src, c->binds[i].dst, NULL, fl, NULL, S_ISDIR(st.st_mode) ? K_DIR : K_FILE);
  }
  const char *etc[][2] = {{c->etc_hosts, "etc/hosts"}, {c->etc_hostname, "etc/hostname"}, {c->etc_resolv, "etc/resolv.conf"}};
  for (int i = 0; i < 3; i++)
    if (etc[i][0]) mount_in_root(sync, rootfd, etc[i][0], etc[i][1], NULL, MS_BIND, NULL, K_FILE);
  close(rootfd);
  if (chdir(root) < 0) die_msg(sync, "Internal", "chdir rootfs: %m");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die_msg(sync, "Internal", "pivot_root: %m");
  /* The old root is now stacked under "."; detach it so no host path stays reachable. */
  if (umount2(".", MNT_DETACH) < 0) die_msg(sync, "Internal", "detach old root: %m");
  if (chdir("/") < 0) die_msg(sync, "Internal", "chdir /: %m");
  mask_paths(sync, c);
}

/* rlimits, credentials, capabilities, no_new_privs, seccomp: shared by start and exec. */
void apply_process(struct config *c, int sync) {
  umask(022); /* what Docker gives a process, whatever the agent's umask is */
  for (int i = 0; i < c->nrl; i++) {
    struct rlimit rl = {.rlim_cur = c->rl[i].soft == ~0ULL ? RLIM_INFINITY : c->rl[i].soft,
                        .rlim_max = c->rl[i].hard == ~0ULL ? RLIM_INFINITY : c->rl[i].hard};
    if (setrlimit((__rlimit_resource_t)c->rl[i].res, &rl) == 0) continue;
    /* Without CAP_SYS_RESOURCE (some hosts run us that way) a hard limit cannot be raised:
     * clamp to the current one rather than refuse to run. */
    struct rlimit cur;
    if (errno == EPERM && getrlimit((__rlimit_resource_t)c->rl[i].res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
      if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > cur.rlim_max) rl.rlim_max = cur.rlim_max;
      if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max) rl.rlim_cur = rl.rlim_max;
      if (setrlimit((__rlimit_resource_t)c->rl[i].res, &rl) == 0) continue;
    }
    die_msg(sync, "InvalidArgument", "setrlimit %d: %m", c->rl[i].res);
  }
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break; /* past the kernel's last capability */
    if (!(c->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      die_msg(sync, "Internal", "drop capability %d from the bounding set: %m", cap);
  }
  /* Without no_new_privs a filter needs CAP_SYS_ADMIN, which is still held here. */
  if (c->seccomp && !c->nnp && install_seccomp(c->caps) < 0) die_msg(sync, "Internal", "seccomp: %m");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die_msg(sync, "Internal", "keepcaps: %m");
  gid_t gids[64];
  size_t ng = 0;
  for (size_t i = 0; i < c->gids.n && ng < 64; i++) gids[ng++] = (gid_t)strtoul(c->gids.v[i], NULL, 10);
  if (setgroups(ng, gids) < 0) die_msg(sync, "Internal", "setgroups: %m");
  if (setresgid(c->gid, c->gid, c->gid) < 0) die_msg(sync, "Internal", "setgid %u: %m", c->gid);
  if (setresuid(c->uid, c->uid, c->uid) < 0) die_msg(sync, "Internal", "setuid %u: %m", c->uid);
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; i++) {
    data[i].effective = data[i].permitted = (unsigned)(c->caps >> (32 * i));
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) die_msg(sync, "Internal", "capset: %m");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (c->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die_msg(sync, "Internal", "no_new_privs: %m");
  if (c->seccomp && c->nnp && install_seccomp(c->caps) < 0) die_msg(sync, "Internal", "seccomp: %m");
  if (chdir(c->cwd) < 0) die_msg(sync, "InvalidArgument", "working directory %s: %m", c->cwd);
  /* getcwd says "(unreachable)..." for a directory outside our root (CVE-2024-21626). */
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
    die_msg(sync, "InvalidArgument", "working directory %s is outside the container's root", c->cwd);
}

static const char *env_get(struct config *c, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < c->env.n; i++)
    if (!strncmp(c->env.v[i], name, n) && c->env.v[i][n] == '=') return c->env.v[i] + n + 1;
  return NULL;
}

/* execve with a PATH search in the container's environment; errors go to `sync` as usual. */
void exec_user(struct config *c, int sync) {
  close_fds_from(3);
  char **argv = c->args.v;
  char **envp = c->env.v ? c->env.v : (char *[]){NULL};
  const char *file = argv[0];
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    die_msg(sync, errno == ENOENT ? "InvalidArgument" : "Internal", "exec %s: %m", file);
  }
  const char *path = env_get(c, "PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int saw_eacces = 0;
  const char *p = path;
  while (*p || p == path) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    char full[PATH_MAX];
    snprintf(full, sizeof full, "%.*s/%s", (int)len, len ? p : ".", file);
    execve(full, argv, envp);
    if (errno == EACCES) saw_eacces = 1;
    if (!e) break;
    p = e + 1;
  }
  if (saw_eacces) die_msg(sync, "InvalidArgument", "exec %s: permission denied", file);
  die_msg(sync, "InvalidArgument", "exec: \"%s\": executable file not found in $PATH", file);
}

static void noop_handler(int sig) { (void)sig; }

/* --init: PID 1 forwards signals to the child and reaps everything; exits like the child. */
static void run_init(struct config *c, int sync) {
  sigset_t all, old;
  sigfillset(&all);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = noop_handler;
  /* PID 1 only receives signals it has a handler for, so install one for each. */
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) die_msg(sync, "Internal", "fork: %m");
  if (child == 0) {
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
      if (s != SIGKILL && s != SIGSTOP) sigaction(s, &sa, NULL);
    setpgid(0, 0);
    /* With a terminal, the entrypoint's group is the foreground one (^C reaches it); SIGTTOU
     * is still blocked here, so the background caller may do this. */
    if (c->tty && tcsetpgrp(0, getpid()) < 0) die_msg(sync, "Internal", "tcsetpgrp: %m");
    sigprocmask(SIG_SETMASK, &old, NULL);
    exec_user(c, sync);
  }
  close(sync);
  /* The reaper stays in the container for its whole life and needs nothing but its stdio:
   * close whatever else it inherited (a descriptor the agent leaked without CLOEXEC). */
  syscall(SYS_close_range, 3U, ~0U, 0U);
  prctl(PR_SET_NAME, "shoal-init", 0, 0, 0);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p != child) continue;
      if (WIFEXITED(st)) _exit(WEXITSTATUS(st));
      _exit(128 + WTERMSIG(st));
    }
  }
}

/* The init stage: stdio is on 0-2 and the sync socket on fd 3 (`sync`). */
void container_main(struct config *c, int sync) {
  char line[64];
  fcntl(sync, F_SETFD, FD_CLOEXEC); /* closes on the user's execve: the monitor's success signal */
  /* The monitor writes our host PID into the cgroups first, so the cgroup namespace below is
   * rooted at the container's cgroup and every later allocation is charged there. */
  if (read_line(sync, line, sizeof line) < 0 || strcmp(line, "cgroups")) _exit(1);
  if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL) die_msg(sync, "Internal", "unshare cgroup namespace: %m");
  setup_rootfs(sync, c);
  if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
    die_msg(sync, "InvalidArgument", "sethostname %s: %m", c->hostname);
  apply_process(c, sync);
  /* After pivot_root (only the container's devpts is reachable) and as the container's user
   * (the pty is theirs, as stdio fds are in Docker). */
  if (c->tty) console_setup(c, sync, sync);
  if (send_line(sync, "ready") < 0) _exit(1);
  if (read_line(sync, line, sizeof line) < 0 || strcmp(line, "exec")) _exit(1);
  if (c->init) run_init(c, sync);
  exec_user(c, sync);
}

static int wait_status(pid_t child) {
  int st;
  while (waitpid(child, &st, 0) < 0)
    if (errno != EINTR) return 255;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The parent of a tty exec: takes the master from the child (none: the child failed and said
 * why on fd 3), then relays it until the child is gone. fd 3 stays open for resize lines. */
static int exec_tty(struct config *c, pid_t child, int sp[2]) {
  close(sp[1]);
  char line[64];
  if (read_line(sp[0], line, sizeof line) < 0 || strcmp(line, "console")) return wait_status(child);
  int master = recv_master(sp[0]);
  close(sp[0]);
  if (master < 0) {
    kill(child, SIGKILL);
    wait_status(child);
    die_msg(CTL_FD, "Internal", "the exec's console is not a pty master: %m");
  }
  return exec_tty_relay(c, child, master);
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static int pidfd_alive(int pidfd) { return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0; }

static void __attribute__((noreturn)) not_running(struct config *c, const char *why) {
  die_msg(CTL_FD, "FailedPrecondition", "container %s is not running (%s)", c->id ? c->id : "?", why);
}

/*
 * A pidfd for the container's PID 1, checked to be the process the driver recorded: a pid that
 * the kernel handed to another process after the container exited must never lead the exec into
 * a stranger's cgroups or namespaces. The start time is read *after* the pidfd is opened: if the
 * pid names the recorded process now, it named it when the pidfd was opened (that process is
 * older than both), so the pidfd is that process. From then on the pidfd, not the number,
 * says whom we join, and setns on it fails with ESRCH once the process is gone.
 */
static int open_container_pidfd(struct config *c) {
  if (c->pid <= 0) die_msg(CTL_FD, "InvalidArgument", "exec needs the container's pid");
  if (!c->pid_start || !*c->pid_start) die_msg(CTL_FD, "InvalidArgument", "exec needs the start time of the container's PID 1");
  int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
  if (pidfd < 0 && errno == ESRCH) not_running(c, "its PID 1 is gone");
  if (pidfd < 0) die_msg(CTL_FD, "Internal", "pidfd_open(%d): %m", (int)c->pid);
  char st[64];
  if (proc_start_time(c->pid, st, sizeof st) < 0) not_running(c, "its PID 1 is gone");
  if (strcmp(st, c->pid_start)) not_running(c, "its pid now belongs to another process");
  return pidfd;
}

/* `exec`: join a running container (cgroups, then namespaces, through a checked pidfd), fork,
 * and run the process. */
int exec_main(struct config *c) {
  int pidfd = open_container_pidfd(c);
  /* Cgroups first: once in the container's cgroup namespace the host's cgroup files are out of
   * reach (and v2 refuses a move from outside the namespace's root). The paths are the
   * container's own, from its spec, and are written only after the pidfd check. */
  char pidbuf[32];
  snprintf(pidbuf, sizeof pidbuf, "%d", (int)getpid());
  for (size_t i = 0; i < c->cgroups.n; i++)
    if (write_str(c->cgroups.v[i], pidbuf) < 0) die_msg(CTL_FD, "Internal", "join cgroup %s: %m", c->cgroups.v[i]);
  /* All at once (Linux >= 5.8): the kernel switches every namespace in the mask or none. A
   * user-namespaced container would add CLONE_NEWUSER; the kernel then orders the credential
   * change itself. */
  int flags = CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWNS;
  if (access("/proc/self/ns/cgroup", F_OK) == 0) flags |= CLONE_NEWCGROUP;
  if (setns(pidfd, flags) < 0) {
    if (errno == ESRCH) not_running(c, "its PID 1 exited");
    die_msg(CTL_FD, "Internal", "setns(pidfd of %d, namespaces)%s: %m", (int)c->pid,
            errno == EINVAL ? " (needs Linux 5.8 or later)" : "");
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  int sp[2] = {-1, -1}; /* tty: the child hands the pty's master over sp[1] */
  if (c->tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) die_msg(CTL_FD, "Internal", "socketpair: %m");
  pid_t child = fork();
  /* The first fork into a PID namespace whose init has exited fails (ENOMEM). */
  if (child < 0 && !pidfd_alive(pidfd)) not_running(c, "its PID 1 exited");
  if (child < 0) die_msg(CTL_FD, "Internal", "fork: %m");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    apply_process(c, CTL_FD);
    if (c->tty) console_setup(c, sp[1], CTL_FD);
    exec_user(c, CTL_FD);
  }
  close(pidfd);
  if (c->tty) return exec_tty(c, child, sp);
  close(CTL_FD);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int st;
    pid_t p = waitpid(child, &st, WNOHANG);
    if (p == child) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
}
