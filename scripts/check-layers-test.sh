#!/bin/sh
# Tests scripts/check-layers.sh on small trees made here: a clean tree
# passes; a planted include across the layers, a folder missing from
# the list, a list out of dependency order and a documented table that
# is not the list's fail, naming file:line. Run by `make check-layers`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
check=$here/check-layers.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME RC PATTERN ARGS...: the check exits RC and, when PATTERN
# is not empty, prints a line matching it.
expect() {
	name=$1 want=$2 pat=$3
	shift 3
	out=$("$check" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] &&
	   { [ -z "$pat" ] || printf '%s\n' "$out" | grep -q -- "$pat"; }; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name: exit $rc (want $want), output:"
		printf '%s\n' "$out" | sed 's/^/  /'
	fi
}

t=$tmp/tree
mkdir -p "$t/scripts" "$t/core" "$t/store" "$t/imap" "$t/tests/unit"
cat > "$t/scripts/layers.txt" <<'L'
# a comment
core  | all    | -
store | worker | core
imap  | worker | core store
tests | -      | *
L
printf '#include "core/buf.h"\n' > "$t/core/buf.h"
printf '#include <stdio.h>\n#include "core/buf.h"\n#include "store_int.h"\n' \
	> "$t/store/a.c"
printf '#include "store/store.h"\n  #  include "core/buf.h"\n' > "$t/imap/b.c"
printf '#include "imap/b.h"\n#include "tests/unit/unit.h"\n' \
	> "$t/tests/unit/test_b.c"
expect clean 0 "" -C "$t"

# A store file that includes IMAP (store/ sits below imap/).
printf '#include "core/buf.h"\n#include "imap/mutf7.h"\n' > "$t/store/bad.c"
expect planted 1 '^store/bad.c:2: store/ may not include "imap/mutf7.h"' -C "$t"
rm "$t/store/bad.c"
# The same in a header, with spaces after the #.
printf '/* x */\n\n# include "imap/x.h"\n' > "$t/store/bad.h"
expect planted_h 1 '^store/bad.h:3: ' -C "$t"
rm "$t/store/bad.h"

# docs/ARCHITECTURE.md's table between the markers is the list's.
mkdir "$t/docs"
{ echo "# doc"; echo "<!-- begin layers.txt -->"
  "$check" --table -f "$t/scripts/layers.txt"
  echo "<!-- end layers.txt -->"; echo "more"; } > "$t/docs/ARCHITECTURE.md"
expect doc_ok 0 "" -C "$t"
sed -i 's/^| `imap\/` | worker | core, store |$/| `imap\/` | worker | core |/' \
	"$t/docs/ARCHITECTURE.md"
expect doc_stale 1 '^docs/ARCHITECTURE.md:2: the table is not' -C "$t"
rm -r "$t/docs"

# A folder with sources that the list does not name.
mkdir "$t/queue"
printf '#include "core/buf.h"\n' > "$t/queue/q.c"
expect unlisted 1 '^queue/q.c: folder queue/ is not in' -C "$t"
rm -r "$t/queue"

# A list out of dependency order (a cycle would need one).
sed 's/^store | worker | core$/store | worker | core imap/' \
	"$t/scripts/layers.txt" > "$tmp/cycle.txt"
expect order 1 'store may include imap, listed below it' -C "$t" -f "$tmp/cycle.txt"
# A folder allowed that is not listed at all.
sed 's/^imap  | worker | core store$/imap | worker | core store net/' \
	"$t/scripts/layers.txt" > "$tmp/unknown.txt"
expect unknown 1 'imap may include net, which is not listed' -C "$t" -f "$tmp/unknown.txt"

# The real list forbids what issue 12 took away: store/ -> imap/,
# auth/ -> deliver/, smtp/ -> runner/, net/ -> session/.
r=$tmp/real
mkdir -p "$r/store" "$r/auth" "$r/smtp" "$r/net"
printf '#include "imap/mutf7.h"\n' > "$r/store/x.c"
printf '#include "deliver/local.h"\n' > "$r/auth/x.c"
printf '#include "runner/runner.h"\n' > "$r/smtp/x.c"
printf '#include "session/env.h"\n' > "$r/net/x.c"
for f in store/x.c auth/x.c smtp/x.c net/x.c; do
	expect "real_$f" 1 "^$f:1: " -C "$r" -f "$here/layers.txt"
done
# ... and allows what the tree does.
rm "$r"/*/x.c
printf '#include "queue/queue.h"\n#include "session/env.h"\n' > "$r/smtp/x.c"
expect real_ok 0 "" -C "$r" -f "$here/layers.txt"

echo "check-layers-test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
