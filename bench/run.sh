#!/bin/bash
# POP3 benchmark: postern and Dovecot side by side on loopback, over
# identical mailboxes, in one run. Called by `make bench` (after `make`).
# See bench/README.md. Not a test: nothing here runs in CI.
#
# Environment (all optional):
#   BENCH_LEVELS      "clients:sessions ..."   (default "1:200 10:1000 50:2000")
#   BENCH_TIME_CAP    seconds per load run       (default 180)
#   BENCH_SERVERS     "postern dovecot" or one of them
#   BENCH_USERS       users in the data set      (default 100)
#   BENCH_MESSAGES    messages per user          (default 100)
#   BENCH_PORT_BASE   postern --port-base; POP3 is +110 (default 21000)
#   BENCH_DOVECOT_PORT                           (default 21210)
#   BENCH_DOVECOT_TUNING  perf (long-lived login processes, the documented
#                     high-performance mode) or default (one login process
#                     per connection, as Dovecot ships)   (default perf)
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
LEVELS=${BENCH_LEVELS:-"1:200 10:1000 50:2000"}
TIME_CAP=${BENCH_TIME_CAP:-180}
SERVERS=${BENCH_SERVERS:-"postern dovecot"}
NUSERS=${BENCH_USERS:-100}
NMSGS=${BENCH_MESSAGES:-100}
PORT_BASE=${BENCH_PORT_BASE:-21000}
PPORT=$((PORT_BASE + 110))
DPORT=${BENCH_DOVECOT_PORT:-21210}
TUNING=${BENCH_DOVECOT_TUNING:-perf}
DATA="$B/data-${NUSERS}x${NMSGS}"
INST="$B/pinst"
RESTARTS=0

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

mkdir -p "$B" "$BENCH/results"
RESULTS="$B/results.kv"
: >"$RESULTS"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- prerequisites ----
has dovecot && ensure_dovecot
if has dovecot && [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
	log "note: a system dovecot is running (pid $(cat /run/dovecot/master.pid)); ours is separate"
fi
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first (or BENCH_SERVERS=dovecot)"; }
setup_mail_user
log "building pop3load"
build_pop3load

# ---- data: generated once, cached in build/bench/ ----
if [ ! -f "$DATA/.done" ]; then
	log "generating $NUSERS users x $NMSGS messages (two identical trees)"
	rm -rf "$DATA"
	mkdir -p "$DATA"
	"$PY" "$BENCH/make-mailboxes.py" --users "$NUSERS" --messages "$NMSGS" \
		--root "$DATA/postern-mail" --root "$DATA/dovecot-mail" \
		--users-file "$DATA/users"
	touch "$DATA/.done"
fi
[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$DATA/postern-mail" "$DATA/dovecot-mail"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
case $LOAD_BEFORE in
0.[0-4]*) ;;
*) log "warning: load average is $LOAD_BEFORE before the run: other work on this machine skews the numbers" ;;
esac

# ---- servers ----
if has postern; then
	postern_setup "$INST" "$PORT_BASE" "$DATA/users" "$DATA/postern-mail"
	: >"$B/postern.log"
	postern_start "$INST" "$PPORT" "$B/postern.log"
fi
has dovecot && dovecot_start "$B/dovecot" "$DPORT" "$DATA/users" "$DATA/dovecot-mail" "$TUNING"

server_port() { [ "$1" = postern ] && echo "$PPORT" || echo "$DPORT"; }
server_pid() { [ "$1" = postern ] && echo "$POSTERN_PID" || echo "$DOVECOT_PID"; }

# ---- warm-up: one full session per user (UIDs, indexes, page cache) ----
for s in postern dovecot; do
	has $s || continue
	log "warm-up $s: $NUSERS sessions"
	if ! timeout $((TIME_CAP + 60)) "$LOAD" -u "$DATA/users" -p "$(server_port $s)" \
		-c 2 -n "$NUSERS" -d "$TIME_CAP" >"$B/warmup-$s.txt" 2>&1; then
		log "warm-up of $s had errors:"
		sed 's/^/    /' "$B/warmup-$s.txt" | head -20 >&2
	fi
done

