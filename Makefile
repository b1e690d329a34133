# protorun — build, test, demo.
GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0

.PHONY: all build test lint bench demo install fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/protorun ./cmd/protorun
	$(GO) build -o $(BIN)/sandbox ./examples/sandbox

test:
	$(GO) vet ./...
	$(GO) test -race ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	mkdir -p bench
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench/raw.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@latest bench/raw.txt > bench/results.txt || cp bench/raw.txt bench/results.txt
	@echo "summary: bench/results.txt"

demo: build
	./scripts/demo.sh

install:
	$(GO) install ./cmd/protorun

clean:
	rm -rf $(BIN) .artifacts .protorun .sandbox
