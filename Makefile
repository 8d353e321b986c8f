# kinesis-video-signaling: build, test, lint, demo, bench and install.
# LUA_VERSION=5.4 (default) or jit selects the interpreter the C core is built for.

LUA_VERSION ?= 5.4
ifeq ($(LUA_VERSION),jit)
LUA ?= luajit
LUA_INCDIR ?= /usr/include/luajit-2.1
LUA_ABI := 5.1
else
LUA ?= lua$(LUA_VERSION)
LUA_INCDIR ?= /usr/include/lua$(LUA_VERSION)
LUA_ABI := $(LUA_VERSION)
endif
PREFIX ?= /usr/local
INSTALL_LMOD ?= $(PREFIX)/share/lua/$(LUA_ABI)
INSTALL_CMOD ?= $(PREFIX)/lib/lua/$(LUA_ABI)

CC ?= gcc
WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -fPIC -fvisibility=hidden $(CFLAGS)
LIBS := -lcrypto -lcurl

BUILD := build/$(LUA_VERSION)
CORE := $(BUILD)/kinesis_video_signaling/core.so
C_CORE_SRC := src/sigv4.c src/canonical.c src/http.c
C_HEADERS := $(wildcard src/*.h)
LUA_SRC := src/kinesis_video_signaling.lua $(wildcard src/kinesis_video_signaling/*.lua src/kinesis_video_signaling/*/*.lua)

DEBIAN_PACKAGES := lua5.4 liblua5.4-dev lua-cjson lua-busted lua-socket lua-sec lua-check \
	libcurl4-openssl-dev libssl-dev luarocks openssl valgrind nginx \
	luajit2 libluajit2-5.1-dev libnginx-mod-http-lua lua-resty-core chromium clang libclang-rt-14-dev

# Specs run with the module from the tree, never an installed copy.
TEST_ENV = LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='$(BUILD)/?.so;;' KVS_TALLY_FILE=$(CURDIR)/build/tally.txt
BUSTED := busted --lua=$(LUA) -o spec/support/tally_output.lua

.PHONY: all jit deps test unit-c specs specs-jit tally lint demo bench install clean

all: $(CORE)

# The LuaJIT build (build/jit), which OpenResty/nginx loads; the nginx specs
# need it whatever LUA_VERSION is.
jit:
	@$(MAKE) --no-print-directory LUA_VERSION=jit all

$(CORE): src/core.c $(C_CORE_SRC) $(C_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) -shared -o $@ src/core.c $(C_CORE_SRC) $(LIBS)

# Installs only what is missing, so a prepared machine needs no root.
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build/tests/%: spec/c/%.c $(C_CORE_SRC) $(C_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Isrc -o $@ $< $(C_CORE_SRC) $(LIBS)

C_TESTS := $(patsubst spec/c/%.c,build/tests/%,$(wildcard spec/c/test_*.c))

# Under 5.4 (the default), the specs run twice: with lua5.4, then with
# LuaJIT against build/jit. Every suite runs even when one fails; the tally
# line closes the run either way.
test: deps
	@rm -f build/tally.txt
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -k unit-c specs $(if $(filter jit,$(LUA_VERSION)),,specs-jit); \
		$(MAKE) --no-print-directory tally SUITES_STATUS=$$?

unit-c: $(C_TESTS)
	@mkdir -p build; status=0; for t in $(C_TESTS); do \
		$$t > $$t.log 2>&1 || status=1; cat $$t.log >> build/tally.txt; tail -n 1 $$t.log; done; exit $$status

# spec/05-openresty_spec.lua starts Debian's nginx, which loads build/jit.
specs: all jit
	$(TEST_ENV) $(BUSTED) spec

# The nginx and browser specs are left out here: they already ran, and they
# drive nginx's own LuaJIT whichever interpreter runs busted.
specs-jit: jit
	LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='build/jit/?.so;;' KVS_TALLY_FILE=$(CURDIR)/build/tally.txt \
		busted --lua=luajit -o spec/support/tally_output.lua --exclude-pattern='^0[58]%-' spec

# Sums every suite's "N passed, N failed" line. A run with no test fails, and
# so does one where a suite exited non-zero without reporting a failure (a
# crash): it counts as one failed test.
SUITES_STATUS ?= 0
tally:
	@touch build/tally.txt
	@awk -v status=$(SUITES_STATUS) '/ passed, / { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; \
		if ($$(i+1) ~ /^failed/) f += $$i; if ($$(i+1) ~ /^skipped/) s += $$i } } \
		END { if (status != 0 && f == 0) f = 1; \
		printf "%d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0 || p == 0) }' build/tally.txt

lint: all
	luacheck src spec examples bench
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) -fsyntax-only src/core.c $(C_CORE_SRC)

demo: deps all
	$(TEST_ENV) $(LUA) examples/demo.lua $(LUA)

# Every figure is a side-by-side measurement made in the same run.
bench: deps all jit
	@mkdir -p build/bench
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -O2 -o build/bench/sign_floor bench/sign_floor.c -lcrypto
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -O2 -o build/bench/http_loop bench/http_loop.c -lcurl
	$(TEST_ENV) $(LUA) bench/sign.lua build/bench/sign_floor
	$(TEST_ENV) taskset -c 0 $(LUA) bench/http.lua build/bench/http_loop 45000 "client and nginx on one CPU"
	$(TEST_ENV) $(LUA) bench/http.lua build/bench/http_loop 45000 "client and nginx on any CPU"
	$(TEST_ENV) $(LUA) bench/rss.lua
	$(TEST_ENV) $(LUA) bench/nginx_concurrency.lua

