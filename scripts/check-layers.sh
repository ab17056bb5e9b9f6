#!/bin/sh
# Checks the include graph against scripts/layers.txt (see there): every
# #include "x/y.h" in a .c or .h file below a listed folder must name a
# folder that one may include, every folder with sources must be listed,
# and a folder may include only folders listed above it; the table in
# ROOT/docs/ARCHITECTURE.md between the "layers.txt" markers, when there
# is one, must be the one --table prints. Prints each offence as
# file:line and exits 1; exits 0 when all is well.
#
#   scripts/check-layers.sh [-C ROOT] [-f LAYERS]   check ROOT (default .)
#   scripts/check-layers.sh --table [-f LAYERS]     the table, in Markdown
set -eu
root=.
layers=
table=0
while [ $# -gt 0 ]; do
	case $1 in
	-C) root=$2; shift 2 ;;
	-f) layers=$2; shift 2 ;;
	--table) table=1; shift ;;
	*) echo "usage: $0 [-C ROOT] [-f LAYERS] [--table]" >&2; exit 2 ;;
	esac
done
[ -n "$layers" ] || layers=$root/scripts/layers.txt
[ -r "$layers" ] || { echo "check-layers: cannot read $layers" >&2; exit 2; }

print_table() {
	awk -F'|' '
	/^[ \t]*(#|$)/ { next }
	{
		for (i = 1; i <= 3; i++) gsub(/^[ \t]+|[ \t]+$/, "", $i)
		if (!head++) {
			print "| folder | runs in | may include |"
			print "| --- | --- | --- |"
		}
		inc = $3 == "-" ? "-" : $3 == "*" ? "anything" : $3
		gsub(/ +/, ", ", inc)
		gsub(/ +/, ", ", $2)
		printf "| `%s/` | %s | %s |\n", $1, $2, inc
	}' "$layers"
}
if [ $table = 1 ]; then
	print_table
	exit 0
fi

# The documented table, if any, is the generated one.
doc=$root/docs/ARCHITECTURE.md
doc_bad=0
if [ -r "$doc" ] && grep -q '^<!-- begin layers.txt' "$doc"; then
	tmp=$(mktemp -d)
	sed -n '/^<!-- begin layers.txt/,/^<!-- end layers.txt/p' "$doc" |
		sed '1d;$d' > "$tmp/doc"
	print_table > "$tmp/layers"
	if ! cmp -s "$tmp/doc" "$tmp/layers"; then
		line=$(grep -n '^<!-- begin layers.txt' "$doc" | cut -d: -f1)
		echo "docs/ARCHITECTURE.md:$line: the table is not $layers's;" \
		     "put in the output of $0 --table"
		diff -u "$tmp/doc" "$tmp/layers" || true
		doc_bad=1
	fi
	rm -r "$tmp"
fi

# Every .c and .h file, relative to root, build output and .git aside.
(cd "$root" && find . -name build -prune -o -name .git -prune -o \
	-type f \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||' |
	LC_ALL=C sort) |
awk -v root="$root" -v layers="$layers" '
function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
# The listed folder a path lies in (the longest listed prefix), or "".
function folder_of(path,    best, f) {
	best = ""
	for (f in rank)
		if (index(path, f "/") == 1 && length(f) > length(best))
			best = f
	return best
}
BEGIN {
	bad = 0
	n = 0
	while ((getline line < layers) > 0) {
		lineno++
		if (line ~ /^[ \t]*(#|$)/)
			continue
		nf = split(line, fld, "|")
		f = trim(fld[1])
		if (nf != 3 || f == "") {
			printf "%s:%d: want \"folder | runs in | may include\"\n",
			       layers, lineno
			bad = 1
			continue
		}
		if (f in rank) {
			printf "%s:%d: %s is listed twice\n", layers, lineno, f
			bad = 1
		}
		rank[f] = ++n
		where[f] = lineno
		may[f] = " " trim(fld[3]) " "
	}
	close(layers)
	# Dependency order: a folder names only folders listed above it.
	for (f in rank) {
		k = split(trim(may[f]), dep, /[ \t]+/)
		for (i = 1; i <= k; i++) {
			d = dep[i]
			if (d == "-" || d == "*")
				continue
			if (!(d in rank)) {
				printf "%s:%d: %s may include %s, which is not listed\n",
				       layers, where[f], f, d
				bad = 1
			} else if (rank[d] >= rank[f]) {
				printf "%s:%d: %s may include %s, listed below it " \
				       "(dependency order; a cycle?)\n",
				       layers, where[f], f, d
				bad = 1
			}
		}
	}
}
{
	file = $0
	f = folder_of(file)
	if (f == "") {
		if (file ~ /\//) {
			split(file, p, "/")
			if (!(p[1] in unlisted))
				printf "%s: folder %s/ is not in %s\n", file, p[1], layers
			unlisted[p[1]] = 1
			bad = 1
		}
		next
	}
	ln = 0
	path = root "/" file
	while ((getline line < path) > 0) {
		ln++
		if (line !~ /^[ \t]*#[ \t]*include[ \t]*"/)
			continue
		inc = line
		sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", inc)
		sub(/".*/, "", inc)
		if (inc !~ /\//)
			continue  # beside the file: its own folder
		t = folder_of(inc)
		if (t == "") {
			split(inc, p, "/")
			t = p[1]
		}
		if (t == f || may[f] ~ / \* /)
			continue
		if (index(may[f], " " t " ") == 0) {
			printf "%s:%d: %s/ may not include \"%s\" (%s/); see %s\n",
			       file, ln, f, inc, t, layers
			bad = 1
		}
	}
	close(path)
}
END { exit bad }
' || exit 1
exit $doc_bad
