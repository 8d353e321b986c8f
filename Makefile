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
	libcurl4-openssl-dev libssl-dev luarocks openssl valgrind

# Specs run with the module from the tree, never an installed copy.
TEST_ENV = LUA_PATH='./?.lua;src/?.lua;;' LUA_CPATH='$(BUILD)/?.so;;' KVS_TALLY_FILE=$(CURDIR)/build/tally.txt
BUSTED := busted --lua=$(LUA) -o spec/support/tally_output.lua

.PHONY: all deps test unit-c specs lint demo bench install clean

all: $(CORE)

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

test: deps
	@rm -f build/tally.txt
	@$(MAKE) --no-print-directory all unit-c specs tally

unit-c: $(C_TESTS)
	@mkdir -p build && for t in $(C_TESTS); do $$t | tee -a build/tally.txt | tail -n 1; done

specs: all
	$(TEST_ENV) $(BUSTED) spec

# Sums every suite's "N passed, N failed" line; a run with no test fails.
tally:
	@awk '/ passed, / { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; \
		if ($$(i+1) ~ /^failed/) f += $$i; if ($$(i+1) ~ /^skipped/) s += $$i } } \
		END { printf "%d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0 || p == 0) }' build/tally.txt

lint: all
	luacheck src spec examples bench
	$(CC) $(ALL_CFLAGS) -I$(LUA_INCDIR) -fsyntax-only src/core.c $(C_CORE_SRC)

demo: deps all
	$(TEST_ENV) $(LUA) examples/demo.lua $(LUA)

bench: deps all
	@mkdir -p build/bench
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(WARN) -O2 -o build/bench/sign_floor bench/sign_floor.c -lcrypto
	$(TEST_ENV) $(LUA) bench/sign.lua build/bench/sign_floor

install: all
	install -d $(DESTDIR)$(INSTALL_LMOD)/kinesis_video_signaling $(DESTDIR)$(INSTALL_CMOD)/kinesis_video_signaling
	install -m 644 src/kinesis_video_signaling.lua $(DESTDIR)$(INSTALL_LMOD)/
	install -m 644 $(wildcard src/kinesis_video_signaling/*.lua) $(DESTDIR)$(INSTALL_LMOD)/kinesis_video_signaling/
	install -m 755 $(CORE) $(DESTDIR)$(INSTALL_CMOD)/kinesis_video_signaling/

clean:
	rm -rf build
