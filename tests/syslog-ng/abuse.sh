#!/usr/bin/env bash
# abuse.sh - Debian's unchanged syslog-ng 3.38 on our libivykis.so.0 under
# bad input: TCP clients that reset connections in the middle of messages,
# thousands of connections that come and go without a word, idle ones, and
# a followed file that is rotated and truncated while lines are appended.
#
#   tests/syslog-ng/abuse.sh [--short] [--lib DIR | --debian] [--keep]
#
#   --short    the CI form (about 40-50 s); the default is the long form
#              (several minutes, more connections and file rounds)
#   --lib DIR  the library under test: DIR/libivykis.so.0 (default: the
#              project's build/, i.e. after `make`)
#   --debian   Debian's libivykis0 0.42.4 from the harness cache instead:
#              validates this script against the reference implementation
#   --keep     keep the work directory (config, outputs, stderr) on PASS too
#
# Last line PASS, or FAIL: <reasons>; exit status 0 only on PASS. What is
# checked, and what syslog-ng 3.38 guarantees for a rotated or truncated
# file(), is described at the top of abuse.py, which does the work.
#
# syslog-ng itself comes from the cache of the shared harness
# (../shared/tools/syslog-ng/run.sh; IVYKIS_SNG_CACHE, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-syslog-ng). When the cache is not
# set up yet, the harness's setup is run once for it (IVYKIS_SHARED names the
# shared directory; default ../shared next to the project checkout).
# SNG_ENV passes VAR=VALUE words to syslog-ng's environment;
# IV_EXCLUDE_POLL_METHOD, when set, is inherited by syslog-ng.
set -uo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() {
	echo "abuse: $*" >&2
	echo "FAIL: $*"
	exit 2
}
usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

MODE=long
LIB_DIR=""
DEBIAN=0
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--short) MODE=short; shift ;;
	--long) MODE=long; shift ;;
	--lib) [ $# -ge 2 ] || usage 2; LIB_DIR=$2; shift 2 ;;
	--debian) DEBIAN=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "abuse: unknown argument: $1" >&2; usage 2 ;;
	esac
done
command -v python3 >/dev/null 2>&1 || die "python3 is needed"

CACHE=${IVYKIS_SNG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ivykis-syslog-ng}
SNG_ROOT=$CACHE/root
PRIVLIB=$SNG_ROOT/usr/lib/syslog-ng
DEB_IVY_DIR=$SNG_ROOT/usr/lib/x86_64-linux-gnu

# The cache: the harness's setup runs before it looks at --lib, and an empty
# --lib directory makes it stop right after the setup.
if [ ! -f "$CACHE/ready" ] || [ ! -x "$SNG_ROOT/usr/sbin/syslog-ng" ]; then
	if [ -z "${IVYKIS_SHARED:-}" ]; then
		top=$(git -C "$ROOT" rev-parse --show-toplevel 2>/dev/null) || top=$ROOT
		IVYKIS_SHARED=$top/../shared
		# A clone made elsewhere (CI clones into a scratch directory).
		[ -d "$IVYKIS_SHARED" ] || IVYKIS_SHARED=/work/shared
	fi
	harness=$IVYKIS_SHARED/tools/syslog-ng/run.sh
	[ -x "$harness" ] || die "no syslog-ng in the cache $CACHE, and the harness that sets it up" \
		"is missing ($harness); set IVYKIS_SHARED=/path/to/shared"
	echo "setting up the syslog-ng cache $CACHE through $harness"
	empty=$(mktemp -d "${TMPDIR:-/tmp}/ivy-abuse-setup.XXXXXX")
	IVYKIS_SNG_CACHE=$CACHE "$harness" --lib "$empty" >"$empty.log" 2>&1
	rmdir "$empty"
	if [ ! -f "$CACHE/ready" ]; then
		tail -20 "$empty.log"
		rm -f "$empty.log"
		die "the harness could not set up its cache $CACHE"
	fi
	rm -f "$empty.log"
fi

if [ $DEBIAN = 1 ]; then
	[ -z "$LIB_DIR" ] || die "--lib and --debian exclude each other"
	LIB_DIR=$DEB_IVY_DIR
elif [ -z "$LIB_DIR" ]; then
	LIB_DIR=$ROOT/build
	[ -e "$LIB_DIR/libivykis.so.0" ] || die "$LIB_DIR/libivykis.so.0 does not exist: run make first, or give --lib DIR"
fi
[ -d "$LIB_DIR" ] || die "--lib $LIB_DIR: not a directory"
LIB_DIR=$(cd "$LIB_DIR" && pwd)
[ -e "$LIB_DIR/libivykis.so.0" ] || die "$LIB_DIR/libivykis.so.0 does not exist"

# A short path: it holds a unix socket (syslog-ng-ctl's).
W=$(mktemp -d "${TMPDIR:-/tmp}/ivy-abuse.XXXXXX") || die "mktemp failed"
echo "abuse ($MODE): syslog-ng $(sed -n 's/^Package: syslog-ng-core Version: //p' "$CACHE/ready")," \
	"library $(readlink -f "$LIB_DIR/libivykis.so.0")${IV_EXCLUDE_POLL_METHOD:+, IV_EXCLUDE_POLL_METHOD=$IV_EXCLUDE_POLL_METHOD}"
echo "work dir: $W"

python3 "$HERE/abuse.py" --mode "$MODE" --work "$W" \
	--sng "$SNG_ROOT/usr/sbin/syslog-ng" --ctl "$SNG_ROOT/usr/sbin/syslog-ng-ctl" \
	--moddir "$PRIVLIB/3.38" --ld-path "$LIB_DIR:$PRIVLIB" \
	--expect-lib "$LIB_DIR/libivykis.so.0" --sng-env "${SNG_ENV:-}"
status=$?
# (the work dir was named above; the last line stays PASS or FAIL)
[ $status -eq 0 ] && [ $KEEP = 0 ] && rm -rf "$W"
exit $status
