#!/usr/bin/env bash
# ivykis-rs, LGPL-2.1-only
#
# check_symbols.sh LIB [EXPECTED]
#
# Checks the dynamic symbol table of LIB (normally build/libivykis.so.0)
# against EXPECTED (default: tests/symbols.txt next to this script):
#
#   1. the defined dynamic symbols, as "name@@VERSION" lines, must be exactly
#      those of EXPECTED: nothing missing, nothing extra, no symbol without a
#      version, and each at its default version ("@@", not a hidden "@");
#   2. the version nodes used in EXPECTED must form one chain in version
#      order, each node inheriting the previous one (as ld records it from
#      "IVYKIS_0.30 { ... } IVYKIS_0.29;").
#
# Prints a unified diff of what differs and exits non-zero on any mismatch.

set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 LIB [EXPECTED]" >&2
	exit 2
fi

lib=$1
expected=${2:-$(dirname "$0")/symbols.txt}

if [ ! -r "$lib" ]; then
	echo "$0: cannot read $lib" >&2
	exit 2
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

status=0

# --- 1. defined symbols and their versions ---------------------------------
#
# readelf -W line: "Num: Value Size Type Bind Vis Ndx Name".  Undefined
# symbols (imports) have Ndx UND.  The nameless LOCAL entries and the ABS
# entries that older linkers emit for the version nodes themselves (named
# "IVYKIS_0.29" or "IVYKIS_0.29@@IVYKIS_0.29") are not exports.
readelf --dyn-syms -W "$lib" >"$workdir/dynsyms"
awk '
	$1 ~ /^[0-9]+:$/ && $7 != "UND" && NF >= 8 {
		name = $8
		base = name
		sub(/@.*/, "", base)
		if ($7 == "ABS" && $4 == "OBJECT" && base ~ /^IVYKIS_/)
			next
		print name
	}
' "$workdir/dynsyms" | LC_ALL=C sort >"$workdir/actual"

LC_ALL=C sort "$expected" >"$workdir/expected"

if ! diff -u --label "expected ($expected)" --label "actual ($lib)" \
	"$workdir/expected" "$workdir/actual"; then
	echo "check_symbols: exported symbols differ (- missing, + unexpected)" >&2
	status=1
fi

# --- 2. version node inheritance -------------------------------------------
#
# readelf -V prints each version definition as "... Name: NODE" followed, if
# it inherits, by "... Parent 1: PARENT".  The BASE entry is the soname.
readelf -V -W "$lib" | awk '
	/Version definition section/ { in_defs = 1; next }
	/Version needs section|Version symbols section/ { in_defs = 0 }
	!in_defs { next }
	/Name:/ {
		if (node != "")
			print node, parent
		node = ($0 ~ /Flags: BASE/) ? "" : $NF
		parent = "-"
		next
	}
	/Parent 1:/ { parent = $NF }
	END { if (node != "") print node, parent }
' | LC_ALL=C sort >"$workdir/actual_nodes"

sed -n 's/.*@@\{0,1\}\(IVYKIS_[0-9.]*\)$/\1/p' "$workdir/expected" |
	sort -u -V |
	awk '{ print $1, (NR == 1 ? "-" : previous); previous = $1 }' |
	LC_ALL=C sort >"$workdir/expected_nodes"

if ! diff -u --label "expected version nodes (node parent)" \
	--label "actual version nodes ($lib)" \
	"$workdir/expected_nodes" "$workdir/actual_nodes"; then
	echo "check_symbols: version nodes or their inheritance differ" >&2
	status=1
fi

if [ "$status" -eq 0 ]; then
	echo "check_symbols: $(wc -l <"$workdir/actual") symbols in" \
		"$(wc -l <"$workdir/actual_nodes") version nodes match $expected"
fi
exit "$status"
