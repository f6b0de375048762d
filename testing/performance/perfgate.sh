#!/usr/bin/env bash
# perf-gate: perfprobe gates its own hot paths (PERFORMANCE.md §5). Run from
# the repository root (make perf-gate); root is not needed.
#
#   time (sec/op): perfprobe bench, A/B in interleaved pairs against the base
#     commit built in the same run (absolute times flap across machines);
#   memory (B/op, allocs/op, custom units): perfprobe gate against the
#     committed baseline in testing/performance/baselines/hotpaths.
#
# perfgate.sh update (make perf-baseline) instead writes the current tree's
# 5 runs into the baseline directory (perfprobe baseline update).
#
# Environment: PERF_BASE (the base commit; default the baseline's commit
# when it is in HEAD's history, else HEAD~1), PERF_HEAD_FLAGS (extra go test
# build flags for the head side: -tags=perfgate_slow plants a 30% slower
# symbolizer), PERF_PAIRS (default 10), GO (default go).
# Exit status: 0 pass, 1 a step failed (the report names what regressed).
set -euo pipefail

GO=${GO:-go}
PAIRS=${PERF_PAIRS:-10}
HEAD_FLAGS=${PERF_HEAD_FLAGS:-}
PERF_DIR=testing/performance
BASELINES=$PERF_DIR/baselines/hotpaths
POLICY_MEM=$PERF_DIR/gate-policy.yaml
POLICY_TIME=$PERF_DIR/bench-policy.yaml

# package, binary, benchmark, -benchtime: each stays around 1-2 s on a 2-CPU
# machine (a run of all five is ~7 s; the 100k-stack ones are mostly setup).
BENCHES=(
	"profile/symbolize symbolize.test ^BenchmarkSymbolizeGo$ 200ms"
	"profile profile.test ^BenchmarkToPprof$ 40x"
	"profile profile.test ^BenchmarkMergeDemo30s$ 3x"
	"profile/flame flame.test ^BenchmarkWriteHTML100k$ 2x"
	"internal/diagnosis diagnosis.test ^BenchmarkDiagnose100k$ 2x"
)
PKGS=(./profile/symbolize ./profile ./profile/flame ./internal/diagnosis)

[ -f go.mod ] && [ -d $PERF_DIR ] || { echo "perf-gate: run from the repository root" >&2; exit 2; }
root=$(pwd)
tmp=$(mktemp -d -t perfgate.XXXXXX)
basetree=$tmp/base
cleanup() {
	git -C "$root" worktree remove --force "$basetree" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
start=$(date +%s)

# benchcmd TREE BINDIR COUNT [-test.benchmem]: the shell command running
# every benchmark of the list from the test binaries in BINDIR, each in its
# package directory of TREE (where its testdata is).
benchcmd() {
	local tree=$1 bins=$2 count=$3 mem=${4:-} cmd="" pkg bin bench bt
	for b in "${BENCHES[@]}"; do
		read -r pkg bin bench bt <<<"$b"
		cmd+="(cd '$tree/$pkg' && '$bins/$bin' -test.run '^\$' -test.bench '$bench' -test.benchtime $bt $mem -test.count $count) && "
	done
	echo "${cmd% && }"
}

# a. the binary
CGO_ENABLED=0 $GO build -o bin/perfprobe ./cmd/perfprobe

if [ "${1:-}" = update ]; then
	mkdir -p "$tmp/bin-head"
	$GO test -c -o "$tmp/bin-head/" "${PKGS[@]}"
	sh -c "$(benchcmd "$root" "$tmp/bin-head" 5 -test.benchmem)" >"$tmp/hotpaths.txt"
	bin/perfprobe baseline update --dir $BASELINES "$tmp/hotpaths.txt"
	exit
fi

# The base commit.
meta=$(sed -n 's/.*"commit": *"\([0-9a-f]*\)[^"]*".*/\1/p' $BASELINES/meta.json 2>/dev/null | head -1)
if [ -n "${PERF_BASE:-}" ]; then
	base=$PERF_BASE why="PERF_BASE"
else
	if [ -n "$meta" ] && git merge-base --is-ancestor "$meta" HEAD 2>/dev/null; then
		base=$meta why="the baseline's commit ($BASELINES/meta.json)"
	else
		base=HEAD~1 why="HEAD~1 (the commit in $BASELINES/meta.json is not in HEAD's history)"
	fi
fi
recorded="recorded at commit ${meta:0:7}"
[ -n "$meta" ] || recorded="no commit recorded in meta.json"
base_sha=$(git rev-parse --verify "$base^{commit}")
head_desc="the working tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- && echo "" || echo ", with changes"))"
echo "perf-gate: base $(git rev-parse --short "$base_sha") from $why; head $head_desc${HEAD_FLAGS:+ built with $HEAD_FLAGS}"

# b. the benchmarks' test binaries, built once per side so that no pair
# pays (or is disturbed by) compiling and linking.
git worktree add --detach --quiet "$basetree" "$base_sha"
mkdir -p "$tmp/bin-base" "$tmp/bin-head"
(cd "$basetree" && $GO test -c -o "$tmp/bin-base/" "${PKGS[@]}")
# shellcheck disable=SC2086 # HEAD_FLAGS is a list of flags
$GO test -c $HEAD_FLAGS -o "$tmp/bin-head/" "${PKGS[@]}"

# c. time: A/B pairs against the base commit.
echo "perf-gate: [1/2] time (sec/op): perfprobe bench, $PAIRS interleaved pairs, base $(git rev-parse --short "$base_sha") against head"
time_status=0
bin/perfprobe bench --pairs "$PAIRS" --warmup 1 --policy $POLICY_TIME \
	--base "$(benchcmd "$basetree" "$tmp/bin-base" 1)" \
	--head "$(benchcmd "$root" "$tmp/bin-head" 1)" || time_status=$?

# d. memory: the head's B/op and allocs/op against the committed baseline.
echo "perf-gate: [2/2] memory (B/op, allocs/op): perfprobe gate, 5 runs of head against the committed baseline $BASELINES ($recorded)"
sh -c "$(benchcmd "$root" "$tmp/bin-head" 5 -test.benchmem)" >"$tmp/current.txt"
mem_status=0
bin/perfprobe gate --baseline $BASELINES --current "$tmp/current.txt" --policy $POLICY_MEM || mem_status=$?

# e. the verdict.
secs=$(($(date +%s) - start))
echo "perf-gate: time A/B against $(git rev-parse --short "$base_sha"): $([ $time_status = 0 ] && echo pass || echo "FAIL ($time_status)"); memory against $BASELINES: $([ $mem_status = 0 ] && echo pass || echo "FAIL ($mem_status)"); ${secs}s"
[ $time_status = 0 ] && [ $mem_status = 0 ]
