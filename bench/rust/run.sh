#!/usr/bin/env bash
# The Rust face of ivykis against mio and calloop (criterion), plus the
# allocation counts; writes build/bench/rust.md and build/bench/rust.tsv.
#
#   bench/rust/run.sh                 # all workloads, short criterion settings (~3-4 min on 2 cores)
#   bench/rust/run.sh --quick         # smoke run: tiny measurement times, small alloc runs
#   bench/rust/run.sh --filter timers # only criterion ids matching (a regex); report covers those
#   bench/rust/run.sh --warm-up 1 --measure 3
#
# Environment: CARGO_TARGET_DIR (default: <repo>/target/bench-rust).
# Exit status: 0 success, 1 a benchmark or its checks failed, 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/bench

warm_up=0.5
measure=1.5
filter=
quick=

usage() {
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; warm_up=0.1; measure=0.3 ;;
	--filter) [ $# -ge 2 ] || usage; filter=$2; shift ;;
	--warm-up) [ $# -ge 2 ] || usage; warm_up=$2; shift ;;
	--measure) [ $# -ge 2 ] || usage; measure=$2; shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/bench-rust}
export CRITERION_HOME=$out/criterion-rust
manifest=$here/Cargo.toml
start=$(date +%s)

mkdir -p "$out"
# Stale results of workloads not run this time must not reach the report.
rm -rf "$CRITERION_HOME"

echo "== building (release)" >&2
cargo build --release --manifest-path "$manifest" --bins --benches

echo "== criterion (warm-up ${warm_up}s, measurement ${measure}s per benchmark)" >&2
args=(--warm-up-time "$warm_up" --measurement-time "$measure")
[ -n "$filter" ] && args+=("$filter")
cargo bench --manifest-path "$manifest" --bench loops -- "${args[@]}"

bin=$CARGO_TARGET_DIR/release
echo "== timer rounds by phase" >&2
"$bin/timer_phases" 5 > "$out/rust-timer-phases.md"
cat "$out/rust-timer-phases.md"

echo "== allocations per operation" >&2
"$bin/alloc_counts" --tsv "$out/rust-alloc.tsv" ${quick:+--quick}

echo "== report" >&2
"$bin/report" --criterion "$CRITERION_HOME" --alloc "$out/rust-alloc.tsv" \
	--timer-phases "$out/rust-timer-phases.md" \
	--md "$out/rust.md" --tsv "$out/rust.tsv" > /dev/null

elapsed=$(($(date +%s) - start))
{
	echo
	echo "Machine: $(nproc) CPUs, $(uname -sr), $(rustc --version)."
	echo "Command: \`bench/rust/run.sh${quick:+ --quick}${filter:+ --filter $filter}\` (criterion warm-up ${warm_up} s, measurement ${measure} s; took ${elapsed} s)."
} >> "$out/rust.md"
cat "$out/rust.md"
echo "== wrote $out/rust.md and $out/rust.tsv in ${elapsed}s" >&2
