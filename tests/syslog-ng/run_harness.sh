#!/usr/bin/env bash
# run_harness.sh - Debian's unchanged syslog-ng 3.38 on our libivykis.so.0,
# once per poll method, through the shared harness (../shared/tools/syslog-ng).
#
#   tests/syslog-ng/run_harness.sh [--no-build] [--lib DIR] [--methods "M..."]
#                                  [--full] [--keep]
#
# Steps:
#   1. make, then make install PREFIX=<temporary dir>   (--lib DIR skips both
#      and uses DIR/libivykis.so.0 as it is; --no-build skips `make` only)
#   2. asks the installed library which poll methods it offers (a probe
#      program printing iv_poll_method_name() under IV_EXCLUDE_POLL_METHOD)
#   3. runs the harness `run.sh --lib <prefix>/lib` once with the library's
#      own choice (epoll), then once per other method, forced with
#      IV_EXCLUDE_POLL_METHOD=<all the others> in run.sh's environment, which
#      syslog-ng inherits (the harness's SNG_ENV is split into words, so it
#      cannot carry a list of names); while syslog-ng runs, the eventpoll
#      descriptors in /proc/PID/fd confirm that the method really changed
#      (epoll: at least one, the others: none)
#   4. prints PASS/FAIL, the METRICS line and the wall time of each run, and
#      exits 0 only when every run passed
#
# The default run uses the harness's full load (3 x 200,000 TCP messages and
# the rest, about 10-12 s). The forced methods use a smaller load (about
# 5-6 s each; the same phases, fewer messages) unless --full is given;
# ALT_TCP_MSGS, ALT_TCP_ROUNDS, ALT_UDP_MSGS, ALT_UNIX_MSGS change it. Other
# knobs of run.sh (TCP_MSGS, RUN_BUDGET, ...) pass through the environment
# to every run.
#
# Environment:
#   IVYKIS_SHARED     the shared directory holding tools/syslog-ng/run.sh
#                     (default: ../shared next to the project checkout)
#   IVYKIS_SNG_CACHE  the harness's package cache (default
#                     ${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-syslog-ng); the
#                     harness downloads Debian's packages into it when needed
#
# syslog-ng-ctl: the harness runs `syslog-ng-ctl stats` with
# LD_LIBRARY_PATH=<syslog-ng's private dir> only. syslog-ng-ctl needs
# libivykis.so.0 too (through libsyslog-ng), so on a machine without
# Debian's libivykis0 installed system-wide the harness fails at that step
# whatever library it tests. This script therefore gives the harness a cache
# of its own: a tree of symlinks into the real cache, plus one link
# <private dir>/libivykis.so.0 -> the library under test, so syslog-ng-ctl
# loads the library under test as well. Nothing is written into the real
# cache except by the harness's own setup.
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() {
	echo "run_harness: $*" >&2
	exit 2
}
usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

BUILD=1
LIB_DIR=""
METHODS_ARG=""
FULL=0
KEEP_ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--no-build) BUILD=0; shift ;;
	--lib) [ $# -ge 2 ] || usage 2; LIB_DIR=$2; BUILD=0; shift 2 ;;
	--methods) [ $# -ge 2 ] || usage 2; METHODS_ARG=$2; shift 2 ;;
	--full) FULL=1; shift ;;
	--keep) KEEP_ARGS=(--keep); shift ;;
	-h | --help) usage 0 ;;
	*) echo "run_harness: unknown argument: $1" >&2; usage 2 ;;
	esac
done

# --------------------------------------------------------------- the harness
if [ -z "${IVYKIS_SHARED:-}" ]; then
	top=$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null) || top=$ROOT
	IVYKIS_SHARED=$top/../shared
	# A clone made elsewhere (CI clones into a scratch directory).
	[ -d "$IVYKIS_SHARED" ] || IVYKIS_SHARED=/work/shared
fi
HARNESS=$IVYKIS_SHARED/tools/syslog-ng/run.sh
if [ ! -x "$HARNESS" ]; then
	die "the syslog-ng harness is missing: $HARNESS is not an executable file.
  It lives in the shared directory next to the project checkout
  (../shared/tools/syslog-ng/run.sh); set IVYKIS_SHARED=/path/to/shared
  if it is elsewhere."
fi
HARNESS=$(cd "$(dirname "$HARNESS")" && pwd)/run.sh
CACHE=${IVYKIS_SNG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-syslog-ng}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ivy-harness.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$TMP"' EXIT

