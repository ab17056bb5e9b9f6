#!/bin/sh
# Fails when a key of postern.conf is missing from its documentation.
# The keys and their defaults are read from the keys[] table of
# core/config.c (a row is `{ "name", K_TYPE, OFF(field), min, max,
# "default", "help" }`), the listeners from listener_names[] (each is
# NAME_listen, default off). Each key must have its entry in
# man/postern.conf.5 -- a line `.B name = default` with the table's
# default -- and appear in docs/config.md. Run by `make unit`, so by
# `make check`.
set -eu
cd "$(dirname "$0")/.."
cfg=core/config.c man=man/postern.conf.5 doc=docs/config.md
tab=$(mktemp)
trap 'rm -f "$tab"' EXIT
# One "name<TAB>default" line per row of the table.
awk '
	/^static const struct config_key keys\[\] = \{/ { on = 1; next }
	on && /^\};/ { on = 0 }
	on { text = text " " $0 }
	END {
		n = split(text, rows, /\{ *"/)
		for (i = 2; i <= n; i++) {
			r = rows[i]
			name = substr(r, 1, index(r, "\"") - 1)
			r = substr(r, index(r, "\"") + 1)  # after the name
			r = substr(r, index(r, "\"") + 1)  # inside the default
			print name "\t" substr(r, 1, index(r, "\"") - 1)
		}
	}' "$cfg" >"$tab"
sed -n '/listener_names\[LISTEN__COUNT\] = {/,/};/p' "$cfg" |
	grep -o '"[a-z0-9]*"' | tr -d '"' | sed 's/$/_listen\toff/' >>"$tab"
n=$(wc -l <"$tab")
if [ "$n" -lt 20 ] || ! grep -q '^hostname	localhost$' "$tab"; then
	echo "check-man-keys: read only $n keys from $cfg: has the table's form changed?" >&2
	exit 1
fi
bad=0
tabc=$(printf '\t')
while IFS="$tabc" read -r key def; do
	want=".B $key =${def:+ $def}"
	got=$(grep -E "^\.B $key( |$)" "$man" || true)
	if [ -z "$got" ]; then
		echo "check-man-keys: $key (in $cfg) has no entry in $man; add: $want" >&2
		bad=1
	elif [ "$got" != "$want" ]; then
		echo "check-man-keys: $man says \"$got\", $cfg's default gives \"$want\"" >&2
		bad=1
	fi
	if ! grep -qE "(^|[^a-z0-9_])${key}([^a-z0-9_]|\$)" "$doc"; then
		echo "check-man-keys: $key (in $cfg) is missing from $doc" >&2
		bad=1
	fi
done <"$tab"
[ $bad -eq 0 ] && echo "check-man-keys: $n keys, each in $man (with its default) and $doc"
exit $bad
