/*
 * strata-init: starts one process in an isolated root filesystem, the way a container runtime's
 * init does. strata is Node.js, which cannot call unshare/mount/pivot_root/capset, and after
 * pivot_root no host tool (setpriv, unshare) is reachable any more, so every step from the new
 * namespaces to the final execve happens here, in one small program, in this order:
 *
 *   close inherited fds → read the program's environment from --env-fd
 *   unshare(mount, pid, uts, ipc[, net]) → fork (the child is PID 1 of the new PID namespace)
 *   child: private mounts → rootfs (overlay or bind) mounted nodev → bind sources cloned
 *          → pivot_root and the old root detached at once (no image path is resolved while the
 *          host is still reachable) → /dev (tmpfs nodev, 6 bound nodes), /dev/pts, /dev/shm,
 *          /sys (ro) → tmpfs and bind mounts → /proc last (so no /proc magic link exists while
 *          the image's symlinks are followed), its sensitive files masked or read-only as docker
 *          does → stubs reported → hostname → every fd above 2 close-on-exec → bounding set →
 *          groups, gid, uid → capabilities → no_new_privs → chdir → execvp
 *   parent: copies the child's output to its own stdout/stderr when those are sockets (Node gives
 *           sockets, on which open("/dev/stdout") fails), forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT
 *           as SIGKILL to the child, and exits with its status (128+signal when killed). When
 *           the child (PID 1) ends, the kernel ends every process of the namespace.
 *
 * Status goes to the report fd (--report-fd, close-on-exec), one line each, paths relative to the
 * root with control characters and '\' written as \ooo: "stub\t<path>\t<ino>\t<ctime ns>" for each
 * entry the mounts added to the root (overlay: everything in the fresh upper dir, copied-up parents
 * included, with the upper dir's own inode numbers), "ready" just before execve, or
 * "error\t<message>" and exit 125 (setup), 126 (cannot execute) or 127 (not found).
 *
 * Arguments (all paths absolute):
 *   --rootfs DIR                       root of the new filesystem
 *   --overlay LOWER1:LOWER2|UPPER|WORK mount an overlay on DIR first (lowers top first)
 *   --volatile                         mount it with "volatile": no sync of the upper fs at the
 *                                      end (faster; the work dir cannot be mounted again)
 *   --bind SRC|DST|ro|rw               bind a host path (repeatable); DST is inside the root
 *   --tmpfs DST|OPTIONS                mount a tmpfs (repeatable)
 *   --hostname NAME   --net host|none  --uid N --gid N --groups N,N,...  (ids 0..2^31-1)
 *   --caps default|none                docker's default set, or nothing, for uid 0
 *   --no-new-privs   --cwd DIR   --mkdir-cwd   --report-fd N   --env-fd N   --readonly-rootfs
 *   --sync                             after the stubs, report "mounted" and wait for a byte on
 *                                      the report fd (the caller looks at the root first)
 *   -- PROGRAM ARG...
 * --env-fd N: the program's environment as NUL-terminated KEY=value entries, read to EOF. The
 * helper's own environment is never passed on (and should be empty: a dynamic loader reads
 * LD_PRELOAD from it, and a Dockerfile's ENV must not reach a root process on the host).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_MOUNTS 64

struct bind { const char *src, *dst; int ro, fd; };
struct tmpfs { const char *dst, *opts; };

static struct {
  const char *rootfs, *overlay, *hostname, *net, *caps, *cwd;
  int uid, gid, report_fd, env_fd, no_new_privs, readonly_rootfs, upper_fd, mkdir_cwd, sync, volatile_upper;
  gid_t groups[256];
  int ngroups;
  struct bind binds[MAX_MOUNTS];
  int nbinds;
  struct tmpfs tmpfs[MAX_MOUNTS];
  int ntmpfs;
  char **argv, **envp;
} cfg = { .report_fd = -1, .env_fd = -1, .upper_fd = -1, .net = "host", .caps = "default", .cwd = "/" };

/* Docker's default capability set. */
static const int default_caps[] = {
  CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
  CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
  CAP_AUDIT_WRITE,
};

