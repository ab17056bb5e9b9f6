#!/bin/bash
# IMAP benchmark: postern and Dovecot's imapd side by side on loopback, over
# identical mailboxes, in one run. Called by `make bench-imap` (after
# `make`). See bench/README.md. Not a test: nothing here runs in CI.
#
# Environment (all optional):
#   BENCH_LEVELS      "clients:sessions ..."   (default "1:100 10:500 50:1000")
#   BENCH_TIME_CAP    seconds per load run       (default 120)
#   BENCH_SERVERS     "postern dovecot" or one of them
#   BENCH_USERS       users in the data set      (default 100)
#   BENCH_MESSAGES    messages per user          (default 100)
#   BENCH_BODIES      FETCH BODY.PEEK[] per session (default 10)
#   BENCH_STORES      messages flagged + unflagged per session (default 5)
#   BENCH_APPENDS     APPENDs (expunged again) per session (default 1)
#   BENCH_TLS         yes: every session over IMAPS (default no)
#   BENCH_PORT_BASE   postern --port-base; IMAP is +143, IMAPS +993
#                     (default 23000)
#   BENCH_DOVECOT_PORT, BENCH_DOVECOT_TLS_PORT   (default 23243, 23294)
#   BENCH_DOVECOT_TUNING  perf (long-lived login processes) or default
#                     (one login process per connection)   (default perf)
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
LEVELS=${BENCH_LEVELS:-"1:100 10:500 50:1000"}
TIME_CAP=${BENCH_TIME_CAP:-120}
SERVERS=${BENCH_SERVERS:-"postern dovecot"}
NUSERS=${BENCH_USERS:-100}
NMSGS=${BENCH_MESSAGES:-100}
BODIES=${BENCH_BODIES:-10}
STORES=${BENCH_STORES:-5}
APPENDS=${BENCH_APPENDS:-1}
TLS=${BENCH_TLS:-no}
PORT_BASE=${BENCH_PORT_BASE:-23000}
DPORT=${BENCH_DOVECOT_PORT:-23243}
DTPORT=${BENCH_DOVECOT_TLS_PORT:-23294}
TUNING=${BENCH_DOVECOT_TUNING:-perf}
DATA="$B/imap-data-${NUSERS}x${NMSGS}"
INST="$B/pinst-imap"
RESTARTS=0

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

mkdir -p "$B" "$BENCH/results"
RESULTS="$B/imap-results.kv"
: >"$RESULTS"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---- prerequisites ----
has dovecot && ensure_dovecot dovecot-imapd
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first (or BENCH_SERVERS=dovecot)"; }
setup_mail_user
raise_nofile 8192
log "building imapload"
build_imapload
bench_tls_cert "$B/imap-tls"
imap_data "$DATA" "$NUSERS" "$NMSGS"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
case $LOAD_BEFORE in
0.[0-4]*) ;;
*) log "warning: load average is $LOAD_BEFORE before the run: other work on this machine skews the numbers" ;;
esac

# ---- servers ----
if has postern; then
	postern_imap_setup "$INST" "$PORT_BASE" "$DATA/users" "$DATA/postern-mail" 10000
	: >"$B/imap-postern.log"
	postern_start "$INST" "$((PORT_BASE + 143))" "$B/imap-postern.log"
fi
has dovecot && dovecot_imap_start "$B/dovecot-imap" "$DPORT" "$DTPORT" "$DATA/users" \
	"$DATA/dovecot-mail" "$TUNING" 1000

server_port() {
	if [ "$TLS" = yes ]; then
		[ "$1" = postern ] && echo $((PORT_BASE + 993)) || echo "$DTPORT"
	else
		[ "$1" = postern ] && echo $((PORT_BASE + 143)) || echo "$DPORT"
	fi
}
server_pid() { [ "$1" = postern ] && echo "$POSTERN_PID" || echo "$DOVECOT_PID"; }
TLSFLAG=
[ "$TLS" = yes ] && TLSFLAG=-S

# ---- warm-up: one session per user (UIDs, indexes, page cache) ----
for s in postern dovecot; do
	has $s || continue
	log "warm-up $s: $NUSERS sessions"
	if ! timeout $((TIME_CAP + 60)) "$LOAD" -u "$DATA/users" -p "$(server_port $s)" $TLSFLAG \
		-c 2 -n "$NUSERS" -d "$TIME_CAP" -b 1 -s 1 -a "$APPENDS" >"$B/imap-warmup-$s.txt" 2>&1; then
		log "warm-up of $s had errors:"
		sed 's/^/    /' "$B/imap-warmup-$s.txt" | head -20 >&2
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
			log "postern is not running any more (see $B/imap-postern.log): restarting it"
			RESTARTS=$((RESTARTS + 1))
			postern_start "$INST" "$((PORT_BASE + 143))" "$B/imap-postern.log"
			pid=$POSTERN_PID
		fi
		log "$s: $c clients, $n sessions (cap ${TIME_CAP}s)"
		out="$B/imap-run-$s-c$c.txt"
		"$PY" "$BENCH/procstat.py" --pid "$pid" --interval 0.1 \
			--max-seconds $((TIME_CAP + 120)) >"$B/imap-procstat-$s-c$c.txt" &
		SAMPLER_PID=$!
		rc=0
		timeout $((TIME_CAP + 60)) "$LOAD" -u "$DATA/users" -p "$(server_port $s)" $TLSFLAG \
			-c "$c" -n "$n" -d "$TIME_CAP" -b "$BODIES" -s "$STORES" -a "$APPENDS" \
			>"$out" 2>"$out.err" || rc=$?
		stop_pid "$SAMPLER_PID" sampler
		wait "$SAMPLER_PID" 2>/dev/null || true
		SAMPLER_PID=
		[ $rc = 0 ] || { log "$s: imapload exit $rc"; head -5 "$out.err" >&2; }
		res=$(grep '^RESULT ' "$out" | sed 's/^RESULT //' || true)
		[ -n "$res" ] || res="clients=$c sessions=0 errors=$n"
		peak=$(grep '^PEAK ' "$B/imap-procstat-$s-c$c.txt" | sed 's/^PEAK //' || true)
		echo "server=$s $res $peak" >>"$RESULTS"
		sed 's/^/    /' "$out" | grep -v RESULT >&2
	done
