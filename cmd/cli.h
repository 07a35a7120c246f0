/* cli.h: what every command shares: common options, messages, exit codes. The only code
 * that decides to exit is a command's main(), which returns what these helpers give it. */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <getopt.h>

#include "tokenformer.h"

/* The shared options a command may take (cli_init's takes); -h, --help and --version
 * always. Each is parsed here, once, for every command that takes it. */
enum {
  CLI_QUIET = 1 << 0,    /* -q, --quiet */
  CLI_VERBOSE = 1 << 1,  /* -v, --verbose */
  CLI_JSON = 1 << 2,     /* --json */
  CLI_THREADS = 1 << 3,  /* --threads N */
  CLI_CONFIG = 1 << 4,   /* -c, --config FILE and --set SECTION.KEY=VALUE (repeatable) */
  CLI_OUTPUT = 1 << 5,   /* -o, --output FILE */
  CLI_SEED = 1 << 6,     /* --seed S */
  CLI_COMPRESS = 1 << 7, /* --compress huffman|none|fast|best */
};
/* getopt values of the long-only shared options; a command numbers its own from
 * CLI_OPT_FIRST_FREE. */
enum {
  CLI_OPT_VERSION = 0x100,
  CLI_OPT_JSON,
  CLI_OPT_THREADS,
  CLI_OPT_SET,
  CLI_OPT_SEED,
  CLI_OPT_COMPRESS,
  CLI_OPT_FIRST_FREE
};

struct cli {
  const char *prog;
  const char *usage; /* the --help text, starting with the synopsis */
  unsigned takes;    /* CLI_QUIET | ...: the shared options this command takes */
  int quiet, verbose, json, threads;
  const char *config, *output; /* -c, -o (NULL: not given) */
  const char **sets;           /* --set values, in order */
  int n_sets, has_seed;
  uint64_t seed;
  enum tf_compress compress; /* TF_COMPRESS_HUFFMAN unless --compress */
  int done;                  /* --help or --version was handled: exit 0 */
  const int *inputs; /* the command's own options (their val) that name an input file, 0-ended */
  char stdin_reader[160]; /* the input that reads stdin ("--input -"), "" while none does */
};

/* A command's own option (its table's val, the value or NULL): TF_OK, or TF_EUSAGE after
 * printing the reason. */
typedef int (*cli_option_fn)(struct cli *c, void *args, int opt, const char *arg);

void cli_init(struct cli *c, const char *prog, const char *usage, unsigned takes);
/* The one option loop of every command: its own options (long table ending in a zero entry,
 * short letters in getopt's form) go to fn, the shared ones it takes are parsed into c; an
 * unknown option or a missing value is one error line. Operands are left at
 * argv[optind..argc). TF_OK (c->done after --help or --version), TF_EUSAGE printed, or
 * TF_ENOMEM printed. */
int cli_parse(struct cli *c, int argc, char **argv, const char *own_short, const struct option *own,
              cli_option_fn fn, void *args);
/* An array of argc + 1 names (for a repeatable option or the operands), zeroed; NULL after
 * printing "prog: out of memory" (exit TF_ENOMEM). Free it. */
const char **cli_name_list(const struct cli *c, int argc);
/* The one stdin rule: stdin is read by one input at most. what reads path: an option
 * ("--input"), an operand ("FILE"); path NULL says that what reads stdin by default (what
 * then says so: "no --data (the text from stdin)"). A path that is not stdin (tf_path_is_stdin)
 * is TF_OK; the first reader of stdin is remembered; a second is TF_EUSAGE, printed, naming
 * both ("--config - and --input -: stdin can be read only once"). cli_parse applies it to -c
 * and to the command's c->inputs, so the clash is refused before any work. */
int cli_stdin(struct cli *c, const char *what, const char *path);
/* The same for the value path of a config key that names an input ("train.data"), after the
 * config is loaded: TF_EUSAGE set in err, naming the key's origin. */
int cli_stdin_key(struct cli *c, const struct tf_config *cfg, const char *key, const char *path,
                  struct tf_error *err);
/* Frees what cli_parse allocated. */
void cli_free(struct cli *c);
/* TF_EUSAGE (printed) if operands remain after the options. */
int cli_no_operands(const struct cli *c, int argc, char **argv);
/* TF_EUSAGE (printed) if the file name given with opt is empty; NULL (not given) is fine. */
int cli_check_path(const struct cli *c, const char *opt, const char *path);
/* The config a command runs with: defaults, then the YAML file of -c (if given), then each
 * "section.key=value" of --set. The caller applies its own flags, then tf_config_check. */
int cli_load_config(const struct cli *c, struct tf_config *cfg, struct tf_error *err);
/* The checks of a command that turns checkpoint input (-i) into -o under a config: input
 * given (with --print-config, when print_config, -o and -i may be left out), no --set
 * model.*. TF_EUSAGE printed. */
int cli_check_in_out(const struct cli *c, const char *input, int print_config);
/* --print-config: cfg as YAML on stdout; with a checkpoint (not NULL), its model section is
 * the checkpoint's, read from the header (the model a run on it uses). */
int cli_print_config(struct tf_config *cfg, const char *checkpoint, struct tf_error *err);
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
/* Parses --weights f32|bf16|q8. */
int cli_parse_weights(const struct cli *c, const char *s, enum tf_weights *out);
/* Prints a JSON value (indented, keys in insertion order) and a newline on stdout; takes
 * the reference. */
struct json_t;
void cli_print_json(struct json_t *j);
/* A 64-bit unsigned value (a seed) as JSON: an integer up to 2^63 - 1, above that (where JSON
 * readers' integers end) its decimal digits as a string. */
struct json_t *cli_json_u64(uint64_t v);
/* The size of the checkpoint just written to path: "N bytes" into buf, or "streamed" for '-'
 * (stdout); *json (when not NULL) the same as a JSON integer, or null. */
const char *cli_output_size(const char *path, char *buf, size_t n, struct json_t **json);
/* Prints a message (err->msg) on f: the names it quotes are escaped already (tf_escape); the
 * rest, which may hold text from a file or the command line, gets its control bytes escaped
 * and its backslashes kept. */
void cli_put_message(FILE *f, const char *msg);
/* Prints s escaped as tf_escape does (\\ and \xHH), for names and metadata read from files. */
void cli_put_escaped(FILE *f, const char *s);
/* Prints JSON text (jansson's, with JSON_ENSURE_ASCII) on f as JSON escapes it: as it is, but
 * for a byte JSON leaves raw that a terminal should not get (DEL, controls) as \u00HH. */
void cli_put_json(FILE *f, const char *json);

/* Gives m the tokenizer.json at path (tf_model_set_tokenizer); "bytes" or "" keeps the byte
 * tokenizer. Errors name the file. */
int cli_give_tokenizer(struct tf_model *m, const char *path, struct tf_error *err);

#endif
