#!/usr/bin/env bash
# ivykis-rs benchmarks, LGPL-2.1-only
#
# Runs the C benchmark programs of bench/c/ against two builds of
# libivykis.so.0, the project's (build/libivykis.so.0, made by `make`) and
# Debian's libivykis0 (the C ivykis), plus the floor programs of bench/raw/
# (the same fd workloads on a hand-written epoll loop, no library), and
# writes a markdown report and a TSV file of the figures.
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
#   --no-raw            leave out the raw epoll programs (bench/raw/)
#   --callgrind         also run each workload once per library under
#                       callgrind (smaller sizes) and report Ir per operation
#   --callgrind-only    only the callgrind runs
#   --strace            also run each workload once per library under
#                       strace -f (callgrind sizes) and report system calls
#                       per operation
#   --strace-only       only the strace runs
#   --smoke             run every workload once per library at the small
#                       (callgrind) size, check them, print nothing else
#   --filter REGEX      only workloads whose label matches REGEX
#   --no-make           do not run `make`; use build/libivykis.so.0 as it is
#   --ours-dir DIR      take "our" libivykis.so.0 from DIR instead of build/
#                       (implies --no-make); e.g. a saved earlier build
#   --out FILE          report file (default bench/results.md)
#   --tsv FILE          figures as TSV (default build/bench/c_results.tsv)
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
SCRIPT_NAME=run.sh
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

# ---- The workloads ----------------------------------------------------------
#
# One line per workload:
#   label | program (bench/c/<program>.c) | arguments of the timed runs |
#   arguments of the callgrind and strace runs [| raw program]
# The timed size should take a few tenths of a second to a second or two;
# the callgrind size a tenth to a fiftieth of that (callgrind is ~50 times
# slower). The optional fifth field names the floor program
# (bench/raw/<program>.c), possibly followed by arguments of its own; it runs
# with the same arguments as the library program (fields 3 and 4) plus
# those. "-" or nothing: no raw version. New workloads go here.
WORKLOADS=(
	"fd_pingpong fds=1|fd_pingpong|fds=1 rounds=200000|fds=1 rounds=20000|raw_fd_pingpong"
	"fd_pingpong fds=100|fd_pingpong|fds=100 active=4 rounds=50000|fds=100 active=4 rounds=5000|raw_fd_pingpong"
	"fd_pingpong fds=1000|fd_pingpong|fds=1000 active=4 rounds=50000|fds=1000 active=4 rounds=5000|raw_fd_pingpong"
	"fd_pingpong fds=max|fd_pingpong|fds=max active=4 rounds=50000|fds=max active=4 rounds=5000|raw_fd_pingpong"
	"many_active|many_active|pairs=1000 iterations=500|pairs=1000 iterations=20|raw_many_active"
	"fd_churn|fd_churn|slots=1000 batch=64 passes=10000|slots=1000 batch=64 passes=500|raw_fd_churn"
	"tasks self tasks=100|tasks|mode=self tasks=100 calls=10000000|mode=self tasks=100 calls=500000|-"
	"tasks ring tasks=100|tasks|mode=ring tasks=100 calls=10000000|mode=ring tasks=100 calls=500000|-"
	"tasks self tasks=1|tasks|mode=self tasks=1 calls=500000|mode=self tasks=1 calls=20000|-"
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
DO_STRACE=0
DO_RAW=1
SMOKE=0
FILTER=
DO_MAKE=1
OUT_FILE=$BENCH_DIR/results.md
TSV_FILE=$WORK_DIR/c_results.tsv

usage() {
	sed -n '/^# Usage:/,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | head -n -2
}

while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=${2:?--runs needs a number}; shift ;;
	--lib-only) LIB_ONLY=${2:?--lib-only needs ours or debian}; shift ;;
	--no-raw) DO_RAW=0 ;;
	--callgrind) DO_CALLGRIND=1 ;;
	--callgrind-only) DO_CALLGRIND=1; DO_TIMED=0 ;;
	--strace) DO_STRACE=1 ;;
	--strace-only) DO_STRACE=1; DO_TIMED=0 ;;
	--smoke) SMOKE=1 ;;
	--filter) FILTER=${2:?--filter needs a regular expression}; shift ;;
	--no-make) DO_MAKE=0 ;;
	--ours-dir) OUR_LIB_DIR=$(cd "${2:?--ours-dir needs a directory}" && pwd); DO_MAKE=0; shift ;;
	--out) OUT_FILE=${2:?--out needs a file name}; shift ;;
	--tsv) TSV_FILE=${2:?--tsv needs a file name}; shift ;;
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

