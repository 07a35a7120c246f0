/* driver.c: runs a fuzz harness without libFuzzer, for `make check-fuzz`: each argument is
 * an input file, or a directory whose files (sorted by name) are inputs, and each input
 * goes once through LLVMFuzzerTestOneInput. Built with the normal compiler and flags, so
 * `make check SANITIZE=1` runs the committed corpus and regressions under ASan and UBSan.
 * The name of each input goes to stderr before it runs, so a crash names its input; the
 * last line on stdout is the summary. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The whole of path into a malloc'd buffer (at least one byte, so never NULL on success). */
static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, got;
  *n = 0;
  if (!f) return NULL;
  do {
    if (*n == cap) {
      uint8_t *grown = realloc(buf, cap = cap ? 2 * cap : 4096);
      if (!grown) break;
      buf = grown;
    }
    got = fread(buf + *n, 1, cap - *n, f);
    *n += got;
  } while (got > 0);
  int bad = ferror(f) || *n == cap;
  fclose(f);
  if (!bad) return buf;
  free(buf);
  return NULL;
}

/* One input; 0 or -1 when it cannot be read. */
static int run_file(const char *path) {
  size_t n;
  fprintf(stderr, "input %s\n", path);
  uint8_t *data = slurp(path, &n);
  if (!data) {
    fprintf(stderr, "driver: %s: cannot read: %s\n", path, strerror(errno ? errno : EIO));
    return -1;
  }
  /* an exact-size copy, so that ASan sees a read past the input's end */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) return -1;
  memcpy(exact, data, n);
  free(data);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int regular_only(const struct dirent *e) {
  return e->d_name[0] != '.';
}

/* Every file of dir, in name order; adds to *count and *bad. */
static void run_dir(const char *dir, int *count, int *bad) {
  struct dirent **list;
  int n = scandir(dir, &list, regular_only, alphasort);
  if (n < 0) {
    fprintf(stderr, "driver: %s: %s\n", dir, strerror(errno));
    (*bad)++;
    return;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      *bad += run_file(path) != 0;
      (*count)++;
    }
    free(list[i]);
  }
  free(list);
}

int main(int argc, char **argv) {
  int count = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
      run_dir(argv[i], &count, &bad);
    } else {
      bad += run_file(argv[i]) != 0;
      count++;
    }
  }
  printf("%s: %d inputs ran, %d unreadable\n", argc > 0 ? argv[0] : "driver", count, bad);
  return bad ? 1 : 0;
}
