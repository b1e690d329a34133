# protorun — build, test, demo.
GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: all build test lint bench demo demo-prometheus install fuzz dist clean

all: build

build:
	$(GO) build -o $(BIN)/protorun ./cmd/protorun
	$(GO) build -o $(BIN)/sandbox ./examples/sandbox

test:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		echo "*** PostgreSQL is not installed: the PostgreSQL store tests will SKIP (apt-get install postgresql; under CI=true they fail) ***" >&2
	$(GO) vet ./...
	$(GO) test -race ./...
	FUZZTIME=3s GO=$(GO) scripts/fuzz.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff # go.mod and go.sum as go mod tidy leaves them
	$(GO) run $(STATICCHECK) ./...

bench: # see BENCHMARKS.md: each figure, its reference and its target
	mkdir -p bench
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $$($(GO) list ./... | grep -v /examples/e2e) | tee bench/raw.txt
	$(GO) test -run '^$$' -bench . -benchmem -count 6 -benchtime 1x ./examples/e2e | tee -a bench/raw.txt
	@! grep -E '^(FAIL|panic:|--- FAIL)' bench/raw.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da bench/raw.txt > bench/results.txt
	@echo "summary: bench/results.txt (raw figures: bench/raw.txt)"

demo: build
	./scripts/demo.sh

demo-prometheus: build # make demo with a real Prometheus (the `prometheus` binary) scraping the sandbox
	./scripts/demo-prometheus.sh

fuzz: # every fuzz target for FUZZTIME (default 60s) each; see scripts/fuzz.sh
	GO=$(GO) scripts/fuzz.sh $(or $(FUZZTIME),60s)

# Release: static binaries for linux, darwin (amd64, arm64) and windows/amd64,
# stamped with VERSION and COMMIT, a CycloneDX SBOM of each, SHA256SUMS, in dist/.
dist:
	GO=$(GO) scripts/dist.sh

install:
	$(GO) install ./cmd/protorun

clean:
	rm -rf $(BIN) dist .artifacts .protorun .sandbox
