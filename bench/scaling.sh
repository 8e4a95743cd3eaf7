#!/usr/bin/env bash
# ivykis-rs benchmarks, LGPL-2.1-only
#
# Scaling: how the cost of one operation changes as the loop holds more
# objects, for our libivykis.so.0, Debian's libivykis0 (the C ivykis) and,
# for file descriptors, a raw epoll loop with no library.
#
#   fds     fd_pingpong fds=N active=min(N,4): one token hops around a ring
#           of (up to) 4 pipes while N pipe read ends are registered, for N
#           = 1, 10, 100, 1000, 3000, 6000 and as many as the descriptor
#           limit allows ((hard RLIMIT_NOFILE - 200) / 2 pipes). One
#           operation is one hop (a handler call, a read and a write).
#   timers  timer_churn mode=churn timers=N expire=past cancel=odd
#           repeat=R for N = 1, 10, ..., 1,000,000: register N timers with
#           random expiries, cancel every second one, fire the rest; R
#           cycles so that small N still do enough operations. The expiries
#           lie in the past, so the loop never sleeps and each cycle is one
#           loop pass: the figure is the data structure's cost plus one pass
#           per cycle (2 N operations), not the cost of waiting.
#
# The primary figure is callgrind's count of user-space instructions per
# operation (Ir/op, measured phase only: --toggle-collect=
# bench_measured_phase); it does not move with machine noise. The secondary
# one is process CPU time per operation, the median of --runs runs per
# point and library, runs alternating the order of the libraries.
#
# Usage: bench/scaling.sh [options]
#   --ours-dir DIR   take our libivykis.so.0 from DIR (default build/; this
#                    script never runs make)
#   --runs N         timed runs per point and library (default 3)
#   --no-timed       only the callgrind runs
#   --no-callgrind   only the timed runs
#   --only WHAT      fds | timers (default both)
#   --quick          fewer points and operations: a check of the script
#   --no-plots       do not run bench/plot.py
#   --plots-dir DIR  where plot.py writes the SVGs (default bench/plots)
#   -h, --help       this text
#
# Output: build/bench/scaling.md (a markdown fragment with the tables and
# links to the plots), build/bench/scaling.tsv (one row per workload, N and
# library) and, through bench/plot.py, bench/plots/fd_scaling.svg and
# bench/plots/timer_scaling.svg. Work files: build/bench/scaling/.
#
# Exit status: 0 on success; 1 when a run failed its own checks, loaded the
# wrong library or a tool is missing; 2 on bad usage.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/bench
OUT_DIR=$ROOT/build/bench
WORK_DIR=$OUT_DIR/scaling
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-bench
OUR_LIB_DIR=$ROOT/build
SCRIPT_NAME=scaling.sh
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
PLOTS_DIR=$BENCH_DIR/plots
RAW_SOURCE=$BENCH_DIR/raw/raw_fd_pingpong.c

RUNS=3
DO_TIMED=1
DO_CALLGRIND=1
DO_PLOTS=1
ONLY=
QUICK=0

usage() {
	sed -n '/^# Usage:/,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | head -n -2
}

while [ $# -gt 0 ]; do
	case $1 in
	--ours-dir) OUR_LIB_DIR=$(cd "${2:?--ours-dir needs a directory}" && pwd); shift ;;
	--runs) RUNS=${2:?--runs needs a number}; shift ;;
	--no-timed) DO_TIMED=0 ;;
	--no-callgrind) DO_CALLGRIND=0 ;;
	--only) ONLY=${2:?--only needs fds or timers}; shift ;;
	--quick) QUICK=1 ;;
	--no-plots) DO_PLOTS=0 ;;
	--plots-dir) PLOTS_DIR=${2:?--plots-dir needs a directory}; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "scaling.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

case $RUNS in
'' | *[!0-9]* | 0) echo "scaling.sh: --runs takes a positive number" >&2; exit 2 ;;
esac
case $ONLY in
'') KINDS=(fds timers) ;;
fds|timers) KINDS=("$ONLY") ;;
*) echo "scaling.sh: --only takes fds or timers" >&2; exit 2 ;;
esac
[ "$DO_TIMED" = 1 ] || [ "$DO_CALLGRIND" = 1 ] ||
	{ echo "scaling.sh: --no-timed and --no-callgrind leave nothing to do" >&2; exit 2; }

