#!/usr/bin/env bash
# Everything `make check` checks, in order; run from anywhere after `make`:
#
#   fmt          cargo fmt --all --check
#   clippy       cargo clippy --workspace --all-targets -- -D warnings
#   test-<m>     cargo test --workspace with poll method <m> forced, for each
#                of epoll, ppoll and poll (IV_EXCLUDE_POLL_METHOD names the
#                others; the engine reads it at the process's first loop)
#   prop         property tests of both faces against the reference model
#                (ivykis/tests/prop_model.rs, prop_kept.rs, ivykis-c/tests/prop_c.rs) with
#                PROPTEST_CASES cases (default 1024) under epoll
#   fuzz         the ops fuzz target's stable driver for FUZZ_SECONDS
#                (default 20) of random inputs (fuzz/, RELIABILITY.md)
#   loom         make loom (loom model checks of the wake-up hub and the
#                worker pool's hand-offs; about a minute to build, seconds
#                to run)
#   symbols      tests/check_symbols.sh build/libivykis.so.0
#   ctest        tests/c/run.sh (C conformance tests, every poll method)
#   man          man/check-man.sh (man pages: links, coverage, groff warnings)
#
# Every step runs even when an earlier one failed, so that one run shows all
# problems; the exit status is non-zero if any step failed.
#
#   SKIP="fmt clippy" tests/run_all.sh     leaves steps out
#   ONLY="ctest" tests/run_all.sh          runs only the steps named
#   CARGO_TEST_TIMEOUT (default 900 s) bounds each cargo test run.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

CARGO=${CARGO:-cargo}
METHODS=(epoll ppoll poll)
ALL_METHOD_NAMES=(epoll-timerfd epoll ppoll poll)
SKIP=${SKIP:-}
ONLY=${ONLY:-}
CARGO_TEST_TIMEOUT=${CARGO_TEST_TIMEOUT:-900}

results=()
failed=0

wanted() {
	local step=$1
	if [ -n "$ONLY" ]; then
		[[ " $ONLY " == *" $step "* ]] || return 1
	fi
	[[ " $SKIP " != *" $step "* ]]
}

# run_step NAME COMMAND...: runs, times and records one step.
run_step() {
	local name=$1
	shift
	if ! wanted "$name"; then
		results+=("$(printf '%-14s skipped' "$name")")
		return 0
	fi
	echo
	echo "=== $name: $*"
	local start=$SECONDS status
	"$@"
	status=$?
	local took=$((SECONDS - start))
	if [ $status -eq 0 ]; then
		results+=("$(printf '%-14s ok      %4ds' "$name" "$took")")
	else
		failed=1
		results+=("$(printf '%-14s FAILED  %4ds  (exit %d)' "$name" "$took" "$status")")
	fi
	echo "=== $name: exit $status after ${took}s"
}

# The value of IV_EXCLUDE_POLL_METHOD that leaves only method $1.
exclusion_for() {
	local m others=()
	for m in "${ALL_METHOD_NAMES[@]}"; do
		[ "$m" = "$1" ] || others+=("$m")
	done
	echo "${others[*]}"
}

cargo_test_with_method() {
	IV_EXCLUDE_POLL_METHOD=$(exclusion_for "$1") \
		timeout -k 10 "$CARGO_TEST_TIMEOUT" "$CARGO" test --workspace
}

# More cases than the per-method runs (256), under one method.
prop_tests() {
	local status=0 t
	for t in "ivykis prop_model" "ivykis prop_kept" "ivykis-c prop_c"; do
		set -- $t
		IV_EXCLUDE_POLL_METHOD=$(exclusion_for epoll) PROPTEST_CASES=${PROPTEST_CASES:-1024} \
			timeout -k 10 "$CARGO_TEST_TIMEOUT" "$CARGO" test -p "$1" --test "$2" || status=1
	done
	return $status
}

fuzz_short() {
	timeout -k 10 "$CARGO_TEST_TIMEOUT" "$CARGO" run --release --manifest-path fuzz/Cargo.toml \
		--no-default-features --bin fuzz_ops -- "${FUZZ_SECONDS:-20}"
}

check_symbols() {
	if [ ! -f tests/check_symbols.sh ]; then
		echo "tests/check_symbols.sh does not exist" >&2
		return 1
	fi
	bash tests/check_symbols.sh build/libivykis.so.0
}

run_step fmt "$CARGO" fmt --all --check
run_step clippy "$CARGO" clippy --workspace --all-targets -- -D warnings
# Compile the tests once, so that the per-method runs below only run them.
if wanted test-epoll || wanted test-ppoll || wanted test-poll; then
	run_step test-build "$CARGO" test --workspace --no-run
fi
for m in "${METHODS[@]}"; do
	run_step "test-$m" cargo_test_with_method "$m"
done
run_step prop prop_tests
run_step fuzz fuzz_short
run_step loom timeout -k 10 "$CARGO_TEST_TIMEOUT" make --no-print-directory loom
run_step symbols check_symbols
run_step ctest bash tests/c/run.sh
run_step man sh man/check-man.sh

echo
echo "=== summary"
printf '  %s\n' "${results[@]}"
if [ $failed -ne 0 ]; then
	echo "make check: FAILED"
	exit 1
fi
echo "make check: all passed"