static void report(const char *fmt, ...) {
  if (cfg.report_fd < 0) return;
  char buf[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  for (int off = 0; off < n;) {
    ssize_t w = write(cfg.report_fd, buf + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

/* Reports a setup failure and exits: 125 setup, 126 cannot execute, 127 not found (docker's codes). */
static void die(int code, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++) if (*p == '\n' || *p == '\t') *p = ' '; /* one report line */
  report("error\t%s", msg);
  fprintf(stderr, "strata-init: %s\n", msg);
  _exit(code);
}

/* Ids are 0..2^31-1: anything larger (4294967295 is "-1", "no change" to setresuid) is refused. */
static int parse_int(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > INT_MAX) die(125, "invalid %s: %s", what, s);
  return (int)v;
}

/* Splits "a|b|c" in place into at most n fields. */
static int split(char *s, char **out, int n) {
  int i = 0;
  out[i++] = s;
  for (char *p = s; *p && i < n; p++) {
    if (*p == '|') { *p = 0; out[i++] = p + 1; }
  }
  return i;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { cfg.argv = argv + i + 1; break; }
    if (!strcmp(a, "--no-new-privs")) { cfg.no_new_privs = 1; continue; }
    if (!strcmp(a, "--readonly-rootfs")) { cfg.readonly_rootfs = 1; continue; }
    if (!strcmp(a, "--mkdir-cwd")) { cfg.mkdir_cwd = 1; continue; }
    if (!strcmp(a, "--sync")) { cfg.sync = 1; continue; }
    if (!strcmp(a, "--volatile")) { cfg.volatile_upper = 1; continue; }
    if (i + 1 >= argc) die(125, "option %s needs a value", a);
    char *v = argv[++i];
    if (!strcmp(a, "--rootfs")) cfg.rootfs = v;
    else if (!strcmp(a, "--overlay")) cfg.overlay = v;
    else if (!strcmp(a, "--hostname")) cfg.hostname = v;
    else if (!strcmp(a, "--net")) cfg.net = v;
    else if (!strcmp(a, "--caps")) cfg.caps = v;
    else if (!strcmp(a, "--cwd")) cfg.cwd = v;
    else if (!strcmp(a, "--uid")) cfg.uid = parse_int(v, "uid");
    else if (!strcmp(a, "--gid")) cfg.gid = parse_int(v, "gid");
    else if (!strcmp(a, "--report-fd")) cfg.report_fd = parse_int(v, "report fd");
    else if (!strcmp(a, "--env-fd")) cfg.env_fd = parse_int(v, "env fd");
    else if (!strcmp(a, "--groups")) {
      for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
        if (cfg.ngroups >= 256) die(125, "too many groups");
        cfg.groups[cfg.ngroups++] = (gid_t)parse_int(tok, "group");
      }
    } else if (!strcmp(a, "--bind")) {
      char *f[3];
      if (cfg.nbinds >= MAX_MOUNTS) die(125, "too many bind mounts");
      if (split(v, f, 3) != 3) die(125, "--bind wants SRC|DST|ro|rw");
      cfg.binds[cfg.nbinds++] = (struct bind){ f[0], f[1], strcmp(f[2], "ro") == 0, -1 };
    } else if (!strcmp(a, "--tmpfs")) {
      char *f[2];
      if (cfg.ntmpfs >= MAX_MOUNTS) die(125, "too many tmpfs mounts");
      if (split(v, f, 2) != 2) die(125, "--tmpfs wants DST|OPTIONS");
      cfg.tmpfs[cfg.ntmpfs++] = (struct tmpfs){ f[0], f[1] };
    } else die(125, "unknown option %s", a);
  }
  if (!cfg.rootfs || cfg.rootfs[0] != '/') die(125, "--rootfs must be an absolute path");
  if (!cfg.argv || !cfg.argv[0]) die(125, "no program to run");
  if (strcmp(cfg.net, "host") && strcmp(cfg.net, "none")) die(125, "--net must be host or none");
}

/* Closes every fd above 2 but the report and env fds: an fd inherited from whoever started strata
 * (libuv passes those on) must not be reachable through /proc/self/fd while paths are resolved. */
