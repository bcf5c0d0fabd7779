/*
 * copy-ranges: writes a new file from byte ranges of two existing files, inside the kernel.
 *
 *   copy-ranges BASE PATCH OUT < plan
 *
 * The plan is one range per line, "b OFFSET LENGTH" (from BASE) or "p OFFSET LENGTH" (from
 * PATCH), appended to OUT in order. OUT must not exist. Node has no copy_file_range for ranges,
 * and copying a layer's unchanged entries this way costs a fraction of reading and writing them
 * (strata hashes the same bytes itself, in parallel). Falls back to pread/write where the
 * filesystem cannot copy. Exit status 0 on success; otherwise 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int fail(const char *what, const char *path) {
  fprintf(stderr, "copy-ranges: %s %s: %s\n", what, path, strerror(errno));
  return 1;
}

/* Copies len bytes at off of in to the current end of out (position tracked by *outpos). */
static int copy_range(int in, off_t off, off_t len, int out, off_t *outpos, const char *name) {
  static char buf[1 << 20];
  static int no_cfr = 0;
  while (len > 0) {
    if (!no_cfr) {
      ssize_t n = copy_file_range(in, &off, out, outpos, (size_t)len, 0);
      if (n > 0) {
        len -= n;
        continue;
      }
      if (n == 0) {
        errno = EIO;
        return fail("unexpected end of", name);
      }
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return fail("copying from", name);
      no_cfr = 1;
    }
    size_t want = len < (off_t)sizeof buf ? (size_t)len : sizeof buf;
    ssize_t n = pread(in, buf, want, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return fail("reading", name);
    }
    for (ssize_t done = 0; done < n;) {
      ssize_t w = pwrite(out, buf + done, (size_t)(n - done), *outpos);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return fail("writing after", name);
      done += w;
      *outpos += w;
    }
    off += n;
    len -= n;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: copy-ranges BASE PATCH OUT < plan\n");
    return 2;
  }
  int base = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (base < 0) return fail("opening", argv[1]);
  int patch = open(argv[2], O_RDONLY | O_CLOEXEC);
  if (patch < 0) return fail("opening", argv[2]);
  int out = open(argv[3], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) return fail("creating", argv[3]);
  off_t outpos = 0;
  char from;
  long long off, len;
  int r;
  while ((r = scanf(" %c %lld %lld", &from, &off, &len)) == 3) {
    if ((from != 'b' && from != 'p') || off < 0 || len < 0) {
      fprintf(stderr, "copy-ranges: bad plan line\n");
      return 1;
    }
    if (copy_range(from == 'b' ? base : patch, (off_t)off, (off_t)len, out, &outpos, from == 'b' ? argv[1] : argv[2])) return 1;
  }
  if (r != EOF) {
    fprintf(stderr, "copy-ranges: bad plan line\n");
    return 1;
  }
  if (close(out) != 0) return fail("closing", argv[3]);
  return 0;
}
