#!/usr/bin/env bash
# ivykis-rs benchmarks, LGPL-2.1-only
#
# The whole benchmark suite, then BENCHMARKS.md (`make bench` runs this):
#
#   1. bench/run.sh --callgrind --strace   C workloads: ours, Debian's
#                                          libivykis0, raw epoll
#                                          (-> bench/results.md,
#                                          build/bench/c_results.tsv)
#   2. bench/rust/run.sh                   the Rust face against mio and
#                                          calloop, allocation counts
#                                          (-> build/bench/rust.{md,tsv})
#   3. bench/scaling.sh                    cost per event against registered
#                                          fds and timers (-> build/bench/
#                                          scaling.{md,tsv}, bench/plots/)
#   4. bench/report.py                     BENCHMARKS.md from all of it and
#                                          bench/analysis.md
#
# Usage: bench/bench.sh [--quick] [--skip c|rust|scaling]...
#   --quick    fewer runs and smaller sizes where the scripts offer it
#              (a check that everything works, not figures to quote)
# Installs what it needs and is missing (valgrind, strace) with apt-get.
# About 25 minutes on the 2-core development machine.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

quick=0
skip=" "
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--skip) skip+="${2:?--skip needs c, rust or scaling} "; shift ;;
	-h|--help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v strace >/dev/null || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench.sh: installing ${missing[*]}" >&2
	apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
		{ apt-get update >&2 && apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi

make -s all

started=$SECONDS
if [[ $skip != *" c "* ]]; then
	if [ $quick = 1 ]; then
		bash bench/run.sh --no-make --runs 1 --callgrind --strace
	else
		bash bench/run.sh --no-make --runs 5 --callgrind --strace
	fi
fi
if [[ $skip != *" rust "* ]]; then
	if [ $quick = 1 ]; then
		bash bench/rust/run.sh --quick
	else
		bash bench/rust/run.sh
	fi
fi
if [[ $skip != *" scaling "* ]]; then
	if [ $quick = 1 ]; then
		bash bench/scaling.sh --quick
	else
		bash bench/scaling.sh
	fi
fi
python3 bench/report.py
echo "bench.sh: done in $((SECONDS - started)) s; see BENCHMARKS.md" >&2