static void close_inherited(void) {
  int keep[2] = { cfg.report_fd < cfg.env_fd ? cfg.report_fd : cfg.env_fd, cfg.report_fd < cfg.env_fd ? cfg.env_fd : cfg.report_fd };
  unsigned from = 3;
  for (int i = 0; i < 2; i++) {
    if (keep[i] < (int)from) continue;
    if (keep[i] > (int)from) syscall(SYS_close_range, from, keep[i] - 1, 0);
    from = keep[i] + 1;
  }
  syscall(SYS_close_range, from, ~0U, 0);
}

/* Reads NUL-terminated KEY=value entries from the env fd to EOF. */
static void read_env(void) {
  static char *empty[] = { NULL };
  cfg.envp = empty;
  if (cfg.env_fd < 0) return;
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len == cap) buf = realloc(buf, cap *= 2);
    if (!buf) die(125, "out of memory reading the environment");
    ssize_t r = read(cfg.env_fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die(125, "read environment: %s", strerror(errno));
    if (r == 0) break;
    len += r;
  }
  close(cfg.env_fd);
  if (len > 0 && buf[len - 1] != 0) die(125, "environment entries must end with NUL");
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += buf[i] == 0;
  cfg.envp = calloc(n + 1, sizeof *cfg.envp);
  if (!cfg.envp) die(125, "out of memory reading the environment");
  for (size_t i = 0, k = 0; i < len; i += strlen(buf + i) + 1) cfg.envp[k++] = buf + i;
}

/* Reports one stub; the path is relative to the root, bytes < 0x20, DEL and '\' as \ooo. */
static void report_stub(const char *path, const struct stat *st) {
  char esc[PATH_MAX * 4 + 1], *o = esc;
  while (*path == '/') path++;
  for (const unsigned char *p = (const unsigned char *)path; *p && o < esc + sizeof esc - 5; p++) {
    if (*p < 0x20 || *p == 0x7f || *p == '\\') o += sprintf(o, "\\%03o", *p);
    else *o++ = (char)*p;
  }
  *o = 0;
  report("stub\t%s\t%llu\t%lld", esc, (unsigned long long)st->st_ino, (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec);
}

/* A mount point the helper created. Overlay stubs are reported from the upper dir at the end
 * (with the parents overlayfs copied up); a plain dir root has no copy-up, so report it now. */
static void created(const char *path) {
  char real[PATH_MAX];
  struct stat st;
  if (cfg.overlay || !realpath(path, real) || lstat(real, &st) != 0) return;
  report_stub(real, &st);
}

/* Creates a missing mount point (a dir, or an empty file when `file`) inside the new root (paths
 * here are already resolved in it; the host is gone from view) and its parents. A dangling
 * symlink (say /etc/resolv.conf -> ../run/resolv.conf) gets its target created, as docker does. */
static void ensure_mountpoint_at(const char *path, int file, int depth) {
  struct stat st;
  if (stat(path, &st) == 0) return;
  if (depth > 8) die(125, "mount point %s: too many levels of symbolic links", path);
  if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
    char target[PATH_MAX], resolved[PATH_MAX * 2 + 2];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) die(125, "readlink %s: %s", path, strerror(errno));
    target[n] = 0;
    const char *slash = strrchr(path, '/');
    if (target[0] == '/') snprintf(resolved, sizeof resolved, "%s", target);
    else snprintf(resolved, sizeof resolved, "%.*s/%s", (int)(slash - path), path, target);
    ensure_mountpoint_at(resolved, file, depth + 1);
    return;
  }
  char tmp[PATH_MAX * 2 + 2];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (stat(tmp, &st) != 0) {
      if (mkdir(tmp, 0755) == 0) created(tmp);
      else if (errno != EEXIST) die(125, "create mount point %s: %s", tmp, strerror(errno));
    }
    *p = '/';
  }
  if (file) {
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) die(125, "create mount point %s: %s", path, strerror(errno));
    close(fd);
  } else if (mkdir(path, 0755) != 0) {
    die(125, "create mount point %s: %s", path, strerror(errno));
  }
  created(path);
}

static void ensure_mountpoint(const char *path, int file) {
  ensure_mountpoint_at(path, file, 0);
}

/* mkdir -p inside the root (the kernel follows the image's symlinks, all inside it by now). */
static void mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s/", path) >= (int)sizeof tmp) die(125, "working directory too long");
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) die(125, "create working directory %s: %s", tmp, strerror(errno));
    *p = '/';
  }
}

