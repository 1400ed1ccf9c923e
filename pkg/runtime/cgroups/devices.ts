/**
 * Which device nodes a container may use: Docker's default allow-list, in the kernel's
 * devices.allow syntax (`<a|b|c> <major|*>:<minor|*> <r w m>`) after an implicit deny-all.
 * One list for both hierarchies: on cgroup v1 the manager writes it to `devices.allow`
 * (v1.ts); cgroup v2 has no such files, so the runtime helper compiles the same rules (the
 * `device` keys of its config) into a BPF_PROG_TYPE_CGROUP_DEVICE program and attaches it to
 * the container's cgroup before PID 1 joins it (native/runtime/devices.c; docs/cgroups.md).
 */
export const DEFAULT_DEVICE_RULES: readonly string[] = [
  'c *:* m', // mknod of any character device (opening it is another matter)
  'b *:* m', // mknod of any block device: the node exists, open fails with EPERM
  'c 1:3 rwm', // null
  'c 1:5 rwm', // zero
  'c 1:7 rwm', // full
  'c 1:8 rwm', // random
  'c 1:9 rwm', // urandom
  'c 5:0 rwm', // tty
  'c 5:1 rwm', // console
  'c 5:2 rwm', // ptmx
  'c 136:* rwm', // pts
];
