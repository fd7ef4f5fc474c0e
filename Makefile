# p2pcall — see README for the quick start.
#
# Layout: src/core (pure logic, no I/O headers on its include path),
# src/io (libevent, sockets, audio), src/app (main, CLI). Every
# tests/*/test_NAME.c defines `Suite *NAME_suite(void)`; the runner is
# generated from the file names, so adding a test file needs no edit here.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DESTDIR  ?=
VERSION  := 0.1.0

CC       ?= cc
PKG_CONFIG ?= pkg-config

# Core: crypto only. nettle for STUN MESSAGE-INTEGRITY (HMAC-SHA1, which
# libsodium does not provide); libsodium for identities and call
# encryption (pure computation, so those modules stay in core and fuzzable).
# I/O: everything else.
CORE_PKGS := nettle libsodium
IO_PKGS   := libevent opus portaudio-2.0 sndfile speexdsp
TEST_PKGS := check
ALL_PKGS  := $(CORE_PKGS) $(IO_PKGS) $(TEST_PKGS)

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT      ?= -O1
else
BUILD    ?= build
SANFLAGS :=
OPT      ?= -O2
endif

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif

BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DP2PCALL_VERSION='"$(VERSION)"' \
               $(OPT) -g $(WARN) $(SANFLAGS) -Iinclude -MMD -MP
CFLAGS   ?=
LDFLAGS  ?=

# pkg-config is only asked when building, so `make deps` and `make clean`
# work on a machine that still lacks the libraries.
pc_cflags = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
pc_libs   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

CORE_CFLAGS = $(BASE_CFLAGS) $(call pc_cflags,$(CORE_PKGS)) $(CFLAGS)
IO_CFLAGS   = $(BASE_CFLAGS) $(call pc_cflags,$(CORE_PKGS) $(IO_PKGS)) $(CFLAGS)
TEST_CFLAGS = $(IO_CFLAGS) $(call pc_cflags,$(TEST_PKGS)) -Itests/support -I$(BUILD)/tests \
              -Wno-missing-prototypes
LIBS        = $(call pc_libs,$(CORE_PKGS) $(IO_PKGS)) -lm -lpthread
TEST_LIBS   = $(LIBS) $(call pc_libs,$(TEST_PKGS))

