#!/usr/bin/env bash
# Compiles the C conformance tests (tests/c/abi.c, avl.c and test_*.c) and
# runs each one once per poll method, against build/libivykis.so by default
# or against another ivykis (say Debian's, to check that a test expects what
# the reference implementation does).
#
#   tests/c/run.sh                              our library, from build/
#   tests/c/run.sh --lib DIR --include DIR      another libivykis.so.0
#   tests/c/run.sh --only test_timer [--only avl]
#
# A test is a standalone program: exit status 0 means it passed. It runs with
# stdin from /dev/null, in the output directory, under `timeout`. Code shared
# by several tests goes into headers or into tests/c/util_*.c, which is
# linked into every test.
#
# The poll method is forced the way programs force it, through
# IV_EXCLUDE_POLL_METHOD naming every method but one. Which methods exist is
# asked of the library itself: a probe program excludes all candidates but
# one and prints iv_poll_method_name(). Our library must offer at least
# epoll, ppoll and poll.
#
# Environment: CC (default cc), EXTRA_CFLAGS, EXTRA_LDFLAGS.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SRC_DIR=$ROOT/tests/c
CANDIDATE_METHODS=(epoll-timerfd epoll ppoll poll)
OWN_REQUIRED_METHODS=(epoll ppoll poll)

usage() {
	cat <<EOF
usage: $0 [options]
  --lib DIR        directory holding libivykis.so (default: build/)
  --include DIR    directory holding iv.h (default: ivykis-c/include/)
  --only NAME      run only this test (file name with or without .c;
                   may be repeated)
  --methods "M.."  poll methods to run under (default: all the library has)
  --timeout SECS   per run (default: 60)
  --out DIR        where binaries and logs go (default: build/ctest/...)
  --src DIR        where the test sources are (default: tests/c/)
  -v, --verbose    print every run's output, not only failures'
EOF
}

lib_dir=$ROOT/build
include_dir=$ROOT/ivykis-c/include
own_library=1
only=()
methods=()
methods_given=0
timeout_secs=60
out_dir=
verbose=0

while [ $# -gt 0 ]; do
	case $1 in
	--lib) lib_dir=${2:?--lib needs a directory}; own_library=0; shift 2 ;;
	--include) include_dir=${2:?--include needs a directory}; shift 2 ;;
	--only) only+=("${2:?--only needs a test name}"); shift 2 ;;
	--methods) read -r -a methods <<<"${2:?--methods needs a list}"; methods_given=1; shift 2 ;;
	--timeout) timeout_secs=${2:?--timeout needs seconds}; shift 2 ;;
	--out) out_dir=${2:?--out needs a directory}; shift 2 ;;
	--src) SRC_DIR=$(cd "${2:?--src needs a directory}" && pwd) || exit 2; shift 2 ;;
	-v | --verbose) verbose=1; shift ;;
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
if [ ! -e "$lib_dir/libivykis.so" ]; then
	echo "$0: $lib_dir/libivykis.so (the link-time name) does not exist" >&2
	exit 2
fi
expected_lib=$(realpath "$lib_dir/libivykis.so.0")

if [ -z "$out_dir" ]; then
	if [ $own_library = 1 ]; then
		out_dir=$ROOT/build/ctest/own
	else
		out_dir=$ROOT/build/ctest/other
	fi
fi
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

CC=${CC:-cc}
CFLAGS=(-I"$include_dir" -Wall -Wextra -Werror -O1 -g -pthread)
LDFLAGS=(-pthread -L"$lib_dir" -Wl,--no-as-needed -livykis)
# shellcheck disable=SC2206 # word splitting of the extra flags is intended
CFLAGS+=(${EXTRA_CFLAGS:-})
# shellcheck disable=SC2206
LDFLAGS+=(${EXTRA_LDFLAGS:-})
ulimit -c 0 # a test that aborts must not leave a core file behind
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# --- which tests -------------------------------------------------------------

shopt -s nullglob
all_sources=()
for f in "$SRC_DIR/abi.c" "$SRC_DIR/avl.c" "$SRC_DIR"/test_*.c; do
	[ -f "$f" ] && all_sources+=("$f")
done
util_sources=("$SRC_DIR"/util_*.c)
shopt -u nullglob

