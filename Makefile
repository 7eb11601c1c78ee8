# concd — make demo runs the main job, make test runs every test.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
DESTDIR ?=
SWIFT ?= swift
# What users run (the demo, `make install`) is a release build with the Swift runtime linked in
# statically, so the installed daemon does not depend on where the toolchain lives. It has its own
# build folder: the tests cannot link statically (the static SDK has no Swift Testing), and sharing
# a folder would rebuild everything at each switch.
STATIC_SCRATCH ?= .build-static
# Linked by lld with packed relative relocations (DT_RELR, glibc ≥ 2.36): the static binaries are
# position-independent and carried 2.8 MB of relocation entries that the loader read at every start,
# resident in each process; packed, they are 22 KB. The daemon's idle RSS drops by about 3.4 MB.
SWIFT_LINK_FLAGS ?= -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs
# Without run-time exclusivity checks: each checked access to a class's stored property or a global
# costs a call into the runtime, about 4 000 instructions per no-op in all, nearly all of them
# inside NIO's event loop (callgrind; docs/performance.md). The tests build with the checks on
# (`make test`, .build/), so an overlapping access in concd or its dependencies still fails there.
SWIFT_RELEASE_FLAGS ?= -Xswiftc -enforce-exclusivity=unchecked
SWIFT_BUILD_FLAGS ?= -c release --static-swift-stdlib --scratch-path $(STATIC_SCRATCH) $(SWIFT_LINK_FLAGS) $(SWIFT_RELEASE_FLAGS)
# Where the release binaries are; the demo runs them and `make install` copies them from here.
BUILDDIR ?= $(STATIC_SCRATCH)/release

.PHONY: all deps build demo test test-e2e fleet-bench fleet-instructions bench bench-micro soak profile instructions completions man install uninstall clean

all: build

deps:
	@scripts/install-deps.sh

# Only the products users run (the micro-benchmarks are a package of their own in Benchmarks/).
STATIC_PRODUCTS ?= concd concd-worker concctl loopback-http seed-worker-swift

build: deps
	@set -e; for product in $(STATIC_PRODUCTS); do $(SWIFT) build $(SWIFT_BUILD_FLAGS) --product $$product; done

demo: build
	BIN=$(BUILDDIR) scripts/demo.sh

# Tests run against release builds so that what they show about speed (the CPU loop doing O(n) work)
# holds for the binaries users run. Then the fleet's end-to-end test (three hosts in network
# namespaces on a private PostgreSQL) and the one under a real systemd, on the release binaries the
# first step built: the same source as the static binaries users install (`make demo` runs those),
# without building the package a second time, which took `make test` from about 13 to 23 minutes
# on 2 cores. Both skip (and pass) where they cannot run, e.g. when not root.
TEST_BUILDDIR ?= .build/release
test: deps
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build
	Tests/fleet/fleet-e2e.sh $(abspath $(TEST_BUILDDIR))
	E2E_BUILDDIR=$(abspath $(TEST_BUILDDIR)) Tests/e2e/systemd-e2e.sh

# The fleet on a private PostgreSQL on this machine: no-op jobs/s end to end against the database's
# own floor, and pickup latency on an idle fleet (scripts/fleet-bench.sh; figures in docs/performance.md).
fleet-bench: build
	scripts/fleet-bench.sh $(abspath $(BUILDDIR))

# Each hostile client for 60 s against a daemon of its own while a good client checks its answers:
# memory, answers and p50 ratios, the table in docs/reliability.md (scripts/soak.sh; ~8 minutes).
soak: build
	BIN=$(BUILDDIR) scripts/soak.sh

# Measures concd against floors taken in the same run (a raw AF_UNIX echo, the loop in C), then
# runs the micro-benchmarks of the hot paths.
bench: build
	$(BUILDDIR)/concctl bench
	$(MAKE) --no-print-directory bench-micro

# package-benchmark (ordo-one/benchmark) suite, a package of its own in Benchmarks/ (so the root
# package never resolves ordo-one/benchmark): frame codecs, Dispatcher.handle, each pool's no-op
# hand-off. The root's concd is built first: the suite's process pool runs it.
bench-micro: deps
	$(SWIFT) build -c release --product concd
	cd Benchmarks && CONCD_EXECUTABLE=$(abspath .build/release/concd) $(SWIFT) package benchmark --target ConcdBenchmarks --no-progress

