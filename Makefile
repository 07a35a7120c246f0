# tokenformer: build, test, benchmark. `make demo` or `make check` first (each checks DEPS, below).
#
#   make                 library and commands in build/ (build/bin/tf-*)
#   make check           unit suites (check), command-line tests, man page lint, fuzz, doc citations
#   make check SANITIZE=1  the same under ASan + UBSan (objects in build/san/)
#   make check-valgrind  every command, and its failures, under valgrind memcheck (build/vg/)
#   make fuzz            each libFuzzer harness of tests/fuzz for FUZZ_SECONDS=60 (needs deps-fuzz)
#   make learn           train configs/small.yaml on KJV, score it (about 10 minutes)
#   make quality         what --weights bf16 and q8 cost the `make learn` model (a few minutes)
#   make bench           throughput against the PyTorch reference, as ratios (needs deps-bench)
#   make fixtures        regenerate tests/fixtures from tests/reference (needs python3-torch)
#   make scaling         the progressive-scaling experiment on the KJV corpus (about an hour;
#                        SEEDS=3 for three seeds and their spread)
#   make growth-study    growth choices compared at equal FLOPs (QUICK=1: a smoke run)
#   make deps            install the Debian packages the build needs (as root), or say which
#   make install         commands (tools/plot-log too), library, header, pkg-config file, man
#                        pages (PREFIX, DESTDIR); `make uninstall` removes them.
#                        ARCH=-march=x86-64-v3 for other CPUs.

# Debian packages: what the build and `make check` need (DEPS), and what benchmarks and
# fixture generation add (BENCH_DEPS).
DEPS       := gcc make pkg-config zlib1g-dev libyaml-dev libjansson-dev check libsubunit-dev \
              libpcre2-dev libutf8proc-dev nettle-dev libisal-dev \
              libblis-openmp-dev mandoc bible-kjv bible-kjv-text libopenmpi-dev openmpi-bin \
              gnuplot-nox valgrind time
BENCH_DEPS := python3-torch hyperfine libopenblas0-openmp nodejs npm

# The deps check: `make check`, `make demo` and the other goals below work as the first command
# on a fresh Debian machine. Before anything is compiled (and before pkg-config is asked for
# flags), tests/install-deps.sh looks for DEPS: as root it installs what is missing, otherwise
# it prints the apt-get line and make stops here. DEPS_CHECK=0 skips it.
DEPS_GOALS := check demo demo-bpe check-valgrind learn scaling
ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
ifneq ($(DEPS_CHECK),0)
ifneq ($(shell sh tests/install-deps.sh $(DEPS) >&2 && echo ok),ok)
$(error deps: Debian packages are missing (above); nothing was compiled)
endif
export DEPS_CHECK := 0
endif
endif

CC       ?= gcc
# The instruction sets of every object (README "Installing"): this CPU's by default; a command
# run on a CPU that lacks one of them says so and exits 78 (lib/cpu.c).
ARCH     ?= -march=native
OPT      ?= -O2
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
PKGS     := zlib yaml-0.1 jansson libpcre2-8 libutf8proc nettle libisal check
BLIS_DIR ?= /usr/lib/$(MULTIARCH)/blis-openmp
BLIS_INC ?= /usr/include/$(MULTIARCH)/blis-openmp
BLIS_LIB ?= $(BLIS_DIR)/libblis.a

ifeq ($(VALGRIND),1)
# valgrind 3.19 decodes no AVX-512: an AVX2-level build, no sanitizers, for check-valgrind
O        := build/vg
ARCH     := -march=x86-64-v3
SANFLAGS :=
else ifeq ($(SANITIZE),1)
O        := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
# An ARCH other than the default builds beside the native objects, in build/<ARCH's words>
# (build/x86-64-v3 for ARCH=-march=x86-64-v3): the objects do not record their flags.
ARCH_TAG := $(subst =,-,$(subst $() ,-,$(strip $(subst -march=,,$(ARCH)))))
O        := build$(if $(filter-out -march=native,$(ARCH)),/$(ARCH_TAG))
SANFLAGS :=
endif

# MPI (Open MPI) when installed; `make MPI=0` builds without it (objects in build/nompi).
MPI ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
MPI_CFLAGS := -DTF_HAVE_MPI $(shell pkg-config --cflags ompi-c)
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
else
O          := $(O)/nompi
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs zlib yaml-0.1 jansson libpcre2-8 libutf8proc nettle libisal 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

