# shellcheck shell=bash disable=SC2153,SC2034 # ROOT, CACHE_DIR, OUR_LIB_DIR come from the includer; DEBIAN_LIB_DIR and INCLUDE_DIR are for it
# ivykis-rs benchmarks, LGPL-2.1-only
#
# Shell functions shared by bench/run.sh and bench/scaling.sh (sourced, not
# run). The includer sets, before calling them:
#   SCRIPT_NAME   prefix of error messages ("run.sh", "scaling.sh")
#   ROOT          the repository root
#   CACHE_DIR     where Debian's packages are downloaded and unpacked
#   OUR_LIB_DIR   the directory holding our libivykis.so.0
# and calls setup_debian_lib, which sets DEBIAN_LIB_DIR and INCLUDE_DIR.

die() {
	echo "$SCRIPT_NAME: $*" >&2
	exit 1
}

log() {
	echo "== $*" >&2
}

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

# Debian's libivykis0 under $CACHE_DIR/debian-lib (DEBIAN_LIB_DIR), and the
# headers to compile against (INCLUDE_DIR): ours, or Debian's if ours are
# missing.
setup_debian_lib() {
	DEBIAN_LIB_DIR=$CACHE_DIR/debian-lib
	if [ ! -e "$DEBIAN_LIB_DIR/libivykis.so.0" ]; then
		local debian_root real_so
		debian_root=$(fetch_deb libivykis0)
		real_so=$(find "$debian_root" -name 'libivykis.so.0.*' -type f | head -n 1)
		[ -n "$real_so" ] || die "no libivykis.so.0.* inside $debian_root"
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
}

# The directory of a library variant's libivykis.so.0 (none for raw).
lib_dir() {
	case $1 in
	ours) echo "$OUR_LIB_DIR" ;;
	debian) echo "$DEBIAN_LIB_DIR" ;;
	raw) echo "" ;;
	esac
}

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

# run_one VARIANT LOGFILE COMMAND...: runs COMMAND (for a library, with its
# directory first in the loader's path; raw: no libivykis at all), checks
# the exit status, the single BENCH line and the library the program reports
# it loaded (`none` for a raw program), and prints the BENCH line.
run_one() {
	local variant=$1 logfile=$2 expected line loaded status=0
	shift 2
	if [ "$variant" = raw ]; then
		expected=none
		"$@" >"$logfile" 2>&1 || status=$?
	else
		expected=$(readlink -f "$(lib_dir "$variant")/libivykis.so.0")
		LD_LIBRARY_PATH=$(lib_dir "$variant")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			"$@" >"$logfile" 2>&1 || status=$?
	fi
	if [ "$status" != 0 ]; then
		cat "$logfile" >&2
		die "FAILED (exit $status) on $variant: $*"
	fi
	[ "$(grep -c '^BENCH ' "$logfile")" = 1 ] ||
		{ cat "$logfile" >&2; die "expected one BENCH line from: $*"; }
	line=$(grep '^BENCH ' "$logfile")
	loaded=$(field "$line" lib) || die "no lib= in: $line"
	[ "$loaded" = "$expected" ] ||
		die "WRONG LIBRARY: run for '$variant' loaded $loaded, expected $expected"
	echo "$line"
}

# median / min / max of the numbers on standard input
stats() {
	sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) exit 1
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s %s %s\n", m, v[1], v[NR]
		}'
}

# ratio A B: A / B to two decimals, or "-".
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'
}
