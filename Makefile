# otds-highspot — see README.md. Every target installs what it needs.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/otds-highspot

.PHONY: help build test demo bench bench-nightly fuzz lint fmt tidy-check services-up services-down clean crash

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/otds-highspot
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/otds-highspot

test: ## lint + unit + integration tests against real slapd and versitygw (starts and stops them)
	scripts/test.sh

demo: build ## day 1 and day 2 on the embedded default: fixture trees, ./artifacts, in-process Highspot sandbox
	scripts/demo.sh

crash: ## crash-consistency suite, full matrix: kill the built program (SIGKILL/SIGTERM) at every commit point of every stage and mid-apply, recover, compare with an uninterrupted run
	OTDS_CRASH_FULL=1 $(GO) test -count=1 -timeout 30m -run '^TestCrashConsistency$$' -v ./cmd/otds-highspot | grep -E '^(ok|FAIL|panic:|\s*--- (FAIL|SKIP|PASS))'

bench: ## benchmarks: extract vs ldapsearch, resolve 1M, plan 1M, apply at 100 req/s, Parquet I/O
	scripts/bench.sh

bench-nightly: ## whole nightly, each stage its own process, day 1 + day 2 (1% churn) on generated trees (NIGHTLY_SIZES, default 200000)
	scripts/bench-nightly.sh

fuzz: ## run every Go fuzz target for FUZZTIME each (default 30s; FUZZ=regexp picks targets)
	scripts/fuzz.sh

lint: ## gofmt, go vet, staticcheck, deploy files (the Airflow DAG compiles)
	scripts/lint.sh

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

tidy-check: ## fail when go.mod/go.sum are not tidy
	cp go.mod /tmp/otds-go.mod.bak; cp go.sum /tmp/otds-go.sum.bak
	$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum; then git diff -- go.mod go.sum; cp /tmp/otds-go.mod.bak go.mod; cp /tmp/otds-go.sum.bak go.sum; echo "go.mod/go.sum are not tidy (run go mod tidy)"; exit 1; fi

services-up: ## start slapd and versitygw on 127.0.0.1 (installs them when missing)
	scripts/slapd.sh up
	scripts/versitygw.sh up
	@echo "eval \"\$$(scripts/slapd.sh env; scripts/versitygw.sh env)\"  # to use them from your shell"

services-down: ## stop the services started by services-up
	-scripts/slapd.sh down
	-scripts/versitygw.sh down

clean: services-down ## remove build output, demo artifacts and service state
	rm -rf bin .demo .services/slapd .services/versitygw
