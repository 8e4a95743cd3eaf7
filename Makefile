# Builds and installs the C face of ivykis-rs: libivykis.so.0 (a binary
# drop-in for ivykis 0.43), libivykis.a, the C headers and ivykis.pc.
#
#   make                      cargo build + link build/libivykis.so.0.43.0
#   make check                fmt, clippy, cargo test per poll method,
#                             exported symbols, C conformance tests
#   make check-man            man pages: links, coverage, groff warnings
#   make loom                 loom model checks of the cross-thread handshakes
#   make install PREFIX=DIR   (DESTDIR honoured)    make uninstall
#   make demo | bench | clean
#   make syslog-ng            Debian's syslog-ng 3.38 on this library: the
#                             shared harness per poll method, then the
#                             bad-input test (tests/syslog-ng/)
#   make stress | valgrind    stress and fault programs (STRESS_ARGS=--long
#                             for the soak run); memcheck over the C tests
#                             and those programs (RELIABILITY.md)
#
# Variables: PREFIX (/usr/local), DESTDIR, LIBDIR ($(PREFIX)/lib), INCLUDEDIR
# ($(PREFIX)/include), MANDIR, PKGCONFIGDIR, CC, CARGO, LDFLAGS,
# CARGO_TARGET_DIR, VERSION_SCRIPT (ivykis-c/ivykis.map).
#
# Cargo builds the C face as a staticlib. The shared object is linked here,
# not by cargo: a cdylib gets rustc's own anonymous version script, which ld
# cannot combine with ivykis.map, and the symbol versions (IVYKIS_0.29 ..
# IVYKIS_0.42) are part of the binary interface.

VERSION := 0.43.0
SONAME := libivykis.so.0
SHLIB := libivykis.so.$(VERSION)

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
MANDIR ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

CC ?= cc
CARGO ?= cargo
INSTALL ?= install
LDFLAGS ?=

# Cargo's output directory; follows CARGO_TARGET_DIR when the caller set it.
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

