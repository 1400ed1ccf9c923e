/*
 * shoal-fsops: the few file-system operations Node cannot do, applied in batch for the layer
 * unpacker (pkg/runtime/layer). One process serves one layer: it reads records from stdin and
 * answers each one on stdout, so the caller can wait for an operation before going on.
 *
 * A record is a sequence of NUL-terminated fields; the first names the operation and fixes how
 * many fields follow:
 *
 *   setxattr \0 PATH \0 NAME \0 HEXVALUE \0      lsetxattr(2): never follows a final symlink
 *   mknod    \0 PATH \0 KIND \0 MODE \0 MAJOR \0 MINOR \0
 *                                               KIND is c (char), b (block) or p (fifo);
 *                                               MODE octal permission bits (07777 at most);
 *                                               MAJOR/MINOR decimal (0 for fifos)
 *
 * For each record that succeeds, one line "ok\n" is written to stdout. On the first failure a
 * line "shoal-fsops: OP PATH: ERRNAME: message" goes to stderr and the program exits with 1;
 * a malformed record exits with 2. End of input exits 0. The process never follows symlinks it
 * is asked to write to (lsetxattr; mknod fails with EEXIST on any existing name) and runs with
 * umask 0 so MODE is exact. Paths are checked for containment by the caller.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_FIELD (256 * 1024)
#define MAX_FIELDS 6

static char *fields[MAX_FIELDS];
static size_t caps[MAX_FIELDS];

static const char *errname(int e) {
	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EDQUOT: return "EDQUOT";
	case EROFS: return "EROFS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case E2BIG: return "E2BIG";
	case ERANGE: return "ERANGE";
	case ENOTSUP: return "ENOTSUP";
	case ELOOP: return "ELOOP";
	default: return "EIO";
	}
}

/* Reads field i; returns its length, -1 at a clean end of input (only allowed for field 0). */
static long read_field(int i) {
	ssize_t n = getdelim(&fields[i], &caps[i], '\0', stdin);
	if (n < 0) return -1;
	if (n == 0 || fields[i][n - 1] != '\0') {
		fprintf(stderr, "shoal-fsops: protocol error: field not NUL-terminated\n");
		exit(2);
	}
	if (n - 1 > MAX_FIELD) {
		fprintf(stderr, "shoal-fsops: protocol error: field longer than %d bytes\n", MAX_FIELD);
		exit(2);
	}
	return (long)(n - 1);
}

static void need_fields(int from, int to) {
	for (int i = from; i < to; i++) {
		if (read_field(i) < 0) {
			fprintf(stderr, "shoal-fsops: protocol error: truncated %s record\n", fields[0]);
			exit(2);
		}
	}
}

static void fail(const char *op, const char *path) {
	int e = errno;
	fprintf(stderr, "shoal-fsops: %s %s: %s: %s\n", op, path, errname(e), strerror(e));
	exit(1);
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static unsigned long parse_num(const char *s, int base, unsigned long max, const char *what) {
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, base);
	if (*s == '\0' || *end != '\0' || errno != 0 || v > max) {
		fprintf(stderr, "shoal-fsops: protocol error: bad %s \"%s\"\n", what, s);
		exit(2);
	}
	return v;
}

static void do_setxattr(void) {
	need_fields(1, 4);
	const char *path = fields[1], *name = fields[2], *hex = fields[3];
	size_t hexlen = strlen(hex);
	if (hexlen % 2 != 0) {
		fprintf(stderr, "shoal-fsops: protocol error: odd hex value length\n");
		exit(2);
	}
	size_t len = hexlen / 2;
	unsigned char *value = malloc(len > 0 ? len : 1);
	if (value == NULL) fail("setxattr", path);
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "shoal-fsops: protocol error: bad hex value\n");
			exit(2);
		}
		value[i] = (unsigned char)(hi * 16 + lo);
	}
	if (lsetxattr(path, name, value, len, 0) != 0) fail("setxattr", path);
	free(value);
}

static void do_mknod(void) {
	need_fields(1, 6);
	const char *path = fields[1], *kind = fields[2];
	mode_t mode = (mode_t)parse_num(fields[3], 8, 07777, "mode");
	unsigned long major = parse_num(fields[4], 10, 0xfffff, "major");
	unsigned long minor = parse_num(fields[5], 10, 0xfffff, "minor");
	if (strcmp(kind, "c") == 0) mode |= S_IFCHR;
	else if (strcmp(kind, "b") == 0) mode |= S_IFBLK;
	else if (strcmp(kind, "p") == 0) mode |= S_IFIFO;
	else {
		fprintf(stderr, "shoal-fsops: protocol error: bad node kind \"%s\"\n", kind);
		exit(2);
	}
	if (mknod(path, mode, makedev(major, minor)) != 0) fail("mknod", path);
}

int main(void) {
	umask(0);
	for (;;) {
		if (read_field(0) < 0) {
			if (ferror(stdin)) {
				fprintf(stderr, "shoal-fsops: reading stdin: %s\n", strerror(errno));
				return 1;
			}
			return 0;
		}
		if (strcmp(fields[0], "setxattr") == 0) do_setxattr();
		else if (strcmp(fields[0], "mknod") == 0) do_mknod();
		else {
			fprintf(stderr, "shoal-fsops: protocol error: unknown operation \"%s\"\n", fields[0]);
			return 2;
		}
		if (fputs("ok\n", stdout) == EOF || fflush(stdout) != 0) return 1;
	}
}
