#!/usr/bin/env bash
# Builds and runs the stress programs (tests/stress/stress_*.c) and the fault
# injection programs (tests/fault/fault_*.c) against build/libivykis.so.0,
# each once per poll method (default: epoll only), timed.
#
#   tests/stress/run.sh                   short mode (CI), epoll
#   tests/stress/run.sh --long            the soak run: 20 times the work
#   tests/stress/run.sh --methods all     epoll, ppoll and poll
#   tests/stress/run.sh --only stress_fds --only fault_eintr
#   tests/stress/run.sh --asan            programs built with
#                                         -fsanitize=address,undefined (the
#                                         Rust library is not instrumented)
#
# Every program prints one summary line
#   NAME: ok ops=N threads=N signals=N fds=N faults=N lost=0 bad=0 method=M scale=S time=T
# and exits 0 only if nothing was lost and no invariant broke; 77 means the
# part of the library it tests is not implemented yet (PENDING, not a pass).
# The summary lines of the last run go to <out>/results.txt.
#
# Options: --lib DIR (default build/), --include DIR (ivykis-c/include/),
# --out DIR (build/stress/), --timeout SECS per run (600, long mode 3600).
# Environment: CC, EXTRA_CFLAGS, EXTRA_LDFLAGS, STRESS_SCALE (see stress.h).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ALL_METHODS=(epoll ppoll poll)
METHOD_NAMES=(epoll-timerfd epoll ppoll poll)

lib_dir=$ROOT/build
include_dir=$ROOT/ivykis-c/include
out_dir=
only=()
methods=(epoll)
long=0
asan=0
timeout_secs=

usage() {
	sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--long) long=1; shift ;;
	--asan) asan=1; shift ;;
	--lib) lib_dir=${2:?--lib needs a directory}; shift 2 ;;
	--include) include_dir=${2:?--include needs a directory}; shift 2 ;;
	--out) out_dir=${2:?--out needs a directory}; shift 2 ;;
	--only) only+=("${2:?--only needs a name}"); shift 2 ;;
	--timeout) timeout_secs=${2:?--timeout needs seconds}; shift 2 ;;
	--methods)
		if [ "${2:?--methods needs a list}" = all ]; then
			methods=("${ALL_METHODS[@]}")
		else
			read -r -a methods <<<"$2"
		fi
		shift 2
		;;
	-h | --help) usage; exit 0 ;;
	*) echo "$0: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
done

lib_dir=$(cd "$lib_dir" 2>/dev/null && pwd) || { echo "$0: no directory $lib_dir" >&2; exit 2; }
include_dir=$(cd "$include_dir" 2>/dev/null && pwd) || { echo "$0: no directory $include_dir" >&2; exit 2; }
if [ ! -e "$lib_dir/libivykis.so.0" ]; then
	echo "$0: $lib_dir/libivykis.so.0 does not exist (run 'make' first?)" >&2
	exit 2
fi
expected_lib=$(realpath "$lib_dir/libivykis.so.0")
if [ -z "$out_dir" ]; then
	out_dir=$ROOT/build/stress
	[ $asan = 1 ] && out_dir=$ROOT/build/stress-asan
fi
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
if [ -z "$timeout_secs" ]; then
	timeout_secs=600
	[ $long = 1 ] && timeout_secs=3600
fi

CC=${CC:-cc}
CFLAGS=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread -I"$include_dir" -I"$ROOT/tests/stress")
LDFLAGS=(-pthread -L"$lib_dir" -Wl,--no-as-needed -l:libivykis.so.0)
if [ $asan = 1 ]; then
	CFLAGS+=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
	LDFLAGS+=(-fsanitize=address,undefined)
	# The stress programs use most of the address space's descriptors and
	# fork a lot; leak checking at exit is valgrind's job (tests/valgrind.sh).
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
fi
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
CFLAGS+=(${EXTRA_CFLAGS:-})
# shellcheck disable=SC2206
LDFLAGS+=(${EXTRA_LDFLAGS:-})
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
ulimit -c 0