sources=()
if [ ${#only[@]} -gt 0 ]; then
	for name in "${only[@]}"; do
		name=${name##*/}
		name=${name%.c}
		if [ -f "$SRC_DIR/$name.c" ]; then
			sources+=("$SRC_DIR/$name.c")
		else
			echo "$0: no test $SRC_DIR/$name.c" >&2
			exit 2
		fi
	done
else
	sources=("${all_sources[@]}")
fi

if [ ${#sources[@]} -eq 0 ]; then
	echo "C tests: none found in $SRC_DIR"
	exit 0
fi

# --- bookkeeping -------------------------------------------------------------

passed=0
failed=0
failures=()

now() { echo "${EPOCHREALTIME//[.,]/}"; }      # microseconds
elapsed() { # start_us -> "1.23s"
	local us=$(($(now) - $1))
	printf '%d.%02ds' $((us / 1000000)) $((us % 1000000 / 10000))
}

report_pass() { # label, detail
	passed=$((passed + 1))
	printf 'PASS  %-40s %s\n' "$1" "$2"
}

report_fail() { # label, detail, [log file]
	failed=$((failed + 1))
	failures+=("$1")
	printf 'FAIL  %-40s %s\n' "$1" "$2"
	if [ $# -ge 3 ] && [ -s "$3" ]; then
		tail -n 30 "$3" | sed 's/^/      | /'
	fi
}

# exit status -> words
describe_status() {
	local st=$1
	case $st in
	124) echo "timed out after ${timeout_secs}s" ;;
	137) echo "killed (SIGKILL, after the timeout's SIGTERM was ignored)" ;;
	134) echo "exit 134 (SIGABRT: abort or iv_fatal)" ;;
	139) echo "exit 139 (SIGSEGV)" ;;
	*)
		if [ "$st" -gt 128 ]; then
			echo "exit $st (signal $((st - 128)): $(kill -l $((st - 128)) 2>/dev/null || echo '?'))"
		else
			echo "exit $st"
		fi
		;;
	esac
}

# IV_EXCLUDE_POLL_METHOD value that leaves only method $1
exclusion_for() {
	local m others=()
	for m in "${CANDIDATE_METHODS[@]}"; do
		[ "$m" = "$1" ] || others+=("$m")
	done
	echo "${others[*]}"
}

echo "C tests: library $expected_lib"
echo "         headers $include_dir"
echo "         output  $out_dir"

# --- poll methods ------------------------------------------------------------

if [ $methods_given = 0 ]; then
	probe_src=$out_dir/probe_method.c
	probe_bin=$out_dir/probe_method
	cat >"$probe_src" <<'EOF'
#include <stdio.h>
#include <iv.h>

/* Prints the poll method the library picks under the caller's
 * IV_EXCLUDE_POLL_METHOD. */
int main(void)
{
	const char *name;

	iv_init();
	name = iv_poll_method_name();
	printf("%s\n", name != NULL ? name : "(null)");
	iv_deinit();
	return 0;
}
EOF
	if "$CC" "${CFLAGS[@]}" -o "$probe_bin" "$probe_src" "${LDFLAGS[@]}" >"$out_dir/probe_method.log" 2>&1; then
		for m in "${CANDIDATE_METHODS[@]}"; do
			got=$(IV_EXCLUDE_POLL_METHOD=$(exclusion_for "$m") timeout 10 "$probe_bin" 2>/dev/null </dev/null)
			[ "$got" = "$m" ] && methods+=("$m")
		done
	else
		report_fail "probe_method (build)" "cannot build the method probe" "$out_dir/probe_method.log"
	fi
	if [ $own_library = 1 ]; then
		for m in "${OWN_REQUIRED_METHODS[@]}"; do
			if [[ " ${methods[*]} " != *" $m "* ]]; then
				report_fail "probe_method [$m]" "IV_EXCLUDE_POLL_METHOD cannot select '$m'"
			fi
		done
		[ ${#methods[@]} -gt 0 ] || methods=("${OWN_REQUIRED_METHODS[@]}")
	fi
	if [ ${#methods[@]} -eq 0 ]; then
		echo "$0: the library offers none of: ${CANDIDATE_METHODS[*]}" >&2
		exit 1
	fi
fi
echo "         methods ${methods[*]}"
echo

# --- build, check, run -------------------------------------------------------

for src in "${sources[@]}"; do
	name=$(basename "$src" .c)
	bin=$out_dir/$name
	build_log=$out_dir/$name.build.log

	rm -f "$bin"
	if ! "$CC" "${CFLAGS[@]}" -o "$bin" "$src" "${util_sources[@]}" "${LDFLAGS[@]}" >"$build_log" 2>&1; then
		report_fail "$name (build)" "compile/link failed" "$build_log"
		continue
	fi

	# The binary must load the library under test, not one installed on the
	# system: ask the dynamic loader where libivykis.so.0 resolves.
	loaded=$(LD_TRACE_LOADED_OBJECTS=1 "$bin" 2>&1 | awk '$1 == "libivykis.so.0" && $2 == "=>" { print $3 }')
	if [ -z "$loaded" ] || [ "$(realpath "$loaded" 2>/dev/null)" != "$expected_lib" ]; then
		echo "loader resolves libivykis.so.0 to '${loaded:-nothing}', expected $expected_lib" >"$build_log"
		report_fail "$name (load)" "does not load the library under test" "$build_log"
		continue
	fi

	for m in "${methods[@]}"; do
		label="$name [$m]"
		log=$out_dir/$name.$m.log
		start=$(now)
		# The outer 2>/dev/null silences bash's own "Aborted" job notice
		# (timeout re-raises a test's fatal signal on itself).
		{ (cd "$out_dir" && IVYKIS_EXPECT_METHOD=$m IV_EXCLUDE_POLL_METHOD=$(exclusion_for "$m") \
			exec timeout -k 5 "$timeout_secs" "$bin" </dev/null >"$log" 2>&1); } 2>/dev/null
		status=$?
		took=$(elapsed "$start")
		if [ $status -eq 0 ]; then
			report_pass "$label" "$took"
			[ $verbose = 1 ] && [ -s "$log" ] && sed 's/^/      | /' "$log"
		else
			report_fail "$label" "$(describe_status $status), $took" "$log"
		fi
	done
done

echo
echo "C tests: $passed passed, $failed failed (${#sources[@]} programs x ${#methods[@]} methods: ${methods[*]})"
if [ $failed -gt 0 ]; then
	printf '  failed: %s\n' "${failures[@]}"
	exit 1
fi
exit 0
