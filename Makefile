# Nightjar: build, run, test, generate, bench. See README.md.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run run-sidekick test bench generate images vet fmt clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The detector on its embedded defaults (configuration and rules built into
# the binary): eBPF capture, alerts as text lines on stdout. Needs root.
run: build
	$(BIN)/nightjar

# The sidekick on its embedded defaults: port 2801, embedded JetStream queue
# under ./data, no outputs until one is configured (e.g. SLACK_WEBHOOKURL).
run-sidekick: build
	$(BIN)/nightjar-sidekick

# The test suite: needs root (eBPF) and Go; .ci/run installs the rest.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

bench:
	./scripts/bench.sh

# Container images from the binaries that `make build` produced (needs a
# Docker engine). IMAGE_PREFIX names the registry.
IMAGE_PREFIX ?= ghcr.io/nightjar-sec
images: build
	docker build -f deploy/docker/sidekick.Dockerfile -t $(IMAGE_PREFIX)/nightjar-sidekick:$(VERSION) -t $(IMAGE_PREFIX)/nightjar-sidekick:latest .
	docker build -f deploy/docker/nightjar.Dockerfile -t $(IMAGE_PREFIX)/nightjar:$(VERSION) -t $(IMAGE_PREFIX)/nightjar:latest .

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)

# Regenerates the committed eBPF objects and Go bindings (bpf/capture_x86_bpfel.*)
# from bpf/csrc: needs clang, llvm, libbpf-dev and bpftool (Debian 12: clang 14.0.6).
generate:
	$(GO) generate ./bpf/...
