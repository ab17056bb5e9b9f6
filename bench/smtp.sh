#!/bin/bash
# SMTP receiving benchmark: postern and Postfix side by side on loopback,
# in one run, both delivering into a Maildir with fsync. The load is
# Postfix's own smtp-source. Called by `make bench-smtp` (after `make`).
# See bench/README.md. Not a test: nothing here runs in CI.
#
# For each message size and number of parallel sessions, smtp-source sends
# the same number of messages to one recipient over kept-open sessions
# (-d). Reported per server:
#   accepted/s   messages / wall time of smtp-source (250 after DATA)
#   delivered/s  messages / time until the last one is a file in the
#                Maildir. postern answers 250 only after the fsync'd
#                delivery, so the two are the same; Postfix answers after
#                fsyncing its queue file and delivers afterwards (its
#                virtual(8) agent fsyncs the Maildir file too).
#
# Environment (all optional):
#   BENCH_SESSIONS  "1 10 20"      parallel sessions
#   BENCH_SIZES     "4096 102400"  payload bytes (smtp-source -l)
#   BENCH_MESSAGES  messages per level for 4 KB (100 KB gets a quarter)
#   BENCH_SERVERS   "postern postfix" or one of them
#   BENCH_PORT_BASE postern --port-base (SMTP is +25)       (default 22000)
#   BENCH_POSTFIX_PORT                                      (default 22225)
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
SESSIONS=${BENCH_SESSIONS:-"1 10 20"}
SIZES=${BENCH_SIZES:-"4096 102400"}
NMSG=${BENCH_MESSAGES:-2000}
SERVERS=${BENCH_SERVERS:-"postern postfix"}
PORT_BASE=${BENCH_PORT_BASE:-22000}
PPORT=$((PORT_BASE + 25))
XPORT=${BENCH_POSTFIX_PORT:-22225}
SRC=/usr/sbin/smtp-source
PFX_ROOT=
RCPT=bench@example.org

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

postfix_cleanup() {
	[ -n "$PFX_ROOT" ] && [ -d "$PFX_ROOT/conf" ] &&
		/usr/sbin/postfix -c "$PFX_ROOT/conf" abort >/dev/null 2>&1 || true
}
trap 'postfix_cleanup; bench_cleanup' EXIT
trap 'exit 130' INT TERM

need_postfix
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"; }
setup_mail_user
mkdir -p "$B" "$BENCH/results"
REPORT="$BENCH/results/smtp-$(date +%Y%m%d-%H%M%S).txt"

# count_files DIR: messages delivered into a Maildir so far
count_files() { { find "$1/new" "$1/cur" -type f 2>/dev/null || true; } | wc -l; }

# run_level NAME PORT MAILDIR SIZE SESSIONS COUNT -> "accepted/s delivered/s"
run_level() {
	local name=$1 port=$2 md=$3 size=$4 sess=$5 n=$6 t0 t1 t2 i
	local before
	before=$(count_files "$md")
	t0=$(date +%s.%N)
	timeout 600 "$SRC" -d -s "$sess" -m "$n" -l "$size" -M client.test \
		-f sender@remote.test -t "$RCPT" "127.0.0.1:$port" ||
		die "smtp-source against $name failed"
	t1=$(date +%s.%N)
	for i in $(seq 1 6000); do # up to 10 minutes for the deliveries
		[ "$(count_files "$md")" -ge $((before + n)) ] && break
		sleep 0.1
	done
	t2=$(date +%s.%N)
	[ "$(count_files "$md")" -ge $((before + n)) ] ||
		die "$name delivered $(( $(count_files "$md") - before )) of $n"
	"$PY" -c "import sys; t0,t1,t2,n=map(float,sys.argv[1:]); print('%.1f %.1f' % (n/(t1-t0), n/(t2-t0)))" "$t0" "$t1" "$t2" "$n"
}

