# flowbatch: two commands on a fresh Debian 12 machine (as root, or with sudo):
#   make run    install what is missing, build, run graphs/quickstart.toml on the mock provider
#   make test   install what is missing, build, run the whole test suite
# Also: make build, make bench, make test-asan (ASan+UBSan), make test-tsan (TSan, engine tests),
# make fuzz (libFuzzer over the parsers), make package (the .deb, checked by lintian), make schema
# (regenerate schema/flowbatch.schema.json), make ci (what .ci/run does), make clean.
# Habits: make format (clang-format the tracked sources), make format-check (list what it would
# change), make tidy (clang-tidy over the project's sources, using $(BUILD_DIR)/compile_commands.json).

BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
# ON: every warning fails the build (-Werror). CI turns it on (`make ci`, .ci/run); a user's build
# with another compiler version stays buildable with it off. Read when a build folder is configured.
# Not yet for the fuzz build (clang): its warnings have not been cleared.
WERROR     ?= OFF
# ON: each target compiles its sources in batches of 8 (CMake unity build): a cold build takes about
# half the CPU (the sources share oneTBB, Boost.JSON and fmt headers), which keeps CI within its time.
# Off for a developer's own incremental builds if they prefer (make build UNITY=OFF in a new folder).
UNITY      ?= ON
# Tests at a time: twice the cores, as most tests wait on loopback servers and child processes (the
# suite takes 0.6 times as long as at one per core on 2 cores, and still passes). TSan runs one per core.
TEST_JOBS  ?= $(shell echo $$(( $$(nproc) * 2 )))

# Every package the build, the tests and the benchmarks use (Debian 12 names). The tests also
# check the graph schema with python3-jsonschema, the completions in bash and zsh, the man page
# with groff, build the .deb (dpkg-dev: dpkg-shlibdeps works out its dependencies), and check
# /metrics with promtool (prometheus) and render the HTML report in headless chromium.
DEBIAN_PACKAGES := g++ make cmake ninja-build pkg-config ca-certificates \
  libtbb-dev libcurl4-openssl-dev libboost-json1.81-dev libfmt-dev libtomlplusplus-dev \
  doctest-dev libsqlite3-dev libcli11-dev libhiredis-dev redis-server libpq-dev postgresql libbenchmark-dev nginx-light openssl strace \
  python3 python3-jsonschema zsh groff-base dpkg-dev prometheus chromium

.PHONY: all deps configure build run test bench test-asan test-tsan fuzz package schema ci clean format format-check tidy tidy-changed tidy-configure

all: build

# Installs those of the Debian packages $(1) that are missing (as root, or with sudo).
define install_missing
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(DEBIAN_PACKAGES))

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DFLOWBATCH_WERROR=$(WERROR) \
	  -DCMAKE_UNITY_BUILD=$(UNITY)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Exit code 3 means "finished, with items in the dead letter": the quick start has a few on purpose.
# --fresh: the demo starts over each time instead of resuming a finished run (which does nothing).
run: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target flowbatch
	@$(BUILD_DIR)/flowbatch graphs/quickstart.toml --fresh; rc=$$?; \
	if [ $$rc -eq 3 ]; then echo "(exit code 3: done, with some items in the dead letter graphs/out/failed.jsonl)"; rc=0; fi; \
	exit $$rc

test: build
	ctest --test-dir $(BUILD_DIR) -j $(TEST_JOBS) --output-on-failure

# The benchmarks also use wrk and nginx (a baseline HTTP endpoint); see bench/README.md.
BENCH_PACKAGES := wrk nginx-light

bench: build
	$(call install_missing,$(BENCH_PACKAGES))
	$(BUILD_DIR)/bench/bench_engine
	$(BUILD_DIR)/bench/bench_http

# Sanitizer builds live in their own folders and build only what their tests need. Under ASan
# every test but the slow e2e set runs (that set runs once, in `make test`): CI stays within time.
test-asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLOWBATCH_SANITIZE=address -DFLOWBATCH_BUILD_BENCH=OFF \
	  -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DFLOWBATCH_E2E_TESTS=OFF -DFLOWBATCH_WERROR=$(WERROR)
	cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan -j $(TEST_JOBS) --output-on-failure

test-tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLOWBATCH_SANITIZE=thread -DFLOWBATCH_BUILD_BENCH=OFF -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DFLOWBATCH_WERROR=$(WERROR)
	cmake --build build-tsan -j $(JOBS) --target engine_tests
	TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --test-dir build-tsan -j $(JOBS) -L engine --output-on-failure

# libFuzzer over the parsers (tests/fuzz/README.md): clang in its own build folder, building only
# the fuzz programs, then each target for FUZZ_SECONDS, FUZZ_JOBS at a time. Fails on any crash,
# leak, sanitizer report or hang; `make test` replays the seeds and kept inputs without clang.
# llvm brings llvm-symbolizer, for readable stack traces.
FUZZ_PACKAGES := clang libclang-rt-14-dev llvm
FUZZ_SECONDS  ?= 30
FUZZ_JOBS     ?= $(JOBS)

