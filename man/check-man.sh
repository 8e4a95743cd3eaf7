#!/bin/sh
# ivykis-rs, LGPL-2.1-only
#
# man/check-man.sh: what `make check-man` checks.
#
#   1. links     the link pages match the NAME sections (make-links.sh --check)
#   2. coverage  every exported symbol (ivykis-c/ivykis.map), every inline
#                function, function-like macro and struct of the public
#                headers has a page: man/<name>.3
#   3. layout    every concept page has the project's .TH line and the
#                sections NAME, SYNOPSIS, DESCRIPTION and SEE ALSO
#   4. groff     groff -ww -man -Tutf8 -z prints no warning for any page
#                (link pages included: their .so must resolve)
#   5. man       the same through `man --warnings -l`, if man-db is installed
#
# Exits 1 if any check failed; every check runs regardless.

set -u

MAN_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$MAN_DIR")
TH_LINE_RE='^\.TH [^ ]+ 3 2026-12-04 "ivykis-rs 0\.43\.0" "ivykis-rs manual"$'

failed=0
fail() {
	echo "check-man: $*" >&2
	failed=1
}

if ! command -v groff >/dev/null 2>&1; then
	echo "check-man: groff is not installed (Debian: apt-get install groff-base)" >&2
	exit 1
fi

# 1. Link pages.
sh "$MAN_DIR/make-links.sh" --check || fail "link pages are out of date; run man/make-links.sh"

is_link() {
	[ "$(wc -l <"$1")" -eq 1 ] && head -n 1 "$1" | grep -q '^\.so man3/'
}

concept_pages=
link_pages=
count_c=0
count_l=0
for page in "$MAN_DIR"/*.3; do
	if is_link "$page"; then
		link_pages="$link_pages $(basename "$page")"
		count_l=$((count_l + 1))
	else
		concept_pages="$concept_pages $(basename "$page")"
		count_c=$((count_c + 1))
	fi
done

# 2. Coverage of the public interface.
{
	# Exported symbols: the version script's "name;" lines.
	sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' "$ROOT/ivykis-c/ivykis.map" |
		grep -v '^local$'
	for header in "$ROOT"/ivykis-c/include/*.h; do
		# static inline functions: the name before "(" on the line that has
		# it (possibly the line after "static inline <type>").
		awk '
			/^static inline/ { want = 1 }
			want && match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) {
				print substr($0, RSTART, RLENGTH - 1)
				want = 0
			}
		' "$header"
		# function-like macros
		sed -n 's/^#define[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$header"
		# structures defined by the header
		sed -n 's/^struct[[:space:]]\{1,\}\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*{.*/\1/p' "$header"
	done
} | grep -v '^__iv_list' | sort -u | while read -r name; do
	[ -f "$MAN_DIR/$name.3" ] || echo "$name"
done >"${TMPDIR:-/tmp}/check-man.missing.$$"
if [ -s "${TMPDIR:-/tmp}/check-man.missing.$$" ]; then
	fail "no page for: $(tr '\n' ' ' <"${TMPDIR:-/tmp}/check-man.missing.$$")"
fi
rm -f "${TMPDIR:-/tmp}/check-man.missing.$$"

# 3. Layout of the concept pages.
for page in $concept_pages; do
	file=$MAN_DIR/$page
	th=$(grep -m 1 '^\.TH ' "$file")
	printf '%s\n' "$th" | grep -Eq "$TH_LINE_RE" || fail "$page: unexpected .TH line: $th"
	for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -Eq "^\.SH \"?$section\"?\$" "$file" || fail "$page: no $section section"
	done
done

# 4 and 5 run in a scratch directory where man3/ is this directory, so that
# the link pages' ".so man3/<page>.3" resolves as it does once installed.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/check-man.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
ln -s "$MAN_DIR" "$scratch/man3"

# man-db picks the output device from the locale; use UTF-8 if there is one.
if locale -a 2>/dev/null | grep -Eqi '^c\.utf-?8$'; then
	export LC_ALL=C.UTF-8
else
	export LC_ALL=C
fi

# 4. groff, every warning enabled.
for page in $concept_pages $link_pages; do
	out=$(cd "$scratch" && groff -ww -man -Tutf8 -z "man3/$page" 2>&1)
	status=$?
	if [ $status -ne 0 ] || [ -n "$out" ]; then
		fail "groff: $page (exit $status):"
		printf '%s\n' "$out" >&2
	fi
done

# 5. man-db's own view, if it is installed.
if command -v man >/dev/null 2>&1; then
	for page in $concept_pages $link_pages; do
		out=$(cd "$scratch" && MANPAGER=cat PAGER=cat MANWIDTH=80 \
			man --warnings=w -l "man3/$page" 2>&1 >/dev/null)
		if [ -n "$out" ]; then
			fail "man --warnings: $page:"
			printf '%s\n' "$out" >&2
		fi
	done
else
	echo "check-man: man is not installed; skipping the man --warnings pass"
fi

if [ $failed -ne 0 ]; then
	echo "check-man: FAILED ($count_c pages, $count_l link pages)" >&2
	exit 1
fi
echo "check-man: $count_c pages and $count_l link pages are well-formed"
