# vigil — build, test and benchmark.
#
#   make build   builds bin/vigil
#   make test    installs what the tests need (as root, on Debian), then vet + race tests
#   make deps    only the installation step
#
# Under CI=true every test that needs root, qemu, MariaDB, keepalived or HAProxy must run:
# a missing prerequisite fails the build instead of skipping.

GO      ?= go
PKGS    ?= ./...
TIMEOUT ?= 40m
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)


.PHONY: all build test deps vet fmt-check unit

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/vigil ./cmd/vigil

deps:
	./scripts/test-deps.sh

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps fmt-check vet
	$(GO) test -race -timeout $(TIMEOUT) $(PKGS)

# unit: the fast tests only (no VM, no peers that take long); for a developer loop.
unit:
	CI= $(GO) test -short $(PKGS)