# --------------------------------------------------------------- the library
if [ -z "$LIB_DIR" ]; then
	if [ $BUILD = 1 ]; then
		echo "=== make"
		make -C "$ROOT" >"$TMP/make.log" 2>&1 || {
			tail -30 "$TMP/make.log"
			die "make failed"
		}
	fi
	echo "=== make install PREFIX=$TMP/prefix"
	make -C "$ROOT" install PREFIX="$TMP/prefix" >"$TMP/install.log" 2>&1 || {
		tail -30 "$TMP/install.log"
		die "make install failed"
	}
	LIB_DIR=$TMP/prefix/lib
	INCLUDE_DIR=$TMP/prefix/include
else
	[ -d "$LIB_DIR" ] || die "--lib $LIB_DIR: not a directory"
	LIB_DIR=$(cd "$LIB_DIR" && pwd)
	INCLUDE_DIR=$ROOT/ivykis-c/include
fi
[ -e "$LIB_DIR/libivykis.so.0" ] || die "$LIB_DIR/libivykis.so.0 does not exist"
echo "library: $(readlink -f "$LIB_DIR/libivykis.so.0")"

# --------------------------------------------------------------- the methods
# IV_EXCLUDE_POLL_METHOD naming every known method but $1
KNOWN_METHODS=(epoll-timerfd epoll ppoll poll)
exclusion_for() {
	local m others=()
	for m in "${KNOWN_METHODS[@]}"; do
		[ "$m" = "$1" ] || others+=("$m")
	done
	echo "${others[*]}"
}
CC=${CC:-cc}
cat >"$TMP/probe.c" <<'EOF'
#include <stdio.h>
#include <iv.h>

/* Prints the poll method chosen under the caller's IV_EXCLUDE_POLL_METHOD. */
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
"$CC" -std=gnu99 -o "$TMP/probe" "$TMP/probe.c" -I"$INCLUDE_DIR" -L"$LIB_DIR" -l:libivykis.so.0 \
	>"$TMP/probe.log" 2>&1 || {
	cat "$TMP/probe.log"
	die "cannot build the poll method probe"
}
probe() { LD_LIBRARY_PATH=$LIB_DIR IV_EXCLUDE_POLL_METHOD=${1:-} timeout 10 "$TMP/probe" 2>/dev/null </dev/null; }
DEFAULT_METHOD=$(probe "")
[ -n "$DEFAULT_METHOD" ] || die "the probe could not start an ivykis loop"
OFFERED=()
for m in "${KNOWN_METHODS[@]}"; do
	[ "$(probe "$(exclusion_for "$m")")" = "$m" ] && OFFERED+=("$m")
done
echo "poll methods offered: ${OFFERED[*]} (default: $DEFAULT_METHOD)"

# Runs: the default (no IV_EXCLUDE_POLL_METHOD), then every other method.
RUNS=()
if [ -n "$METHODS_ARG" ]; then
	for m in $METHODS_ARG; do
		[[ " ${OFFERED[*]} " == *" $m "* ]] || die "--methods: '$m' is not offered by the library"
		RUNS+=("$m")
	done
else
	RUNS=("$DEFAULT_METHOD")
	for m in "${OFFERED[@]}"; do
		[ "$m" = "$DEFAULT_METHOD" ] || RUNS+=("$m")
	done
fi

# --------------------------------------------------------------- the cache
# The harness's setup runs before it looks at --lib; an empty --lib
# directory makes it stop right after the setup ("... does not exist").
if [ ! -f "$CACHE/ready" ]; then
	echo "=== setting up the harness cache $CACHE (apt-get download syslog-ng-core libivykis0)"
	mkdir -p "$TMP/empty"
	IVYKIS_SNG_CACHE=$CACHE "$HARNESS" --lib "$TMP/empty" >"$TMP/setup.log" 2>&1
	if [ ! -f "$CACHE/ready" ]; then
		tail -20 "$TMP/setup.log"
		die "the harness could not set up its cache $CACHE"
	fi
fi
# Our own view of the cache (see the header): symlinks into the real one.
VIEW=$TMP/cache
mkdir -p "$VIEW"
cp -as "$CACHE/root" "$VIEW/root" || die "cannot mirror $CACHE/root"
ln -s "$CACHE/debs" "$VIEW/debs"
cp "$CACHE/ready" "$VIEW/ready"
[ -f "$CACHE/imports.txt" ] && cp "$CACHE/imports.txt" "$VIEW/imports.txt"
ln -sfn "$LIB_DIR/libivykis.so.0" "$VIEW/root/usr/lib/syslog-ng/libivykis.so.0"
SNG_BIN=$VIEW/root/usr/sbin/syslog-ng

