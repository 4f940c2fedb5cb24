# Fuzzing: libFuzzer and AFL++ builds of fuzz/fuzz_<target>.c, corpus replay,
# coverage. Included by the Makefile (`include mk/fuzz.mk`); works alone too:
# `make -f Makefile -f mk/fuzz.mk fuzz-smoke`. See docs/fuzzing.md.
#
#   make fuzz T=<target> [SECS=60]      libFuzzer (ASan+UBSan), corpus + dict
#   make fuzz-afl T=<target> [SECS=60]  AFL++ persistent mode
#   make fuzz-smoke [FUZZ_SMOKE_SECS=20] every target for a short time (CI)
#   make fuzz-replay                    corpora + tests/regress through the
#                                       plain driver ($(CC)); part of make test
#   make fuzz-cov                       llvm-cov line coverage of engine/core
#   make fuzz-merge T=<target>          add new coverage from build-fuzz/ to
#                                       fuzz/corpus/<target>
#   make fuzz-min T=<target> CRASH=<file> [NAME=<name>]
#                                       minimise a crash into tests/regress/
#   make fuzz-corpus                    regenerate the seed-* files
#   make fuzz-cflite                    .clusterfuzzlite/build.sh with libFuzzer,
#                                       every target on its corpus once
#
# Everything is built under build-fuzz/ from engine/core/*.c directly, so it
# does not depend on the main build.

FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_DIR ?= build-fuzz
FUZZ_CORE_SRC := $(sort $(wildcard engine/core/*.c))
# fuzz_sim also runs the simulator and the patterns (not the POSIX runner).
FUZZ_SIM_SRC := $(sort $(wildcard sim/*.c) $(filter-out patterns/runner_posix.c,$(wildcard patterns/*.c)))
# fuzz_faults reads the proxy's fault words, with the scenario parser's link words.
FUZZ_FAULTS_SRC := hosts/proxy_fault.c $(FUZZ_SIM_SRC)
FUZZ_DEPS := $(wildcard fuzz/*.h engine/include/tofulab/*.h engine/core/*.h hosts/proxy.h) mk/fuzz.mk
FUZZ_CPPFLAGS := -Iengine/include -D_POSIX_C_SOURCE=200809L
FUZZ_WARN ?= -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wundef

# libFuzzer: clang with ASan + UBSan; the harness code itself (fuzz/) is not
# coverage-instrumented, so the fuzzer steers by the library's coverage only.
# UBSan's alignment checks are left out (FUZZ_SAN_EXTRA): -fsanitize=fuzzer
# traces every comparison they add, which costs 2-3x the throughput, and the
# codec never loads through a cast pointer; make check keeps them.
FUZZ_CLANG ?= clang
FUZZ_SANITIZE ?= address,undefined
FUZZ_SAN_EXTRA ?= -fno-sanitize=alignment
# FUZZ_STRICT=1 makes the checks of open findings fatal too (fuzz/fuzz.h), e.g.
# to minimise one: make fuzz-min FUZZ_STRICT=1 FUZZ_DIR=build-fuzz/strict ...
FUZZ_STRICT ?=
FUZZ_LF_CFLAGS ?= -O2 -g -fno-omit-frame-pointer -fsanitize=fuzzer,$(FUZZ_SANITIZE) $(FUZZ_SAN_EXTRA) \
                  -fno-sanitize-recover=all -fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt \
                  $(if $(FUZZ_STRICT),-DFUZZ_STRICT)
# AFL++: afl-clang-fast, persistent mode via fuzz/driver.c. FUZZ_AFL_SAN=1
# adds ASan+UBSan (slower; libFuzzer runs them anyway).
FUZZ_AFL_CC ?= afl-clang-fast
FUZZ_AFL_CFLAGS ?= -O2 -g
FUZZ_AFL_SAN ?=
FUZZ_AFL_ENV := AFL_QUIET=1 $(if $(FUZZ_AFL_SAN),AFL_USE_ASAN=1 AFL_USE_UBSAN=1)
# Replay: the plain driver with the project's compiler (gcc by default).
FUZZ_REPLAY_CC ?= $(CC)
FUZZ_REPLAY_CFLAGS ?= -O1 -g
FUZZ_REPLAY_WRAPPER ?=
# Coverage: clang source-based coverage, replay driver.
FUZZ_COV_CFLAGS ?= -O0 -g -fprofile-instr-generate -fcoverage-mapping

T ?=
SECS ?= 60
FUZZ_SMOKE_SECS ?= 20
FUZZ_T := $(patsubst fuzz_%,%,$(T))

# Quiet unless V=1.
FUZZ_Q := $(if $(V),,@)

# fuzz_flavor(name, compiler, flags, extra sources, environment)
define fuzz_flavor
$(FUZZ_DIR)/$(1)/obj/%.o: %.c $(FUZZ_DEPS)
	@mkdir -p $$(dir $$@)
	$(if $(V),,@echo "  CC [$(1)] $$<")
	$(FUZZ_Q)$(5) $(2) $(FUZZ_CPPFLAGS) $(FUZZ_WARN) $(3) -MMD -MP -c $$< -o $$@
$(FUZZ_DIR)/$(1)/fuzz_%: $(FUZZ_DIR)/$(1)/obj/fuzz/fuzz_%.o $(patsubst %.c,$(FUZZ_DIR)/$(1)/obj/%.o,$(4) $(FUZZ_CORE_SRC))
	$(if $(V),,@echo "  LD [$(1)] $$@")
	$(FUZZ_Q)$(5) $(2) $(3) -o $$@ $$^
$(FUZZ_DIR)/$(1)/fuzz_sim: $(patsubst %.c,$(FUZZ_DIR)/$(1)/obj/%.o,$(FUZZ_SIM_SRC))
$(FUZZ_DIR)/$(1)/fuzz_faults: $(patsubst %.c,$(FUZZ_DIR)/$(1)/obj/%.o,$(FUZZ_FAULTS_SRC))
endef

$(eval $(call fuzz_flavor,libfuzzer,$(FUZZ_CLANG),$(FUZZ_LF_CFLAGS),,))
$(eval $(call fuzz_flavor,afl,$(FUZZ_AFL_CC),$(FUZZ_AFL_CFLAGS),fuzz/driver.c,$(FUZZ_AFL_ENV)))
$(eval $(call fuzz_flavor,replay,$(FUZZ_REPLAY_CC),$(FUZZ_REPLAY_CFLAGS),fuzz/driver.c,))
$(eval $(call fuzz_flavor,cov,$(FUZZ_CLANG),$(FUZZ_COV_CFLAGS),fuzz/driver.c,))

.PRECIOUS: $(FUZZ_DIR)/libfuzzer/obj/%.o $(FUZZ_DIR)/afl/obj/%.o $(FUZZ_DIR)/replay/obj/%.o \
           $(FUZZ_DIR)/cov/obj/%.o
.PHONY: fuzz fuzz-afl fuzz-smoke fuzz-replay fuzz-replay-build fuzz-cov fuzz-merge fuzz-min fuzz-corpus fuzz-build \
        fuzz-check-target

FUZZ_LF_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/libfuzzer/fuzz_%)
FUZZ_REPLAY_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/replay/fuzz_%)
FUZZ_COV_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/cov/fuzz_%)

fuzz-build: $(FUZZ_LF_BINS)

fuzz-check-target:
	@if [ -z "$(FUZZ_T)" ] || [ ! -f fuzz/fuzz_$(FUZZ_T).c ]; then \
	    echo "usage: make $(MAKECMDGOALS) T=<target> [SECS=n]; targets: $(FUZZ_TARGETS)" >&2; exit 2; fi

# The binary of T (none when T is not set: fuzz-check-target explains).
FUZZ_LF_BIN_T := $(if $(FUZZ_T),$(FUZZ_DIR)/libfuzzer/fuzz_$(FUZZ_T))

fuzz: fuzz-check-target $(FUZZ_LF_BIN_T)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-run.sh $(FUZZ_T) $(SECS)

fuzz-afl: fuzz-check-target $(if $(FUZZ_T),$(FUZZ_DIR)/afl/fuzz_$(FUZZ_T))
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-afl.sh $(FUZZ_T) $(SECS)

fuzz-smoke: $(FUZZ_LF_BINS)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-smoke.sh $(FUZZ_SMOKE_SECS) $(FUZZ_TARGETS)

fuzz-replay: $(FUZZ_REPLAY_BINS)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-replay.sh $(FUZZ_REPLAY_WRAPPER)

fuzz-cov: $(FUZZ_COV_BINS)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-cov.sh $(FUZZ_TARGETS)

fuzz-merge: fuzz-check-target $(FUZZ_LF_BIN_T)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-run.sh --merge $(FUZZ_T)

fuzz-min: fuzz-check-target $(FUZZ_LF_BIN_T)
	@FUZZ_DIR=$(FUZZ_DIR) sh ci/fuzz-run.sh --minimize $(FUZZ_T) "$(CRASH)" "$(NAME)"

fuzz-corpus: $(BIN)
	@sh fuzz/gen-corpus.sh $(BIN)

# ARCHITECTURE.md 6: make test includes the fuzz corpus replay: ci/test.sh
# builds fuzz-replay-build with the tests and runs ci/fuzz-replay.sh.
fuzz-replay-build: $(FUZZ_REPLAY_BINS)

# Header dependencies of every fuzz flavor (a changed struct must rebuild
# every object that uses it, or the binaries mix layouts and crash).
-include $(shell find $(FUZZ_DIR) -name '*.d' 2>/dev/null)

# The ClusterFuzzLite build script, tried with clang's libFuzzer: every target
# built by .clusterfuzzlite/build.sh runs its seed corpus once.
.PHONY: fuzz-cflite
fuzz-cflite:
	@rm -rf $(FUZZ_DIR)/cflite && mkdir -p $(FUZZ_DIR)/cflite
	@CC=$(FUZZ_CLANG) CXX=$(FUZZ_CLANG)++ CFLAGS='-O1 -g -fsanitize=address,undefined,fuzzer-no-link' \
	    LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=$(abspath $(FUZZ_DIR)/cflite) sh .clusterfuzzlite/build.sh
	@for t in $(FUZZ_TARGETS); do \
	    $(FUZZ_DIR)/cflite/fuzz_$$t -runs=0 fuzz/corpus/$$t >$(FUZZ_DIR)/cflite/$$t.log 2>&1 \
	        || { echo "fuzz-cflite: $$t failed on its corpus, see $(FUZZ_DIR)/cflite/$$t.log" >&2; exit 1; }; \
	    echo "fuzz-cflite: $$t: $$(ls fuzz/corpus/$$t | wc -l) corpus inputs ok"; \
	done
