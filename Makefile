# SPDX-License-Identifier: MIT
# kstaple build. `make` builds build/kstaple; `make test` installs dependencies, builds and runs
# every test; `make demo` shows a staple end to end. SANITIZE=address,undefined builds an
# instrumented copy under build/san/. V=1 shows the commands.

SHELL     := /bin/bash
VERSION   := 0.1.0
CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
PREFIX    ?= /usr/local

ifeq ($(origin CC),default)
CC := gcc
endif

ifneq ($(SANITIZE),)
BUILD     ?= build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD     ?= build
SAN_FLAGS :=
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS      := libssl libcrypto liburing libcurl inih libbpf libcap
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -luring -lcurl -linih -lbpf -lelf -lz -lcap)

WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wpointer-arith -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-missing-field-initializers
CFLAGS    ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(CFLAGS) $(WARNINGS) $(SAN_FLAGS) -D_GNU_SOURCE \
              -DKS_VERSION='"$(VERSION)"' -Iinclude -I$(BUILD) $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS := $(LDFLAGS) $(SAN_FLAGS)
LIBS      := $(PKG_LIBS) -lpthread -lm
# The agent allocates with tcmalloc (Debian's libtcmalloc-minimal4) when it is installed: OpenSSL
# makes several hundred mallocs per handshake and tcmalloc's per-thread caches make them cheaper
# (bench/compare.sh). Not with sanitizers, which bring their own allocator; NO_TCMALLOC=1 or a
# machine without it links glibc's malloc. --no-as-needed: nothing calls it by name.
ifeq ($(SANITIZE)$(NO_TCMALLOC)$(if $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4),,no),)
MALLOC_LIBS := -Wl,--push-state,--no-as-needed -l:libtcmalloc_minimal.so.4 -Wl,--pop-state
endif

