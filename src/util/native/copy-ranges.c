/*
 * copy-ranges: writes new files from byte ranges of existing files, inside the kernel.
 *
 *   copy-ranges <SOURCE | >OUTPUT ... < plan
 *
 * Each argument names a source (prefix `<`) or an output to create (prefix `>`; it must not
 * exist); sources and outputs are numbered from 0 in the order given. The plan on stdin is one
 * command per line: "o K" makes output K the current one (output 0 is current at the start), and
 * "c K OFFSET LENGTH" appends LENGTH bytes at OFFSET of source K to the current output.
 *
 * Node has no copy_file_range for ranges, and copying this way costs a fraction of reading and
 * writing the bytes in user space (strata hashes the same bytes itself, in parallel). Falls back
 * to pread/write where the filesystem cannot copy. Exit status 0 on success; otherwise 1 with a
 * message on stderr (2 for bad usage).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FILES 4096

static int fail(const char *what, const char *path) {
  fprintf(stderr, "copy-ranges: %s %s: %s\n", what, path, strerror(errno));
  return 1;
}

/* Appends len bytes at off of in to out, whose end is *outpos. */
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

static int bad_plan(void) {
  fprintf(stderr, "copy-ranges: bad plan line\n");
  return 1;
}

int main(int argc, char **argv) {
  static int src[MAX_FILES], out[MAX_FILES];
  static const char *src_name[MAX_FILES], *out_name[MAX_FILES];
  static off_t out_pos[MAX_FILES];
  int nsrc = 0, nout = 0;
  if (argc < 2 || argc - 1 > MAX_FILES) {
    fprintf(stderr, "usage: copy-ranges <SOURCE | >OUTPUT ... < plan\n");
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    const char *path = argv[i] + 1;
    if (argv[i][0] == '<') {
      src[nsrc] = open(path, O_RDONLY | O_CLOEXEC);
      if (src[nsrc] < 0) return fail("opening", path);
      src_name[nsrc++] = path;
    } else if (argv[i][0] == '>') {
      out[nout] = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (out[nout] < 0) return fail("creating", path);
      out_name[nout++] = path;
    } else {
      fprintf(stderr, "copy-ranges: %s: name a source with < or an output with >\n", argv[i]);
      return 2;
    }
  }
  int cur = 0;
  char cmd;
  while (scanf(" %c", &cmd) == 1) {
    long long k, off, len;
    if (cmd == 'o') {
      if (scanf("%lld", &k) != 1 || k < 0 || k >= nout) return bad_plan();
      cur = (int)k;
    } else if (cmd == 'c') {
      if (scanf("%lld %lld %lld", &k, &off, &len) != 3 || k < 0 || k >= nsrc || off < 0 || len < 0 || nout == 0) return bad_plan();
      if (copy_range(src[k], (off_t)off, (off_t)len, out[cur], &out_pos[cur], src_name[k])) return 1;
    } else {
      return bad_plan();
    }
  }
  if (!feof(stdin)) return bad_plan();
  for (int i = 0; i < nout; i++)
    if (close(out[i]) != 0) return fail("closing", out_name[i]);
  return 0;
}