# ---- postern ----
if has postern; then
	PINST="$B/smtp-pinst"
	rm -rf "$PINST" "$B/smtp-pmail"
	mkdir -p "$B/smtp-pmail"
	postern_setup "$PINST" "$PORT_BASE" "$PINST/users" "$B/smtp-pmail"
	echo "bench-password-1" | "$PSERVE" -c "$PINST/bench.conf" user add "$RCPT" >/dev/null
	[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$PINST" "$B/smtp-pmail"
	postern_start "$PINST" "$PPORT" "$B/smtp-postern.log"
	PMD="$B/smtp-pmail/$RCPT"
fi

# ---- Postfix: a private instance, virtual(8) delivery into a Maildir ----
if has postfix; then
	PFX_ROOT="$B/smtp-postfix"
	postfix_cleanup
	rm -rf "$PFX_ROOT"
	mkdir -p "$PFX_ROOT/vmail"
	chown "$MAIL_USER:" "$PFX_ROOT/vmail"
	"$PY" - "$TOP/tests/integration" "$PFX_ROOT" "$XPORT" "$MAIL_UID" "$MAIL_GID" <<'PYEOF'
import os, sys, tempfile
sys.path.insert(0, sys.argv[1])
import postfix_instance as pi
root, port, uid, gid = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
# build the instance in a temporary dir, then move its files under root
inst = pi.PostfixInstance(port, {
    "virtual_mailbox_domains": "example.org",
    "virtual_mailbox_base": os.path.join(root, "vmail"),
    "virtual_mailbox_maps": "static:bench/",
    "virtual_uid_maps": "static:" + uid,
    "virtual_gid_maps": "static:" + gid,
    "virtual_minimum_uid": "1",
    "virtual_destination_concurrency_limit": "20",
    "message_size_limit": "52428800",
    "virtual_mailbox_limit": "0",
}, smtpd_maxproc=100)
inst.relocate(root)
PYEOF
	pfx_start "$PFX_ROOT" "$XPORT"
	XMD="$PFX_ROOT/vmail/bench"
fi

# Warm-up, not measured: both servers start their processes and threads,
# create the Maildir and fill the page cache before the first timed level.
has postern && run_level postern "$PPORT" "$PMD" 4096 1 2000 >/dev/null
has postern && run_level postern "$PPORT" "$PMD" 4096 4 400 >/dev/null
has postfix && run_level postfix "$XPORT" "$XMD" 4096 1 2000 >/dev/null
has postfix && run_level postfix "$XPORT" "$XMD" 4096 4 400 >/dev/null

{
	echo "SMTP receiving benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
	echo "postern $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?'); $(/usr/sbin/postconf -d mail_version 2>/dev/null)"
	echo "smtp-source -d (sessions kept open), one recipient; both fsync the Maildir file"
	printf '%-7s %-8s %-6s | %-12s | %-12s %-12s | %-8s %-8s\n' size sessions msgs \
		"postern acc/s" "postfix acc/s" "postfix dlv/s" "acc x" "dlv x"
} | tee "$REPORT"
for size in $SIZES; do
	n=$NMSG
	[ "$size" -gt 50000 ] && n=$((NMSG / 4))
	for s in $SESSIONS; do
		p_acc=- p_dlv=- x_acc=- x_dlv=-
		if has postern; then read -r p_acc p_dlv < <(run_level postern "$PPORT" "$PMD" "$size" "$s" "$n"); fi
		if has postfix; then read -r x_acc x_dlv < <(run_level postfix "$XPORT" "$XMD" "$size" "$s" "$n"); fi
		r_acc=$("$PY" -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if '-' not in (a,b) else '-')" "$p_acc" "$x_acc")
		r_dlv=$("$PY" -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if '-' not in (a,b) else '-')" "$p_dlv" "$x_dlv")
		printf '%-7s %-8s %-6s | %-12s | %-12s %-12s | %-8s %-8s\n' "$size" "$s" "$n" \
			"$p_acc" "$x_acc" "$x_dlv" "$r_acc" "$r_dlv" | tee -a "$REPORT"
	done
done
log "report: $REPORT"