CFLAGS   ?= $(OPT) -g $(ARCH)
# Warnings every file is clean of; `make WERROR=1` (CI, .ci/run) makes them errors.
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
ifeq ($(WERROR),1)
WARN     += -Werror
endif
# -fno-math-errno: nothing reads errno after a libm call, and a sqrtf that may set it does not
# vectorise (AdamW's loop ran scalar). -fno-trapping-math: nothing reads the floating-point
# exception flags, and without AVX-512's masked arithmetic a loop whose select computes only one
# side did not vectorise: an AVX2 build ran pattn.c's GELU loops and a few row loops of ops.c and
# attn.c scalar (values are unchanged: no reassociation).
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -fno-math-errno -fno-trapping-math -fopenmp -MMD \
              -MP -Ilib \
              -isystem $(BLIS_INC) \
              $(PKG_CFLAGS) $(MPI_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS)
LDLIBS   := $(LDFLAGS) $(BLIS_LIB) $(PKG_LIBS) $(MPI_LIBS) -fopenmp -lpthread -lm $(SANFLAGS)

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o)
LIB      := $(O)/libtokenformer.a
CMD_SRC  := $(wildcard cmd/tf-*.c)
CMD_BIN  := $(CMD_SRC:cmd/%.c=$(O)/bin/%)
CMD_OBJ  := $(filter-out $(CMD_SRC:%.c=$(O)/%.o),$(patsubst %.c,$(O)/%.o,$(wildcard cmd/*.c)))
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(O)/tests/%)
TEST_OBJ := $(patsubst %.c,$(O)/%.o,$(filter-out $(TEST_SRC),$(wildcard tests/unit/*.c)))
MANPAGES := $(wildcard man/man*/*.[157])
# Scripts installed beside the commands (each with its man page in man/man1).
TOOLS    := tools/plot-log
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION  := $(shell sed -n 's/^\#define TF_VERSION "\(.*\)"/\1/p' lib/tokenformer.h)

.PHONY: all check check-unit check-cli check-man check-docs check-api check-valgrind bench learn quality bench-progs fixtures deps deps-bench demo demo-bpe growth-study \
        data clean install uninstall check-install format

all: $(LIB) $(CMD_BIN)

# Objects are never intermediate files to delete.
.SECONDARY:

# attn.c's own kernels (lib/attn_kern.h, included by attn.c alone) multiply-add vectors: ISO C
# mode (-std=c11) forbids fusing a * b + c into one FMA unless asked, and unfused they run at
# half speed. Only there: elsewhere the row kernels' rounding is written out with fmaf where it
# matters.
$(O)/lib/attn.o: ALL_CFLAGS += -ffp-contract=fast

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# cmd/*.c other than tf-*.c are shared command helpers linked into every command.
$(O)/bin/%: $(O)/cmd/%.o $(CMD_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CMD_OBJ) $(LIB) $(LDLIBS)

$(O)/tests/%: $(O)/tests/unit/%.o $(TEST_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(TEST_OBJ) $(LIB) $(LDLIBS) $(CHECK_LIBS)

check: check-unit check-cli check-man check-fuzz check-docs check-install check-api

# test_gemm runs twice: the second time OpenMP grants one thread where two are asked for.
check-unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; TF_FIXTURES=tests/fixtures OMP_NUM_THREADS=2 CK_VERBOSITY=normal CK_DEFAULT_TIMEOUT=120 \
	    $$t || fail=1; done; \
	echo "== $(O)/tests/test_gemm, OMP_THREAD_LIMIT=1"; \
	OMP_NUM_THREADS=2 OMP_THREAD_LIMIT=1 CK_VERBOSITY=normal $(O)/tests/test_gemm || fail=1; \
	exit $$fail

check-cli: all
	@TF_BIN=$(O)/bin sh tests/cli/run.sh

check-man:
	@fail=0; for c in $(CMD_SRC:cmd/%.c=%) $(TOOLS:tools/%=%); do \
	  [ -f man/man1/$$c.1 ] || { echo "man: $$c has no man page man/man1/$$c.1"; fail=1; }; done; \
	for m in $(MANPAGES); do \
	  out=$$(mandoc -T lint -W warning $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; done; \
	  n=$$(echo $(MANPAGES) | wc -w); \
	  if [ $$fail = 0 ]; then echo "man: $$n pages lint clean"; fi; exit $$fail

# Every global symbol of the library is tf_-prefixed, the commands include only the public header
# and it includes none of ours (docs/design.md §3); the checker's own test first.
check-api: $(LIB)
	@sh tests/api/test_check_api.sh "$(CC)" && sh tests/api/check-api.sh $(LIB) .

# Every citation of docs/ pages, sections and man pages resolves, and nothing cites notes outside
# the repository (docs/design.md §8); the checker's own test first.
check-docs:
	@sh tests/docs/test_check_citations.sh && sh tests/docs/check-citations.sh

# Every command under valgrind memcheck (tests/valgrind/run.sh), built with VALGRIND=1.
ifeq ($(VALGRIND),1)
check-valgrind: all
	@TF_BIN=$(O)/bin sh tests/valgrind/run.sh
else
check-valgrind:
	@$(MAKE) --no-print-directory VALGRIND=1 check-valgrind
endif

bench: all bench-progs
	sh tests/bench/run.sh $(O)/bin

# tf-convert on a file of the released 150M model's shapes: MB/s and peak memory (README
# "Using the released models"); not part of `make bench`'s ratios.
.PHONY: bench-convert
bench-convert: all
	sh tests/bench/convert.sh $(O)/bin

fixtures: all
	sh tests/reference/make_fixtures.sh $(O)/bin

# DEPS and BENCH_DEPS: at the top, the deps check needs them before anything else.

deps:
	@sh tests/install-deps.sh $(DEPS)

deps-bench:
	@sh tests/install-deps.sh $(DEPS) $(BENCH_DEPS)

demo: all data
	@sh data/demo.sh $(O)/bin

# The BPE demo: tf-tokenize, then configs/small-bpe.yaml on the token dataset (data/demo-bpe.sh).
demo-bpe: all data
	@sh data/demo-bpe.sh $(O)/bin

# The learning benchmark (README "Training"): configs/small.yaml's whole schedule, then tf-eval
# on the valid split; about 10 minutes on 2 cores. LEARN_SET="--set init.std=0.02" varies it.
learn: all data
	@sh tests/bench/learn.sh $(O)/bin $(LEARN_SET)

# The weight formats' cost in quality (README "Generating text"): tf-eval bits per byte and
# greedy texts of 20 prompts with --weights f32, bf16 and q8 (tests/bench/quality.sh), on the
# `make learn` model (QUALITY_MODEL overrides), results in build/quality/.
QUALITY_MODEL ?= build/learn/s1.tfz
quality: all data
	@sh tests/bench/quality.sh $(O)/bin $(QUALITY_MODEL)

# The progressive-scaling experiment (README "Growing a model"): results in build/scaling/.
# SEEDS=N runs it with seeds 1..N (build/scaling/seedK) and reports mean ± spread.
SEEDS ?= 1
scaling: all data
	SEEDS=$(SEEDS) sh configs/scaling/seeds.sh $(O)/bin build/scaling

# The growth study (configs/study/run.sh): init, schedule, freezing, scratch and shrinking at
# equal FLOPs over seeds; QUICK=1 is a CI-sized smoke run on the tiny model and text.
growth-study: all $(if $(filter 1,$(QUICK)),,data)
	QUICK=$(QUICK) sh configs/study/run.sh $(O)/bin build/growth-study$(if $(filter 1,$(QUICK)),-quick)

# The demo corpus (not committed): data/kjv-train.txt and data/kjv-valid.txt.
data: data/kjv-train.txt
data/kjv-train.txt:
	sh data/make-kjv.sh data

# ---------------------------------------------------------------- install
# `make install [PREFIX=/usr/local] [DESTDIR=...]`: commands, libtokenformer.a, its header, a
# pkg-config file (`pkg-config --cflags --libs --static tokenformer`) and the man pages;
# `make uninstall` removes exactly those. The binaries are built with $(ARCH), -march=native
# by default: fastest here, and on another CPU that lacks an instruction set they use, every
# command says which and exits 78 (lib/cpu.c) rather than crash. For a cluster whose nodes differ,
# `make install ARCH=-march=x86-64-v3` (AVX2, FMA) runs on all of them (README "Installing").
# The pkg-config file names what a static link needs: the BLIS archive, the Debian libraries
# (Requires.private), OpenMP and, when built with it, Open MPI.
HEADERS  := lib/tokenformer.h
PC       := $(O)/tokenformer.pc
PC_REQUIRES := zlib yaml-0.1 jansson libpcre2-8 libutf8proc nettle libisal$(if $(MPI_LIBS), ompi-c)
MAN_INST := $(patsubst man/%,$(MANDIR)/%,$(MANPAGES))

# Written on every install: it holds PREFIX, which may differ from the last run.
$(PC): tokenformer.pc.in FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES)|' \
	  -e 's|@LIBS_PRIVATE@|$(strip $(BLIS_LIB) -fopenmp -lpthread -lm $(SANFLAGS))|' $< > $@

install: all $(PC)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(sort $(dir $(MAN_INST:%=$(DESTDIR)%)))
	install -m 755 $(CMD_BIN) $(TOOLS) $(DESTDIR)$(BINDIR)
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(PC) $(DESTDIR)$(PKGCONFIGDIR)
	for m in $(MANPAGES); do install -m 644 $$m $(DESTDIR)$(MANDIR)/$${m#man/}; done

.PHONY: FORCE
FORCE:

uninstall:
	rm -f $(CMD_BIN:$(O)/bin/%=$(DESTDIR)$(BINDIR)/%) $(TOOLS:tools/%=$(DESTDIR)$(BINDIR)/%) \
	  $(DESTDIR)$(LIBDIR)/libtokenformer.a \
	  $(HEADERS:lib/%=$(DESTDIR)$(INCLUDEDIR)/%) $(DESTDIR)$(PKGCONFIGDIR)/tokenformer.pc \
	  $(MAN_INST:%=$(DESTDIR)%)

# Installs into a temporary prefix, builds tests/install/prog.c against it with pkg-config,
# runs it, and uninstalls (tests/install/run.sh).
check-install: all
	@sh tests/install/run.sh "$(MAKE)" "$(CC) $(SANFLAGS)"

format:
	clang-format -i lib/*.c lib/*.h cmd/*.c cmd/*.h tests/unit/*.c tests/unit/*.h 2>/dev/null; true

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CMD_BIN:$(O)/bin/%=$(O)/cmd/%.d) $(TEST_BIN:$(O)/tests/%=$(O)/tests/unit/%.d) \
         $(CMD_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# ---------------------------------------------------------------- model and bandwidth benchmarks
# `make bench` (tests/bench/run.sh) runs these beside the PyTorch peer; see tests/bench/README.md.
# Each tests/bench/NAME.c is one program, $(O)/bench/NAME: bench_model (tokens/s of one config,
# forward+backward or a training step), bench_stream (triad bandwidth), bench_gemm, bench_decode
# (`build/bench/bench_decode -c configs/150M.yaml`: decoding tokens/s with the KV cache, 1 and 2
# threads, one JSON line each), ...
BENCH_BIN := $(patsubst tests/bench/%.c,$(O)/bench/%,$(wildcard tests/bench/*.c))

bench-progs: $(BENCH_BIN)

$(O)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

-include $(BENCH_BIN:=.d)

# ---------------------------------------------------------------- fuzzing
# `make fuzz [FUZZ_SECONDS=60]` builds the libFuzzer harnesses of tests/fuzz/ with clang,
# ASan and UBSan (library objects with -fsanitize=fuzzer-no-link, all in build/fuzz/) and runs
# each for FUZZ_SECONDS from a copy of its committed corpus (tests/fuzz/run.sh): a crash, leak
# or timeout fails it, its input left in build/fuzz/NAME/. `make check-fuzz` (part of check)
# runs the committed corpus and tests/fuzz/regress/ through the same harnesses linked with a
# plain main (tests/fuzz/driver.c), built like the tests, so SANITIZE=1 applies.
# -fopenmp=libgomp: no OpenMP code generation (one thread; clang's libomp allocates in every
# serialized parallel region, which libFuzzer's leak check takes for a leak on every run),
# omp_* calls and BLIS's runtime from libgomp; the variables only OpenMP clauses read go unused.
FUZZ_NAMES   := ckpt config prompt optim torch tokenizer mmidx
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp=libgomp -MMD -MP -Ilib \
                -isystem $(BLIS_INC) $(PKG_CFLAGS) -O1 -g $(ARCH) -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIBFLAGS := -fsanitize=fuzzer-no-link -Wno-pass-failed -Wno-unused-variable \
                 -Wno-unused-parameter -Wno-unused-function
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_LIB     := $(FUZZ_DIR)/libtokenformer.a
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_DEPS    := clang libclang-rt-14-dev
FUZZ_CHECK   := $(FUZZ_NAMES:%=$(O)/fuzz-regress/fuzz_%)

.PHONY: fuzz fuzz-progs check-fuzz deps-fuzz

fuzz: fuzz-progs
	@sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-progs: $(FUZZ_BIN)

$(FUZZ_DIR)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_LIBFLAGS) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(BLIS_LIB) $(PKG_LIBS) \
	  -lpthread -lm

$(O)/fuzz-regress/fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(O)/tests/fuzz/driver.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

check-fuzz: $(FUZZ_CHECK)
	@sh tests/fuzz/check.sh $(O)/fuzz-regress $(FUZZ_NAMES)

deps-fuzz:
	@sh tests/install-deps.sh $(DEPS) $(FUZZ_DEPS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_BIN:=.d) $(FUZZ_NAMES:%=$(O)/tests/fuzz/fuzz_%.d) \
         $(O)/tests/fuzz/driver.d
