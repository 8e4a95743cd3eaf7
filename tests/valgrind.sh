#!/usr/bin/env bash
# Runs the C conformance tests (tests/c/) and the stress and fault programs
# (tests/stress/, tests/fault/, at STRESS_SCALE=tiny) under valgrind
# memcheck, against build/libivykis.so.0, with the default poll method.
#
#   tests/valgrind.sh                      everything
#   tests/valgrind.sh --only test_timer    one program (repeatable)
#   tests/valgrind.sh --no-stress          the conformance tests only
#   tests/valgrind.sh --lib DIR            another build of the library
#
# A program passes when it passes as usual and valgrind reports no error:
# no invalid read or write, no use of uninitialised memory, no invalid
# free, and no leak "definitely lost" or "indirectly lost" at exit
# (--errors-for-leak-kinds=definite,indirect).  Each subtest of a
# conformance test runs in a forked child, which valgrind follows; the child
# checks for leaks when it exits, so "no leak after iv_deinit" is checked
# per subtest.  "Possibly lost" blocks are not errors: they are Rust hash
# tables (reachable only through an interior pointer) and the stacks of
# threads still running at exit.
#
# The stress and fault programs fork from several threads; a forked child
# holds copies of blocks that only the parent's other threads point to, so
# its exit-time leak check would report them as lost. Their children are
# therefore silent (--child-silent-after-fork=yes) and their leaks are not
# errors there (--errors-for-leak-kinds=none); the parent's own leaks are
# still listed at its exit and counted as failures by this script, and
# memory errors in a child still change its exit status (--error-exitcode),
# which the program sees.
#
# tests/valgrind.supp suppresses one deliberate leak: the message of
# iv_fatal, in processes that end inside it.
#
# A subtest that cannot work under valgrind (none at the moment) can be
# listed in VALGRIND_EXPECTED_FAILURES below as program:subtest; it is then
# reported as expected rather than counted.
#
# Environment: CC, VALGRIND (default valgrind), VALGRIND_TIMEOUT (per
# program, default 900 s).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lib_dir=$ROOT/build
include_dir=$ROOT/ivykis-c/include
out_dir=$ROOT/build/valgrind
only=()
stress=1

# program:subtest pairs allowed to fail under valgrind (see above).
VALGRIND_EXPECTED_FAILURES=()

while [ $# -gt 0 ]; do
	case $1 in
	--lib) lib_dir=${2:?}; shift 2 ;;
	--include) include_dir=${2:?}; shift 2 ;;
	--out) out_dir=${2:?}; shift 2 ;;
	--only) only+=("${2:?}"); shift 2 ;;
	--no-stress) stress=0; shift ;;
	-h | --help) sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "$0: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

VALGRIND=${VALGRIND:-valgrind}
if ! command -v "$VALGRIND" >/dev/null 2>&1; then
	echo "$0: valgrind not found (Debian: apt-get install valgrind)" >&2
	exit 2
