#!/bin/bash
# POP3 login + STAT on one maildrop of 100 000 small messages.
#
# Builds the maildrop once (cached in build/bench/data-100k/), starts
# postern on it, does one warm-up login (postern assigns UIDs and builds
# its index: that time is printed too), then times connect + greeting +
# USER/PASS + STAT over 20 sessions and prints min/median/max in ms.
# Target for postern: well under 100 ms.
#
# With Dovecot installed (as bench/run.sh installs it) the same is measured
# against Dovecot on an identical copy, for reference; LOGIN100K_DOVECOT=no
# skips it; LOGIN100K_SERVERS=dovecot measures Dovecot alone. Environment: LOGIN100K_MESSAGES (default 100000),
# LOGIN100K_RUNS (default 20), LOGIN100K_PORT_BASE (default 22000; postern
# POP3 is +110, Dovecot +210). Not a test: see bench/README.md.
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
NMSGS=${LOGIN100K_MESSAGES:-100000}
RUNS=${LOGIN100K_RUNS:-20}
PORT_BASE=${LOGIN100K_PORT_BASE:-22000}
PPORT=$((PORT_BASE + 110))
DPORT=$((PORT_BASE + 210))
WITH_DOVECOT=${LOGIN100K_DOVECOT:-auto}
DATA="$B/data-100k-$NMSGS"
INST="$B/pinst-100k"

trap bench_cleanup EXIT
trap 'exit 130' INT TERM
SERVERS=${LOGIN100K_SERVERS:-postern}
if [ "$SERVERS" = postern ]; then
	[ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"
fi
if [ "$WITH_DOVECOT" = auto ]; then
	[ -x /usr/sbin/dovecot ] && WITH_DOVECOT=yes || WITH_DOVECOT=no
fi
setup_mail_user
mkdir -p "$B"

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
USER_LINE=$(head -1 "$DATA/users")
PUSER=${USER_LINE%%:*}
PPASS=${USER_LINE#*:\{PLAIN\}}
PPASS=${PPASS%%:*}

# measure NAME PORT: one warm-up session, then RUNS timed ones.
measure() {
	"$PY" - "$1" "$2" "$PUSER" "$PPASS" "$RUNS" "$NMSGS" <<'EOF'
import poplib, statistics, sys, time
name, port, user, pw, runs, expect = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])

def session():
    t0 = time.perf_counter()
    p = poplib.POP3("127.0.0.1", port, timeout=300)
    p.user(user)
    p.pass_(pw)
    count, octets = p.stat()
    t1 = time.perf_counter()
    p.quit()
    return (t1 - t0) * 1000, count

t, n = session()
print(f"{name:8s} warm-up login+STAT (first sync/index build): {t:9.1f} ms, STAT {n} messages")
if n != expect:
    print(f"{name:8s} WARNING: STAT says {n} messages, the maildrop has {expect}")
# A failed attempt (e.g. -ERR [IN-USE] while the previous session's lock
# is still held) is reported and retried, up to 3 x runs attempts.
times, errors = [], 0
deadline = time.monotonic() + 300
for i in range(3 * runs):
    if len(times) >= runs or time.monotonic() > deadline:
        break
    try:
        t, n = session()
        times.append(t)
    except (poplib.error_proto, OSError) as e:
        errors += 1
        print(f"{name:8s} attempt {i + 1}: {e}")
        time.sleep(0.05)
if times:
    print(f"{name:8s} login+STAT over {len(times)} runs: min {min(times):.1f} ms, "
          f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
          f"{f', {errors} failed attempts' if errors else ''}")
else:
    print(f"{name:8s} no successful run ({errors} errors)")
EOF
}

if [ "$SERVERS" = postern ]; then
	postern_setup "$INST" "$PORT_BASE" "$DATA/users" "$DATA/postern-mail"
	echo "=== login_stat_100k.sh $(date -u +%FT%TZ)" >>"$B/login100k-postern.log"
	postern_start "$INST" "$PPORT" "$B/login100k-postern.log"
fi
if [ "$WITH_DOVECOT" = yes ]; then
	dovecot_start "$B/login100k-dovecot" "$DPORT" "$DATA/users" "$DATA/dovecot-mail" perf
fi

echo "POP3 login + STAT, one maildrop of $NMSGS messages ($(du -sm --apparent-size "$DATA/postern-mail" | cut -f1) MB), connect to STAT reply"
[ "$SERVERS" = postern ] && measure postern "$PPORT"
[ "$WITH_DOVECOT" = yes ] && measure dovecot "$DPORT"
exit 0