BUILD := build
STATICLIB := $(CARGO_TARGET_DIR)/release/libivykis_c.a
VERSION_SCRIPT ?= ivykis-c/ivykis.map
HEADERS := $(sort $(wildcard ivykis-c/include/*.h))
MANPAGES := $(sort $(wildcard man/*.3 man/man3/*.3))

# What the Rust staticlib needs from the system, as printed by
#   cargo rustc --release -p ivykis-c --lib -- --print native-static-libs
# (libgcc_s for unwinding; the rest is glibc, whose libutil, librt, libpthread
# and libdl are empty since 2.34, so --as-needed drops them from the .so).
# Kept literal: printing it takes an extra rustc run with other flags, which
# would make cargo rebuild the crate on every alternation. After a toolchain
# or dependency change, `make native-static-libs` prints the current list.
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

# How the archive becomes the shared object:
# - --whole-archive takes every member of Rust's archive (our code, std,
#   compiler_builtins); this links cleanly with rustc's current archives (no
#   duplicate definitions), and --gc-sections then drops everything the
#   exported functions cannot reach. It needs no list of symbols; the
#   alternative, one -Wl,-u,SYMBOL per map entry, gives the same library.
# - The version script exports exactly the ivykis symbols with their version
#   nodes and makes everything else (std, compiler_builtins, the engine's
#   Rust symbols) local through "local: *".
# - No --exclude-libs,ALL: it hides every symbol that comes from an archive,
#   and since all of our code comes from one, the library would export
#   nothing at all. The version script already does the hiding it would do.
# - --no-undefined: every reference must be resolved now, not at dlopen time.
# - -z relro -z now: read-only GOT after start-up (full RELRO).
SO_LDFLAGS := -shared -Wl,-soname,$(SONAME) \
	-Wl,--version-script=$(VERSION_SCRIPT) \
	-Wl,--no-undefined -Wl,--gc-sections -Wl,-z,relro,-z,now \
	-Wl,--as-needed

.PHONY: all check demo bench examples install uninstall clean native-static-libs FORCE

all: $(BUILD)/$(SHLIB) $(BUILD)/$(SONAME) $(BUILD)/libivykis.so \
	$(BUILD)/libivykis.a $(BUILD)/ivykis.pc

# Cargo knows best whether the crate is fresh, so it runs every time (a
# fraction of a second when nothing changed). It rewrites the archive only when it
# rebuilt it, and make compares the archive's time with the targets below:
# the relink happens only when the archive really changed.
$(STATICLIB): FORCE
	$(CARGO) build --release -p ivykis-c

$(BUILD)/$(SHLIB): $(STATICLIB) $(VERSION_SCRIPT) Makefile
	@mkdir -p $(BUILD)
	$(CC) $(SO_LDFLAGS) -o $@.tmp \
		-Wl,--whole-archive $(STATICLIB) -Wl,--no-whole-archive \
		$(LDFLAGS) $(NATIVE_STATIC_LIBS)
	mv -f $@.tmp $@

$(BUILD)/$(SONAME): | $(BUILD)/$(SHLIB)
	ln -sfn $(SHLIB) $@

$(BUILD)/libivykis.so: | $(BUILD)/$(SONAME)
	ln -sfn $(SONAME) $@

$(BUILD)/libivykis.a: $(STATICLIB)
	@mkdir -p $(BUILD)
	cp -f $< $@.tmp
	mv -f $@.tmp $@

# The build tree's ivykis.pc names the configured PREFIX; `make install`
# writes its own with the paths in force at install time.
$(BUILD)/ivykis.pc: ivykis-c/ivykis.pc.in Makefile
	@mkdir -p $(BUILD)
	$(call make-pc,$<,$@)

# $(call make-pc,IN,OUT): fills in the .pc template. libdir and includedir
# are written relative to ${prefix} when they lie under it, as pkg-config
# files usually are, so that PKG_CONFIG_SYSROOT_DIR and relocation work.
define make-pc
	sed -e 's|@PREFIX@|$(PREFIX)|g' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
	    -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBS_PRIVATE@|$(NATIVE_STATIC_LIBS)|g' \
	    $(1) > $(2).tmp
	mv -f $(2).tmp $(2)
endef

check: all
	bash tests/run_all.sh

# Model checks of the cross-thread handshakes (the wake-up hub, the worker
# pool's hand-offs) under loom: ivykis/src/engine/sync.rs says how. In a
# target directory of its own, since --cfg loom changes every crate's flags.
LOOM_MAX_PREEMPTIONS ?= 3
.PHONY: loom
loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=$(LOOM_MAX_PREEMPTIONS) \
		$(CARGO) test -p ivykis --lib --release \
		--target-dir $(CARGO_TARGET_DIR)/loom -- loom_model

# The man pages (man/*.3, installed under $(MANDIR)/man3): link pages match
# the NAME sections, every public name has a page, and neither groff -ww nor
# man --warnings complains. Needs groff (Debian: groff-base); see man/check-man.sh.
check-man:
	sh man/check-man.sh
.PHONY: check-man

demo:
	$(CARGO) run --release --example echo_server -- --demo

# The C example programs (examples/<name>/*.c), built into build/examples/
# and linked against build/libivykis.so.0 with an rpath, so they run in
# place: build/examples/popen_read ls -l /
# The Rust examples are ivykis/examples/*.rs (cargo run --example NAME).
EXAMPLE_CFLAGS ?= -std=gnu99 -O2 -Wall -Wextra
C_EXAMPLES := $(BUILD)/examples/popen_read $(BUILD)/examples/proxy

examples: $(C_EXAMPLES)

$(BUILD)/examples/popen_read: examples/popen/popen_read.c $(HEADERS) $(BUILD)/$(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) -Iivykis-c/include -o $@ $< \
		-L$(BUILD) -l:$(SONAME) -Wl,-rpath,'$$ORIGIN/..' $(LDFLAGS)

$(BUILD)/examples/proxy: examples/proxy/proxy.c $(HEADERS) $(BUILD)/$(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) -Iivykis-c/include -o $@ $< \
		-L$(BUILD) -l:$(SONAME) -Wl,-rpath,'$$ORIGIN/..' $(LDFLAGS)

# build/examples/dirwatch DIR (or --demo): iv_inotify.
examples: $(BUILD)/examples/dirwatch
$(BUILD)/examples/dirwatch: examples/dirwatch/dirwatch.c $(HEADERS) $(BUILD)/$(SHLIB)
	@mkdir -p $(@D)
	$(CC) $(EXAMPLE_CFLAGS) -Iivykis-c/include -o $@ $< \
		-L$(BUILD) -l:$(SONAME) -Wl,-rpath,'$$ORIGIN/..' $(LDFLAGS)

# The whole benchmark suite and BENCHMARKS.md (bench/bench.sh, ~25 min);
# BENCH_ARGS passes options through, e.g. make bench BENCH_ARGS=--quick
bench: all
	bash bench/bench.sh $(BENCH_ARGS)

# Stress and fault-injection programs (tests/stress/, tests/fault/), timed,
# epoll by default; STRESS_ARGS passes options, e.g. --long or --methods all.
# valgrind: memcheck over the C conformance tests and those programs (at a
# reduced size). See RELIABILITY.md.
STRESS_ARGS ?=
VALGRIND_ARGS ?=
.PHONY: stress valgrind
stress: all
	bash tests/stress/run.sh $(STRESS_ARGS)
valgrind: all
	bash tests/valgrind.sh $(VALGRIND_ARGS)

# Debian's unchanged syslog-ng 3.38 on the installed library: the shared
# harness (../shared/tools/syslog-ng, or IVYKIS_SHARED) once per poll method,
# then the bad-input test; ABUSE_ARGS= (empty) runs its long form.
ABUSE_ARGS ?= --short
.PHONY: syslog-ng
syslog-ng: all
	bash tests/syslog-ng/run_harness.sh --no-build
	bash tests/syslog-ng/abuse.sh $(ABUSE_ARGS)

install: all
	@test -n "$(HEADERS)" || { echo "install: no headers in ivykis-c/include" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 0755 $(BUILD)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SHLIB)
	ln -sfn $(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sfn $(SONAME) $(DESTDIR)$(LIBDIR)/libivykis.so
	$(INSTALL) -m 0644 $(BUILD)/libivykis.a $(DESTDIR)$(LIBDIR)/libivykis.a
	$(call make-pc,ivykis-c/ivykis.pc.in,$(BUILD)/ivykis.pc.install)
	$(INSTALL) -m 0644 $(BUILD)/ivykis.pc.install $(DESTDIR)$(PKGCONFIGDIR)/ivykis.pc
	rm -f $(BUILD)/ivykis.pc.install
ifneq ($(MANPAGES),)
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man3/
endif

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(HEADERS)))
	rm -f $(DESTDIR)$(LIBDIR)/$(SHLIB) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libivykis.so $(DESTDIR)$(LIBDIR)/libivykis.a \
		$(DESTDIR)$(PKGCONFIGDIR)/ivykis.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MANPAGES)))

# Builds in a target directory of its own, so the main build stays fresh.
native-static-libs:
	$(CARGO) rustc --release -p ivykis-c --lib --target-dir $(BUILD)/native-static-libs \
		-- --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p'

clean:
	rm -rf $(BUILD)
	$(CARGO) clean

FORCE:
