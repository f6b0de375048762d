# perfprobe: `make demo` runs the main job on a bundled demo service,
# `make test` runs every test (BPF tests need root: `sudo make test`),
# `make perf-gate` fails when perfprobe's own hot paths regressed.

GO       ?= go
BIN      := bin/perfprobe
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_OUT ?= perfprobe-demo

.PHONY: build generate test bench perf-gate perf-baseline perf-gate-rig perf-baseline-rig demo clean

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/perfprobe

# Regenerates the committed BPF objects (*_bpfel.go, *_bpfel.o) with clang-19.
generate:
	@command -v clang-19 >/dev/null && [ -f /usr/include/bpf/bpf_helpers.h ] || { \
		echo "make generate needs clang-19, llvm-19 and libbpf-dev: apt-get install -y clang-19 llvm-19 libbpf-dev" >&2; exit 1; }
	$(GO) generate ./probes/...

# Every test. Packages run one at a time (-p 1): probe tests measure CPU
# shares and scheduler latency, and two of them at once on a small machine
# would disturb each other's numbers.
test:
	$(GO) test -p 1 -count=1 -timeout 30m ./...

# Boots Debian's cloud and rt kernels under QEMU and runs the tests listed in
# testing/kernels/suite inside each (root; KERNELS="cloud" picks kernels).
.PHONY: test-kernels
test-kernels:
	GO=$(GO) bash testing/kernels/run.sh $(KERNELS)

bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchmem ./...
	$(GO) test -p 1 -count=1 -timeout 30m -run 'Rig' -v ./testing/performance/

# The hot paths' benchmarks: time A/B against the base commit built in the
# same run, memory against testing/performance/baselines/hotpaths (PERFORMANCE.md §5;
# PERF_BASE, PERF_PAIRS, PERF_HEAD_FLAGS=-tags=perfgate_slow plants a slower
# symbolizer). perf-baseline rewrites the baseline from the current tree.
perf-gate:
	GO=$(GO) bash testing/performance/perfgate.sh

perf-baseline:
	GO=$(GO) bash testing/performance/perfgate.sh update

# The rig (root, an idle machine, ~6 minutes): attach latency and the
# overhead ratios against testing/performance/baselines/rig with
# testing/performance/rig-policy.yaml; perf-baseline-rig rewrites it.
perf-gate-rig: build
	$(GO) build -o bin/rig ./testing/performance/rig
	$(SUDO) bin/rig -results bin/rig-results.json | tee bin/rig.md
	$(BIN) gate --baseline testing/performance/baselines/rig --current bin/rig-results.json --policy testing/performance/rig-policy.yaml

perf-baseline-rig: build
	$(GO) build -o bin/rig ./testing/performance/rig
	$(SUDO) bin/rig -results bin/rig-results.json > bin/rig.md
	$(BIN) baseline update --dir testing/performance/baselines/rig bin/rig-results.json
	cp bin/rig.md testing/performance/baselines/rig/rig.md

# Builds perfprobe and the demo service, starts the service with load on
# loopback, attaches for 10 s and prints the summary.
demo: build
	$(GO) build -o bin/perfprobe-demo ./testdata/targets/demo
	@rm -f bin/demo.ready; \
	bin/perfprobe-demo -load 4 -duration 30s > bin/demo.ready & demo=$$!; \
	for i in $$(seq 100); do grep -q ready bin/demo.ready 2>/dev/null && break; sleep 0.1; done; \
	echo "demo service: $$(head -1 bin/demo.ready)"; \
	$(SUDO) $(BIN) attach --duration 10s --out $(DEMO_OUT) $$demo; status=$$?; \
	kill $$demo 2>/dev/null; wait $$demo 2>/dev/null; exit $$status

clean:
	rm -rf bin perfprobe-demo