# --------------------------------------------------------------- one run
# watch_method LOG: records the eventpoll descriptors of our syslog-ng (the
# one started from $SNG_BIN) until it exits.
find_sng_pid() { # the process whose argv[0] is $SNG_BIN (no procps needed)
	local d argv0
	for d in /proc/[0-9]*; do
		argv0=""
		IFS= read -r -d '' argv0 <"$d/cmdline" 2>/dev/null
		[ "$argv0" = "$SNG_BIN" ] && { echo "${d#/proc/}"; return 0; }
	done
	return 1
}
watch_method() {
	local log=$1 pid="" n max=-1 fd _
	for _ in $(seq 300); do
		pid=$(find_sng_pid) && break
		sleep 0.2
	done
	[ -n "$pid" ] || { echo "no-pid" >"$log"; return; }
	sleep 1.5 # the loops of the main thread, internal() and the pool are up
	while [ -d "/proc/$pid" ]; do
		n=0
		for fd in "/proc/$pid/fd"/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[eventpoll]" ] && n=$((n + 1))
		done
		[ "$n" -gt "$max" ] && max=$n
		echo "$max" >"$log"
		sleep 1
	done
}

RESULTS=()
FAILED=0
run_one() { # METHOD
	local m=$1 envs=() label out t0 t1 secs status result metrics epfd verdict
	if [ "$m" = "$DEFAULT_METHOD" ] && [ -z "$METHODS_ARG" ]; then
		label="$m (default)"
	else
		# Not through SNG_ENV: the harness splits it into words, so it cannot
		# carry a list of names. syslog-ng inherits run.sh's environment.
		envs+=("IV_EXCLUDE_POLL_METHOD=$(exclusion_for "$m")")
		label="$m (forced)"
		if [ $FULL = 0 ]; then
			envs+=("TCP_MSGS=${ALT_TCP_MSGS:-100000}" "TCP_ROUNDS=${ALT_TCP_ROUNDS:-1}"
				"UDP_MSGS=${ALT_UDP_MSGS:-5000}" "UNIX_MSGS=${ALT_UNIX_MSGS:-10000}")
		fi
	fi
	out=$TMP/run-$m.log
	echo
	echo "=== syslog-ng harness, poll method $label${envs[*]:+: ${envs[*]}}"
	watch_method "$TMP/epfd-$m" &
	local watcher=$!
	t0=$(date +%s.%N)
	env IVYKIS_SNG_CACHE="$VIEW" "${envs[@]}" "$HARNESS" --lib "$LIB_DIR" "${KEEP_ARGS[@]}" >"$out" 2>&1
	status=$?
	t1=$(date +%s.%N)
	wait "$watcher" 2>/dev/null
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	result=$(tail -1 "$out")
	metrics=$(grep '^METRICS' "$out" | tail -1)
	epfd=$(cat "$TMP/epfd-$m" 2>/dev/null || echo "?")
	verdict=ok
	case "$m:$epfd" in
	*:no-pid | *:\? | *:-1) verdict="not observed" ;;
	epoll*:0) verdict="WRONG: no eventpoll descriptor" ;;
	epoll*:*) ;;
	*:0) ;;
	*) verdict="WRONG: $epfd eventpoll descriptors" ;;
	esac
	if [ $status -ne 0 ] || [ "$result" != PASS ]; then
		sed -n '/=== summary ===/,$p' "$out"
		[ -s "$out" ] && ! grep -q '=== summary ===' "$out" && tail -20 "$out"
		FAILED=1
	else
		sed -n '/^source /,/^internal MARK/p' "$out"
	fi
	case "$verdict" in WRONG*) FAILED=1 ;; esac
	echo "$metrics"
	echo "method check: max $epfd eventpoll fds in syslog-ng: $verdict"
	echo "RESULT [$label]: $result (${secs} s)"
	RESULTS+=("$(printf '%-18s %-6s %6ss  eventpoll-fds=%s (%s)  %s' "$label" \
		"$([ "$result" = PASS ] && echo PASS || echo FAIL)" "$secs" "$epfd" "$verdict" \
		"$(echo "$metrics" | grep -o 'tcp_msgs_per_s=[0-9]*')")")
}

for m in "${RUNS[@]}"; do
	run_one "$m"
done

echo
echo "=== syslog-ng harness summary (library $(readlink -f "$LIB_DIR/libivykis.so.0"))"
printf '  %s\n' "${RESULTS[@]}"
if [ $FAILED = 0 ]; then
	echo PASS
	exit 0
fi
echo "FAIL"
exit 1
