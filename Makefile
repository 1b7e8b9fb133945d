# okv — build, test, completions, benchmarks.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/okvault/okv/cmd.Version=$(VERSION) -X github.com/okvault/okv/cmd.Commit=$(COMMIT) -X github.com/okvault/okv/cmd.Date=$(BUILD_DATE)
GORELEASER := github.com/goreleaser/goreleaser/v2@v2.15.1

# The keychain tests need a real Secret Service. Where gnome-keyring and
# dbus are installed they are required (a test that cannot reach them
# fails instead of skipping); each test starts its own private bus and
# keyring, never the user's.
HAVE_KEYRING := $(shell command -v dbus-daemon >/dev/null && command -v gnome-keyring-daemon >/dev/null && echo 1)

.PHONY: all build install test tools e2e-deps test-go test-race test-cross vet completions release-check bench bench-proxy bench-scan fuzz fuzz-short clean

all: build

# CGO off, as in release builds: a static binary starts about 1.3 ms
# faster than one that loads libc (make bench), and okv needs no cgo.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o okv ./cmd/okv

install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/okv

# The full suite, on a fresh clone too: it checks the system tools first
# (naming the Debian packages of missing ones), installs the proxy test's
# npm packages when they are missing or older than package-lock.json, and
# then requires every tool, so no test skips silently.
test: export OKV_REQUIRE_TOOLS = 1
test: export OKV_REQUIRE_RACE = 1
test: tools e2e-deps vet test-cross test-go test-race

tools:
	@./scripts/systools.sh check

E2E := proxy/e2e
e2e-deps: $(E2E)/node_modules/.package-lock.json
$(E2E)/node_modules/.package-lock.json: $(E2E)/package-lock.json $(E2E)/package.json
	cd $(E2E) && npm ci --no-audit --no-fund
	@touch $@

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# macOS and Windows cannot run here; code behind build tags must at least
# build and vet everywhere it ships.
test-cross:
	@set -e; for os in darwin windows; do for arch in amd64 arm64; do \
	  echo "GOOS=$$os GOARCH=$$arch go build + vet"; \
	  GOOS=$$os GOARCH=$$arch $(GO) build ./... ; \
	  GOOS=$$os GOARCH=$$arch $(GO) vet ./... ; \
	done; done

test-go:
	OKV_REQUIRE_KEYRING=$(HAVE_KEYRING) OKV_REQUIRE_TOOLS=$${OKV_REQUIRE_TOOLS:-$(HAVE_KEYRING)} \
	  $(GO) test -count=1 -timeout 20m ./...

# The proxy is the most concurrent package: its tests also run under the
# race detector, which needs a C compiler (cgo). OKV_REQUIRE_RACE=1 (CI)
# makes a missing one an error rather than a skip.
test-race:
	@if command -v cc >/dev/null; then \
	  CGO_ENABLED=1 $(GO) test -race -count=1 ./proxy/; \
	elif [ "$${OKV_REQUIRE_RACE:-}" = 1 ]; then \
	  echo "test-race: no C compiler (apt-get install gcc libc6-dev)"; exit 1; \
	else \
	  echo "test-race: skipped, no C compiler for the race detector"; \
	fi

completions:
	$(GO) run ./scripts/gencompletions completions

# One man page per command, from the command tree (a test fails when stale).
man:
	$(GO) run ./scripts/genman man

release-check:
	$(GO) run $(GORELEASER) check

.PHONY: man release-snapshot check-release

# Every archive, package, SBOM, formula and manifest of a release, for
# this commit, into dist/ (nothing is published). The SBOMs need syft on
# PATH: installed from the Go module proxy into build/bin. goreleaser reads
# the remote's URL from git: a checkout without a remote (a local worktree)
# is lent the project's through git's environment config, .git/config stays
# untouched.
SYFT := github.com/anchore/syft/cmd/syft@v1.57.1
release-snapshot:
	GOBIN=$(CURDIR)/build/bin $(GO) install $(SYFT)
	@git remote | grep -q . || export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url GIT_CONFIG_VALUE_0=https://github.com/okvault/okv.git; \
	  PATH="$(CURDIR)/build/bin:$$PATH" $(GO) run $(GORELEASER) release --snapshot --clean

# Install the snapshot's .deb into a throwaway root and inspect the rest
# (scripts/check-release.sh says what it checks).
check-release:
	./scripts/check-release.sh dist

# Each target for FUZZTIME (go test takes one -fuzz target per run), as
# package:Target, one a line (removing a target is removing its line).
# scripts/fuzz.sh runs them, once more only after Go 1.26's deadline race.
FUZZ_TARGETS += vault:FuzzDecodeDocument
FUZZ_TARGETS += proxy:FuzzSSEUsage
FUZZ_TARGETS += proxy:FuzzJSONModels
FUZZ_TARGETS += scan:FuzzOpenAIRule
FUZZ_TARGETS += scan:FuzzScanDoc
FUZZ_TARGETS += scan:FuzzScanChunks
FUZZ_TARGETS += scan:FuzzParseDiff
FUZZ_TARGETS += shell:FuzzMaskSplits
FUZZ_TARGETS += shell:FuzzMaskIdentity
FUZZ_TARGETS += shell:FuzzMaskFlushes
FUZZ_TARGETS += dotenv:FuzzParse
FUZZ_TARGETS += dotenv:FuzzRoundTrip
FUZZ_TARGETS += limits:FuzzNames
FUZZTIME ?= 30s
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(FUZZ_TARGETS)

# What CI runs after make test: every fuzz target, briefly (about 3 min).
fuzz-short:
	$(MAKE) fuzz FUZZTIME=10s

bench:
	./scripts/bench.sh

# okv proxy (the real binary: built from ./cmd/okv, or OKV_BIN; OKV_BIN2 adds
# a second one to the same run) vs a direct connection and nginx: latency
# added one request at a time, at 200 req/s paced, on 100 event streams;
# saturation; peak RSS; start-up with a large usage ledger. Knobs (ROUNDS,
# DURATION, ...) in bench/proxy/run.sh. Needs nginx (apt-get install
# nginx-light) and age-keygen (apt-get install age).
bench-proxy:
	./bench/proxy/run.sh

bench-scan:
	./bench/scan/run.sh

clean:
	rm -rf okv dist build
