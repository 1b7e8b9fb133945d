# okv — build, test, completions, benchmarks.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/okvault/okv/cmd.Version=$(VERSION)
GORELEASER := github.com/goreleaser/goreleaser/v2@v2.15.1

# The keychain tests need a real Secret Service. Where gnome-keyring and
# dbus are installed they are required (a test that cannot reach them
# fails instead of skipping); each test starts its own private bus and
# keyring, never the user's.
HAVE_KEYRING := $(shell command -v dbus-daemon >/dev/null && command -v gnome-keyring-daemon >/dev/null && echo 1)

.PHONY: all build install test test-go test-race test-cross vet completions release-check bench bench-proxy bench-scan fuzz clean

all: build

# CGO off, as in release builds: a static binary starts about 1.3 ms
# faster than one that loads libc (make bench), and okv needs no cgo.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o okv ./cmd/okv

install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/okv

test: vet test-cross test-go test-race

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

release-check:
	$(GO) run $(GORELEASER) check

# Each target for FUZZTIME (go test takes one -fuzz target per run).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeDocument$$' -fuzztime $(FUZZTIME) ./vault/
	$(GO) test -run '^$$' -fuzz '^FuzzSSEUsage$$' -fuzztime $(FUZZTIME) ./proxy/
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME) ./proxy/
	$(GO) test -run '^$$' -fuzz '^FuzzRecord$$' -fuzztime $(FUZZTIME) ./proxy/
	$(GO) test -run '^$$' -fuzz '^FuzzReadRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./proxy/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenAIRule$$' -fuzztime $(FUZZTIME) ./scan/
	$(GO) test -run '^$$' -fuzz '^FuzzScanDoc$$' -fuzztime $(FUZZTIME) ./scan/
	$(GO) test -run '^$$' -fuzz '^FuzzMaskSplits$$' -fuzztime $(FUZZTIME) ./shell/
	$(GO) test -run '^$$' -fuzz '^FuzzMaskIdentity$$' -fuzztime $(FUZZTIME) ./shell/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./dotenv/
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./dotenv/

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
	rm -rf okv dist
