#!/usr/bin/env bash
# ivykis-rs benchmarks, LGPL-2.1-only
#
# Runs the C benchmark programs of bench/c/ against two builds of
# libivykis.so.0, the project's (build/libivykis.so.0, made by `make`) and
# Debian's libivykis0 (the C ivykis), and writes a markdown report.
#
# The programs are compiled once, against the project's headers and linked
# against Debian's library, so the very same binaries run on both libraries
# and the project's library is exercised as a binary drop-in replacement.
# Which library a run uses is chosen with LD_LIBRARY_PATH, and every program
# prints the path of the library the loader really picked; a run that got
# the wrong one fails the whole script.
#
# Usage: bench/run.sh [options]
#   --runs N            timed runs per workload and library (default 5)
#   --lib-only WHICH    run against one library only: ours | debian
#   --callgrind         also run each workload once per library under
#                       callgrind (smaller sizes) and report Ir per operation
#   --callgrind-only    only the callgrind runs
#   --smoke             run every workload once per library at the small
#                       (callgrind) size, check them, print nothing else
#   --filter REGEX      only workloads whose label matches REGEX
#   --no-make           do not run `make`; use build/libivykis.so.0 as it is
#   --ours-dir DIR      take "our" libivykis.so.0 from DIR instead of build/
#                       (implies --no-make); e.g. a saved earlier build
#   --out FILE          report file (default bench/results.md)
#   -h, --help          this text
#
# Exit status: 0 on success; 1 when a benchmark failed its own checks, ran
# against the wrong library, or a tool is missing; 2 on bad usage or when
# our library cannot be built or loaded.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench
WORK_DIR=$ROOT/build/bench
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-bench
OUR_LIB_DIR=$ROOT/build

# ---- The workloads ----------------------------------------------------------
#
# One line per workload: label | program (bench/c/<program>.c) | arguments of
# the timed runs | arguments of the callgrind run. The timed size should take
# a few tenths of a second to a second or two; the callgrind size about a
# tenth of that (callgrind is ~50 times slower). New workloads go here.
WORKLOADS=(
	"fd_pingpong fds=1|fd_pingpong|fds=1 rounds=200000|fds=1 rounds=20000"
	"fd_pingpong fds=100|fd_pingpong|fds=100 active=4 rounds=50000|fds=100 active=4 rounds=5000"
	"fd_pingpong fds=1000|fd_pingpong|fds=1000 active=4 rounds=50000|fds=1000 active=4 rounds=5000"
	"timer_churn churn|timer_churn|mode=churn timers=1000000 spread_ms=100|mode=churn timers=100000 spread_ms=100"
	"timer_churn idle|timer_churn|mode=idle timers=100000 fires=200000 rearm=10 spread_ms=100|mode=idle timers=10000 fires=20000 rearm=10 spread_ms=100"
	"event_pingpong|event_pingpong|rounds=150000|rounds=20000"
	"event_posts posters=1|event_posts|posters=1 posts=150000000|posters=1 posts=3000000"
	"event_posts posters=4|event_posts|posters=4 posts=37500000|posters=4 posts=750000"
	"event_raw|event_raw|calls=1000000|calls=100000"
	"signal self|signal|mode=self deliveries=300000|mode=self deliveries=30000"
	"signal thread|signal|mode=thread deliveries=120000|mode=thread deliveries=12000"
	"work threads=2|work|threads=2 items=2000000 window=64|threads=2 items=100000 window=64"
	"work threads=4|work|threads=4 items=2000000 window=64|threads=4 items=100000 window=64"
	"pump tcp|pump|mode=tcp mib=1024|mode=tcp mib=64"
	"pump pipe|pump|mode=pipe mib=1024|mode=pipe mib=64"
)

# ---- Options ----------------------------------------------------------------

RUNS=5
LIB_ONLY=
DO_TIMED=1
DO_CALLGRIND=0
SMOKE=0
FILTER=
DO_MAKE=1
OUT_FILE=$BENCH_DIR/results.md

usage() {
	sed -n '/^# Usage:/,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | head -n -2
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=${2:?--runs needs a number}; shift ;;
	--lib-only) LIB_ONLY=${2:?--lib-only needs ours or debian}; shift ;;
	--callgrind) DO_CALLGRIND=1 ;;
	--callgrind-only) DO_CALLGRIND=1; DO_TIMED=0 ;;
	--smoke) SMOKE=1 ;;
	--filter) FILTER=${2:?--filter needs a regular expression}; shift ;;
	--no-make) DO_MAKE=0 ;;
	--ours-dir) OUR_LIB_DIR=$(cd "${2:?--ours-dir needs a directory}" && pwd); DO_MAKE=0; shift ;;
	--out) OUT_FILE=${2:?--out needs a file name}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

