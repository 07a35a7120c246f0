/* cpu.c: does this CPU have the instruction sets the library was compiled for? A binary built
 * with ARCH=-march=native on an AVX-512 host dies of SIGILL on an AVX2-only node; the commands
 * ask here first and refuse with a message instead (README "Installing"). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tokenformer.h"

/* The x86 instruction sets that decide whether the compiled code runs, as the compiler's
 * -march left them: captured before the target pragma below redefines the macros. */
static const char *const built[] = {
#if defined(__x86_64__) || defined(__i386__)
#ifdef __SSE3__
    "sse3",
#endif
#ifdef __SSSE3__
    "ssse3",
#endif
#ifdef __SSE4_1__
    "sse4.1",
#endif
#ifdef __SSE4_2__
    "sse4.2",
#endif
#ifdef __POPCNT__
    "popcnt",
#endif
#ifdef __AVX__
    "avx",
#endif
#ifdef __AVX2__
    "avx2",
#endif
#ifdef __FMA__
    "fma",
#endif
#ifdef __BMI__
    "bmi",
#endif
#ifdef __BMI2__
    "bmi2",
#endif
#ifdef __AVX512F__
    "avx512f",
#endif
#ifdef __AVX512CD__
    "avx512cd",
#endif
#ifdef __AVX512BW__
    "avx512bw",
#endif
#ifdef __AVX512DQ__
    "avx512dq",
#endif
#ifdef __AVX512VL__
    "avx512vl",
#endif
#ifdef __AVX512VNNI__
    "avx512vnni",
#endif
#ifdef __AVX512BF16__
    "avx512bf16",
#endif
#endif
    NULL};

/* What follows must run on any x86-64 CPU: it is what runs before the code that may not. */
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("arch=x86-64")
#define TF_CPU_X86 1
#endif

/* 1 when the CPU has instruction set `name`, 0 when it lacks it or the name is not one of the
 * list above (__builtin_cpu_supports takes only string constants). */
static int cpu_has(const char *name) {
#ifdef TF_CPU_X86
  const struct {
    const char *name;
    int has;
  } isa[] = {
      {"sse2", __builtin_cpu_supports("sse2")},
      {"sse3", __builtin_cpu_supports("sse3")},
      {"ssse3", __builtin_cpu_supports("ssse3")},
      {"sse4.1", __builtin_cpu_supports("sse4.1")},
      {"sse4.2", __builtin_cpu_supports("sse4.2")},
      {"popcnt", __builtin_cpu_supports("popcnt")},
      {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},
      {"fma", __builtin_cpu_supports("fma")},
      {"bmi", __builtin_cpu_supports("bmi")},
      {"bmi2", __builtin_cpu_supports("bmi2")},
      {"avx512f", __builtin_cpu_supports("avx512f")},
      {"avx512cd", __builtin_cpu_supports("avx512cd")},
      {"avx512bw", __builtin_cpu_supports("avx512bw")},
      {"avx512dq", __builtin_cpu_supports("avx512dq")},
      {"avx512vl", __builtin_cpu_supports("avx512vl")},
      {"avx512vnni", __builtin_cpu_supports("avx512vnni")},
      {"avx512bf16", __builtin_cpu_supports("avx512bf16")},
  };
  for (size_t i = 0; i < sizeof isa / sizeof isa[0]; i++)
    if (strcmp(isa[i].name, name) == 0) return isa[i].has != 0;
#endif
  (void)name;
  return 0;
}

int tf_cpu_lacks(const char *const *need, char *msg, size_t len) {
  int missing = 0;
  size_t used = 0;
#ifdef TF_CPU_X86
  __builtin_cpu_init();
#endif
  if (len) msg[0] = '\0';
  for (; *need; need++) {
    if (cpu_has(*need)) continue;
    int w = snprintf(msg + used, len - used, "%s%s", missing ? " " : "", *need);
    if (w > 0 && (size_t)w < len - used) used += (size_t)w;
    missing++;
  }
  return missing;
}

int tf_cpu_check(char *msg, size_t len) {
  return tf_cpu_lacks(built, msg, len);
}

/* built[] joined once; at most 18 names of at most 11 bytes and a space each */
static char built_names[256];
static pthread_once_t built_once = PTHREAD_ONCE_INIT;

static void built_join(void) {
  size_t used = 0;
  for (const char *const *b = built; *b; b++) {
    int w = snprintf(built_names + used, sizeof built_names - used, "%s%s", used ? " " : "", *b);
    if (w > 0 && (size_t)w < sizeof built_names - used) used += (size_t)w;
  }
}

const char *tf_cpu_built(void) {
  pthread_once(&built_once, built_join);
  return built_names;
}