# -O1 and line tables only: a third less build time than -O2 -g (the build is most of the step),
# stack traces still name file:line. OSS-Fuzz builds its fuzzers the same way.
FUZZ_FLAGS    := -O1 -gline-tables-only -DNDEBUG

fuzz: deps
	$(call install_missing,$(FUZZ_PACKAGES))
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$(FUZZ_FLAGS)" \
	  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_UNITY_BUILD=$(UNITY) \
	  -DFLOWBATCH_FUZZ=ON -DFLOWBATCH_BUILD_TESTS=OFF -DFLOWBATCH_BUILD_BENCH=OFF -DFLOWBATCH_BUILD_EXAMPLES=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzzers
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_JOBS)

# The Debian package from the build folder (no second build), then lintian over it: it fails on
# any tag packaging/debian/lintian-overrides does not explain. The .deb lands in $(BUILD_DIR)/.
package: build
	$(call install_missing,lintian)
	cd $(BUILD_DIR) && cpack -G DEB
	lintian --fail-on error,warning --display-info $(BUILD_DIR)/flowbatch_*.deb

# schema/flowbatch.schema.json from the built program (a test fails while it is not current).
schema: configure
	cmake --build $(BUILD_DIR) --target schema

# Target-specific: the prerequisites below build with WERROR=ON too (all but fuzz, see WERROR).
ci: WERROR = ON
ci: format-check test package test-asan test-tsan fuzz tidy-changed

# --- habits -----------------------------------------------------------------------------------
# clang-format and clang-tidy from Debian 12 (version 14). The tree is formatted by .clang-format;
# format-check fails listing the files that differ, without changing them; CI runs it first (~30 s).
FORMAT_PACKAGES := clang-format clang-tidy
FORMAT_FILES = $(shell git ls-files '*.cpp' '*.h')

format:
	$(call install_missing,$(FORMAT_PACKAGES))
	clang-format -i $(FORMAT_FILES)

format-check:
	$(call install_missing,$(FORMAT_PACKAGES))
	@bad=""; for f in $(FORMAT_FILES); do \
	  clang-format --dry-run -Werror "$$f" 2>/dev/null || bad="$$bad $$f"; \
	done; \
	if [ -n "$$bad" ]; then echo "not formatted (make format):$$bad" | tr ' ' '\n'; exit 1; fi

# clang-tidy over the project's own sources (.clang-tidy), not the tests' or the benchmarks'
# (doctest and google-benchmark macros are all it finds there), JOBS files at a time. Needs the
# build folder's compile_commands.json (it configures one if there is none). All of it takes
# about 12 minutes on 2 cores (every file parses oneTBB and Boost.JSON), too long for each CI run:
# CI runs `make tidy-changed`, the files changed since TIDY_BASE: by default the commit named in
# .ci/tidy-base, the last commit a CI run has checked (moved forward when a stop's work begins), so
# every change is checked by the CI run that lands it; `make tidy-changed TIDY_BASE=main` on a
# branch checks only the branch's work. Without that commit (a shallow clone) every file is
# checked. A changed header is checked through the changed files only.
TIDY_ALL = $(shell git ls-files 'engine/*.cpp' 'nodes/*.cpp' 'mock_server/*.cpp' 'examples/plugins/*.cpp')
TIDY_BASE ?= $(shell cat .ci/tidy-base)
TIDY_CHANGED = $(shell base=$$(git merge-base $(TIDY_BASE) HEAD 2>/dev/null) && \
  { git diff --name-only $$base; git ls-files --others --exclude-standard; } | sort -u)

# clang-tidy reads a compile database of its own, configured without unity builds (in a unity build
# the database names the generated batch files, and no project source would be checked).
TIDY_DIR := build-tidy
tidy-configure: deps
	cmake -S . -B $(TIDY_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_UNITY_BUILD=OFF > /dev/null

tidy: tidy-configure
	$(call install_missing,$(FORMAT_PACKAGES))
	run-clang-tidy -quiet -j $(JOBS) -p $(TIDY_DIR) $(TIDY_ALL)

tidy-changed: tidy-configure
	$(call install_missing,$(FORMAT_PACKAGES))
	@if ! git rev-parse -q --verify $(TIDY_BASE) >/dev/null; then files="$(TIDY_ALL)"; \
	else files="$(filter $(TIDY_CHANGED),$(TIDY_ALL))"; fi; \
	if [ -z "$$files" ]; then echo "tidy: no changed source files"; exit 0; fi; \
	run-clang-tidy -quiet -j $(JOBS) -p $(TIDY_DIR) $$files

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz build-tidy graphs/out