# Where the daemon's and the client's CPU time goes per no-op, sampled by perf (needs linux-perf).
profile: deps
	$(SWIFT) build -c release --product concd
	$(SWIFT) build -c release --product concctl
	scripts/profile.sh

# User-space instructions per durable no-op job in the daemon (submit, insert, claim, run, complete),
# counted by callgrind on the static release binary against a private PostgreSQL (needs root, valgrind).
fleet-instructions: build
	BUILDDIR=$(BUILDDIR) scripts/fleet-instructions.sh $(INSTRUCTIONS_N)

# User-space instructions per no-op in the daemon, per pool, sequential and 256 in flight, counted
# by callgrind on the static release binaries (needs valgrind). Prints a table; INSTRUCTIONS_N sets N.
INSTRUCTIONS_N ?= 2000
instructions: deps
	SWIFT=$(SWIFT) BUILDDIR=$(BUILDDIR) scripts/instructions.sh $(INSTRUCTIONS_N)

# Boots a real systemd in a throw-away box, runs `make install SKIP_BUILD=1` inside it and checks
# the units: start, submit, journal metrics, reload, socket activation, watchdog, stop.
# Needs root and the binaries from `make build`.
test-e2e:
	E2E_BUILDDIR=$(abspath $(BUILDDIR)) Tests/e2e/systemd-e2e.sh

# ---------------------------------------------------------------------------------------------
# Shell completions and man pages are generated from the argument-parser definitions and committed
# under share/, so that `make install` (also inside the e2e box) needs no Swift tool. These targets
# regenerate them; a test fails when the committed completions are stale.
completions:
	$(SWIFT) build -c release --product concctl
	@set -e; bin="$$($(SWIFT) build -c release --show-bin-path)/concctl"; \
	"$$bin" --generate-completion-script bash > share/completions/concctl.bash; \
	"$$bin" --generate-completion-script zsh > share/completions/_concctl; \
	"$$bin" --generate-completion-script fish > share/completions/concctl.fish; \
	echo "wrote share/completions/concctl.bash, _concctl, concctl.fish"

# swift-argument-parser's generate-manual plugin (works offline: it builds from the checkouts).
man:
	$(SWIFT) package plugin generate-manual --configuration release
	@set -e; for tool in concctl concd; do \
	    cp ".build/plugins/GenerateManual/outputs/$$tool/$$tool.1" "share/man/$$tool.1"; \
	    echo "wrote share/man/$$tool.1"; \
	done

# ---------------------------------------------------------------------------------------------
# install / uninstall. PREFIX, SYSCONFDIR and DESTDIR are honoured; SKIP_BUILD=1 installs what
# is already in $(BUILDDIR). Outside DESTDIR installs, the concd group is created with
# systemd-sysusers and systemd is told about the new units, when those exist.

installed_unit = $(DESTDIR)$(UNITDIR)/concd.service
installed_socket = $(DESTDIR)$(UNITDIR)/concd.socket
installed_sysusers = $(DESTDIR)$(SYSUSERSDIR)/concd.conf
installed_config = $(DESTDIR)$(SYSCONFDIR)/concd/concd.yaml
# What share/ holds, and where each goes.
shared_files = share/completions/concctl.bash:$(BASHCOMPDIR)/concctl \
	share/completions/_concctl:$(ZSHCOMPDIR)/_concctl \
	share/completions/concctl.fish:$(FISHCOMPDIR)/concctl.fish \
	share/man/concctl.1:$(MANDIR)/man1/concctl.1 \
	share/man/concd.1:$(MANDIR)/man1/concd.1 \
	share/python/concd_worker.py:$(DATADIR)/concd/python/concd_worker.py

