# tofulab — see README.md. Targets: all run test check bench soak fuzz fuzz-smoke
# fuzz-replay format lint install clean. CI runs only these (ci/, .ci/run).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
SAN     ?=
OPT     ?= -O2

CSTD     := -std=c11
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wundef
CPPFLAGS += -Iengine/include -D_POSIX_C_SOURCE=200809L
CFLAGS   += $(CSTD) $(WARN) $(OPT) -g -MMD -MP
LDLIBS   += -lpthread

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

CORE_SRC  := $(sort $(wildcard engine/core/*.c))
POSIX_SRC := $(sort $(wildcard engine/posix/*.c))
LIB_SRC   := $(CORE_SRC) $(POSIX_SRC) $(sort $(wildcard sim/*.c patterns/*.c conform/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TESTHELP_SRC := $(sort $(wildcard tests/helpers/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c tests/integration/test_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB      := $(BUILD)/libtofulab.a
BIN      := $(BUILD)/tofulab
TESTS    := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRC)))
BENCH    := $(BUILD)/bench/tofulab-bench

CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

.PHONY: all run test check bench soak deps tests format lint install clean golden
all: $(BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(call obj,$(CLI_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# One binary per test file; tests/helpers/*.c are linked into each.
$(BUILD)/obj/tests/%.o: CFLAGS += $(CMOCKA_CFLAGS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTHELP_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(call obj,$(TESTHELP_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)

$(BENCH): $(call obj,$(BENCH_SRC) tests/helpers/hostile.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(TESTS) $(BIN)

deps:
	@sh ci/install-deps.sh

# The main job: the golden vectors, then every scenario's seeds in parallel,
# with a summary table (ci/run-main.sh).
run: $(BIN)
	@sh ci/run-main.sh $(BIN)

test: deps
	@$(MAKE) --no-print-directory tests
	@TOFULAB=$(abspath $(BIN)) sh ci/run-tests.sh $(BUILD)/tests
	@sh ci/scenarios.sh --quick $(BIN)

# Tests under ASan+UBSan (clang), then under Valgrind memcheck.
check: deps
	@sh ci/check.sh

bench: $(BENCH) $(BIN)
	@$(BENCH)

# The 10-minute soak of `tofulab serve` (tests/integration/test_abuse.c):
# load, hostile peers and churn in rounds; nothing lost, memory flat.
# SOAK_SECS=N for another length. Not part of make test.
SOAK_SECS ?= 600
soak: tests
	@TOFULAB=$(abspath $(BIN)) TOFULAB_SOAK_SECONDS=$(SOAK_SECS) $(BUILD)/tests/test_abuse

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(TESTHELP_SRC) $(BENCH_SRC) \
	    $(wildcard engine/include/tofulab/*.h engine/core/*.h engine/posix/*.h sim/*.h patterns/*.h conform/*.h cli/*.h tests/helpers/*.h)

lint:
	@sh ci/lint.sh

install: $(BIN) $(LIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/tofulab
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/tofulab
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libtofulab.a
	install -m 644 engine/include/tofulab/*.h $(DESTDIR)$(PREFIX)/include/tofulab/

clean:
	rm -rf build build-*

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Fuzzing (libFuzzer, AFL++, corpus replay as part of make test): see docs/fuzzing.md.
include mk/fuzz.mk
