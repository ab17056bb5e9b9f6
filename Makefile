# postern -- see README.md. `make` builds ./postern; `make check` runs
# every test (unit tests plain and under ASan+UBSan, fuzz corpora, and the
# integration suite against the sanitizer build).

CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3
LAYERS  := core tls net auth store deliver mime dkim relay queue imap pop3 smtp daemon
WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
CFLAGS_COMMON := -std=c17 -D_GNU_SOURCE -I. $(WARN) -g -pthread
LIBS    := -lcares -levent_openssl -levent_core -levent -lssl -lcrypto -lcrypt -lz -lpthread

SRCS     := $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
LIB_SRCS := $(filter-out daemon/main.c,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)

REL_DIR  := build/rel
SAN_DIR  := build/san
FUZZ_DIR := build/fuzz
REL_CFLAGS := $(CFLAGS_COMMON) -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_CFLAGS := $(CFLAGS_COMMON) -O1 $(SAN_FLAGS)

REL_LIB_OBJS := $(LIB_SRCS:%.c=$(REL_DIR)/%.o)
SAN_LIB_OBJS := $(LIB_SRCS:%.c=$(SAN_DIR)/%.o)
REL_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(REL_DIR)/tests/%)
SAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(SAN_DIR)/tests/%)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_DIR)/%)

.SECONDARY:

.PHONY: all check deps unit unit-san integration fuzz fuzz-check run clean san bench bench-smtp bench-imap bench-queue bench-crash bench-store-mem

all: deps-quiet postern

postern: $(REL_DIR)/daemon/main.o $(REL_LIB_OBJS)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

san: $(SAN_DIR)/postern

$(SAN_DIR)/postern: $(SAN_DIR)/daemon/main.o $(SAN_LIB_OBJS)
	$(CLANG) $(SAN_CFLAGS) -o $@ $^ $(LIBS)

$(REL_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(REL_CFLAGS) -MMD -MP -c $< -o $@

$(SAN_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_CFLAGS) -MMD -MP -c $< -o $@

$(REL_DIR)/tests/%: $(REL_DIR)/tests/unit/%.o $(REL_LIB_OBJS)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

$(SAN_DIR)/tests/%: $(SAN_DIR)/tests/unit/%.o $(SAN_LIB_OBJS)
	$(CLANG) $(SAN_CFLAGS) -o $@ $^ $(LIBS)

# libFuzzer targets link the library built with the fuzzer's coverage.
FUZZ_CFLAGS := $(CFLAGS_COMMON) -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o)
$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

fuzz: $(FUZZ_BINS)

# Replays each target's seed corpus (and anything found since): quick,
# and a crash found once stays a test forever.
fuzz-check: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  echo "fuzz: $$n over fuzz/corpus/$$n"; \
	  $$f -runs=0 fuzz/corpus/$$n >/dev/null 2>&1 || { $$f -runs=0 fuzz/corpus/$$n; exit 1; }; \
	done

unit: $(REL_UNIT_BINS)
	@scripts/run-unit.sh $(REL_UNIT_BINS)

unit-san: $(SAN_UNIT_BINS)
	@scripts/run-unit.sh $(SAN_UNIT_BINS)

integration: postern $(SAN_DIR)/postern
	POSTERN_BIN=$(CURDIR)/$(SAN_DIR)/postern $(PYTHON) -m pytest -q -p no:cacheprovider --durations=25 tests/integration

check: deps postern
	$(MAKE) unit unit-san fuzz-check
	$(MAKE) integration

deps:
	@scripts/deps.sh

deps-quiet:
	@scripts/deps.sh --build-only

run: postern
	@scripts/make-run.sh

bench: postern
	@bench/run.sh

bench-smtp: postern
	@bench/smtp.sh

bench-imap: postern
	@bench/imap.sh

bench-queue: postern
	@bench/queue.sh

# kill -9 under load, then count (bench/crash.sh; CRASH_KILLS=50 for a try)
bench-crash: postern
	@bench/crash.sh

# Memory of the store's mailbox view: 1 view of 100 000 messages, then
# 1 000 views of 100 messages (bench/store_mem.c).
$(REL_DIR)/bench/store_mem: $(REL_DIR)/bench/store_mem.o $(REL_LIB_OBJS)
	$(CC) $(REL_CFLAGS) -o $@ $^ $(LIBS)

bench-store-mem: $(REL_DIR)/bench/store_mem
	@d=$$(mktemp -d); $(REL_DIR)/bench/store_mem $$d/big 100000 1 && \
	 $(REL_DIR)/bench/store_mem $$d/small 100 1000; rm -rf $$d

clean:
	rm -rf build postern

-include $(shell find build -name '*.d' 2>/dev/null)