CORE_SRC  := $(sort $(wildcard src/core/*.c))
IO_SRC    := $(sort $(wildcard src/io/*.c))
APP_SRC   := $(sort $(filter-out src/app/main.c,$(wildcard src/app/*.c)))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c tests/integ/test_*.c))
SUPP_SRC  := $(sort $(wildcard tests/support/*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))

CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
IO_OBJ    := $(IO_SRC:%.c=$(BUILD)/%.o)
APP_OBJ   := $(APP_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ  := $(TEST_SRC:%.c=$(BUILD)/%.o) $(SUPP_SRC:%.c=$(BUILD)/%.o) $(BUILD)/tests/check_main.o
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
SUITES    := $(patsubst test_%,%,$(basename $(notdir $(TEST_SRC))))

BIN       := $(BUILD)/p2pcall
LIBCORE   := $(BUILD)/libp2pcall-core.a
LIBIO     := $(BUILD)/libp2pcall-io.a
RUNNER    := $(BUILD)/tests/run

.PHONY: all check check-unit check-san bench fuzz fuzz-run install uninstall clean deps demo lint-man
all: $(BIN)

$(BUILD)/src/core/%.o: src/core/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c $< -o $@

$(BUILD)/src/io/%.o: src/io/%.c
	@mkdir -p $(dir $@)
	$(CC) $(IO_CFLAGS) -c $< -o $@
$(BUILD)/src/app/%.o: src/app/%.c
	@mkdir -p $(dir $@)
	$(CC) $(IO_CFLAGS) -c $< -o $@

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBIO): $(IO_OBJ) $(APP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(BUILD)/src/app/main.o $(LIBIO) $(LIBCORE)
	$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Test runner: one binary, every suite; CK_RUN_SUITE=NAME picks one.
$(BUILD)/tests/suites.h: $(TEST_SRC) Makefile
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach s,$(SUITES),'X($(s))') > $@.tmp && mv $@.tmp $@
$(BUILD)/tests/check_main.o: tests/check_main.c $(BUILD)/tests/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@
$(RUNNER): $(TEST_OBJ) $(LIBIO) $(LIBCORE)
	$(CC) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

# The integration suites run the real binary: they find it through
# P2PCALL_BIN. Namespace (lab) tests need root and say so when they skip.
# `make check` first installs what the tests need (as root; otherwise it
# prints the apt-get line), then builds in a sub-make so pkg-config sees
# freshly installed libraries.
check:
	@sh contrib/install-deps.sh --test
	@$(MAKE) --no-print-directory $(BIN) $(RUNNER)
	P2PCALL_BIN=$(abspath $(BIN)) P2PCALL_SRCDIR=$(CURDIR) $(RUNNER)

check-san:
	$(MAKE) SANITIZE=1 check

# Benchmarks may use the test support code (the NAT lab, process helpers).
SUPP_OBJ  := $(SUPP_SRC:%.c=$(BUILD)/%.o)
# Linked from named inputs, not $^: the generated .d files add headers
# (and any included .c) as prerequisites.
$(BUILD)/bench/%: bench/%.c $(SUPP_OBJ) $(LIBIO) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $< $(SUPP_OBJ) $(LIBIO) $(LIBCORE) $(TEST_LIBS)

bench: $(BIN) $(BENCH_BIN)
	@set -e; for b in $(BENCH_BIN); do \
	  echo "== $$(basename $$b)"; P2PCALL_BIN=$(abspath $(BIN)) $$b; done

# libFuzzer targets (clang): one per parser of outside input.
FUZZ_BUILD := build-fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_BIN   := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
$(FUZZ_BUILD)/%: fuzz/%.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) $(call pc_cflags,$(CORE_PKGS)) -o $@ $^ $(call pc_libs,$(CORE_PKGS)) -lm
fuzz: $(FUZZ_BIN)
# A short bounded run of each target over its seed corpus.
FUZZ_SECONDS ?= 20
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	      -artifact_prefix=$(FUZZ_BUILD)/$$n- \
	      $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n > $(FUZZ_BUILD)/$$n.log 2>&1; then \
	    tail -n 30 $(FUZZ_BUILD)/$$n.log; echo "fuzz: $$n FAILED"; exit 1; fi; \
	  tail -n 1 $(FUZZ_BUILD)/$$n.log; done

deps:
	@sh contrib/install-deps.sh

demo:
	@sh contrib/install-deps.sh
	@$(MAKE) --no-print-directory $(BIN)
	@sh contrib/demo.sh $(abspath $(BIN))

lint-man:
	mandoc -T lint -W warning man/p2pcall.1

DATADIR  ?= $(PREFIX)/share
UNITDIR  ?= $(PREFIX)/lib/systemd/system
BASHCOMP := $(DATADIR)/bash-completion/completions
ZSHCOMP  := $(DATADIR)/zsh/vendor-completions
DOCDIR   := $(DATADIR)/doc/p2pcall

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMP) \
	  $(DESTDIR)$(ZSHCOMP) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/p2pcall
	install -m 0644 man/p2pcall.1 $(DESTDIR)$(MANDIR)/man1/p2pcall.1
	install -m 0644 contrib/p2pcall.bash-completion $(DESTDIR)$(BASHCOMP)/p2pcall
	install -m 0644 contrib/_p2pcall $(DESTDIR)$(ZSHCOMP)/_p2pcall
	sed 's#/usr/local/bin/p2pcall#$(BINDIR)/p2pcall#' contrib/p2pcall-server.service \
	  > $(DESTDIR)$(UNITDIR)/p2pcall-server.service
	install -m 0644 contrib/config.example contrib/p2pcall-server.conf.example \
	  doc/config.md doc/protocol.md doc/voice.md README COPYING $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/p2pcall $(DESTDIR)$(MANDIR)/man1/p2pcall.1 \
	  $(DESTDIR)$(BASHCOMP)/p2pcall $(DESTDIR)$(ZSHCOMP)/_p2pcall \
	  $(DESTDIR)$(UNITDIR)/p2pcall-server.service
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