case $LIB_ONLY in
'') LIBS=(ours debian) ;;
ours|debian) LIBS=("$LIB_ONLY") ;;
*) echo "run.sh: --lib-only takes 'ours' or 'debian'" >&2; exit 2 ;;
esac
case $RUNS in
'' | *[!0-9]* | 0) echo "run.sh: --runs takes a positive number" >&2; exit 2 ;;
esac

die() {
	echo "run.sh: $*" >&2
	exit 1
}

log() {
	echo "== $*" >&2
}

mkdir -p "$WORK_DIR/bin" "$WORK_DIR/runs" "$WORK_DIR/callgrind" "$CACHE_DIR"

# ---- Debian's libivykis0 (and, if our headers are missing, its headers) -----

# Downloads a Debian package into the cache and unpacks it there; prints the
# unpacked root. Works without root rights as long as apt's lists are present.
fetch_deb() {
	local package=$1 root=$CACHE_DIR/$1
	if [ ! -d "$root/usr" ]; then
		local tmp
		tmp=$(mktemp -d "$CACHE_DIR/download.XXXXXX")
		log "downloading Debian package $package"
		if ! (cd "$tmp" && apt-get download "$package" >&2); then
			log "apt-get download failed; refreshing the package lists"
			apt-get update >&2 || true
			(cd "$tmp" && apt-get download "$package" >&2) ||
				die "cannot download $package with apt-get"
		fi
		rm -rf "$root.new"
		dpkg-deb -x "$tmp"/"$package"_*.deb "$root.new"
		mv "$root.new" "$root"
		rm -rf "$tmp"
	fi
	echo "$root"
}

DEBIAN_ROOT=$(fetch_deb libivykis0)
DEBIAN_LIB_DIR=$CACHE_DIR/debian-lib
if [ ! -e "$DEBIAN_LIB_DIR/libivykis.so.0" ]; then
	real_so=$(find "$DEBIAN_ROOT" -name 'libivykis.so.0.*' -type f | head -n 1)
	[ -n "$real_so" ] || die "no libivykis.so.0.* inside $DEBIAN_ROOT"
	mkdir -p "$DEBIAN_LIB_DIR"
	ln -sf "$real_so" "$DEBIAN_LIB_DIR/libivykis.so.0"
	ln -sf "$real_so" "$DEBIAN_LIB_DIR/libivykis.so"
fi

if [ -f "$ROOT/ivykis-c/include/iv.h" ]; then
	INCLUDE_DIR=$ROOT/ivykis-c/include
else
	INCLUDE_DIR=$(fetch_deb libivykis-dev)/usr/include
	log "ivykis-c/include/iv.h is missing; compiling against Debian's headers"
fi

# ---- Our library ------------------------------------------------------------

lib_dir() {
	case $1 in
	ours) echo "$OUR_LIB_DIR" ;;
	debian) echo "$DEBIAN_LIB_DIR" ;;
	esac
}

lib_title() {
	case $1 in
	ours) echo "ours" ;;
	debian) echo "Debian" ;;
	esac
}

if [[ " ${LIBS[*]} " == *" ours "* ]]; then
	if [ "$DO_MAKE" = 1 ]; then
		[ -f "$ROOT/Makefile" ] ||
			{ echo "run.sh: no top-level Makefile yet; try --lib-only debian" >&2; exit 2; }
		log "building our library with make (log: build/bench/make.log)"
		if ! make -C "$ROOT" >"$WORK_DIR/make.log" 2>&1; then
			tail -n 20 "$WORK_DIR/make.log" >&2
			echo "run.sh: make failed; try --lib-only debian" >&2
			exit 2
		fi
	fi
	[ -e "$OUR_LIB_DIR/libivykis.so.0" ] ||
		{ echo "run.sh: $OUR_LIB_DIR/libivykis.so.0 does not exist; try --lib-only debian" >&2; exit 2; }
fi

# ---- Build the programs -------------------------------------------------------