done

# ---- report ----
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT="$BENCH/results/imap-$STAMP.txt"
{
	echo "IMAP benchmark $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "postern: $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TOP" diff --quiet 2>/dev/null || echo ' (dirty tree)'), workers = 2"
	has dovecot && echo "dovecot: $(/usr/sbin/dovecot --version 2>/dev/null), $TUNING tuning, one imap process per session"
	echo "data: $NUSERS users x $NMSGS messages, $(du -sm --apparent-size "$DATA/dovecot-mail" | cut -f1) MB per tree (make-mailboxes.py)"
	echo "load average: $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after (other processes compete for the same $(nproc) cores)"
	[ $RESTARTS = 0 ] || echo "NOTE: postern stopped during the run and was restarted $RESTARTS time(s); see build/bench/imap-postern.log"
	echo "session$([ "$TLS" = yes ] && echo ' (IMAPS)'): connect, LOGIN, SELECT INBOX, FETCH 1:* (FLAGS UID), $BODIES x FETCH n BODY.PEEK[],"
	if [ "$APPENDS" -gt 0 ]; then
		echo "  $STORES x (STORE +FLAGS, STORE -FLAGS), $APPENDS x APPEND ~3 KB, UID STORE \\Deleted, EXPUNGE, IDLE/DONE, LOGOUT"
	else
		echo "  $STORES x (STORE +FLAGS, STORE -FLAGS), IDLE/DONE, LOGOUT (no APPEND, no EXPUNGE)"
	fi
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
def cpu(r):
    ok = f(r, "sessions")
    return f(r, "cpu_s") * 1000 / ok if ok else 0
hdr = ("clients", "server", "sess/s", "ops/s", "MB/s", "errors",
       "peak RSS MB", "peak PSS MB", "procs", "CPU ms/sess")
print("%-7s %-8s %8s %9s %7s %6s %11s %11s %5s %11s" % hdr)
by = {}
for r in rows:
    print("%-7s %-8s %8.1f %9.1f %7.1f %6d %11.1f %11.1f %5d %11.1f" % (
        r.get("clients"), r["server"], f(r, "sess_per_s"), f(r, "ops_per_s"),
        f(r, "mb_per_s"), f(r, "errors"), f(r, "rss_kb") / 1024,
        f(r, "pss_kb") / 1024, f(r, "procs"), cpu(r)))
    by.setdefault(r.get("clients"), {})[r["server"]] = r
ops = ("login", "select", "fetchall", "body", "store", "append", "expunge", "idle")
print()
print("latency p50 / p99 ms (connect = connect to greeting)")
print("%-7s %-8s " % ("clients", "server") + " ".join("%13s" % o for o in ("connect",) + ops))
for r in rows:
    print("%-7s %-8s " % (r.get("clients"), r["server"]) + " ".join(
        "%13s" % ("%.2f/%.2f" % (f(r, o + "_p50"), f(r, o + "_p99")))
        for o in ("connect",) + ops))
pairs = [(c, d) for c, d in by.items() if "postern" in d and "dovecot" in d]
if pairs:
    print()
    print("postern / dovecot  (throughput: > 1 is postern faster; memory, CPU: < 1 is postern smaller)")
    print("%-7s %8s %9s %11s %11s %11s" % ("clients", "sess/s", "ops/s", "peak RSS", "peak PSS", "CPU/sess"))
    def ratio(a, b):
        return "%.2f" % (a / b) if b else "n/a"
    for c, d in pairs:
        p, v = d["postern"], d["dovecot"]
        print("%-7s %8s %9s %11s %11s %11s" % (
            c, ratio(f(p, "sess_per_s"), f(v, "sess_per_s")),
            ratio(f(p, "ops_per_s"), f(v, "ops_per_s")),
            ratio(f(p, "rss_kb"), f(v, "rss_kb")),
            ratio(f(p, "pss_kb"), f(v, "pss_kb")),
            ratio(cpu(p), cpu(v))))
if any(f(r, "timed_out") for r in rows):
    print("\nNOTE: some runs were stopped by the time cap before their session count")
EOF
} >"$REPORT"
echo
cat "$REPORT"
echo
log "written to ${REPORT#$TOP/}; logs in ${B#$TOP/}/"
