/* input.c: input files as bytes (data_internal.h). A regular file is mapped; its pages are
 * guarded by a SIGBUS handler, so that a file truncated while we read it turns into an error
 * ("data file changed while reading") instead of killing the process. Pipes, FIFOs, terminals
 * and stdin are read to their end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenformer.h"

/* The guarded mappings: [begin, end) each; a free slot is {0, 0}. The handler reads them while
 * other threads may add or drop one, hence the atomic loads and stores. */
#define MAX_GUARDED 64
static struct { uintptr_t begin, end; } guarded[MAX_GUARDED];
static volatile sig_atomic_t changed;
static struct sigaction previous;
static uintptr_t page_size;
static int installed;

static int in_guarded(uintptr_t a) {
  for (int i = 0; i < MAX_GUARDED; i++) {
    uintptr_t b = __atomic_load_n(&guarded[i].begin, __ATOMIC_ACQUIRE);
    uintptr_t e = __atomic_load_n(&guarded[i].end, __ATOMIC_ACQUIRE);
    if (a >= b && a < e) return 1;
  }
  return 0;
}

/* A fault in a guarded mapping: the page past the file's new end is replaced by a page of
 * zeros, the flag is set, and the read goes on. Any other SIGBUS goes where it went before. */
static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
  uintptr_t a = (uintptr_t)si->si_addr;
  if (in_guarded(a)) {
    void *page = (void *)(a & ~(page_size - 1));
    if (mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
        MAP_FAILED) {
      changed = 1;
      return;
    }
  }
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction)
    previous.sa_sigaction(sig, si, ctx);
  else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
    previous.sa_handler(sig);
  else {
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  }
}

static void install_handler(void) {
  if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) return;
  page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &previous);
}

static int guard(void *p, size_t n) {
  install_handler();
  uintptr_t zero = 0;
  for (int i = 0; i < MAX_GUARDED; i++)
    if (__atomic_compare_exchange_n(&guarded[i].end, &zero, (uintptr_t)p + n, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
      __atomic_store_n(&guarded[i].begin, (uintptr_t)p, __ATOMIC_RELEASE);
      return 1;
    }
  return 0;
}

static void unguard(void *p) {
  for (int i = 0; i < MAX_GUARDED; i++)
    if (__atomic_load_n(&guarded[i].begin, __ATOMIC_ACQUIRE) == (uintptr_t)p) {
      __atomic_store_n(&guarded[i].begin, 0, __ATOMIC_RELEASE);
      __atomic_store_n(&guarded[i].end, 0, __ATOMIC_RELEASE);
      return;
    }
}

int tf_input_changed(void) {
  return changed != 0;
}

int tf_input_check(const char *name, struct tf_error *err) {
  if (!changed) return TF_OK;
  return tf_error_set(err, TF_EIO, "%s: data file changed while reading (it shrank)", name);
}

int tf_path_is_stdin(const char *path) {
  return !strcmp(path, "-") || !strcmp(path, "/dev/stdin") || !strcmp(path, "/dev/fd/0") ||
         !strcmp(path, "/proc/self/fd/0");
}

/* Reads fd to its end into in->owned. */
static int read_stream(struct tf_input *in, int fd, const char *name, struct tf_error *err) {
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) return tf_error_set(err, TF_ENOMEM, "%s: out of memory reading it", name);
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      free(buf);
      return tf_error_set(err, TF_EIO, "%s: read error: %s", name, strerror(errno));
    }
    if (got == 0) break;
    n += (size_t)got;
    if (n == cap) {
      uint8_t *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap *= 2) : NULL;
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  in->owned = buf;
  in->p = buf;
  in->n = n;
  return TF_OK;
}

static int map_regular(struct tf_input *in, int fd, size_t n, const char *name,
                       struct tf_error *err) {
  void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    return tf_error_set(err, TF_EIO, "%s: cannot map: %s", name, strerror(errno));
  if (!guard(map, n)) {
    munmap(map, n);
    return read_stream(in, fd, name, err); /* every guard slot taken: read a copy */
  }
  in->map = map;
  in->p = map;
  in->n = n;
  return TF_OK;
}

int tf_input_open(struct tf_input *in, const char *path, const char *name, struct tf_error *err) {
  memset(in, 0, sizeof *in);
  int is_stdin = !strcmp(path, "-");
  int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tf_error_set(err, errno == ENOENT || errno == EACCES ? TF_ENOINPUT : TF_EIO,
                        "%s: cannot open: %s", name, strerror(errno));
  struct stat st;
  int rc = TF_OK;
  if (fstat(fd, &st) != 0)
    rc = tf_error_set(err, TF_EIO, "%s: cannot stat: %s", name, strerror(errno));
  else if (S_ISDIR(st.st_mode))
    rc = tf_error_set(err, TF_ENOINPUT, "%s: is a directory, expected a text file or a dataset",
                      name);
  else if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX &&
           (!is_stdin || lseek(fd, 0, SEEK_CUR) == 0)) /* stdin read from its position */
    rc = map_regular(in, fd, (size_t)st.st_size, name, err);
  else /* a pipe, FIFO, terminal, or a file that says it is empty (/proc): read what comes */
    rc = read_stream(in, fd, name, err);
  if (!is_stdin) close(fd);
  return rc;
}

void tf_input_close(struct tf_input *in) {
  if (in->map) {
    unguard(in->map);
    munmap(in->map, in->n);
  }
  free(in->owned);
  memset(in, 0, sizeof *in);
}