# ---- measured runs ----
for level in $LEVELS; do
	c=${level%%:*} n=${level##*:}
	[ "$c" -le "$NUSERS" ] || { log "skipping $c clients: only $NUSERS users"; continue; }
	for s in postern dovecot; do
		has $s || continue
		pid=$(server_pid $s)
		if ! kill -0 "$pid" 2>/dev/null; then
			[ $s = postern ] || { log "$s is not running any more: skipped"; continue; }
			log "postern is not running any more (see $B/postern.log): restarting it"
			RESTARTS=$((RESTARTS + 1))
			postern_start "$INST" "$PPORT" "$B/postern.log"
			pid=$POSTERN_PID
		fi
		log "$s: $c clients, $n sessions (cap ${TIME_CAP}s)"
		out="$B/run-$s-c$c.txt"
		"$PY" "$BENCH/procstat.py" --pid "$pid" --interval 0.1 \
			--max-seconds $((TIME_CAP + 120)) >"$B/procstat-$s-c$c.txt" &
		SAMPLER_PID=$!
		rc=0
		timeout $((TIME_CAP + 60)) "$LOAD" -u "$DATA/users" -p "$(server_port $s)" \
			-c "$c" -n "$n" -d "$TIME_CAP" >"$out" 2>"$out.err" || rc=$?
		stop_pid "$SAMPLER_PID" sampler
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=
		[ $rc = 0 ] || { log "$s: pop3load exit $rc"; head -5 "$out.err" >&2; }
		res=$(grep '^RESULT ' "$out" | sed 's/^RESULT //' || true)
		[ -n "$res" ] || res="clients=$c sessions=0 errors=$n"
		peak=$(grep '^PEAK ' "$B/procstat-$s-c$c.txt" | sed 's/^PEAK //' || true)
		echo "server=$s $res $peak" >>"$RESULTS"
		sed 's/^/    /' "$out" | grep -v RESULT >&2
	done
done

# ---- report ----
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT="$BENCH/results/pop3-$STAMP.txt"
{
	echo "POP3 benchmark $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "postern: $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TOP" diff --quiet 2>/dev/null || echo ' (dirty tree)'), workers = 2"
	has dovecot && echo "dovecot: $(/usr/sbin/dovecot --version 2>/dev/null), $TUNING tuning"
	echo "data: $NUSERS users x $NMSGS messages, $(du -sm --apparent-size "$DATA/dovecot-mail" | cut -f1) MB per tree (make-mailboxes.py)"
	echo "load average: $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after (other processes compete for the same $(nproc) cores)"
	[ $RESTARTS = 0 ] || echo "NOTE: postern stopped during the run and was restarted $RESTARTS time(s); see build/bench/postern.log"
	echo "session: connect, USER/PASS, STAT, UIDL, RETR every message, QUIT"
	echo
	"$PY" - "$RESULTS" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    rows.append(dict(kv.split("=", 1) for kv in line.split()))
def f(r, k, d=0.0):
    try:
        return float(r.get(k, d))
    except ValueError:
        return d
hdr = ("clients", "server", "sess/s", "msg/s", "MB/s", "p50 ms", "p99 ms",
       "errors", "peak RSS MB", "peak PSS MB", "procs", "CPU ms/sess")
print("%-7s %-8s %8s %9s %7s %7s %7s %6s %11s %11s %5s %11s" % hdr)
by = {}
for r in rows:
    ok = f(r, "sessions")
    cpu = f(r, "cpu_s") * 1000 / ok if ok else 0
    print("%-7s %-8s %8.1f %9.1f %7.1f %7.2f %7.2f %6d %11.1f %11.1f %5d %11.1f" % (
        r.get("clients"), r["server"], f(r, "sess_per_s"), f(r, "msgs_per_s"),
        f(r, "mb_per_s"), f(r, "p50_ms"), f(r, "p99_ms"), f(r, "errors"),
        f(r, "rss_kb") / 1024, f(r, "pss_kb") / 1024, f(r, "procs"), cpu))
    by.setdefault(r.get("clients"), {})[r["server"]] = r
pairs = [(c, d) for c, d in by.items() if "postern" in d and "dovecot" in d]
if pairs:
    print()
    print("postern / dovecot  (throughput: > 1 is postern faster; memory, latency: < 1 is postern smaller)")
    print("%-7s %8s %9s %11s %11s %7s" % ("clients", "sess/s", "msg/s", "peak RSS", "peak PSS", "p50"))
    def ratio(a, b):
        return "%.2f" % (a / b) if b else "n/a"
    for c, d in pairs:
        p, v = d["postern"], d["dovecot"]
        print("%-7s %8s %9s %11s %11s %7s" % (
            c, ratio(f(p, "sess_per_s"), f(v, "sess_per_s")),
            ratio(f(p, "msgs_per_s"), f(v, "msgs_per_s")),
            ratio(f(p, "rss_kb"), f(v, "rss_kb")),
            ratio(f(p, "pss_kb"), f(v, "pss_kb")),
            ratio(f(p, "p50_ms"), f(v, "p50_ms"))))
if any(f(r, "size_mismatch") for r in rows):
    print("\nWARNING: some sessions' RETR octets differed from STAT's total (see build/bench/run-*.txt)")
if any(f(r, "timed_out") for r in rows):
    print("\nNOTE: some runs were stopped by the time cap before their session count")
EOF
} >"$REPORT"
echo
cat "$REPORT"
echo
log "written to ${REPORT#$TOP/}; logs in ${B#$TOP/}/"
