# WADI for Go. `make run` starts a dev node with the demo on
# http://127.0.0.1:8080; `make test` runs every test, installing what they need.

GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Debian packages the tests need, installed by `make deps` when missing
# (python3 runs the upstream example application).
DEB_PACKAGES := haproxy redis-server postgresql python3

# Debian packages `make proto` needs (protoc, with the well-known types).
PROTO_PACKAGES := protobuf-compiler
# The example plugins, each a main package built into bin/plugins/NAME. The
# trailing slash matches directories only: plugins/examples also holds the
# package's own doc.go and tests.
EXAMPLES := $(notdir $(patsubst %/,%,$(wildcard plugins/examples/*/)))

.PHONY: all build plugins run test unit e2e chaos lint deps bench fuzz proto clean

all: build plugins

build:
	$(GO) build -o $(BIN)/wadi ./cmd/wadi

# Builds every example plugin as its own program, as a plugin author would.
plugins:
	@for p in $(EXAMPLES); do \
		echo "$(GO) build -o $(BIN)/plugins/$$p ./plugins/examples/$$p"; \
		$(GO) build -o $(BIN)/plugins/$$p ./plugins/examples/$$p || exit 1; \
	done

run: build
	$(BIN)/wadi run -dev

# Everything CI runs: static checks, the example plugins built as their
# authors would (so that `make plugins` cannot break unnoticed), unit tests
# with the race detector, and the end-to-end tests that start real wadi
# processes.
test: deps lint plugins
	$(GO) test -race -count=1 -timeout 15m ./...

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e:
	$(GO) test -race -count=1 -timeout 15m -v ./e2e/...

# Longer fault runs than `make test`: the replication kill tests go round
# the five-node farm CHAOS_ROUNDS times, killing each node with SIGKILL.
CHAOS_ROUNDS ?= 4
chaos: deps
	WADI_CHAOS_ROUNDS=$(CHAOS_ROUNDS) $(GO) test -race -count=1 -timeout 60m -v -run 'TestReplication' ./e2e/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Idempotent: installs only what is missing.
deps:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(DEB_PACKAGES)"
	$(GO) mod download

.PHONY: install-debs
install-debs:
	@missing=""; for p in $(PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Regenerates the plugin protocol's Go code (sdk/internal/proto) with the
# generator versions pinned in scripts/proto.sh; a clean tree stays clean.
proto:
	@$(MAKE) --no-print-directory install-debs PACKAGES="$(PROTO_PACKAGES)"
	scripts/proto.sh

# Benchmarks recorded in BENCHMARKS.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./core/... ./plugins/... ./sdk/...

# A short run of every fuzz target (the seeds also run in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME) ./core/session
	$(GO) test -run '^$$' -fuzz FuzzDecodeDelta -fuzztime $(FUZZTIME) ./core/session
	$(GO) test -run '^$$' -fuzz FuzzCookieHeader -fuzztime $(FUZZTIME) ./core/session
	$(GO) test -run '^$$' -fuzz FuzzParseChain -fuzztime $(FUZZTIME) ./core/session
	$(GO) test -run '^$$' -fuzz FuzzRouteToken -fuzztime $(FUZZTIME) ./core/session
	$(GO) test -run '^$$' -fuzz FuzzDecodeValue -fuzztime $(FUZZTIME) ./plugins/builtin/filestore
	$(GO) test -run '^$$' -fuzz FuzzDecodeValue -fuzztime $(FUZZTIME) ./plugins/builtin/redisstore
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/builtin/aesgcm
	$(GO) test -run '^$$' -fuzz FuzzDecodeGzip -fuzztime $(FUZZTIME) ./plugins/builtin/compress
	$(GO) test -run '^$$' -fuzz FuzzDecodeZstd -fuzztime $(FUZZTIME) ./plugins/builtin/compress
	$(GO) test -run '^$$' -fuzz FuzzDecodeS2 -fuzztime $(FUZZTIME) ./plugins/builtin/compress
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./plugins/examples/sealcodec
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./config

clean:
	rm -rf $(BIN)