START_SECS=$SECONDS
mkdir -p "$WORK_DIR/bin" "$WORK_DIR/runs" "$WORK_DIR/callgrind" "$CACHE_DIR"

# ---- Descriptor limit -----------------------------------------------------------

# fd_pingpong raises its own soft limit, but the raw epoll program and
# valgrind may not: raise it for everything started from here.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
[ "$FD_LIMIT" != unlimited ] || FD_LIMIT=1048576
# Two descriptors per pipe, and room for stdio, the loop's own descriptors
# and valgrind's.
FD_MAX=$(((FD_LIMIT - 200) / 2))
[ "$FD_MAX" -ge 1 ] || die "descriptor limit $FD_LIMIT is too small"

# ---- Points and sizes -------------------------------------------------------------

if [ "$QUICK" = 1 ]; then
	FD_POINTS=(1 100 "$FD_MAX")
	TIMER_POINTS=(1 100 10000)
	FD_TIMED_HOPS=20000
	FD_CALLGRIND_HOPS=4000
	TIMER_TIMED_OPS=200000
	TIMER_CALLGRIND_OPS=20000
else
	FD_POINTS=()
	for n in 1 10 100 1000 3000 6000; do
		if [ "$n" -lt "$FD_MAX" ]; then FD_POINTS+=("$n"); fi
	done
	FD_POINTS+=("$FD_MAX")
	TIMER_POINTS=(1 10 100 1000 10000 100000 1000000)
	# Each timed run takes a tenth of a second or so; under callgrind the
	# counts are exact, so a tenth of that is plenty (the largest timer
	# point still does 2 N operations).
	FD_TIMED_HOPS=200000
	FD_CALLGRIND_HOPS=20000
	TIMER_TIMED_OPS=2000000
	TIMER_CALLGRIND_OPS=200000
fi

# The program arguments of point N: "active rounds" for fds, "repeat" for
# timers, given the number of operations wanted.
fd_args() {
	local n=$1 hops=$2 active
	active=$((n < 4 ? n : 4))
	echo "fds=$n active=$active rounds=$(((hops + active - 1) / active))"
}

timer_args() {
	local n=$1 ops=$2 repeat
	repeat=$(((ops + 2 * n - 1) / (2 * n)))
	echo "mode=churn timers=$n spread_ms=100 repeat=$repeat expire=past cancel=odd"
}

# ---- Debian's libivykis0 -----------------------------------------------------------

setup_debian_lib

[ -e "$OUR_LIB_DIR/libivykis.so.0" ] ||
	die "$OUR_LIB_DIR/libivykis.so.0 does not exist (build it with make, or pass --ours-dir)"

# ---- Programs ------------------------------------------------------------------------

CFLAGS=${CFLAGS:--O2 -g -Wall -Wextra}
for program in fd_pingpong timer_churn; do
	# shellcheck disable=SC2086 # CFLAGS is a list of words on purpose
	gcc $CFLAGS -I"$INCLUDE_DIR" -o "$WORK_DIR/bin/$program" \
		"$BENCH_DIR/c/$program.c" -L"$DEBIAN_LIB_DIR" -livykis ||
		die "cannot compile bench/c/$program.c"
done

# The raw epoll floor, for the fd workload only. It uses no libivykis.
HAVE_RAW=0
if [[ " ${KINDS[*]} " == *" fds "* ]]; then
	if [ -f "$RAW_SOURCE" ]; then
		# shellcheck disable=SC2086 # CFLAGS is a list of words on purpose
		gcc $CFLAGS -I"$BENCH_DIR/c" -I"$BENCH_DIR/raw" -I"$INCLUDE_DIR" \
			-o "$WORK_DIR/bin/raw_fd_pingpong" "$RAW_SOURCE" ||
			die "cannot compile ${RAW_SOURCE#"$ROOT"/}"
		HAVE_RAW=1
	else
		log "${RAW_SOURCE#"$ROOT"/} does not exist yet: no raw epoll column"
	fi