static void do_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  if (mount(src, dst, type, flags, data) != 0) die(125, "mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

/* A tmpfs /dev with only null, zero, full, random, urandom and tty. The tmpfs is nodev, so a node
 * the process makes with CAP_MKNOD (say a disk) cannot be opened; the six are bound onto
 * themselves first, and those binds keep the device access the tmpfs then loses. */
static void setup_dev(void) {
  ensure_mountpoint("/dev", 0);
  do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  static const struct { const char *name; int major, minor; } nodes[] = {
    { "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
    { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
  };
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    if (mknod(nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0) die(125, "mknod %s: %s", nodes[i].name, strerror(errno));
    do_mount(nodes[i].name, nodes[i].name, NULL, MS_BIND, NULL);
  }
  do_mount(NULL, "/dev", NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_STRICTATIME, NULL);
  static const char *links[][2] = {
    { "/proc/self/fd", "/dev/fd" }, { "/proc/self/fd/0", "/dev/stdin" }, { "/proc/self/fd/1", "/dev/stdout" },
    { "/proc/self/fd/2", "/dev/stderr" }, { "/proc/kcore", "/dev/core" }, { "pts/ptmx", "/dev/ptmx" },
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    if (symlink(links[i][0], links[i][1]) != 0) die(125, "symlink %s: %s", links[i][1], strerror(errno));
  }
  mkdir("/dev/pts", 0755);
  do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mkdir("/dev/shm", 01777);
  do_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  mkdir("/dev/mqueue", 0755);
  if (mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) rmdir("/dev/mqueue");
}

/* docker's masked and read-only kernel files: writing /proc/sys/kernel/core_pattern or
 * /proc/sysrq-trigger needs only uid 0, not a capability, and would reach the host. */
static void protect_kernel_files(void) {
  static const char *readonly[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" };
  static const char *masked[] = {
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
  };
  struct stat st;
  for (size_t i = 0; i < sizeof readonly / sizeof readonly[0]; i++) {
    if (lstat(readonly[i], &st) != 0) continue; /* not in this kernel */
    do_mount(readonly[i], readonly[i], NULL, MS_BIND, NULL);
    do_mount(NULL, readonly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  }
  for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
    if (lstat(masked[i], &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) do_mount("tmpfs", masked[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0");
    else do_mount("/dev/null", masked[i], NULL, MS_BIND, NULL);
  }
}

/* Binds a host path cloned before pivot_root onto DST inside the root; never suid or dev. */
static void attach_bind(struct bind *b) {
  struct stat st;
  if (fstat(b->fd, &st) != 0) die(125, "stat %s: %s", b->src, strerror(errno));
  ensure_mountpoint(b->dst, !S_ISDIR(st.st_mode));
  if (move_mount(b->fd, "", AT_FDCWD, b->dst, MOVE_MOUNT_F_EMPTY_PATH) != 0) die(125, "bind %s on %s: %s", b->src, b->dst, strerror(errno));
  close(b->fd);
  do_mount(NULL, b->dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (b->ro ? MS_RDONLY : 0), NULL);
}

/* Reports every entry of the fresh overlay upper dir: before the program starts only the mount
 * points and the directories overlayfs copied up for them are there. */
static void report_upper(int dirfd, char *rel, size_t len) {
  DIR *d = fdopendir(dirfd);
  if (!d) die(125, "read upper dir: %s", strerror(errno));
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    size_t n = (size_t)snprintf(rel + len, PATH_MAX - len, "/%s", e->d_name);
    struct stat st;
    if (len + n >= PATH_MAX || fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) die(125, "stat upper %s: %s", rel, strerror(errno));
    report_stub(rel, &st);
    if (S_ISDIR(st.st_mode)) {
      int fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) die(125, "open upper %s: %s", rel, strerror(errno));
      report_upper(fd, rel, len + n);
    }
    rel[len] = 0;
  }
  closedir(d);
}

/* Brings the loopback interface up in a new network namespace, as docker's "none" network does. */
static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die(125, "socket: %s", strerror(errno));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die(125, "get lo flags: %s", strerror(errno));
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die(125, "bring lo up: %s", strerror(errno));
  close(s);
}

static int in_default_set(int cap) {
  for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) if (default_caps[i] == cap) return 1;
  return 0;
}

static void drop_privileges(void) {
  int keep_defaults = strcmp(cfg.caps, "default") == 0;
  /* The bounding set limits what any later execve (setuid binaries included) can gain. */
  for (int cap = 0; cap <= 63; cap++) {
    if (keep_defaults && in_default_set(cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break; /* past the kernel's last capability */
    die(125, "drop capability %d: %s", cap, strerror(errno));
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) die(125, "clear ambient capabilities: %s", strerror(errno));
  if (setgroups(cfg.ngroups, cfg.groups) != 0) die(125, "setgroups: %s", strerror(errno));
  if (setresgid(cfg.gid, cfg.gid, cfg.gid) != 0) die(125, "setgid %d: %s", cfg.gid, strerror(errno));
  if (setresuid(cfg.uid, cfg.uid, cfg.uid) != 0) die(125, "setuid %d: %s", cfg.uid, strerror(errno));
  /* Root keeps the default set (or nothing); a non-root uid already lost every capability. */
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (cfg.uid == 0 && keep_defaults) {
    for (size_t i = 0; i < sizeof default_caps / sizeof default_caps[0]; i++) {
      int c = default_caps[i];
      data[c / 32].effective |= 1u << (c % 32);
      data[c / 32].permitted |= 1u << (c % 32);
    }
  }
  if (syscall(SYS_capset, &hdr, data) != 0) die(125, "capset: %s", strerror(errno));
  if (cfg.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(125, "no_new_privs: %s", strerror(errno));
}

static int child_main(void) {
  umask(022); /* docker's RUN umask, whatever strata's own is */
  do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

  /* Device nodes that came with the image never work: the root is nodev; /dev is our tmpfs. */
  if (cfg.overlay) {
    char *f[3];
    if (split(strdup(cfg.overlay), f, 3) != 3) die(125, "--overlay wants LOWERS|UPPER|WORK");
    char opts[8192];
    int n = snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s%s", f[0], f[1], f[2], cfg.volatile_upper ? ",volatile" : "");
    if (n >= (int)sizeof opts) die(125, "overlay options too long (%d bytes)", n);
    do_mount("overlay", cfg.rootfs, "overlay", MS_NODEV, opts);
    cfg.upper_fd = open(f[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfg.upper_fd < 0) die(125, "open upper dir %s: %s", f[1], strerror(errno));
  } else {
    /* Not MS_REC: whatever is mounted below the dir on the host stays out. */
    do_mount(cfg.rootfs, cfg.rootfs, NULL, MS_BIND, NULL);
    do_mount(NULL, cfg.rootfs, NULL, MS_BIND | MS_REMOUNT | MS_NODEV, NULL);
  }

  /* Host sources are cloned as detached mounts now: the old root is gone before their targets are
   * resolved, and ".." at the top of a detached mount leads nowhere. */
  for (int i = 0; i < cfg.nbinds; i++) {
    cfg.binds[i].fd = open_tree(AT_FDCWD, cfg.binds[i].src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (cfg.binds[i].fd < 0) die(125, "bind source %s: %s", cfg.binds[i].src, strerror(errno));
  }

  if (chdir(cfg.rootfs) != 0) die(125, "chdir %s: %s", cfg.rootfs, strerror(errno));
  /* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves only the new. */
  if (syscall(SYS_pivot_root, ".", ".") != 0) die(125, "pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) != 0) die(125, "detach old root: %s", strerror(errno));
  if (chdir("/") != 0) die(125, "chdir /: %s", strerror(errno));

  /* From here on every path is resolved inside the new root: symlinks cannot lead out. */
  setup_dev();
  ensure_mountpoint("/sys", 0);
  do_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  for (int i = 0; i < cfg.ntmpfs; i++) {
    ensure_mountpoint(cfg.tmpfs[i].dst, 0);
    do_mount("tmpfs", cfg.tmpfs[i].dst, "tmpfs", MS_NOSUID | MS_NODEV, cfg.tmpfs[i].opts);
  }
  for (int i = 0; i < cfg.nbinds; i++) attach_bind(&cfg.binds[i]);
  ensure_mountpoint("/proc", 0);
  do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  protect_kernel_files();
  if (cfg.upper_fd >= 0) {
    char rel[PATH_MAX] = "";
    report_upper(cfg.upper_fd, rel, 0);
  }
  if (cfg.sync) {
    char go;
    report("mounted");
    while (read(cfg.report_fd, &go, 1) < 0 && errno == EINTR) continue;
  }
  /* A missing working directory is made as root, as runc does; it is the step's change, not a stub. */
  if (cfg.mkdir_cwd) mkdir_p(cfg.cwd);
  if (cfg.readonly_rootfs) do_mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL);

  if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)) != 0) die(125, "sethostname: %s", strerror(errno));
  if (!strcmp(cfg.net, "none")) loopback_up();

  /* Only 0, 1 and 2 survive the execve (a leaked fd is how runc's CVE-2024-21626 escaped). */
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  drop_privileges();
  char here[PATH_MAX];
  if (chdir(cfg.cwd) != 0) die(125, "chdir to working directory \"%s\": %s", cfg.cwd, strerror(errno));
  /* getcwd fails for a directory outside the root (reached through some magic link). */
  if (!getcwd(here, sizeof here) || here[0] != '/') die(125, "working directory \"%s\" is outside the root", cfg.cwd);
  report("ready");
  environ = cfg.envp; /* execvp searches the program's PATH, not the helper's */
  execvp(cfg.argv[0], cfg.argv);
  int err = errno;
  die(err == ENOENT || err == ENOTDIR ? 127 : 126, "exec %s: %s", cfg.argv[0], strerror(err));
  return 125;
}

static pid_t child = -1;

static void forward(int sig) {
  (void)sig;
  if (child > 0) kill(child, SIGKILL);
}

/* Copies the pipes in[i] to out[i] until every one is at EOF; output nobody reads is dropped. */
static void relay(int *in, const int *out, int n) {
  char buf[65536];
  int dead[3] = { 0, 0, 0 };
  for (;;) {
    struct pollfd pf[3];
    int k = 0;
    for (int i = 0; i < n; i++) if (in[i] >= 0) pf[k++] = (struct pollfd){ .fd = in[i], .events = POLLIN };
    if (k == 0) return;
    if (poll(pf, k, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; i++) {
      if (in[i] < 0) continue;
      ssize_t r = read(in[i], buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) { close(in[i]); in[i] = -1; continue; }
      for (ssize_t off = 0; off < r && !dead[i];) {
        ssize_t w = write(out[i], buf + off, r - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) dead[i] = 1;
        else off += w;
      }
    }
  }
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  close_inherited();
  read_env();
  if (cfg.report_fd >= 0) fcntl(cfg.report_fd, F_SETFD, FD_CLOEXEC);
  /* If strata dies, so does the step (the child dies with this process in turn). */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  /* Output sockets become pipes the parent copies from (open("/dev/stdout") needs a pipe). */
  int in[2] = { -1, -1 }, out[2] = { 1, 2 }, w[2] = { -1, -1 };
  for (int i = 0; i < 2; i++) {
    struct stat st;
    int p[2];
    if (fstat(out[i], &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) die(125, "pipe: %s", strerror(errno));
    in[i] = p[0];
    w[i] = p[1];
    fcntl(w[i], F_SETFL, 0); /* the program's end blocks as usual */
  }

  /* Signals wait until the handler is in place, so none is lost between fork and sigaction. */
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (!strcmp(cfg.net, "none")) flags |= CLONE_NEWNET;
  if (unshare(flags) != 0) die(125, "unshare: %s (strata must run as root)", strerror(errno));
  child = fork();
  if (child < 0) die(125, "fork: %s", strerror(errno));
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < 2; i++) if (w[i] >= 0 && dup2(w[i], out[i]) < 0) die(125, "dup2: %s", strerror(errno));
    return child_main();
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (cfg.report_fd >= 0) close(cfg.report_fd);
  for (int i = 0; i < 2; i++) if (w[i] >= 0) close(w[i]);
  relay(in, out, 2);
  int status;
  for (;;) {
    pid_t r = waitpid(child, &status, 0);
    if (r == child) break;
    if (r < 0 && errno != EINTR) die(125, "wait: %s", strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}
