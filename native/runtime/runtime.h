/*
 * shoal-runtime: the native half of Shoal's container runtime.
 * Protocol and process model: docs/runtime-helper.md.
 */
#ifndef SHOAL_RUNTIME_H
#define SHOAL_RUNTIME_H

/* Paths are bounded by PATH_MAX; a truncated one fails loudly at the syscall. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

/* The config channel (a socket inherited as fd 3) and its framing: "<len>\n" then len bytes
 * of NUL-terminated key, value, key, value, ... strings. */
#define CTL_FD 3

struct strv {
  char **v;
  size_t n, cap;
};

struct bind {
  char *src, *dst;
  int ro;
};

struct rlim {
  int res;
  unsigned long long soft, hard;
};

struct config {
  char *id, *state_dir, *log_path;
  long long log_max_bytes;
  int log_max_files;
  struct strv lower;
  char *upper, *work, *hostname;
  struct strv args, env;
  char *cwd;
  unsigned uid, gid;
  struct strv gids;
  int nnp;
  unsigned long long caps; /* bit n = capability n */
  struct rlim rl[32];
  int nrl;
  int open_stdin;
  int tty;                           /* 1: the process gets a pty of the container's devpts (console.c) */
  unsigned short tty_rows, tty_cols; /* its first window size; 0 = leave the kernel's 0x0 */
  struct bind *binds;
  size_t nbinds;
  char *etc_hosts, *etc_hostname, *etc_resolv;
  char *network; /* new | host | none */
  struct strv cgroups;
  struct strv devices; /* device rules in devices.allow syntax, for cgroup v2 (devices.c) */
  int seccomp; /* 1 = default profile */
  int init;
  struct strv masked, ro_paths;
  pid_t pid; /* exec: the container's PID 1 */
  char *pid_start; /* exec: its start time as pid.json records it (field 22 of /proc/<pid>/stat) */
  char *raw; /* the undecoded body, resent by the monitor to the init stage */
  size_t rawlen;
};

/* util.c */
void die_msg(int fd, const char *code, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
int write_all(int fd, const void *buf, size_t len);
int send_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int read_line(int fd, char *buf, size_t cap);
int read_config(int fd, struct config *c);
int write_file_atomic(const char *path, const char *data);
int write_str(const char *path, const char *data);
int proc_start_time(pid_t pid, char *out, size_t cap);
void format_time(char *out, size_t cap);
const char *signal_name(int sig);
void close_fds_from(int lowfd);
void reexec_sealed(char **argv, int errfd);
int send_config(int fd, const struct config *c);

/* spawner.c: forks `start` launchers on request (see the file's comment). */
int spawner_main(const char *socket_path);

/* devices.c: attaches the device program to each cgroup2 dir of c->cgroups; NULL, or the wire
 * error code with msg set. */
const char *attach_device_filters(const struct config *c, char *msg, size_t cap);

/* container.c: runs in the cloned PID 1 (start) or the forked child (exec). */
void container_main(struct config *c, int syncfd) __attribute__((noreturn));
void apply_process(struct config *c, int syncfd);
void exec_user(struct config *c, int syncfd) __attribute__((noreturn));
int exec_main(struct config *c);

/* monitor.c */
int start_main(struct config *c);

/* console.c: the pty of a `tty` process (docs/runtime-helper.md, "Terminals"). */
#define ATTACH_SOCKET "attach.sock"
void console_setup(struct config *c, int sock, int errfd);
int recv_master(int sock);
int exec_tty_relay(struct config *c, pid_t child, int master);
struct console;
struct console *console_open(struct config *c, int master);
int console_listen(const char *state_dir);
void console_set_listener(struct console *k, int lfd);
int console_pollfds(struct console *k, struct pollfd *pfds, int max);
void console_events(struct console *k, const struct pollfd *pfds, int n);
void console_output(struct console *k, const char *data, size_t n);
void console_close(struct console *k);

/* seccomp.c: Docker's default profile for a container with capability set `caps` (bit n =
 * capability n: the groups that need CAP_SYS_ADMIN, CAP_SYS_PTRACE... follow it). */
int install_seccomp(unsigned long long caps);

#endif
