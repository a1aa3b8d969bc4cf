# Ferry's build. `make test` is what CI runs; it installs what the tests need.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ferryhealth/ferry/proxy.Version=$(VERSION)
CONNECTORS := fhir hl7v2
MEDPLUM := testdata/peers/medplum
OPENAPI_LINT := testdata/peers/openapi-lint
WEBHOOK_RECEIVER := testdata/peers/webhook-receiver
OIDC_PROVIDER := testdata/peers/oidc-provider
# The repo's Go modules, by directory: the host (root), the connector SDK that
# third parties import, and the unified types. The root requires both and the
# SDK requires unified, each with a replace directive to the folder (no go.work:
# a clean clone and a third-party build resolve exactly the same way). Every target that runs Go over "all the
# code" loops over this list; deps_test.go fails if a go.mod is missing here.
MODULES := . connectors unified deploy
# A go.work outside the repo must not change what CI tests.
export GOWORK := off

.PHONY: all build image-context image demo test test-deps debian-peers test-unit fuzz bench bench-micro bench-resilience soak generate check-generated vet fmt clean

all: build

## build: the ferry binary and every connector plugin into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry ./cmd/ferry
	@for c in $(CONNECTORS); do \
		echo "$(GO) build -o $(BIN)/ferry-connector-$$c ./cmd/ferry-connector-$$c"; \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ferry-connector-$$c ./cmd/ferry-connector-$$c || exit 1; \
	done

## image-context: static binaries (CGO_ENABLED=0), the plugin catalog generated from them and
## the CA bundle, in bin/image: what deploy/image/Containerfile copies
IMAGE_DIR := $(BIN)/image
image-context:
	@mkdir -p $(IMAGE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_DIR)/ferry ./cmd/ferry
	@for c in $(CONNECTORS); do \
		echo "CGO_ENABLED=0 $(GO) build -o $(IMAGE_DIR)/ferry-connector-$$c ./cmd/ferry-connector-$$c"; \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_DIR)/ferry-connector-$$c ./cmd/ferry-connector-$$c || exit 1; \
	done
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_DIR)/
	deploy/image/catalog.sh $(IMAGE_DIR) $(CONNECTORS)

## image: the container image, built with buildah from deploy/image/Containerfile
IMAGE ?= localhost/ferry
IMAGE_TAG ?= $(VERSION)
BUILDAH_FLAGS ?=
image: image-context debian-peers
	buildah $(BUILDAH_FLAGS) bud --isolation chroot -f deploy/image/Containerfile \
		--label org.opencontainers.image.title=ferry \
		--label org.opencontainers.image.version=$(VERSION) \
		--label org.opencontainers.image.revision=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
		--label org.opencontainers.image.source=https://github.com/ferryhealth/ferry \
		--label org.opencontainers.image.licenses=Apache-2.0 \
		-t $(IMAGE):$(IMAGE_TAG) $(IMAGE_DIR)

## demo: the gateway, the FHIR plugin and a sandbox FHIR source, on 127.0.0.1:8080; with
## --events, an HL7 v2 feed, a sandbox sender and a receiver printing verified webhooks
demo: build
	$(BIN)/ferry demo --events

## test-deps: the pinned npm test peers (Medplum FHIR server, Redocly's OpenAPI linter, the
## webhook receiver verifying deliveries with standardwebhooks, panva's oidc-provider for inbound
## access tokens), Jaeger v1.75.0 as the OTLP receiver of the trace tests (built from the Go
## module proxy into .tools/jaeger, from testdata/peers/jaeger's own module; about 6 minutes
## the first time) and
## the Debian test peers (rsyslog with TLS for the syslog audit sink, strace for the PHI
## canary, python-hl7 for MLLP, nginx for the bench harness's baseline, buildah to build the
## container image and podman with runc to run it in deploy/'s image test), installed with
## apt-get when missing. tools_test.go fails when Go code runs a program this list does not
## install (and that not every machine has).
JAEGER := $(CURDIR)/.tools/jaeger
DEBIAN_PEERS := rsyslog rsyslog-gnutls strace python3-hl7 nginx buildah podman runc
test-deps: $(MEDPLUM)/node_modules/.package-lock.json $(OPENAPI_LINT)/node_modules/.package-lock.json \
	$(WEBHOOK_RECEIVER)/node_modules/.package-lock.json $(OIDC_PROVIDER)/node_modules/.package-lock.json debian-peers \
	$(JAEGER)