shopt -s nullglob
sources=()
for f in "$ROOT"/tests/stress/stress_*.c "$ROOT"/tests/fault/fault_*.c; do
	name=$(basename "$f" .c)
	if [ ${#only[@]} -gt 0 ]; then
		keep=0
		for o in "${only[@]}"; do
			[ "${o%.c}" = "$name" ] && keep=1
		done
		[ $keep = 1 ] || continue
	fi
	sources+=("$f")
done
shopt -u nullglob
if [ ${#sources[@]} -eq 0 ]; then
	echo "$0: no programs selected" >&2
	exit 2
fi

exclusion_for() {
	local m others=()
	for m in "${METHOD_NAMES[@]}"; do
		[ "$m" = "$1" ] || others+=("$m")
	done
	echo "${others[*]}"
}

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

mode=short
[ $long = 1 ] && mode=long
echo "stress: library $expected_lib"
echo "        mode $mode, methods ${methods[*]}, output $out_dir$([ $asan = 1 ] && echo ', ASan+UBSan in the programs')"
echo

passed=0
failed=0
pending=0
failures=()
results=$out_dir/results.txt
: >"$results"
run_start=$(now_us)

for src in "${sources[@]}"; do
	name=$(basename "$src" .c)
	bin=$out_dir/$name
	if ! "$CC" "${CFLAGS[@]}" -o "$bin" "$src" "${LDFLAGS[@]}" >"$out_dir/$name.build.log" 2>&1; then
		printf 'FAIL     %-22s build failed\n' "$name"
		sed 's/^/         | /' "$out_dir/$name.build.log" | tail -20
		failed=$((failed + 1))
		failures+=("$name (build)")
		continue
	fi
	loaded=$(LD_TRACE_LOADED_OBJECTS=1 "$bin" 2>&1 | awk '$1 == "libivykis.so.0" && $2 == "=>" { print $3 }')
	if [ -z "$loaded" ] || [ "$(realpath "$loaded" 2>/dev/null)" != "$expected_lib" ]; then
		printf 'FAIL     %-22s loads %s, not the library under test\n' "$name" "${loaded:-nothing}"
		failed=$((failed + 1))
		failures+=("$name (load)")
		continue
	fi
	for m in "${methods[@]}"; do
		log=$out_dir/$name.$m.log
		args=()
		[ $long = 1 ] && args=(--long)
		start=$(now_us)
		{ (cd "$out_dir" && IV_EXCLUDE_POLL_METHOD=$(exclusion_for "$m") \
			exec timeout -k 10 "$timeout_secs" "$bin" "${args[@]}" </dev/null >"$log.out" 2>"$log.err"); } 2>/dev/null
		status=$?
		us=$(($(now_us) - start))
		took=$(printf '%d.%02ds' $((us / 1000000)) $((us % 1000000 / 10000)))
		summary=$(tail -n 1 "$log.out" 2>/dev/null)
		cat "$log.out" "$log.err" >"$log" 2>/dev/null
		rm -f "$log.out" "$log.err"
		case $status in
		0) verdict=PASS; passed=$((passed + 1)) ;;
		77) verdict=PENDING; pending=$((pending + 1)) ;;
		124 | 137) verdict=FAIL; summary="timed out after ${timeout_secs}s; $summary" ;;
		*) verdict=FAIL ;;
		esac
		if [ $verdict = FAIL ]; then
			failed=$((failed + 1))
			failures+=("$name [$m]")
			[ $status -gt 128 ] && [ $status -lt 160 ] &&
				summary="killed by signal $((status - 128)) ($(kill -l $((status - 128)) 2>/dev/null)); $summary"
		fi
		printf '%-8s %-22s %-6s %8s  %s\n' "$verdict" "$name" "$m" "$took" "${summary:-(no summary line)}"
		if [ $verdict = FAIL ]; then
			grep -v '^#' "$log" | tail -n 15 | sed 's/^/         | /'
		fi
		echo "$verdict $m $took $summary" >>"$results"
	done
done

us=$(($(now_us) - run_start))
echo
# Totals over the summary lines that have figures.
awk '
	{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[2] != "" && kv[1] ~ /^(ops|signals|faults|lost|bad)$/) sum[kv[1]] += kv[2] } }
	END { printf "stress: totals ops=%d signals=%d faults=%d lost=%d bad=%d\n", sum["ops"], sum["signals"], sum["faults"], sum["lost"], sum["bad"] }
' "$results"
printf 'stress: %d passed, %d failed, %d pending (%d programs x %d methods) in %d.%02ds\n' \
	$passed $failed $pending ${#sources[@]} ${#methods[@]} $((us / 1000000)) $((us % 1000000 / 10000))
if [ $failed -gt 0 ]; then
	printf '  failed: %s\n' "${failures[@]}"
	exit 1
fi
exit 0
