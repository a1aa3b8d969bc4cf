# Ferry's build. `make test` is what CI runs; it installs what the tests need.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ferryhealth/ferry/proxy.Version=$(VERSION)
CONNECTORS := fhir
MEDPLUM := testdata/peers/medplum

.PHONY: all build demo test test-deps debian-peers test-unit fuzz bench generate check-generated vet fmt clean

all: build

## build: the ferry binary and every connector plugin into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./cmd/ferry
	@for c in $(CONNECTORS); do \
		echo "$(GO) build -o $(BIN)/ferry-connector-$$c ./cmd/ferry-connector-$$c"; \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry-connector-$$c ./cmd/ferry-connector-$$c || exit 1; \
	done

## demo: the gateway, the FHIR plugin and a sandbox FHIR source, on 127.0.0.1:8080
demo: build
	$(BIN)/ferry demo

## test-deps: the pinned npm test peer (Medplum FHIR server) and the Debian test peers
## (rsyslog with TLS for the syslog audit sink), installed with apt-get when missing
DEBIAN_PEERS := rsyslog rsyslog-gnutls strace python3-hl7
test-deps: $(MEDPLUM)/node_modules/.package-lock.json debian-peers

debian-peers:
	@missing=; for p in $(DEBIAN_PEERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(MEDPLUM)/node_modules/.package-lock.json: $(MEDPLUM)/package-lock.json
	cd $(MEDPLUM) && npm ci --no-audit --no-fund --loglevel=error

## test: every test, against the real peers (started by the tests themselves)
test: test-deps build vet
	FERRY_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -race -timeout 30m ./...

## fuzz: run each fuzzer briefly (FUZZTIME=30s by default)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## bench: Go micro-benchmarks of the hot path
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## generate: regenerate the protobuf code (needs protoc; installed with apt-get if missing)
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
GOBIN_DIR := $(CURDIR)/.tools
generate:
	@command -v protoc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler)
	GOBIN=$(GOBIN_DIR) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(GOBIN_DIR) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(GOBIN_DIR):$$PATH protoc --proto_path=plugins/proto \
		--go_out=. --go_opt=module=github.com/ferryhealth/ferry \
		--go-grpc_out=. --go-grpc_opt=module=github.com/ferryhealth/ferry \
		plugins/proto/connector.proto

## check-generated: fail if the committed generated code is stale
check-generated: generate
	@git diff --exit-code -- plugins/proto || (echo "generated code is stale: run make generate and commit" && exit 1)

clean:
	rm -rf $(BIN) .tools