fi

# ---- Running one program ---------------------------------------------------------------

# ---- The measurements -----------------------------------------------------------------------

# Results, keyed "kind|n|lib".
declare -A IR SELF_IR CG_OPS NS NS_MIN NS_MAX TIMED_OPS ARGS POLL LIBPATH

libs_of() {
	if [ "$1" = fds ] && [ "$HAVE_RAW" = 1 ]; then
		echo ours debian raw
	else
		echo ours debian
	fi
}

program_of() {
	local kind=$1 lib=$2
	case $kind/$lib in
	fds/raw) echo "$WORK_DIR/bin/raw_fd_pingpong" ;;
	fds/*) echo "$WORK_DIR/bin/fd_pingpong" ;;
	timers/*) echo "$WORK_DIR/bin/timer_churn" ;;
	esac
}

points_of() {
	case $1 in
	fds) echo "${FD_POINTS[@]}" ;;
	timers) echo "${TIMER_POINTS[@]}" ;;
	esac
}

args_of() {
	local kind=$1 n=$2 size=$3
	case $kind/$size in
	fds/timed) fd_args "$n" "$FD_TIMED_HOPS" ;;
	fds/callgrind) fd_args "$n" "$FD_CALLGRIND_HOPS" ;;
	timers/timed) timer_args "$n" "$TIMER_TIMED_OPS" ;;
	timers/callgrind) timer_args "$n" "$TIMER_CALLGRIND_OPS" ;;
	esac
}

# Quick first check of every library and program, so that a broken one
# fails in seconds rather than after minutes of callgrind.
for kind in "${KINDS[@]}"; do
	for lib in $(libs_of "$kind"); do
		case $kind in
		fds) check_args="fds=3 rounds=10" ;;
		timers) check_args="mode=churn timers=10 repeat=3 expire=past cancel=odd" ;;
		esac
		# shellcheck disable=SC2086 # the arguments are words on purpose
		line=$(run_one "$lib" "$WORK_DIR/runs/check.$kind.$lib.log" \
			"$(program_of "$kind" "$lib")" $check_args)
		POLL[$lib]=$(field "$line" poll)
		LIBPATH[$lib]=$(field "$line" lib)
	done
done

if [ "$DO_CALLGRIND" = 1 ]; then
	command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"
	for kind in "${KINDS[@]}"; do
		for n in $(points_of "$kind"); do
			args=$(args_of "$kind" "$n" callgrind)
			for lib in $(libs_of "$kind"); do
				base=$WORK_DIR/callgrind/$kind.$n.$lib
				# shellcheck disable=SC2086 # the arguments are words on purpose
				line=$(run_one "$lib" "$base.log" valgrind --tool=callgrind \
					--callgrind-out-file="$base.out" \
					--toggle-collect=bench_measured_phase \
					"$(program_of "$kind" "$lib")" $args)
				ops=$(field "$line" ops)
				loaded=$(field "$line" lib)
				[ "$loaded" = none ] && loaded=/nonexistent
				python3 "$BENCH_DIR/callgrind_summary.py" "$base.out" "$loaded" 10 \
					>"$base.summary" || die "cannot summarise $base.out"
				total=$(awk '$1 == "TOTAL" { print $2 }' "$base.summary")
				self=$(awk '$1 == "OBJECT_SELF" { print $2 }' "$base.summary")
				key="$kind|$n|$lib"
				IR[$key]=$(awk -v t="$total" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
				if [ "$lib" = raw ]; then
					SELF_IR[$key]=
				else
					SELF_IR[$key]=$(awk -v t="$self" -v o="$ops" 'BEGIN { printf "%.1f", t / o }')
				fi
				CG_OPS[$key]=$ops
				ARGS["$kind|$n|callgrind"]=$args
				log "$kind N=$n [$lib] callgrind: ${IR[$key]} Ir/op ($ops ops)"
				rm -f "$base.out"	# large; the summary stays
			done
		done
	done
fi

if [ "$DO_TIMED" = 1 ]; then
	for kind in "${KINDS[@]}"; do
		for n in $(points_of "$kind"); do
			args=$(args_of "$kind" "$n" timed)
			read -r -a libs <<<"$(libs_of "$kind")"
			declare -A samples=()
			for ((run = 0; run < RUNS; run++)); do
				# Rotate the order, so that a drift of the machine hits
				# every library alike.
				for ((i = 0; i < ${#libs[@]}; i++)); do
					lib=${libs[$(((i + run) % ${#libs[@]}))]}
					# shellcheck disable=SC2086 # the arguments are words on purpose
					line=$(run_one "$lib" "$WORK_DIR/runs/$kind.$n.$lib.$run.log" \
						"$(program_of "$kind" "$lib")" $args)
					samples[$lib]+="$(field "$line" ns_per_op) "
					TIMED_OPS["$kind|$n|$lib"]=$(field "$line" ops)
				done
			done
			ARGS["$kind|$n|timed"]=$args
			for lib in "${libs[@]}"; do
				key="$kind|$n|$lib"
				read -r "NS[$key]" "NS_MIN[$key]" "NS_MAX[$key]" \
					< <(tr ' ' '\n' <<<"${samples[$lib]}" | grep . | stats)
				log "$kind N=$n [$lib] timed: ${NS[$key]} ns/op (median of $RUNS)"
			done
			unset samples
		done
	done
fi

# ---- TSV -------------------------------------------------------------------------------------

TSV=$OUT_DIR/scaling.tsv
{
	printf 'kind\tn\tlib\tir_per_op\tlib_self_ir_per_op\tcallgrind_ops\tns_per_op\tns_min\tns_max\ttimed_ops\tpoll\tcallgrind_args\ttimed_args\n'
	for kind in "${KINDS[@]}"; do
		for n in $(points_of "$kind"); do
			for lib in $(libs_of "$kind"); do
				key="$kind|$n|$lib"
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
					"$kind" "$n" "$lib" "${IR[$key]:-}" "${SELF_IR[$key]:-}" \
					"${CG_OPS[$key]:-}" "${NS[$key]:-}" "${NS_MIN[$key]:-}" \
					"${NS_MAX[$key]:-}" "${TIMED_OPS[$key]:-}" "${POLL[$lib]:-}" \
					"${ARGS["$kind|$n|callgrind"]:-}" "${ARGS["$kind|$n|timed"]:-}"
			done
		done
	done
} >"$TSV"

# ---- Plots -------------------------------------------------------------------------------------

if [ "$DO_PLOTS" = 1 ]; then
	mkdir -p "$PLOTS_DIR"
	python3 "$BENCH_DIR/plot.py" "$TSV" "$PLOTS_DIR" || die "plot.py failed"
fi

# ---- Markdown ---------------------------------------------------------------------------------

# fmt1 NUMBER: one decimal, or "-" when empty.
fmt1() {
	if [ -n "$1" ]; then printf '%.1f' "$1"; else printf -- '-'; fi
}

# The plots' path as seen from the repository root, where BENCHMARKS.md is.
plots_link=$PLOTS_DIR
case $plots_link in "$ROOT"/*) plots_link=${plots_link#"$ROOT"/} ;; esac

MD=$OUT_DIR/scaling.md
{
	echo "## Scaling"
	echo
	echo "Produced by \`bench/scaling.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs,"
	echo "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r)."
	echo
	for lib in ours debian raw; do
		[ -n "${POLL[$lib]:-}" ] || continue
		case $lib in
		ours) echo "- ours: \`${LIBPATH[ours]}\`, poll method \`${POLL[ours]}\`" ;;
		debian) echo "- Debian: \`${LIBPATH[debian]}\`, poll method \`${POLL[debian]}\`" ;;
		raw) echo "- raw: a hand-written epoll loop without any library (\`bench/raw/raw_fd_pingpong.c\`)" ;;
		esac
	done
	echo
	echo "Ir/op: callgrind's user-space instructions of the measured phase per"
	echo "operation, one run each (exact, repeatable). ns/op: process CPU time per"
	echo "operation, median of $RUNS runs per library, the order of the libraries"
	echo "rotating from run to run (noisy shared VM: trust the Ir/op columns first)."
	for kind in "${KINDS[@]}"; do
		echo
		case $kind in
		fds)
			echo "### Cost per fd event as registered descriptors grow"
			echo
			echo "\`fd_pingpong fds=N active=min(N,4)\`: one token hops around a ring of up"
			echo "to 4 pipes while N pipe read ends are registered (N = $FD_MAX is the"
			echo "descriptor limit of $FD_LIMIT, two descriptors per pipe). One operation"
			echo "is one hop: a loop pass, a handler call, a read and a write."
			echo "Callgrind runs: $FD_CALLGRIND_HOPS hops; timed runs: $FD_TIMED_HOPS hops."
			echo
			if [ "$HAVE_RAW" = 1 ]; then
				echo "| N fds | ours Ir/op | Debian Ir/op | raw epoll Ir/op | ours/raw | Debian/raw | ours/Debian | ours ns/op | Debian ns/op | raw ns/op |"
				echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
			else
				echo "| N fds | ours Ir/op | Debian Ir/op | ours/Debian | ours ns/op | Debian ns/op |"
				echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
			fi
			;;
		timers)
			echo "### Cost per timer operation as timers grow"
			echo
			echo "\`timer_churn mode=churn timers=N expire=past cancel=odd repeat=R\`:"
			echo "register N timers with random expiries (in the 100 ms before \`iv_now\`,"
			echo "so all are overdue and the loop never sleeps), cancel every second one,"
			echo "run the loop until the rest have fired; R such cycles. One operation is"
			echo "one register, cancel or fire (2 N per cycle); each cycle also costs one"
			echo "\`iv_main\` call with one loop pass, which dominates at small N."
			echo "Callgrind runs: about $TIMER_CALLGRIND_OPS operations (at least one cycle);"
			echo "timed runs: about $TIMER_TIMED_OPS."
			echo
			echo "| N timers | ours Ir/op | Debian Ir/op | ours/Debian | ours ns/op | Debian ns/op | ours/Debian (ns) |"
			echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
			;;
		esac
		for n in $(points_of "$kind"); do
			o="$kind|$n|ours" d="$kind|$n|debian" r="$kind|$n|raw"
			if [ "$kind" = fds ] && [ "$HAVE_RAW" = 1 ]; then
				echo "| $n | $(fmt1 "${IR[$o]:-}") | $(fmt1 "${IR[$d]:-}") | $(fmt1 "${IR[$r]:-}") |" \
					"$(ratio "${IR[$o]:-}" "${IR[$r]:-}") | $(ratio "${IR[$d]:-}" "${IR[$r]:-}") |" \
					"$(ratio "${IR[$o]:-}" "${IR[$d]:-}") |" \
					"$(fmt1 "${NS[$o]:-}") | $(fmt1 "${NS[$d]:-}") | $(fmt1 "${NS[$r]:-}") |"
			elif [ "$kind" = fds ]; then
				echo "| $n | $(fmt1 "${IR[$o]:-}") | $(fmt1 "${IR[$d]:-}") |" \
					"$(ratio "${IR[$o]:-}" "${IR[$d]:-}") |" \
					"$(fmt1 "${NS[$o]:-}") | $(fmt1 "${NS[$d]:-}") |"
			else
				echo "| $n | $(fmt1 "${IR[$o]:-}") | $(fmt1 "${IR[$d]:-}") |" \
					"$(ratio "${IR[$o]:-}" "${IR[$d]:-}") |" \
					"$(fmt1 "${NS[$o]:-}") | $(fmt1 "${NS[$d]:-}") |" \
					"$(ratio "${NS[$o]:-}" "${NS[$d]:-}") |"
			fi
		done
		if [ "$DO_PLOTS" = 1 ]; then
			echo
			case $kind in
			fds) echo "![fd dispatch cost against registered descriptors]($plots_link/fd_scaling.svg)" ;;
			timers) echo "![timer operation cost against registered timers]($plots_link/timer_scaling.svg)" ;;
			esac
		fi
	done
} >"$MD"

log "wrote $MD, $TSV$([ "$DO_PLOTS" = 1 ] && echo " and the plots in $PLOTS_DIR")"
log "total time: $((SECONDS - START_SECS)) s"
cat "$MD"
