/* cli.h: what every command shares: common options, messages, exit codes. The only code
 * that decides to exit is a command's main(), which returns what these helpers give it. */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <getopt.h>

#include "tokenformer.h"

/* Long options every command takes; append to a command's own table. */
enum { CLI_OPT_VERSION = 0x100, CLI_OPT_JSON, CLI_OPT_THREADS, CLI_OPT_FIRST_FREE };
#define CLI_COMMON_LONG_OPTIONS                                                                    \
  {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, CLI_OPT_VERSION},                     \
      {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},                            \
      {"json", no_argument, 0, CLI_OPT_JSON}, {                                                    \
    "threads", required_argument, 0, CLI_OPT_THREADS                                               \
  }
#define CLI_COMMON_SHORT "hqv"

struct cli {
  const char *prog;
  const char *usage; /* the --help text, starting with the synopsis */
  int quiet, verbose, json, threads;
  int done; /* --help or --version was handled: exit 0 */
};

void cli_init(struct cli *c, const char *prog, const char *usage);
/* Handles a common option: returns 1 if it was one (c->done set for --help/--version), 0 if
 * not, or TF_EUSAGE after printing the reason. */
int cli_common(struct cli *c, int opt, const char *arg);
/* The default case of a command's option loop: a common option (returns -1: go on), or the
 * status parsing ends with: 0 after --help/--version, TF_EUSAGE after printing the reason. */
int cli_other_option(struct cli *c, int opt, const char *arg);
/* TF_EUSAGE (printed) if operands remain after the options. */
int cli_no_operands(const struct cli *c, int argc, char **argv);
/* TF_EUSAGE (printed) if the file name given with opt is empty; NULL (not given) is fine. */
int cli_check_path(const struct cli *c, const char *opt, const char *path);
/* The config a command runs with: defaults, then the YAML file (if path), then each
 * "section.key=value" of sets. The caller applies its own flags, then tf_config_check. */
int cli_load_config(struct tf_config *cfg, const char *path, const char *const *sets, int n_sets,
                    struct tf_error *err);
/* TF_EUSAGE (printed) when one of sets is a model.* key: for commands that take the model
 * from a checkpoint. */
int cli_no_model_sets(const struct cli *c, const char *const *sets, int n_sets);
/* One stderr line when the config file at config_path has a model section (config differs
 * from the defaults) that differs from m's model, naming the keys (config's value vs m's). */
void cli_warn_model_ignored(const struct cli *c, const struct tf_model_config *config,
                            const struct tf_model *m, const char *config_path);
/* The last call of a command's main: flushes and closes stdout, and returns the exit status:
 * rc, or, when rc is 0 and that flush or an earlier write to stdout failed (a full disk,
 * /dev/full), TF_EIO after printing "prog: stdout: REASON". */
int cli_finish(const struct cli *c, int rc);
/* Prints "prog: msg" of err on stderr and returns its code. */
int cli_fail(const struct cli *c, const struct tf_error *err);
/* Prints "prog: <formatted>" and a --help hint on stderr; returns TF_EUSAGE. */
int cli_usage_error(const struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints "prog: <formatted>" on stderr unless quiet. */
void cli_note(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing for option values: whole string, in range, else TF_EUSAGE printed. */
int cli_parse_long(const struct cli *c, const char *opt, const char *s, long min, long max,
                   long *out);
int cli_parse_double(const struct cli *c, const char *opt, const char *s, double min, double max,
                     double *out);
int cli_parse_u64(const struct cli *c, const char *opt, const char *s, uint64_t *out);
/* Parses --compress huffman|none|fast|best. */
int cli_parse_compress(const struct cli *c, const char *s, enum tf_compress *out);
/* Parses --weights f32|bf16|q8. */
int cli_parse_weights(const struct cli *c, const char *s, enum tf_weights *out);
/* Prints a JSON value (indented, keys in insertion order) and a newline on stdout; takes
 * the reference. */
struct json_t;
void cli_print_json(struct json_t *j);
/* A 64-bit unsigned value (a seed) as JSON: an integer up to 2^63 - 1, above that (where JSON
 * readers' integers end) its decimal digits as a string. */
struct json_t *cli_json_u64(uint64_t v);
/* Prints s with control characters and non-ASCII bytes escaped (\xNN), for names and
 * metadata read from files. */
void cli_put_escaped(FILE *f, const char *s);

/* Gives m the tokenizer.json at path (tf_model_set_tokenizer); "bytes" or "" keeps the byte
 * tokenizer. Errors name the file. */
int cli_give_tokenizer(struct tf_model *m, const char *path, struct tf_error *err);

#endif