fi
lib_dir=$(cd "$lib_dir" && pwd) || exit 2
include_dir=$(cd "$include_dir" && pwd) || exit 2
[ -e "$lib_dir/libivykis.so.0" ] || { echo "$0: no $lib_dir/libivykis.so.0 (run make)" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
CC=${CC:-cc}
timeout_secs=${VALGRIND_TIMEOUT:-900}
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Forked subtests under valgrind are slow; the harness's watchdog must wait.
export HARNESS_TIMEOUT=${HARNESS_TIMEOUT:-180}
export STRESS_SCALE=tiny
# The default method, forced the way programs force it.
export IV_EXCLUDE_POLL_METHOD="epoll-timerfd ppoll poll"
export IVYKIS_EXPECT_METHOD=epoll
ulimit -c 0

# --fair-sched=yes: valgrind runs one thread at a time; its default lock
# lets a thread that allocates in a loop starve the others (stress_fork's
# phase 1 then never ends). --run-libc-freeres=no: a program that ends in
# its watchdog (_exit from a signal handler) would otherwise run glibc's
# clean-up, which can block on a stdio lock held by a thread that is gone.
VG_ARGS=(--tool=memcheck -q --fair-sched=yes --run-libc-freeres=no --leak-check=full
	--errors-for-leak-kinds=definite,indirect
	--show-leak-kinds=definite,indirect
	--error-exitcode=99
	--suppressions="$ROOT/tests/valgrind.supp"
	--num-callers=30)

# For the stress and fault programs (see above).
VG_STRESS_ARGS=("${VG_ARGS[@]}" --child-silent-after-fork=yes --errors-for-leak-kinds=none)

selected() {
	local name=$1 o
	[ ${#only[@]} -eq 0 ] && return 0
	for o in "${only[@]}"; do
		[ "${o%.c}" = "$name" ] && return 0
	done
	return 1
}

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

programs=()
shopt -s nullglob
util_sources=("$ROOT"/tests/c/util_*.c)
for src in "$ROOT/tests/c/abi.c" "$ROOT/tests/c/avl.c" "$ROOT"/tests/c/test_*.c; do
	name=$(basename "$src" .c)
	selected "$name" || continue
	if ! "$CC" -I"$include_dir" -Wall -Wextra -Werror -O1 -g -pthread -o "$out_dir/$name" \
		"$src" "${util_sources[@]}" -pthread -L"$lib_dir" -Wl,--no-as-needed -livykis \
		>"$out_dir/$name.build.log" 2>&1; then
		echo "FAIL  $name: build failed (see $out_dir/$name.build.log)"
		programs+=("$name:build-failed")
		continue
	fi
	programs+=("$name")
done
if [ $stress = 1 ]; then
	for src in "$ROOT"/tests/stress/stress_*.c "$ROOT"/tests/fault/fault_*.c; do
		name=$(basename "$src" .c)
		selected "$name" || continue
		if ! "$CC" -std=gnu11 -O1 -g -Wall -Wextra -Werror -pthread -I"$include_dir" \
			-I"$ROOT/tests/stress" -o "$out_dir/$name" "$src" -L"$lib_dir" \
			-Wl,--no-as-needed -l:libivykis.so.0 >"$out_dir/$name.build.log" 2>&1; then
			echo "FAIL  $name: build failed (see $out_dir/$name.build.log)"
			programs+=("$name:build-failed")
			continue
		fi
		programs+=("$name")
	done
fi
shopt -u nullglob

passed=0
failed=0
failures=()
start_all=$(now_us)
echo "valgrind: $($VALGRIND --version), library $(realpath "$lib_dir/libivykis.so.0")"
echo

for entry in "${programs[@]}"; do
	case $entry in
	*:build-failed) failed=$((failed + 1)); failures+=("${entry%%:*} (build)"); continue ;;
	esac
	name=$entry
	log=$out_dir/$name.log
	start=$(now_us)
	args=("${VG_ARGS[@]}")
	case $name in stress_* | fault_*) args=("${VG_STRESS_ARGS[@]}") ;; esac
	{ (cd "$out_dir" && exec timeout -k 10 "$timeout_secs" "$VALGRIND" "${args[@]}" \
		"./$name" </dev/null >"$log.raw" 2>&1); } 2>/dev/null
	status=$?
	us=$(($(now_us) - start))
	took=$(printf '%d.%02ds' $((us / 1000000)) $((us % 1000000 / 10000)))
	# valgrind 3.19 does not know epoll_pwait2 (441); the library falls
	# back to epoll_wait on ENOSYS. Drop that warning's lines.
	grep -v -e 'WARNING: unhandled amd64-linux syscall: 441' \
		-e 'You may be able to write your own handler' \
		-e 'Read the file README_MISSING_SYSCALL_OR_IOCTL' \
		-e 'Nevertheless we consider this a bug' \
		-e 'it at http://valgrind.org/support/bug_reports.html' \
		"$log.raw" >"$log"
	rm -f "$log.raw"
	errors=$(grep -cE '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly) lost)' "$log")
	# Subtest failures, minus the expected ones.
	unexpected=()
	while IFS= read -r line; do
		sub=${line#FAIL }
		sub=${sub%% (*}
		expected=0
		for e in "${VALGRIND_EXPECTED_FAILURES[@]}"; do
			[ "$e" = "$name:$sub" ] && expected=1
		done
		[ $expected = 1 ] || unexpected+=("$sub")
	done < <(grep -E '^FAIL ' "$log")
	summary=$(grep -E '^[a-z_]+: ([0-9]+ passed|ok|FAIL|PENDING)' "$log" | tail -n 1)
	note=""
	if [ "$errors" -eq 0 ] && [ ${#unexpected[@]} -eq 0 ] &&
		{ [ $status -eq 0 ] || [ $status -eq 77 ] || { [ $status -eq 1 ] && grep -qE '^FAIL ' "$log"; }; }; then
		passed=$((passed + 1))
		printf 'PASS  %-22s %9s  %s%s\n' "$name" "$took" "$summary" "$note"
		if grep -qE '^FAIL ' "$log"; then
			grep -E '^FAIL ' "$log" | sed 's/^/      expected under valgrind: /'
		fi
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL  %-22s %9s  exit %d, %d valgrind errors, %d subtests failed%s\n' \
			"$name" "$took" "$status" "$errors" "${#unexpected[@]}" "$note"
		grep -E -A12 '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly) lost)' "$log" |
			head -n 40 | sed 's/^/      | /'
		grep -E '^FAIL |FAIL \[|: FAIL' "$log" | head -n 10 | sed 's/^/      | /'
	fi
done

us=$(($(now_us) - start_all))
echo
printf 'valgrind: %d passed, %d failed in %d.%02ds (logs in %s)\n' \
	$passed $failed $((us / 1000000)) $((us % 1000000 / 10000)) "$out_dir"
if [ $failed -gt 0 ]; then
	printf '  failed: %s\n' "${failures[@]}"
	exit 1
fi
exit 0