# The agent: every user/*.c is a module; main.c only parses the command line.
USER_SRCS := $(sort $(wildcard user/*.c))
LIB_SRCS  := $(filter-out user/main.c,$(USER_SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/user/main.o
LIBKS     := $(BUILD)/libkstaple.a

# Load generator: bench/hsbench.c holds main(); the other bench/*.c form a small library that the
# unit tests link as well (tests/unit/hist_test.c, hsbench_opts_test.c).
BENCH_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard bench/*.c)))
BENCH_MAIN := $(BUILD)/bench/hsbench.o
LIBBENCH  := $(BUILD)/libksbench.a

# eBPF programs: bpf/NAME.bpf.c -> build/NAME.bpf.o -> build/NAME.skel.h
BPF_SRCS  := $(sort $(wildcard bpf/*.bpf.c))
BPF_OBJS  := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.bpf.o)
BPF_SKELS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/%.skel.h)
BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 -Iinclude \
              -I/usr/include/$(shell uname -m)-linux-gnu

# Unit tests: all tests/unit/*_test.c linked into one Criterion binary (one summary line).
UNIT_SRCS := $(sort $(wildcard tests/unit/*_test.c))
UNIT_HELPERS := $(sort $(wildcard tests/unit/helpers/*.c))
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/%.o) $(UNIT_HELPERS:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(BUILD)/unit_tests

# Extra programs: bench/*.c with a main, examples/*.c, test tools.
EXAMPLE_SRCS := $(sort $(wildcard examples/*.c))
EXAMPLE_BINS := $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)
# Benchmark helpers with a main: bench/tools/NAME.c -> build/bench/NAME (bench/ktls_bench.sh).
BENCH_TOOL_SRCS := $(sort $(wildcard bench/tools/*.c))
BENCH_TOOL_BINS := $(BENCH_TOOL_SRCS:bench/tools/%.c=$(BUILD)/bench/%)

FIXTURES  := $(BUILD)/fixtures/.stamp

.PHONY: all deps test check unit integration fixtures demo bench lint fmt fmt-fix fuzz \
        install clean help
.DEFAULT_GOAL := all

all: $(BUILD)/kstaple $(BUILD)/kstaple-bench $(EXAMPLE_BINS) $(TOOL_BINS) $(BENCH_TOOL_BINS)

help:
	@echo "make            build $(BUILD)/kstaple"
	@echo "make test       install dependencies (apt), build, run unit + integration tests"
	@echo "make check      build and run the tests without touching packages"
	@echo "make demo       install dependencies, build, run the end-to-end demo"
	@echo "make bench      benchmarks (QUICK=1 for a short run)"
	@echo "make lint       cppcheck + clang-tidy;  make fmt: clang-format check"
	@echo "make fuzz       libFuzzer targets (FUZZ_SECONDS=N each)"
	@echo "SANITIZE=address,undefined make test   instrumented build under build/san"

deps:
	$(Q)./scripts/deps.sh

$(BUILD)/%.o: %.c | $(BPF_SKELS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBKS): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/kstaple: $(MAIN_OBJ) $(LIBKS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) $(MALLOC_LIBS) -o $@

$(LIBBENCH): $(filter-out $(BENCH_MAIN),$(BENCH_OBJS))
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/kstaple-bench: $(BENCH_MAIN) $(LIBBENCH) $(LIBKS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard include/kstaple/bpf_abi.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(UNIT_BIN): $(UNIT_OBJS) $(LIBBENCH) $(LIBKS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -lcriterion -o $@

$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $< -o $@

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIBKS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

# A static pattern rule: a plain $(BUILD)/bench/% would also match the objects in build/bench/.
$(BENCH_TOOL_BINS): $(BUILD)/bench/%: $(BUILD)/bench/tools/%.o $(LIBKS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $^ $(LIBS) -o $@

# Test PKI and OCSP fixtures, regenerated from scripts (never edited by hand). Times inside
# them are relative to now, so they are rebuilt when older than a day.
$(FIXTURES): scripts/mkpki.sh scripts/mkfixtures.sh
	$(Q)./scripts/mkfixtures.sh $(BUILD)/fixtures
	@touch $@

fixtures:
	$(Q)if [ -f $(FIXTURES) ] && [ -n "$$(find $(FIXTURES) -mmin +1200)" ]; then rm -f $(FIXTURES); fi
	$(Q)$(MAKE) --no-print-directory $(FIXTURES)

# `make test` is the README's command: packages first, then everything.
test: deps
	$(Q)$(MAKE) --no-print-directory check

check: all $(UNIT_BIN) fixtures
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integration

# Criterion runs each test in a child process; a sanitizer report there (a leak, say) is
# printed but does not fail the test, so the sanitized run also fails on any report.
unit: $(UNIT_BIN) fixtures
ifeq ($(SANITIZE),)
	$(Q)KS_FIXTURES=$(CURDIR)/$(BUILD)/fixtures $(UNIT_BIN) --jobs 2
else
	$(Q)set -o pipefail; KS_FIXTURES=$(CURDIR)/$(BUILD)/fixtures $(UNIT_BIN) --jobs 2 2>&1 \
		| tee $(BUILD)/unit.log
	$(Q)if grep -qE 'ERROR: (Leak|Address)Sanitizer|runtime error:' $(BUILD)/unit.log; then \
		echo "unit: sanitizer reports above (see $(BUILD)/unit.log)"; exit 1; fi
endif

integration: all fixtures
	$(Q)KSTAPLE=$(CURDIR)/$(BUILD)/kstaple KS_BUILD=$(CURDIR)/$(BUILD) \
		KS_FIXTURES=$(CURDIR)/$(BUILD)/fixtures ./tests/integration/run.sh $(TESTS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)KSTAPLE=$(CURDIR)/$(BUILD)/kstaple ./scripts/demo.sh
	$(Q)KSTAPLE=$(CURDIR)/$(BUILD)/kstaple ./scripts/demo-serve.sh

bench: all
	$(Q)KSTAPLE=$(CURDIR)/$(BUILD)/kstaple KS_BUILD=$(CURDIR)/$(BUILD) ./bench/run.sh

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find user include tests bench bpf examples -name '*.[ch]')

fmt:
	$(Q)clang-format --dry-run --Werror $(C_SOURCES)
	@echo "fmt: clean"

fmt-fix:
	$(Q)clang-format -i $(C_SOURCES)

lint: $(BPF_SKELS)
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr --std=c11 -D_GNU_SOURCE -Iinclude -I$(BUILD) \
		--suppress=missingIncludeSystem user
	$(Q)clang-tidy --quiet $(LIB_SRCS) user/main.c -- $(ALL_CFLAGS:-MMD=) -Wno-unknown-warning-option
	@echo "lint: clean"

FUZZ_SECONDS ?= 10
fuzz:
	$(Q)./tests/fuzz/run.sh $(FUZZ_SECONDS)

# The unit goes where systemd looks for locally installed units ($(PREFIX)/lib/systemd/system
# for PREFIX=/usr/local or /usr), its ExecStart pointing at the installed binary. The example
# configuration is installed beside the real one, which is never overwritten.
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
install: $(BUILD)/kstaple
	install -D -m 0755 $(BUILD)/kstaple $(DESTDIR)$(PREFIX)/bin/kstaple
	install -D -m 0644 man/kstaple.8 $(DESTDIR)$(PREFIX)/share/man/man8/kstaple.8
	install -D -m 0644 man/kstaple.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/kstaple.conf.5
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/kstaple|$(PREFIX)/bin/kstaple|g' \
	    -e 's|/etc/kstaple/|$(SYSCONFDIR)/kstaple/|g' dist/kstaple.service \
		>$(DESTDIR)$(UNITDIR)/kstaple.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kstaple.service
	install -D -m 0644 dist/kstaple.conf.example \
		$(DESTDIR)$(SYSCONFDIR)/kstaple/kstaple.conf.example

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
