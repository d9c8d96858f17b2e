# vigil — build, test and benchmark.
#
#   make build   builds bin/vigil
#   make test    installs what the tests need (as root, on Debian), then vet + race tests
#                and a few seconds of fuzzing (make fuzz)
#   make deps    only the installation step
#   make cross   builds ./cmd/vigil and vets ./... for the other systems vigil builds on
#
# Under CI=true every test that needs root, qemu, MariaDB, keepalived or HAProxy must run:
# a missing prerequisite fails the build instead of skipping.

GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 40m
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)


.PHONY: all build test deps vet fmt-check unit cross fuzz

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/vigil ./cmd/vigil

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# cross: the systems without IPVS must keep compiling (and vetting): what is Linux-only
# stays behind build tags with a real fallback. CI reaches this through make test.
CROSS ?= darwin/amd64 freebsd/amd64
cross:
	@set -e; for p in $(CROSS); do \
		echo "GOOS=$${p%/*} GOARCH=$${p#*/}: build ./cmd/vigil, vet ./..."; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -o /dev/null ./cmd/vigil; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet $(PKGS); \
	done

test: deps fmt-check vet cross
	$(GO) test -race -timeout $(TIMEOUT) $(PKGS)
	$(MAKE) fuzz

# fuzz: a few seconds of fuzzing of the whole path a file takes (their seeds, the hostile
# inputs of issue 14, run in every go test too): bytes through conf.Load, and bytes as a
# reload of a running director.
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x ./conf
	$(GO) test -run '^$$' -fuzz '^FuzzReload$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x ./internal/director

# unit: the fast tests only (no VM, no peers that take long); for a developer loop. Most
# of its time is tests waiting on sockets and timers, not CPU: four test binaries at a
# time on two cores finish sooner than go test's default of one per core.
UNITP ?= 4
unit:
	CI= $(GO) test -short -p $(UNITP) $(PKGS)