$(JAEGER): testdata/peers/jaeger/go.mod testdata/peers/jaeger/go.sum
	cd testdata/peers/jaeger && $(GO) build -o $(JAEGER) github.com/jaegertracing/jaeger/cmd/jaeger

debian-peers:
	@missing=; for p in $(DEBIAN_PEERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# npm ci from the committed lockfile, again whenever the lockfile changes.
%/node_modules/.package-lock.json: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error

## test: every test, against the real peers (started by the tests themselves)
test: test-deps build vet
	@fail=; for m in $(MODULES); do \
		echo "== go test ($$m)"; \
		(cd $$m && FERRY_BIN=$(CURDIR)/$(BIN) FERRY_JAEGER=$(JAEGER) $(GO) test -count=1 -race -timeout 30m ./...) || fail="$$fail $$m"; \
	done; \
	if [ -n "$$fail" ]; then echo "tests failed in module(s):$$fail"; exit 1; fi

## fuzz: run each fuzzer briefly (FUZZTIME=30s by default)
FUZZTIME ?= 30s
fuzz:
	@for m in $(MODULES); do \
		for pkg in $$(cd $$m && $(GO) list ./...); do \
			for f in $$(cd $$m && $(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
				echo "== $$pkg $$f"; (cd $$m && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg) || exit 1; \
			done; \
		done; \
	done

## bench: the side-by-side table (direct / nginx / bare fasthttp proxy / Ferry, see
## docs/performance.md; raw CSV under bench/results/), then the hot-path micro-benchmarks,
## then the events workload (ADT over MLLP to a feed, open loop, a receiver answering at once).
## nginx comes with the Debian peers. BENCHFLAGS go to ferry-bench, e.g.
## BENCHFLAGS='-workloads W1,W3 -profile'.
BENCHFLAGS ?=
bench: debian-peers
	$(GO) run ./bench/cmd/ferry-bench $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./bench/hotpath/
	$(GO) test -run '^$$' -bench FeedOpenLoop -benchtime 1x ./bench/

## bench-micro: every Go micro-benchmark of every module
bench-micro:
	@for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...) || exit 1; done

## bench-resilience: a failing connection's neighbours keep their throughput (prints the ratio)
bench-resilience:
	$(GO) test -count=1 -run TestResilienceIsolation -v ./bench/

## soak: the real ferry under an open-loop load with faults and a reload a minute,
## failing on growth of memory, goroutines or descriptors (docs/resilience.md).
## Not part of test. SOAK_DURATION=5m shortens it.
SOAK_DURATION ?= 30m
soak: test-deps build
	FERRY_BIN=$(CURDIR)/bin $(GO) test -tags soak -count=1 -timeout 0 -run TestSoak -v ./cmd/ferry/ -args -soak.duration=$(SOAK_DURATION)

vet:
	@for m in $(MODULES); do echo "go vet ($$m)"; (cd $$m && $(GO) vet ./...) || exit 1; done
	@files=$$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'); \
		out=$$(for f in $$files; do [ -f "$$f" ] && echo "$$f"; done | xargs -r gofmt -l); \
		if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## generate: regenerate the protobuf code (needs protoc; installed with apt-get if missing).
## The proto and its generated code live in the SDK module (connectors/proto), so that a
## third-party plugin and the host share one copy of the wire protocol.
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
GOBIN_DIR := $(CURDIR)/.tools
PROTO_DIR := connectors/proto
generate:
	@command -v protoc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler)
	GOBIN=$(GOBIN_DIR) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(GOBIN_DIR) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(GOBIN_DIR):$$PATH protoc --proto_path=$(PROTO_DIR) \
		--go_out=connectors --go_opt=module=github.com/ferryhealth/ferry/connectors \
		--go-grpc_out=connectors --go-grpc_opt=module=github.com/ferryhealth/ferry/connectors \
		$(PROTO_DIR)/connector.proto

## check-generated: fail if the committed generated code is stale
check-generated: generate
	@git diff --exit-code -- $(PROTO_DIR) || (echo "generated code is stale: run make generate and commit" && exit 1)

clean:
	rm -rf $(BIN) .tools
