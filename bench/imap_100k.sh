#!/bin/bash
# IMAP SELECT and FETCH 1:* (UID FLAGS) on one INBOX of 100 000 small
# messages. Aim for postern: both together under 0.5 s.
#
# Uses the maildrop of login_stat_100k.sh (generated once, cached in
# build/bench/data-100k-<N>/, same generator arguments). Starts postern on
# it, does one warm-up session (postern's first sync and index build: that
# time is printed too), then times IMAP100K_RUNS sessions of connect,
# LOGIN, SELECT INBOX (timed), FETCH 1:* (UID FLAGS) (timed: every FETCH
# response is read and counted), LOGOUT, and prints min/median/max in ms.
# The same against Dovecot's imapd on an identical copy, for reference.
#
# Environment: IMAP100K_MESSAGES (default 100000), IMAP100K_RUNS (default
# 10), IMAP100K_PORT_BASE (default 25000; postern IMAP is +143, Dovecot
# +243), IMAP100K_SERVERS ("postern dovecot" or one of them).
# Not a test: see bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
NMSGS=${IMAP100K_MESSAGES:-100000}
RUNS=${IMAP100K_RUNS:-10}
PORT_BASE=${IMAP100K_PORT_BASE:-25000}
PPORT=$((PORT_BASE + 143))
DPORT=$((PORT_BASE + 243))
DTPORT=$((PORT_BASE + 294))
SERVERS=${IMAP100K_SERVERS:-"postern dovecot"}
DATA="$B/data-100k-$NMSGS"
INST="$B/pinst-imap100k"

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

trap bench_cleanup EXIT
trap 'exit 130' INT TERM
has dovecot && ensure_dovecot dovecot-imapd
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"; }
setup_mail_user
mkdir -p "$B"
build_imapload
bench_tls_cert "$B/imap-tls"

if [ ! -f "$DATA/.done" ]; then
	log "generating one maildrop of $NMSGS messages of 0.5-2 KB"
	rm -rf "$DATA"
	mkdir -p "$DATA"
	"$PY" "$BENCH/make-mailboxes.py" --users 1 --messages "$NMSGS" \
		--min-kb 0.5 --max-kb 2 --prefix bigbox --seed 100000 \
		--root "$DATA/postern-mail" --root "$DATA/dovecot-mail" \
		--users-file "$DATA/users"
	touch "$DATA/.done"
fi
[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$DATA/postern-mail" "$DATA/dovecot-mail"

if has postern; then
	postern_imap_setup "$INST" "$PORT_BASE" "$DATA/users" "$DATA/postern-mail" 1000
	echo "=== imap_100k.sh $(date -u +%FT%TZ)" >>"$B/imap100k-postern.log"
	postern_start "$INST" "$PPORT" "$B/imap100k-postern.log"
fi
has dovecot && dovecot_imap_start "$B/imap100k-dovecot" "$DPORT" "$DTPORT" "$DATA/users" \
	"$DATA/dovecot-mail" perf 100

# measure NAME PORT: one warm-up session, then RUNS timed ones.
measure() {
	local out="$B/imap100k-$1.txt"
	"$LOAD" -m bigbox -u "$DATA/users" -p "$2" -r 1 -d 600 -T 600 >"$out" 2>&1 ||
		{ printf '%-8s warm-up failed:\n' "$1"; sed 's/^/    /' "$out"; return 0; }
	printf '%-8s warm-up (first sync/index build): %s\n' "$1" \
		"$(sed -n 's/^SELECT + FETCH *min *\([0-9.]*\).*/\1 ms/p' "$out")"
	"$LOAD" -m bigbox -u "$DATA/users" -p "$2" -r "$RUNS" -d 300 -T 300 >"$out" 2>&1 ||
		printf '%-8s some runs failed (%s)\n' "$1" "$out"
	sed -n '/^messages /,/^SELECT + FETCH/p' "$out" | sed "s/^/$(printf '%-8s ' "$1")/"
}

echo "IMAP SELECT INBOX + FETCH 1:* (UID FLAGS), one INBOX of $NMSGS messages ($(du -sm --apparent-size "$DATA/postern-mail" | cut -f1) MB); aim: < 500 ms"
has postern && measure postern "$PPORT"
has dovecot && measure dovecot "$DPORT"
exit 0
