#!/bin/sh
# ivykis-rs, LGPL-2.1-only
#
# man/make-links.sh [--check]
#
# Every concept page in man/ (iv_fd.3, iv_timer.3, ...) documents several
# functions and structures. For each name listed in a page's NAME section,
# and each name in its `.\" aliases:` comment line, this writes a one-line
# link page man/<name>.3 containing ".so man3/<page>.3", so that
# `man iv_fd_register` finds iv_fd(3). Link pages that no page names any
# more are removed. The link pages are ordinary files, committed with the
# concept pages; `make install` installs both.
#
# With --check nothing is written: the script lists what is missing, wrong
# or stale and exits 1 if anything is (make check-man runs it this way).

set -eu

cd "$(dirname "$0")"

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

# A link page is a file whose whole content is one ".so man3/..." line.
is_link() {
	[ "$(wc -l <"$1")" -eq 1 ] && head -n 1 "$1" | grep -q '^\.so man3/[^ ]*\.3$'
}

# Prints "name page" for every name a concept page claims.
names_of() {
	page=$1
	base=${page%.3}
	awk -v base="$base" '
		/^\.SH NAME/ { in_name = 1; next }
		in_name && /^\.SH/ { in_name = 0 }
		in_name {
			line = $0
			sub(/ \\-.*/, "", line)
			n = split(line, parts, /, */)
			for (i = 1; i <= n; i++)
				if (parts[i] != "" && parts[i] != base)
					print parts[i], base
			in_name = 0
		}
		/^\.\\" aliases:/ {
			for (i = 3; i <= NF; i++)
				if ($i != base)
					print $i, base
		}
	' "$page"
}

want=$(mktemp)
trap 'rm -f "$want"' EXIT

for page in *.3; do
	is_link "$page" && continue
	names_of "$page"
done | sort >"$want"

status=0

dups=$(awk '{ print $1 }' "$want" | uniq -d | tr '\n' ' ')
if [ -n "$dups" ]; then
	echo "make-links: names claimed by more than one page: $dups" >&2
	exit 1
fi

while read -r name base; do
	if [ -e "$name.3" ] && ! is_link "$name.3"; then
		echo "make-links: $name.3 is a concept page, but $base.3 names $name" >&2
		status=1
		continue
	fi
	line=".so man3/$base.3"
	if [ -f "$name.3" ] && [ "$(cat "$name.3")" = "$line" ]; then
		continue
	fi
	if [ $check -eq 1 ]; then
		echo "make-links: $name.3 missing or not '$line'" >&2
		status=1
	else
		printf '%s\n' "$line" >"$name.3"
		echo "wrote $name.3 -> $base.3"
	fi
done <"$want"

# Link pages whose name no page claims any more.
for page in *.3; do
	is_link "$page" || continue
	name=${page%.3}
	if ! awk -v n="$name" '$1 == n { found = 1 } END { exit !found }' "$want"; then
		if [ $check -eq 1 ]; then
			echo "make-links: stale link page $page" >&2
			status=1
		else
			rm -f "$page"
			echo "removed stale $page"
		fi
	fi
done

exit $status