CFLAGS=${CFLAGS:--O2 -g -Wall -Wextra}
for source in "$BENCH_DIR"/c/*.c; do
	program=$(basename "$source" .c)
	# shellcheck disable=SC2086 # CFLAGS is a list of words on purpose
	gcc $CFLAGS -I"$INCLUDE_DIR" -o "$WORK_DIR/bin/$program" "$source" \
		-L"$DEBIAN_LIB_DIR" -livykis ||
		die "cannot compile $source"
done

# ---- Running one program -------------------------------------------------------

# The BENCH line's value for key $2, from the line $1.
field() {
	local word
	for word in $1; do
		case $word in
		"$2"=*) echo "${word#*=}"; return 0 ;;
		esac
	done
	return 1
}

# The "key=value" observations of a BENCH line: the words between ns_per_op=
# and poll= (e.g. fire_passes=123).
observations() {
	local word seen=0
	for word in $1; do
		case $word in
		ns_per_op=*) seen=1 ;;
		poll=*) return 0 ;;
		*) [ "$seen" = 1 ] && echo "$word" ;;
		esac
	done
	return 0
}

# run_one LIB LOGFILE COMMAND...: runs COMMAND with LIB's directory first in
# the loader's path, checks exit status and the loaded library, and prints
# the BENCH line.
run_one() {
	local lib=$1 logfile=$2 expected line loaded status=0
	shift 2
	expected=$(readlink -f "$(lib_dir "$lib")/libivykis.so.0")
	LD_LIBRARY_PATH=$(lib_dir "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
		"$@" >"$logfile" 2>&1 || status=$?
	if [ "$status" != 0 ]; then
		cat "$logfile" >&2
		die "FAILED (exit $status) against $lib: $*"
	fi
	[ "$(grep -c '^BENCH ' "$logfile")" = 1 ] ||
		{ cat "$logfile" >&2; die "expected one BENCH line from: $*"; }
	line=$(grep '^BENCH ' "$logfile")
	loaded=$(field "$line" lib) || die "no lib= in: $line"
	[ "$loaded" = "$expected" ] ||
		die "WRONG LIBRARY: run for '$lib' loaded $loaded, expected $expected"
	echo "$line"
}

# Checks that our library loads and runs the smallest workloads before the
# long runs start, so that a half-written library fails in seconds.
check_library() {
	local lib=$1
	run_one "$lib" "$WORK_DIR/runs/check.$lib.log" \
		"$WORK_DIR/bin/fd_pingpong" fds=3 rounds=10 >/dev/null
	run_one "$lib" "$WORK_DIR/runs/check.$lib.log" \
		"$WORK_DIR/bin/timer_churn" timers=1000 spread_ms=1 >/dev/null
}

for lib in "${LIBS[@]}"; do
	if ! (check_library "$lib"); then
		[ "$lib" = ours ] && { echo "run.sh: our library failed its first checks (see above); try --lib-only debian" >&2; exit 2; }
		exit 1
	fi
done

selected=()
for entry in "${WORKLOADS[@]}"; do
	label=${entry%%|*}
	if [ -z "$FILTER" ] || [[ $label =~ $FILTER ]]; then
		selected+=("$entry")
	fi
done
[ ${#selected[@]} -gt 0 ] || die "no workload matches --filter '$FILTER'"

slug() {
	echo "$1" | tr -c 'A-Za-z0-9=\n' '_'
}

if [ "$SMOKE" = 1 ]; then
	for entry in "${selected[@]}"; do
		IFS='|' read -r label program _ small_args <<<"$entry"
		for lib in "${LIBS[@]}"; do
			# shellcheck disable=SC2086 # the arguments are words on purpose
			run_one "$lib" "$WORK_DIR/runs/smoke.log" \
				"$WORK_DIR/bin/$program" $small_args >/dev/null
			echo "ok  $label ($lib)"
		done
	done
	exit 0
fi

# ---- Statistics ----------------------------------------------------------------

# median / min / max of the numbers on standard input
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s\n", m, v[1], v[NR]
		}'
}

# fmt FORMAT NUMBER: the number formatted, or "-" when it is empty.
fmt() {
	if [ -n "$2" ]; then
		# shellcheck disable=SC2059 # the format is the caller's on purpose
		printf "$1" "$2"
	else
		printf -- "-"
	fi
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'
}

declare -A POLL LIBPATH

# ---- Timed runs ------------------------------------------------------------------

TIMED_ROWS=()
if [ "$DO_TIMED" = 1 ]; then
	for entry in "${selected[@]}"; do
		IFS='|' read -r label program args _ <<<"$entry"
		declare -A samples=() observed=()
		observed_keys=()
		for lib in "${LIBS[@]}"; do samples[$lib]=; done
		for ((run = 1; run <= RUNS; run++)); do
			# Alternate the order (ours first, then Debian first, ...) so
			# that a slow drift of the machine hits both equally.
			order=("${LIBS[@]}")
			if [ $((run % 2)) = 0 ] && [ ${#LIBS[@]} = 2 ]; then
				order=("${LIBS[1]}" "${LIBS[0]}")
			fi
			for lib in "${order[@]}"; do
				# shellcheck disable=SC2086 # the arguments are words on purpose
				line=$(run_one "$lib" "$WORK_DIR/runs/$(slug "$label").$lib.$run.log" \
					"$WORK_DIR/bin/$program" $args)
				ns=$(field "$line" ns_per_op)
				samples[$lib]+="$ns "
				for word in $(observations "$line"); do
					key=${word%%=*}
					[[ " ${observed_keys[*]} " == *" $key "* ]] || observed_keys+=("$key")
					observed[$key|$lib]+="${word#*=} "
				done
				POLL[$lib]=$(field "$line" poll)
				LIBPATH[$lib]=$(field "$line" lib)
				log "$label [$lib] run $run: $ns ns/op"
			done
		done
		row="| $label | \`$args\` |"
		medians=()
		for lib in ours debian; do
			if [ -n "${samples[$lib]+x}" ]; then
				read -r med lo hi < <(tr ' ' '\n' <<<"${samples[$lib]}" | grep . | stats)
				medians+=("$med")
				row+=" $(fmt %.1f "$med") ($(fmt %.1f "$lo")–$(fmt %.1f "$hi")) |"
			else
				medians+=("")
				row+=" - |"
			fi
		done
		row+=" $(ratio "${medians[0]}" "${medians[1]}") |"
		notes=()
		for key in "${observed_keys[@]}"; do
			values=()
			for lib in ours debian; do
				if [ -n "${observed[$key|$lib]+x}" ]; then
					read -r med _ < <(tr ' ' '\n' <<<"${observed[$key|$lib]}" | grep . | stats)
					values+=("$(fmt %.0f "$med")")
				else
					values+=("-")
				fi
			done
			notes+=("$key ${values[0]} / ${values[1]}")
		done
		row+=" ${notes[*]:-} |"
		TIMED_ROWS+=("$row")
		unset samples observed
	done
fi

# ---- Callgrind runs ---------------------------------------------------------------

CALLGRIND_ROWS=()
declare -A TOP_FUNCTIONS
if [ "$DO_CALLGRIND" = 1 ]; then
	command -v valgrind >/dev/null || {
		log "installing valgrind"
		apt-get install -y valgrind >&2 || die "valgrind is missing and cannot be installed"
	}
	for entry in "${selected[@]}"; do
		IFS='|' read -r label program _ small_args <<<"$entry"
		declare -A ir_per_op=() self_per_op=()
		for lib in "${LIBS[@]}"; do
			base=$WORK_DIR/callgrind/$(slug "$label").$lib
			# shellcheck disable=SC2086 # the arguments are words on purpose
			line=$(run_one "$lib" "$base.log" valgrind --tool=callgrind \
				--callgrind-out-file="$base.out" \
				--toggle-collect=bench_measured_phase \
				--toggle-collect=start_thread \
				"$WORK_DIR/bin/$program" $small_args)
			ops=$(field "$line" ops)
			# A human-readable listing next to the raw file.
			callgrind_annotate --auto=no --threshold=100 "$base.out" >"$base.txt" 2>/dev/null ||
				die "callgrind_annotate failed on $base.out"
			loaded=$(field "$line" lib)
			python3 "$BENCH_DIR/callgrind_summary.py" "$base.out" "$loaded" 15 >"$base.summary" ||
				die "cannot summarise $base.out"
			total=$(awk '$1 == "TOTAL" { print $2 }' "$base.summary")
			self=$(awk '$1 == "OBJECT_SELF" { print $2 }' "$base.summary")
			ir_per_op[$lib]=$(awk -v t="$total" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
			self_per_op[$lib]=$(awk -v t="$self" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
			POLL[$lib]=$(field "$line" poll)
			LIBPATH[$lib]=$loaded
			log "$label [$lib] callgrind: ${ir_per_op[$lib]} Ir/op (library itself: ${self_per_op[$lib]})"
			# The top functions by self cost, as markdown table rows.
			TOP_FUNCTIONS["$label|$lib"]=$(awk -v o="$ops" '
				$1 == "TOP" {
					fn = $4
					for (i = 5; i < NF; i++) fn = fn " " $i
					obj = $NF; gsub(/^\[|\]$/, "", obj)
					gsub(/\|/, "\\|", fn)
					printf "| %.1f | %.1f%% | `%s` | %s |\n", $2 / o, $3, fn, obj
				}' "$base.summary")
		done
		row="| $label | \`$small_args\` |"
		for lib in ours debian; do
			row+=" ${ir_per_op[$lib]:--} |"
		done
		row+=" $(ratio "${ir_per_op[ours]:-}" "${ir_per_op[debian]:-}") |"
		for lib in ours debian; do
			row+=" ${self_per_op[$lib]:--} |"
		done
		CALLGRIND_ROWS+=("$row")
		unset ir_per_op self_per_op
	done
fi

# ---- The report --------------------------------------------------------------------

{
	echo "# Benchmark results: our libivykis.so.0 against Debian's libivykis0"
	echo
	echo "Produced by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r)"
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=
	if git -C "$ROOT" status --porcelain 2>/dev/null | grep -q .; then
		dirty=" (with uncommitted changes)"
	fi
	echo "- project commit: $commit$dirty"
	for lib in "${LIBS[@]}"; do
		echo "- $(lib_title "$lib"): \`${LIBPATH[$lib]:-?}\`, poll method \`${POLL[$lib]:-?}\`"
	done
	echo "- compiler: $(gcc --version | head -n 1), flags \`$CFLAGS\`"
	if [ "$DO_TIMED" = 1 ]; then
		echo
		echo "## CPU time per operation"
		echo
		echo "Median of $RUNS runs per library, runs alternating between the libraries;"
		echo "process CPU time (user + system) of the measured phase divided by the"
		echo "operations it performed, in ns (min–max in parentheses). Ratio below 1:"
		echo "ours is faster. Wall-clock figures on this shared VM are noisy; see the"
		echo "callgrind table for stable numbers."
		echo
		echo "| workload | parameters | ours ns/op | Debian ns/op | ours/Debian | observed (median, ours / Debian) |"
		echo "| --- | --- | ---: | ---: | ---: | --- |"
		printf '%s\n' "${TIMED_ROWS[@]}"
	fi
	if [ "$DO_CALLGRIND" = 1 ]; then
		echo
		echo "## Instructions per operation (callgrind)"
		echo
		echo "One run per library under \`valgrind --tool=callgrind\`, counting only the"
		echo "measured phase (\`--toggle-collect=bench_measured_phase\`): all user-space"
		echo "instructions executed (Ir) divided by operations. \"library itself\" is the"
		echo "share spent in the functions of libivykis.so proper; it excludes libc"
		echo "calls made by the C library but includes whatever Rust's standard library"
		echo "code is linked into ours, so compare the totals first."
		echo "Threads other than the main one are counted over their whole life"
		echo "(\`--toggle-collect=start_thread\`): posting threads, ping-pong peers and"
		echo "the worker threads of an iv_work_pool."
		echo
		echo "| workload | parameters | ours Ir/op | Debian Ir/op | ours/Debian | ours: library itself | Debian: library itself |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
		printf '%s\n' "${CALLGRIND_ROWS[@]}"
		top_lib=${LIBS[0]}
		echo
		echo "### Where the instructions go ($(lib_title "$top_lib"))"
		echo
		echo "Top functions of the whole measured phase by self cost, in instructions"
		echo "per operation (inlined code counts for the function it was inlined"
		echo "into). Full listings: \`build/bench/callgrind/*.txt\` (callgrind_annotate)."
		for entry in "${selected[@]}"; do
			label=${entry%%|*}
			echo
			echo "#### $label"
			echo
			echo "| Ir/op | share | function | object |"
			echo "| ---: | ---: | --- | --- |"
			echo "${TOP_FUNCTIONS["$label|$top_lib"]}"
		done
	fi
} >"$OUT_FILE"

log "report written to $OUT_FILE"
cat "$OUT_FILE"
