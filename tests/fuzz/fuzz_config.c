/* fuzz_config.c: libFuzzer harness of the config reader (lib/config.c, lib/config_keys.c).
 * The bytes before the first NUL are a YAML file for tf_config_load; each NUL-terminated
 * piece after it is one --set "section.key=value" for tf_config_set (as cli_load_config
 * applies them). Promises checked: the defaults pass tf_config_check; a failed load leaves
 * the config as it was; failures carry TF_ECONFIG (TF_EUSAGE for a malformed --set) and name
 * the file or "--set"; a config that passes tf_config_check prints as YAML that reads back
 * (from its own directory, so relative paths stay as written) to the same printed text; its model
 * section survives the JSON a checkpoint stores. The YAML bytes also go, as text, to
 * tf_model_config_from_json, the parser of that JSON. */
#include "fuzz.h"

#define MAX_SETS 16

static struct fuzz_file yaml, printed;

/* The config printed as YAML into a malloc'd string. */
static char *print_config(const struct tf_config *c, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f || tf_config_print(c, f) != TF_OK || fclose(f)) fuzz_fail("tf_config_print failed");
  return buf;
}

/* A good config: printed, read back, printed again, the same text. */
static void check_print_round_trip(const struct tf_config *c) {
  size_t len, len2;
  char *text = print_config(c, &len);
  struct tf_config back;
  struct tf_error err = {0};
  tf_config_default(&back);
  fuzz_file_put(&printed, text, len);
  /* read from the file's own directory, where relative paths read back as written */
  char cwd[4096], dir[64];
  const char *slash = strrchr(printed.path, '/');
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - printed.path), printed.path);
  if (!getcwd(cwd, sizeof cwd) || chdir(dir)) fuzz_fail("cannot change to %s", dir);
  int rc = tf_config_load(&back, slash + 1, &err);
  if (chdir(cwd)) fuzz_fail("cannot change back to %s", cwd);
  if (rc || tf_config_check(&back, &err))
    fuzz_fail("the printed config does not read back: %s\n%s", err.msg, text);
  char *again = print_config(&back, &len2);
  if (len != len2 || memcmp(text, again, len))
    fuzz_fail("the printed config reads back as another:\n%s\n---\n%s", text, again);
  free(text);
  free(again);
}

/* The model section to JSON and back, and the JSON again: the same text. */
static void check_json_round_trip(const struct tf_model_config *m) {
  struct tf_model_config back;
  struct tf_error err = {0};
  char *json = tf_model_config_to_json(m);
  if (!json) fuzz_fail("tf_model_config_to_json failed");
  if (tf_model_config_from_json(&back, json, &err))
    fuzz_fail("the model JSON does not read back: %s\n%s", err.msg, json);
  char *again = tf_model_config_to_json(&back);
  if (!again || strcmp(json, again)) fuzz_fail("model JSON %s reads back as %s", json, again);
  free(json);
  free(again);
}

/* The YAML text as the JSON of a checkpoint's metadata config. */
static void json_pass(const char *text) {
  static const int allowed[] = {TF_EDATA, 0};
  struct tf_model_config m;
  struct tf_error err = {0};
  int rc = tf_model_config_from_json(&m, text, &err);
  fuzz_check_error(rc, &err, "", allowed, "tf_model_config_from_json");
  if (!rc) check_json_round_trip(&m);
}

/* The --set assignments in data (size bytes of NUL-terminated pieces; the last one may
 * lack its NUL). */
static void set_pass(struct tf_config *c, const uint8_t *data, size_t size) {
  static const int allowed[] = {TF_EUSAGE, TF_ECONFIG, 0};
  for (int i = 0; i < MAX_SETS && size; i++) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    char *s = strndup((const char *)data, len);
    struct tf_error err = {0};
    if (!s) fuzz_fail("out of memory");
    int rc = tf_config_set(c, s, &err);
    fuzz_check_error(rc, &err, "--set ", allowed, "tf_config_set");
    free(s);
    data += len + (nul != NULL);
    size -= len + (nul != NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int allowed[] = {TF_ECONFIG, 0};
  if (!yaml.path[0]) {
    fuzz_file_open(&yaml, "config");
    fuzz_file_open(&printed, "config-printed");
  }
  const uint8_t *nul = memchr(data, 0, size);
  size_t ylen = nul ? (size_t)(nul - data) : size;
  struct tf_config c, before;
  struct tf_error err = {0};
  tf_config_default(&c);
  if (tf_config_check(&c, &err)) fuzz_fail("the defaults fail the check: %s", err.msg);
  before = c;
  fuzz_file_put(&yaml, data, ylen);
  int rc = tf_config_load(&c, yaml.path, &err);
  fuzz_check_error(rc, &err, yaml.path, allowed, "tf_config_load");
  if (rc && memcmp(&c, &before, sizeof c)) fuzz_fail("a failed load changed the config");
  if (nul) set_pass(&c, nul + 1, size - ylen - 1);
  if (tf_config_check(&c, &err) == TF_OK) {
    check_print_round_trip(&c);
    check_json_round_trip(&c.model);
  }
  char *text = strndup((const char *)data, ylen);
  if (!text) fuzz_fail("out of memory");
  json_pass(text);
  free(text);
  return 0;
}