mkdir -p "$WORK_DIR/bin" "$WORK_DIR/runs" "$WORK_DIR/callgrind" "$WORK_DIR/strace" "$CACHE_DIR"

# ---- Debian's libivykis0 (and, if our headers are missing, its headers) -----

setup_debian_lib

# ---- Libraries and variants ---------------------------------------------------
#
# A "variant" is what one run of a workload runs on: `ours`, `debian` (the
# two libraries) or `raw` (the workload's bench/raw/ program, no library).

lib_title() {
	case $1 in
	ours) echo "ours" ;;
	debian) echo "Debian" ;;
	raw) echo "raw epoll" ;;
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
if [ "$DO_RAW" = 1 ]; then
	# The floor programs: common.h without ivykis, and no -livykis.
	for source in "$BENCH_DIR"/raw/*.c; do
		program=$(basename "$source" .c)
		# shellcheck disable=SC2086 # CFLAGS is a list of words on purpose
		gcc $CFLAGS -I"$BENCH_DIR/c" -o "$WORK_DIR/bin/$program" "$source" ||
			die "cannot compile $source"
	done
fi

# ---- Running one program -------------------------------------------------------

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

# Checks that a library (or the raw programs) runs the smallest workloads
# before the long runs start, so that a half-written library fails in
# seconds.
check_variant() {
	local variant=$1
	if [ "$variant" = raw ]; then
		run_one raw "$WORK_DIR/runs/check.raw.log" \
			"$WORK_DIR/bin/raw_fd_pingpong" fds=3 rounds=10 >/dev/null
		return
	fi
	run_one "$variant" "$WORK_DIR/runs/check.$variant.log" \
		"$WORK_DIR/bin/fd_pingpong" fds=3 rounds=10 >/dev/null
	run_one "$variant" "$WORK_DIR/runs/check.$variant.log" \
		"$WORK_DIR/bin/timer_churn" timers=1000 spread_ms=1 >/dev/null
}

ALL_VARIANTS=("${LIBS[@]}")
[ "$DO_RAW" = 1 ] && ALL_VARIANTS+=(raw)
for variant in "${ALL_VARIANTS[@]}"; do
	if ! (check_variant "$variant"); then
		[ "$variant" = ours ] && { echo "run.sh: our library failed its first checks (see above); try --lib-only debian" >&2; exit 2; }
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

# parse_entry ENTRY: sets LABEL, PROGRAM, ARGS, SMALL_ARGS, RAW_PROGRAM and
# RAW_EXTRA (empty when the workload has no raw version or --no-raw), and
# VARIANTS (the variants this workload runs on).
parse_entry() {
	local raw_spec
	IFS='|' read -r LABEL PROGRAM ARGS SMALL_ARGS raw_spec <<<"$1"
	RAW_PROGRAM=
	RAW_EXTRA=
	if [ "$DO_RAW" = 1 ] && [ -n "$raw_spec" ] && [ "$raw_spec" != - ]; then
		RAW_PROGRAM=${raw_spec%% *}
		[ "$RAW_PROGRAM" = "$raw_spec" ] || RAW_EXTRA=${raw_spec#* }
		[ -x "$WORK_DIR/bin/$RAW_PROGRAM" ] ||
			die "workload '$LABEL': no raw program bench/raw/$RAW_PROGRAM.c"
	fi
	VARIANTS=("${LIBS[@]}")
	[ -n "$RAW_PROGRAM" ] && VARIANTS+=(raw)
	return 0
}

# command_for VARIANT ARGUMENTS: sets CMD to the program of the current
# entry (parse_entry) for VARIANT with ARGUMENTS.
command_for() {
	local variant=$1 arguments=$2
	if [ "$variant" = raw ]; then
		# shellcheck disable=SC2206 # the arguments are words on purpose
		CMD=("$WORK_DIR/bin/$RAW_PROGRAM" $arguments $RAW_EXTRA)
	else
		# shellcheck disable=SC2206 # the arguments are words on purpose
		CMD=("$WORK_DIR/bin/$PROGRAM" $arguments)
	fi
}

if [ "$SMOKE" = 1 ]; then
	for entry in "${selected[@]}"; do
		parse_entry "$entry"
		for variant in "${VARIANTS[@]}"; do
			command_for "$variant" "$SMALL_ARGS"
			run_one "$variant" "$WORK_DIR/runs/smoke.log" "${CMD[@]}" >/dev/null
			echo "ok  $LABEL ($variant)"
		done
	done
	exit 0
fi

# ---- Statistics ----------------------------------------------------------------

# fmt FORMAT NUMBER: the number formatted, or "-" when it is empty.
fmt() {
	if [ -n "$2" ]; then
		# shellcheck disable=SC2059 # the format is the caller's on purpose
		printf "$1" "$2"
	else
		printf -- "-"
	fi
}

# Results, keyed by "label|variant".
declare -A POLL LIBPATH          # per variant
declare -A NS_MED NS_MIN NS_MAX OBSERVED_TSV
declare -A IR_PER_OP SELF_PER_OP TOP_FUNCTIONS
declare -A SYS_PER_OP SYS_TOP SYS_TOP_TSV

# ---- Timed runs ------------------------------------------------------------------

TIMED_ROWS=()
if [ "$DO_TIMED" = 1 ]; then
	for entry in "${selected[@]}"; do
		parse_entry "$entry"
		declare -A samples=() observed=()
		observed_keys=()
		for variant in "${VARIANTS[@]}"; do samples[$variant]=; done
		nvariants=${#VARIANTS[@]}
		for ((run = 1; run <= RUNS; run++)); do
			# Rotate the order (ours, Debian, raw; then Debian, raw,
			# ours; ...) so that a slow drift of the machine hits all
			# equally.
			order=()
			for ((i = 0; i < nvariants; i++)); do
				order+=("${VARIANTS[$(((i + run - 1) % nvariants))]}")
			done
			for variant in "${order[@]}"; do
				command_for "$variant" "$ARGS"
				line=$(run_one "$variant" "$WORK_DIR/runs/$(slug "$LABEL").$variant.$run.log" \
					"${CMD[@]}")
				ns=$(field "$line" ns_per_op)
				samples[$variant]+="$ns "
				for word in $(observations "$line"); do
					key=${word%%=*}
					[[ " ${observed_keys[*]} " == *" $key "* ]] || observed_keys+=("$key")
					observed[$key|$variant]+="${word#*=} "
				done
				POLL[$variant]=$(field "$line" poll)
				LIBPATH[$variant]=$(field "$line" lib)
				log "$LABEL [$variant] run $run: $ns ns/op"
			done
		done
		for variant in "${VARIANTS[@]}"; do
			read -r med lo hi < <(tr ' ' '\n' <<<"${samples[$variant]}" | grep . | stats)
			NS_MED[$LABEL|$variant]=$med
			NS_MIN[$LABEL|$variant]=$lo
			NS_MAX[$LABEL|$variant]=$hi
		done
		row="| $LABEL | \`$ARGS\` |"
		for variant in ours debian; do
			if [ -n "${NS_MED[$LABEL|$variant]+x}" ]; then
				row+=" $(fmt %.1f "${NS_MED[$LABEL|$variant]}") ($(fmt %.1f "${NS_MIN[$LABEL|$variant]}")–$(fmt %.1f "${NS_MAX[$LABEL|$variant]}")) |"
			else
				row+=" - |"
			fi
		done
		row+=" $(ratio "${NS_MED[$LABEL|ours]:-}" "${NS_MED[$LABEL|debian]:-}") |"
		if [ -n "${NS_MED[$LABEL|raw]+x}" ]; then
			row+=" $(fmt %.1f "${NS_MED[$LABEL|raw]}") ($(fmt %.1f "${NS_MIN[$LABEL|raw]}")–$(fmt %.1f "${NS_MAX[$LABEL|raw]}")) |"
		else
			row+=" - |"
		fi
		row+=" $(ratio "${NS_MED[$LABEL|ours]:-}" "${NS_MED[$LABEL|raw]:-}") |"
		show=(ours debian)
		[ -n "$RAW_PROGRAM" ] && show+=(raw)
		notes=()
		for key in "${observed_keys[@]}"; do
			values=()
			for variant in "${show[@]}"; do
				if [ -n "${observed[$key|$variant]+x}" ]; then
					read -r med _ < <(tr ' ' '\n' <<<"${observed[$key|$variant]}" | grep . | stats)
					values+=("$(fmt %.0f "$med")")
					OBSERVED_TSV[$LABEL|$variant]+="${OBSERVED_TSV[$LABEL|$variant]:+,}$key=$med"
				else
					values+=("-")
				fi
			done
			joined=$(printf ' / %s' "${values[@]}")
			notes+=("$key ${joined# / }")
		done
		row+=" ${notes[*]:-} |"
		TIMED_ROWS+=("$row")
		unset samples observed
	done
fi

# ---- Callgrind runs ---------------------------------------------------------------

CALLGRIND_ROWS=()
if [ "$DO_CALLGRIND" = 1 ]; then
	command -v valgrind >/dev/null || {
		log "installing valgrind"
		apt-get install -y valgrind >&2 || die "valgrind is missing and cannot be installed"
	}
	for entry in "${selected[@]}"; do
		parse_entry "$entry"
		for variant in "${VARIANTS[@]}"; do
			base=$WORK_DIR/callgrind/$(slug "$LABEL").$variant
			command_for "$variant" "$SMALL_ARGS"
			line=$(run_one "$variant" "$base.log" valgrind --tool=callgrind \
				--callgrind-out-file="$base.out" \
				--toggle-collect=bench_measured_phase \
				--toggle-collect=start_thread \
				"${CMD[@]}")
			ops=$(field "$line" ops)
			# A human-readable listing next to the raw file.
			callgrind_annotate --auto=no --threshold=100 "$base.out" >"$base.txt" 2>/dev/null ||
				die "callgrind_annotate failed on $base.out"
			loaded=$(field "$line" lib)
			python3 "$BENCH_DIR/callgrind_summary.py" "$base.out" "$loaded" 15 >"$base.summary" ||
				die "cannot summarise $base.out"
			total=$(awk '$1 == "TOTAL" { print $2 }' "$base.summary")
			self=$(awk '$1 == "OBJECT_SELF" { print $2 }' "$base.summary")
			IR_PER_OP[$LABEL|$variant]=$(awk -v t="$total" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
			if [ "$variant" != raw ]; then
				SELF_PER_OP[$LABEL|$variant]=$(awk -v t="$self" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
			fi
			POLL[$variant]=$(field "$line" poll)
			LIBPATH[$variant]=$loaded
			log "$LABEL [$variant] callgrind: ${IR_PER_OP[$LABEL|$variant]} Ir/op (library itself: ${SELF_PER_OP[$LABEL|$variant]:--})"
			# The top functions by self cost, as markdown table rows.
			TOP_FUNCTIONS["$LABEL|$variant"]=$(awk -v o="$ops" '
				$1 == "TOP" {
					fn = $4
					for (i = 5; i < NF; i++) fn = fn " " $i
					obj = $NF; gsub(/^\[|\]$/, "", obj)
					gsub(/\|/, "\\|", fn)
					printf "| %.1f | %.1f%% | `%s` | %s |\n", $2 / o, $3, fn, obj
				}' "$base.summary")
		done
		row="| $LABEL | \`$SMALL_ARGS\` |"
		for variant in ours debian; do
			row+=" ${IR_PER_OP[$LABEL|$variant]:--} |"
		done
		row+=" $(ratio "${IR_PER_OP[$LABEL|ours]:-}" "${IR_PER_OP[$LABEL|debian]:-}") |"
		row+=" ${IR_PER_OP[$LABEL|raw]:--} |"
		row+=" $(ratio "${IR_PER_OP[$LABEL|ours]:-}" "${IR_PER_OP[$LABEL|raw]:-}") |"
		row+=" $(ratio "${IR_PER_OP[$LABEL|debian]:-}" "${IR_PER_OP[$LABEL|raw]:-}") |"
		for variant in ours debian; do
			row+=" ${SELF_PER_OP[$LABEL|$variant]:--} |"
		done
		CALLGRIND_ROWS+=("$row")
	done
fi

# ---- strace runs ------------------------------------------------------------------

# count_syscalls TRACE: from the output of `strace -f -o TRACE`, counts the
# system calls of all threads made between the first and the second
# clock_gettime(CLOCK_PROCESS_CPUTIME_ID) (bench_stopwatch_start and
# _stop: the measured phase). Prints "TOTAL n", then "name n" lines by
# count, highest first. A call that strace shows in two pieces
# ("<unfinished ...>", "<... resumed>") counts once.
count_syscalls() {
	awk '
		{
			line = $0
			sub(/^[0-9]+ +/, "", line)
		}
		line ~ /^clock_gettime\(CLOCK_PROCESS_CPUTIME_ID/ { marks++; next }
		marks != 1 { next }
		line ~ /^<\.\.\. / || line ~ /^(---|\+\+\+)/ { next }
		match(line, /^[a-z_0-9]+\(/) {
			count[substr(line, 1, RLENGTH - 1)]++
			total++
		}
		END {
			if (marks != 2) {
				printf "expected 2 stopwatch reads in the trace, found %d\n", marks > "/dev/stderr"
				exit 1
			}
			print "TOTAL", total + 0
			for (name in count) print name, count[name]
		}' "$1" | sort -k2,2nr -k1,1
}

# An awk function: a per-operation count with three decimals, or three
# significant digits when it is below 0.1 (0.00267, 2.67e-05).
AWK_PER_OP='function per_op(v) { return (v >= 0.1 || v == 0) ? sprintf("%.3f", v) : sprintf("%.3g", v) }'

STRACE_ROWS=()
if [ "$DO_STRACE" = 1 ]; then
	command -v strace >/dev/null || {
		log "installing strace"
		apt-get install -y strace >&2 || die "strace is missing and cannot be installed"
	}
	for entry in "${selected[@]}"; do
		parse_entry "$entry"
		for variant in "${VARIANTS[@]}"; do
			base=$WORK_DIR/strace/$(slug "$LABEL").$variant
			command_for "$variant" "$SMALL_ARGS"
			line=$(run_one "$variant" "$base.log" strace -f -qq -o "$base.trace" "${CMD[@]}")
			ops=$(field "$line" ops)
			count_syscalls "$base.trace" >"$base.counts" ||
				die "cannot count the system calls in $base.trace"
			total=$(awk '$1 == "TOTAL" { print $2 }' "$base.counts")
			SYS_PER_OP[$LABEL|$variant]=$(awk -v t="$total" -v o="$ops" "$AWK_PER_OP"'
				BEGIN { print per_op(t / o) }')
			SYS_TOP[$LABEL|$variant]=$(awk -v o="$ops" "$AWK_PER_OP"'
				$1 != "TOTAL" && n < 3 { printf "%s%s %s", (n++ ? ", " : ""), $1, per_op($2 / o) }' "$base.counts")
			SYS_TOP_TSV[$LABEL|$variant]=$(awk -v o="$ops" '
				$1 != "TOTAL" && n < 3 { printf "%s%s:%.4f", (n++ ? "," : ""), $1, $2 / o }' "$base.counts")
			rm -f "$base.trace"
			log "$LABEL [$variant] strace: ${SYS_PER_OP[$LABEL|$variant]} syscalls/op (${SYS_TOP[$LABEL|$variant]})"
		done
		row="| $LABEL | \`$SMALL_ARGS\` |"
		for variant in ours debian raw; do
			if [ -n "${SYS_PER_OP[$LABEL|$variant]+x}" ]; then
				row+=" ${SYS_PER_OP[$LABEL|$variant]} | ${SYS_TOP[$LABEL|$variant]:-} |"
			else
				row+=" - | |"
			fi
		done
		STRACE_ROWS+=("$row")
	done
fi

# ---- The TSV file ------------------------------------------------------------------

# One row per workload and variant that ran; "-" where a figure is missing
# (so that tab-splitting tools never see an empty field).
mkdir -p "$(dirname "$TSV_FILE")"
{
	printf 'workload\tvariant\tprogram\ttimed_args\truns\tns_per_op_median\tns_per_op_min\tns_per_op_max\tsmall_args\tir_per_op\tlib_self_ir_per_op\tsyscalls_per_op\ttop_syscalls\tobserved\tpoll\tlib\n'
	for entry in "${selected[@]}"; do
		parse_entry "$entry"
		for variant in "${VARIANTS[@]}"; do
			k="$LABEL|$variant"
			if [ "$variant" = raw ]; then
				prog=$RAW_PROGRAM${RAW_EXTRA:+ $RAW_EXTRA}
			else
				prog=$PROGRAM
			fi
			runs=-
			[ -n "${NS_MED[$k]+x}" ] && runs=$RUNS
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
				"$LABEL" "$variant" "$prog" "$ARGS" "$runs" \
				"${NS_MED[$k]:--}" "${NS_MIN[$k]:--}" "${NS_MAX[$k]:--}" \
				"$SMALL_ARGS" "${IR_PER_OP[$k]:--}" "${SELF_PER_OP[$k]:--}" \
				"${SYS_PER_OP[$k]:--}" "${SYS_TOP_TSV[$k]:--}" \
				"${OBSERVED_TSV[$k]:--}" "${POLL[$variant]:--}" "${LIBPATH[$variant]:--}"
		done
	done
} >"$TSV_FILE"

# ---- The report --------------------------------------------------------------------

{
	echo "# Benchmark results: our libivykis.so.0 against Debian's libivykis0 and raw epoll"
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
	if [ -n "${POLL[raw]+x}" ]; then
		echo "- raw epoll: the \`bench/raw/\` programs, the same workloads on a hand-written"
		echo "  epoll loop without any library (the floor)"
	fi
	echo "- compiler: $(gcc --version | head -n 1), flags \`$CFLAGS\`"
	if [ "$DO_TIMED" = 1 ]; then
		echo
		echo "## CPU time per operation"
		echo
		echo "Median of $RUNS runs per library, runs rotating between the libraries"
		echo "(and raw epoll); process CPU time (user + system) of the measured phase"
		echo "divided by the operations it performed, in ns (min–max in parentheses)."
		echo "Ratio below 1: ours is faster. Wall-clock figures on this shared VM are"
		echo "noisy; see the callgrind table for stable numbers."
		echo
		echo "| workload | parameters | ours ns/op | Debian ns/op | ours/Debian | raw epoll ns/op | ours/raw | observed (median, ours / Debian [/ raw]) |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
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
		echo "the worker threads of an iv_work_pool. \"raw epoll\" is the workload's"
		echo "\`bench/raw/\` program (the same work, no library); ours/raw is the goal's"
		echo "ratio of user-space instructions per event."
		echo
		echo "| workload | parameters | ours Ir/op | Debian Ir/op | ours/Debian | raw epoll Ir/op | ours/raw | Debian/raw | ours: library itself | Debian: library itself |"
		echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
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
	if [ "$DO_STRACE" = 1 ]; then
		echo
		echo "## System calls per operation (strace)"
		echo
		echo "One run per library (and raw epoll) under \`strace -f\` at the callgrind"
		echo "size, counting the system calls of all threads made between the two"
		echo "stopwatch reads that bound the measured phase (set-up and tear-down"
		echo "excluded), divided by operations; then the three most frequent calls,"
		echo "per operation. strace slows every system call down a lot, which changes"
		echo "the timing between threads: for the cross-thread workloads (posts"
		echo "coalesce, threads sleep or not) these counts describe a slowed-down run."
		echo
		echo "| workload | parameters | ours syscalls/op | ours: top 3 | Debian syscalls/op | Debian: top 3 | raw syscalls/op | raw: top 3 |"
		echo "| --- | --- | ---: | --- | ---: | --- | ---: | --- |"
		printf '%s\n' "${STRACE_ROWS[@]}"
	fi
} >"$OUT_FILE"

log "report written to $OUT_FILE; figures in $TSV_FILE"
cat "$OUT_FILE"
