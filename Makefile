# tofulab — see README.md. Targets: all run test check bench soak fuzz fuzz-smoke
# fuzz-peer-smoke fuzz-replay format lint install uninstall man clean. CI runs only
# these (ci/, .ci/run).

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
SAN     ?=
OPT     ?= -O2

# Where `make install` puts things (DESTDIR is prepended to each).
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# The Wireshark dissector goes where Wireshark reads Lua plugins: for a system
# prefix (/usr, /usr/local) its global Lua plugin folder as tshark reports it;
# for any other prefix $(LIBDIR)/wireshark/plugins, which for PREFIX=~/.local
# is Wireshark's personal Lua plugin folder.
WIRESHARK_GLOBAL_LUA_DIR = $(shell tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:[[:space:]]*//p')
ifneq ($(filter /usr /usr/local /usr/ /usr/local/,$(PREFIX)),)
WIRESHARK_PLUGIN_DIR ?= $(or $(WIRESHARK_GLOBAL_LUA_DIR),$(LIBDIR)/wireshark/plugins)
else
WIRESHARK_PLUGIN_DIR ?= $(LIBDIR)/wireshark/plugins
endif
# The version: one place, engine/include/tofulab/version.h.
VERSION := $(shell sed -n 's/^\#define TOFULAB_VERSION "\(.*\)"$$/\1/p' engine/include/tofulab/version.h)

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
# SAN=thread: ThreadSanitizer (clang; `make tsan`, ci/tsan.sh).
ifeq ($(SAN),thread)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

CORE_SRC  := $(sort $(wildcard engine/core/*.c))
POSIX_SRC := $(sort $(wildcard engine/posix/*.c))
LIB_SRC   := $(CORE_SRC) $(POSIX_SRC) $(sort $(wildcard sim/*.c patterns/*.c conform/*.c hosts/*.c fuzzpeer/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
TESTHELP_SRC := $(sort $(wildcard tests/helpers/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c tests/integration/test_*.c))
TOOL_SRC  := $(sort $(wildcard tests/tools/*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB      := $(BUILD)/libtofulab.a
BIN      := $(BUILD)/tofulab
TESTS    := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRC)))
BENCH    := $(BUILD)/bench/tofulab-bench

CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
# The proxy's control API (hosts/proxy_http.c) uses libmicrohttpd and jansson.
# Only what calls tl_proxy_http_* needs them: the tofulab command, the tests
# and the bench. A program linking libtofulab.a without the HTTP API needs no
# more than -lpthread; with it, add $(HTTP_LIBS) (see docs/proxy.md).
HTTP_LIBS     := $(shell pkg-config --libs libmicrohttpd jansson 2>/dev/null || echo -lmicrohttpd -ljansson)

.PHONY: all run test check bench soak deps tests format lint install uninstall man clean golden
all: $(BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(call obj,$(CLI_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(HTTP_LIBS) $(LDLIBS)

# One binary per test file; tests/helpers/*.c are linked into each.
# The test objects are built by pattern rules, which would make them
# intermediates that make deletes after linking (so the next `make test`
# compiled them all again): .SECONDARY keeps them. ci/test.sh checks with
# `make -q` that a finished build leaves nothing to do.
TEST_OBJ := $(call obj,$(TEST_SRC) $(TESTHELP_SRC) $(TOOL_SRC))
.SECONDARY: $(TEST_OBJ)
$(BUILD)/obj/tests/%.o: CFLAGS += $(CMOCKA_CFLAGS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(TESTHELP_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(HTTP_LIBS) $(LDLIBS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(call obj,$(TESTHELP_SRC)) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(HTTP_LIBS) $(LDLIBS)

$(BENCH): $(call obj,$(BENCH_SRC) tests/helpers/hostile.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(HTTP_LIBS) $(LDLIBS)

# Helper programs tests spawn (tests/tools/*.c, each with its main; not run as tests).
TOOLS := $(BUILD)/tests/tools/defective-peer
$(BUILD)/tests/tools/defective-peer: $(BUILD)/obj/tests/tools/defective_peer_main.o $(BUILD)/obj/tests/helpers/defective_peer.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(TESTS) $(BIN) $(TOOLS)

deps:
	@sh ci/install-deps.sh

# The main job: the golden vectors, then every scenario over many new seeds
# (ci/seeds.txt), in parallel, with a summary (ci/run-main.sh).
run: $(BIN)
	@sh ci/run-main.sh $(BIN)

# Every test, quietly: one line per suite (each cmocka binary, the fuzz corpus
# replay, the scenario determinism check and sweep, the documented commands),
# the details of a failure only, and "N passed, N failed" last; V=1 prints
# everything (ci/test.sh).
test: deps
	@MAKE="$(MAKE)" BUILD="$(BUILD)" FUZZ_DIR="$(FUZZ_DIR)" V="$(V)" TEST_JOBS="$(TEST_JOBS)" sh ci/test.sh

# Tests under ASan+UBSan (clang), then under Valgrind memcheck.
check: deps
	@sh ci/check.sh

# Tests under ThreadSanitizer (clang; ci/tsan.sh).
.PHONY: tsan
tsan: deps
	@sh ci/tsan.sh

bench: $(BENCH) $(BIN)
	@$(BENCH)

# The 10-minute soak of `tofulab serve` (tests/integration/test_abuse.c):
# load, hostile peers and churn in rounds; nothing lost, memory flat.
# SOAK_SECS=N for another length. Not part of make test.
SOAK_SECS ?= 600
soak: tests
	@TOFULAB=$(abspath $(BIN)) TOFULAB_SOAK_SECONDS=$(SOAK_SECS) $(BUILD)/tests/test_abuse

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(TESTHELP_SRC) $(TOOL_SRC) $(BENCH_SRC) \
	    $(wildcard engine/include/tofulab/*.h engine/core/*.h engine/posix/*.h sim/*.h patterns/*.h conform/*.h \
	    hosts/*.h fuzzpeer/*.h cli/*.h tests/helpers/*.h tests/bench/*.h)

lint:
	@sh ci/lint.sh

# The man page tofulab(1), from the --help texts (help2man; mk/man.sh).
MAN := $(BUILD)/tofulab.1
man: $(MAN)
$(MAN): $(BIN) mk/man.sh
	sh mk/man.sh $(BIN) $@

PUBLIC_HEADERS := $(notdir $(wildcard engine/include/tofulab/*.h))

# The command, the library and its headers, tofulab.pc for pkg-config, the
# man page and the Wireshark dissector (docs/wireshark.md).
install: $(BIN) $(LIB) $(MAN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/tofulab \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(WIRESHARK_PLUGIN_DIR)
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/tofulab
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libtofulab.a
	install -m 644 $(addprefix engine/include/tofulab/,$(PUBLIC_HEADERS)) $(DESTDIR)$(INCLUDEDIR)/tofulab/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' mk/tofulab.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/tofulab.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/tofulab.pc
	install -m 644 $(MAN) $(DESTDIR)$(MANDIR)/man1/tofulab.1
	install -m 644 wireshark/tofu.lua $(DESTDIR)$(WIRESHARK_PLUGIN_DIR)/tofu.lua

# Removes what install put there (the same variables must be given).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tofulab $(DESTDIR)$(LIBDIR)/libtofulab.a \
	    $(addprefix $(DESTDIR)$(INCLUDEDIR)/tofulab/,$(PUBLIC_HEADERS)) \
	    $(DESTDIR)$(PKGCONFIGDIR)/tofulab.pc $(DESTDIR)$(MANDIR)/man1/tofulab.1 \
	    $(DESTDIR)$(WIRESHARK_PLUGIN_DIR)/tofu.lua
	-rmdir $(DESTDIR)$(INCLUDEDIR)/tofulab 2>/dev/null

clean:
	rm -rf build build-*

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Fuzzing (libFuzzer, AFL++, corpus replay as part of make test): see docs/fuzzing.md.
include mk/fuzz.mk

# The network fuzzer against `tofulab serve` for FUZZ_PEER_SECS (not part of
# make test; fuzz.yml runs it): must find nothing. docs/fuzzing.md.
FUZZ_PEER_SECS ?= 30
.PHONY: fuzz-peer-smoke
fuzz-peer-smoke: $(BIN)
	@sh ci/fuzz-peer-smoke.sh $(BIN) $(FUZZ_PEER_SECS)
	@FUZZ_PEER_OUT=fuzz-peer-exact sh ci/fuzz-peer-smoke.sh $(BIN) $(FUZZ_PEER_SECS) --exact