install: $(if $(filter 1,$(SKIP_BUILD)),,build)
	@set -e; \
	for binary in concd concd-worker concctl; do \
	    [ -x "$(BUILDDIR)/$$binary" ] || { echo "install: $(BUILDDIR)/$$binary is missing; run make build (or drop SKIP_BUILD=1)" >&2; exit 1; }; \
	done; \
	install -d -m 0755 "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSUSERSDIR)" "$(DESTDIR)$(SYSCONFDIR)/concd"; \
	install -m 0755 "$(BUILDDIR)/concd" "$(DESTDIR)$(BINDIR)/concd"; \
	echo "installed $(DESTDIR)$(BINDIR)/concd"; \
	install -m 0755 "$(BUILDDIR)/concd-worker" "$(DESTDIR)$(BINDIR)/concd-worker"; \
	echo "installed $(DESTDIR)$(BINDIR)/concd-worker"; \
	install -m 0755 "$(BUILDDIR)/concctl" "$(DESTDIR)$(BINDIR)/concctl"; \
	echo "installed $(DESTDIR)$(BINDIR)/concctl"; \
	for pair in $(shared_files); do \
	    source="$${pair%%:*}"; target="$(DESTDIR)$${pair#*:}"; \
	    install -d -m 0755 "$$(dirname "$$target")"; \
	    install -m 0644 "$$source" "$$target"; \
	    echo "installed $$target"; \
	done; \
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/concd.service.in > "$(installed_unit).tmp"; \
	chmod 0644 "$(installed_unit).tmp"; mv -f "$(installed_unit).tmp" "$(installed_unit)"; \
	echo "installed $(installed_unit)"; \
	install -m 0644 systemd/concd.socket "$(installed_socket)"; \
	echo "installed $(installed_socket)"; \
	install -m 0644 systemd/concd.sysusers "$(installed_sysusers)"; \
	echo "installed $(installed_sysusers)"; \
	if [ -e "$(installed_config)" ]; then \
	    echo "kept      $(installed_config) (it exists; the shipped default is etc/concd/concd.yaml)"; \
	elif [ -f etc/concd/concd.yaml ]; then \
	    install -m 0644 etc/concd/concd.yaml "$(installed_config)"; \
	    echo "installed $(installed_config)"; \
	else \
	    echo "install: etc/concd/concd.yaml is missing; no configuration installed" >&2; \
	fi; \
	if [ -z "$(DESTDIR)" ]; then \
	    if command -v systemd-sysusers >/dev/null 2>&1; then \
	        systemd-sysusers "$(installed_sysusers)" && echo "ran       systemd-sysusers (system user and group concd)"; \
	    fi; \
	    if [ -d /run/systemd/system ]; then \
	        systemctl daemon-reload && echo "ran       systemctl daemon-reload"; \
	    fi; \
	fi

uninstall:
	@set -e; \
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && [ -e "$(installed_unit)" ]; then \
	    systemctl disable --now concd.socket concd.service >/dev/null 2>&1 || true; \
	    echo "stopped   concd.service and concd.socket"; \
	fi; \
	for file in "$(DESTDIR)$(BINDIR)/concd" "$(DESTDIR)$(BINDIR)/concd-worker" "$(DESTDIR)$(BINDIR)/concctl" "$(installed_unit)" "$(installed_socket)" "$(installed_sysusers)"; do \
	    if [ -e "$$file" ]; then rm -f "$$file"; echo "removed   $$file"; fi; \
	done; \
	for pair in $(shared_files); do \
	    file="$(DESTDIR)$${pair#*:}"; \
	    if [ -e "$$file" ]; then rm -f "$$file"; echo "removed   $$file"; fi; \
	done; \
	if [ -e "$(installed_config)" ]; then \
	    if [ -f etc/concd/concd.yaml ] && cmp -s etc/concd/concd.yaml "$(installed_config)"; then \
	        rm -f "$(installed_config)"; echo "removed   $(installed_config)"; \
	    else \
	        echo "kept      $(installed_config) (it differs from the shipped default; remove it yourself if you no longer need it)"; \
	    fi; \
	fi; \
	rmdir "$(DESTDIR)$(SYSCONFDIR)/concd" 2>/dev/null || true; \
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	    systemctl daemon-reload && echo "ran       systemctl daemon-reload"; \
	fi; \
	if [ -z "$(DESTDIR)" ] && getent group concd >/dev/null 2>&1; then \
	    echo "kept      user and group concd (not removed: files may still belong to them)"; \
	fi

clean:
	rm -rf .build $(STATIC_SCRATCH) Benchmarks/.build
