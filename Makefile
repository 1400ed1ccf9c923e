# Shoal: build, test, install, and a local cluster.
#   make test     installs what the tests need (Debian packages, npm ci), builds, checks, runs every test
#   make up       sets up this machine and starts a local Shoal with a demo service
#   make down     stops and removes what `make up` started
#   make build    native helper + bundled commands in dist/
#   make install  puts shoalctl, shoal-agent and shoal-controller on PATH (/usr/local/bin)
#   make bench    runs the benchmarks in bench/ (figures, not tests)

SHELL := /bin/bash
PREFIX ?= /usr/local
CC ?= cc
CFLAGS ?= -O2 -Wall -Wextra -Werror=implicit-function-declaration -D_GNU_SOURCE
APT_PACKAGES := etcd-server etcd-client iptables busybox-static docker-registry apache2-utils iproute2 util-linux ipset iperf3

.PHONY: all deps sysdeps build native test test-unit test-e2e check lint typecheck install up down bench clean

all: build

# Debian packages the runtime and the tests use. Only installs what is missing, so a machine
# that has them all does not touch the network.
sysdeps:
	@missing=""; \
	command -v etcd >/dev/null || missing="$$missing etcd-server"; \
	command -v etcdctl >/dev/null || missing="$$missing etcd-client"; \
	command -v iptables >/dev/null || missing="$$missing iptables"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v htpasswd >/dev/null || missing="$$missing apache2-utils"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v nsenter >/dev/null || missing="$$missing util-linux"; \
	command -v ipset >/dev/null || missing="$$missing ipset"; \
	command -v iperf3 >/dev/null || missing="$$missing iperf3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# docker-registry's Debian package starts a system instance on :5000; tests start their own.
	@systemctl disable --now docker-registry >/dev/null 2>&1 || true

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: sysdeps node_modules/.package-lock.json

# Each directory native/<name>/ is one small static C program, native/build/shoal-<name>.
NATIVE_DIRS := $(patsubst native/%/,%,$(sort $(dir $(wildcard native/*/*.c))))
NATIVE_BINS := $(patsubst %,native/build/shoal-%,$(NATIVE_DIRS))

native: $(NATIVE_BINS)

native/build/shoal-%: native/%/*.c $(wildcard native/%/*.h)
	@mkdir -p native/build
	$(CC) $(CFLAGS) -static -o $@.tmp $(wildcard native/$*/*.c) 2>/dev/null || $(CC) $(CFLAGS) -o $@.tmp $(wildcard native/$*/*.c)
	@mv $@.tmp $@

build: node_modules/.package-lock.json native
	node scripts/build.mjs

typecheck: node_modules/.package-lock.json
	node node_modules/tsgo/bin/tsc -p tsconfig.json --noEmit

lint: node_modules/.package-lock.json
	npx eslint --max-warnings 0 .

test-unit: build
	npx vitest run --project unit

test-e2e: build
	npx vitest run --project e2e --passWithNoTests

check: typecheck lint

test: deps build check
	npx vitest run --project unit
	npx vitest run --project e2e --passWithNoTests

install: build
	install -d $(DESTDIR)$(PREFIX)/lib/shoal $(DESTDIR)$(PREFIX)/bin
	rm -rf $(DESTDIR)$(PREFIX)/lib/shoal/dist $(DESTDIR)$(PREFIX)/lib/shoal/node_modules
	cp -r dist package.json $(DESTDIR)$(PREFIX)/lib/shoal/
	mkdir -p $(DESTDIR)$(PREFIX)/lib/shoal/native/build && cp native/build/shoal-* $(DESTDIR)$(PREFIX)/lib/shoal/native/build/ 2>/dev/null || true
	cd $(DESTDIR)$(PREFIX)/lib/shoal && cp -r $(CURDIR)/node_modules .
	for b in shoalctl shoal-agent shoal-controller; do ln -sf ../lib/shoal/dist/$$b.js $(DESTDIR)$(PREFIX)/bin/$$b; done

up: deps build
	bash scripts/up.sh

down:
	bash scripts/down.sh

bench: build
	@for b in bench/*; do [ -x "$$b" ] && { echo "== $$b"; "$$b" || true; }; done

clean:
	rm -rf dist native/build