install: all
	install -d $(DESTDIR)$(INSTALL_CMOD)/kinesis_video_signaling
	cd src && for f in kinesis_video_signaling.lua $$(find kinesis_video_signaling -name '*.lua'); do \
		install -D -m 644 $$f $(DESTDIR)$(INSTALL_LMOD)/$$f || exit 1; done
	install -m 755 $(CORE) $(DESTDIR)$(INSTALL_CMOD)/kinesis_video_signaling/

clean:
	rm -rf build

# ---- hardening: sanitizers, valgrind, fuzzing ----

.PHONY: sanitize valgrind fuzz

# `make sanitize`: the core built with ASan and UBSan into its own directory,
# and the whole busted suite run against it. The interpreter is not
# instrumented, so the ASan runtime is preloaded into it. LeakSanitizer is
# off: under an uninstrumented interpreter it reports the interpreter's and
# the system libraries' process-lifetime allocations, which are not ours
# (`make valgrind` checks leaks). Reports go to build/asan/reports; any file
# there fails the run, even one from a child process. The preload reaches
# every child the specs start; Chromium (spec/08) brings its own allocator
# and hangs under it, so the browser spec gets a launcher that drops it.
# nginx (specs 05 and 08) loads a LuaJIT build of the core sanitized the
# same way (build/asan/jit). `make sanitize LUA_VERSION=jit` runs the suite
# under LuaJIT instead.
SANITIZE_CHROMIUM := $(or $(KVS_CHROMIUM),/usr/bin/chromium)
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_BUILD := build/asan/$(LUA_VERSION)
ASAN_CORE := $(ASAN_BUILD)/kinesis_video_signaling/core.so
ASAN_REPORTS := build/asan/reports

$(ASAN_CORE): src/core.c $(C_CORE_SRC) $(C_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SANITIZE_FLAGS) -I$(LUA_INCDIR) -shared -o $@ src/core.c $(C_CORE_SRC) $(LIBS)

sanitize: $(ASAN_CORE) jit
	@$(MAKE) --no-print-directory LUA_VERSION=jit build/asan/jit/kinesis_video_signaling/core.so
	@rm -rf $(ASAN_REPORTS) && mkdir -p $(ASAN_REPORTS)
	@printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$$@"\n' '$(SANITIZE_CHROMIUM)' >build/asan/chromium
	@chmod +x build/asan/chromium
	KVS_CHROMIUM=$$([ -x '$(SANITIZE_CHROMIUM)' ] && echo $(CURDIR)/build/asan/chromium || echo '$(SANITIZE_CHROMIUM)') \
	KVS_JIT_BUILD=build/asan/jit LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(CURDIR)/$(ASAN_REPORTS)/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(CURDIR)/$(ASAN_REPORTS)/ubsan \
	LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='$(ASAN_BUILD)/?.so;;' $(BUSTED) spec
	@if [ -n "$$(ls -A $(ASAN_REPORTS))" ]; then cat $(ASAN_REPORTS)/*; echo "sanitize: reports above"; exit 1; fi
	@echo "sanitize: no ASan/UBSan report"

# `make valgrind`: the C unit tests and a representative set of specs (the
# signer vectors, the operations over HTTP, the fault, bad-input and secrets
# matrices) under memcheck. Only definite and indirect leaks count: libcurl
# and OpenSSL keep process-lifetime state that is still reachable at exit.
# No suppression is needed on Debian 12. The replay server, nginx and the
# other programs the specs start are child processes valgrind does not follow.
VALGRIND := valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --num-callers=30
VALGRIND_SPECS ?= spec/01-sigv4_spec.lua spec/03-operations_spec.lua spec/06-faults_spec.lua \
	spec/06-bad_input_spec.lua spec/06-secrets_spec.lua

valgrind: all $(C_TESTS)
	@for t in $(C_TESTS); do echo "valgrind $$t"; $(VALGRIND) $$t >/dev/null || exit 1; done
	LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='$(BUILD)/?.so;;' \
	$(VALGRIND) $(LUA) $$(command -v busted) -o spec/support/tally_output.lua $(VALGRIND_SPECS)

# `make fuzz`: every libFuzzer target in spec/fuzz for FUZZ_SECONDS each,
# under ASan and UBSan. New inputs go to build/fuzz/corpus (the seeds in
# spec/fuzz/corpus, crash regressions included, are only read); a crash
# leaves its input in build/fuzz/artifacts and fails the run.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := url query headers response_header sign
FUZZ_BINS := $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

# fuzz_response_header includes src/http.c itself, to reach its callbacks.
build/fuzz/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/fuzz_util.h $(C_CORE_SRC) $(C_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) $(FUZZ_FLAGS) -Isrc -o $@ $< \
		$(filter-out src/http.c,$(C_CORE_SRC)) $(LIBS)

fuzz: $(FUZZ_BINS)
	@mkdir -p build/fuzz/artifacts && : > build/fuzz/summary.txt
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
			-print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$t- \
			build/fuzz/corpus/$$t spec/fuzz/corpus/$$t >build/fuzz/$$t.log 2>&1 \
			|| { tail -n 60 build/fuzz/$$t.log; echo "fuzz_$$t: FAILED (input in build/fuzz/artifacts)"; exit 1; }; \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$$t.log); \
		rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' build/fuzz/$$t.log); \
		secs=$$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' build/fuzz/$$t.log); \
		echo "fuzz_$$t: $$runs runs in $$secs s ($$rate/s), corpus $$(ls build/fuzz/corpus/$$t | wc -l) + $$(ls spec/fuzz/corpus/$$t | wc -l) seeds" \
			| tee -a build/fuzz/summary.txt; \
	done
