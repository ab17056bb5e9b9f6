#!/bin/bash
# Memory of idle IMAP connections: IDLE_CONNS (default 5 000) logged-in
# connections, each with INBOX selected and in IDLE, held against postern
# and against Dovecot's imapd, plain IMAP and then IMAPS. The server's
# process tree is measured (bench/procstat.py: summed RSS and PSS) just
# before the connections open and once all of them idle; the difference
# divided by the number of idling connections is the memory one idle
# connection costs. See bench/README.md. Not a test.
#
# Environment (all optional):
#   IDLE_CONNS        connections held at once    (default 5000)
#   IDLE_HOLD         seconds to hold them at most (default 600; they are
#                     released as soon as they are measured)
#   IDLE_MODES        "plain tls" or one of them
#   BENCH_SERVERS     "postern dovecot" or one of them
#   BENCH_USERS, BENCH_MESSAGES   the data set, shared with imap.sh
#                     (default 100 x 100); connections use the users
#                     round-robin (5 000 over 100 users: 50 per mailbox)
#   IDLE_PORT_BASE    postern --port-base, IMAP +143, IMAPS +993; Dovecot
#                     IMAP +243, IMAPS +294   (default 24000)
#   IDLE_SELECT       no: IDLE in the authenticated state, no mailbox
#                     selected (tells the session's cost from the
#                     selected mailbox's)   (default yes)
#   BENCH_DOVECOT_TUNING  perf or default, as in imap.sh (default perf)
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
CONNS=${IDLE_CONNS:-5000}
HOLD=${IDLE_HOLD:-600}
MODES=${IDLE_MODES:-"plain tls"}
SERVERS=${BENCH_SERVERS:-"postern dovecot"}
NUSERS=${BENCH_USERS:-100}
NMSGS=${BENCH_MESSAGES:-100}
PORT_BASE=${IDLE_PORT_BASE:-24000}
DPORT=$((PORT_BASE + 243))
DTPORT=$((PORT_BASE + 294))
TUNING=${BENCH_DOVECOT_TUNING:-perf}
SELECT=${IDLE_SELECT:-yes}
NOSEL=
[ "$SELECT" = yes ] || NOSEL=-N
DATA="$B/imap-data-${NUSERS}x${NMSGS}"
INST="$B/pinst-imap-idle"
LOAD_PID=

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

idle_cleanup() {
	stop_pid "$LOAD_PID" imapload
	bench_cleanup
}

mkdir -p "$B" "$BENCH/results"
RESULTS="$B/imap-idle-results.kv"
: >"$RESULTS"
trap idle_cleanup EXIT
trap 'exit 130' INT TERM

# ---- prerequisites ----
has dovecot && ensure_dovecot dovecot-imapd
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first (or BENCH_SERVERS=dovecot)"; }
setup_mail_user
# Each connection is a descriptor in the load generator and in the server
# (Dovecot: in an imap process, and for TLS also in a login process).
raise_nofile $((2 * CONNS + 1024))
build_imapload
bench_tls_cert "$B/imap-tls"
imap_data "$DATA" "$NUSERS" "$NMSGS"
free_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
log "memory available: $free_mb MB"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

server_port() { # server mode
	case $1:$2 in
	postern:plain) echo $((PORT_BASE + 143)) ;;
	postern:tls) echo $((PORT_BASE + 993)) ;;
	dovecot:plain) echo "$DPORT" ;;
	dovecot:tls) echo "$DTPORT" ;;
	esac
}

# server_fresh NAME: (re)starts the server, so that each measurement
# starts from a server that has never held the connections of another
# (memory freed by a process is not always given back to the system),
# then warms it up: one LOGIN + SELECT per user, so that indexes exist
# before the baseline (building them is not per-connection memory).
# Sets SPID.
server_fresh() {
	bench_cleanup
	if [ "$1" = postern ]; then
		postern_start "$INST" "$((PORT_BASE + 143))" "$B/imap-idle-postern.log"
		SPID=$POSTERN_PID
	else
		dovecot_imap_start "$B/dovecot-imap-idle" "$DPORT" "$DTPORT" "$DATA/users" \
			"$DATA/dovecot-mail" "$TUNING" "$CONNS"
		SPID=$DOVECOT_PID
	fi
	timeout 300 "$LOAD" -u "$DATA/users" -p "$(server_port "$1" plain)" -c 2 -n "$NUSERS" \
		-d 240 -b 0 -s 0 -a 0 >"$B/imap-idle-warmup-$1.txt" 2>&1 ||
		{ log "warm-up of $1 had errors:"; head -20 "$B/imap-idle-warmup-$1.txt" >&2; }
}

if has postern; then
	postern_imap_setup "$INST" "$PORT_BASE" "$DATA/users" "$DATA/postern-mail" $((CONNS + 100))
	: >"$B/imap-idle-postern.log"
fi

kv() { # key line: the value of key= in a key=value line
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

for s in postern dovecot; do
	has $s || continue
	for m in $MODES; do
		server_fresh $s
		pid=$SPID
		sleep 1
		before=$(snapshot "$pid")
		out="$B/imap-idle-$s-$m.txt"
		flag=
		[ $m = tls ] && flag=-S
		log "$s ($m): opening $CONNS IDLE connections (baseline $before)"
		t0=$(date +%s)
		# The background child opens (truncates) $out later than this
		# shell goes on: an old READY line must not be there to be seen.
		rm -f "$out" "$out.err"
		"$LOAD" -m idle -u "$DATA/users" -p "$(server_port $s $m)" $flag $NOSEL \
			-c "$CONNS" -d "$HOLD" -T 120 >"$out" 2>"$out.err" &
		LOAD_PID=$!
		ready=
		while kill -0 "$LOAD_PID" 2>/dev/null; do
			ready=$(grep '^READY ' "$out" || true)
			[ -n "$ready" ] && break
			[ $(($(date +%s) - t0)) -lt $((HOLD + 300)) ] || break
			sleep 1
		done
		if [ -z "$ready" ]; then
			log "$s ($m): imapload did not get its connections idling"
			head -5 "$out.err" >&2
			stop_pid "$LOAD_PID" imapload
			LOAD_PID=
			echo "server=$s mode=$m up=0" >>"$RESULTS"
			continue
		fi
		sleep 3 # let the last logins settle (Dovecot's processes start)
		after=$(snapshot "$pid")
		sleep 1
		after2=$(snapshot "$pid")
		log "$s ($m): $ready; after $after / $after2"
		kill -TERM "$LOAD_PID" 2>/dev/null || true
		rc=0
		wait "$LOAD_PID" || rc=$?
		LOAD_PID=
		res=$(grep '^RESULT ' "$out" | sed 's/^RESULT //' || true)
		[ $rc = 0 ] || { log "$s ($m): imapload exit $rc"; head -5 "$out.err" >&2; }
		echo "server=$s mode=$m $res" \
			"rss0=$(kv rss_kb "$before") pss0=$(kv pss_kb "$before") procs0=$(kv procs "$before")" \
			"rss1=$(kv rss_kb "$after2") pss1=$(kv pss_kb "$after2") procs1=$(kv procs "$after2")" >>"$RESULTS"
	done
done

# ---- report ----
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT="$BENCH/results/imap-idle-$STAMP.txt"
{
	echo "IMAP idle connections $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "postern: $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TOP" diff --quiet 2>/dev/null || echo ' (dirty tree)'), workers = 2"
	has dovecot && echo "dovecot: $(/usr/sbin/dovecot --version 2>/dev/null), $TUNING tuning, one imap process per connection"
	echo "load average: $LOAD_BEFORE before, $(cut -d' ' -f1-3 /proc/loadavg) after"
	if [ "$SELECT" = yes ]; then
		echo "each connection: LOGIN, SELECT INBOX ($NMSGS messages, $NUSERS users round-robin), IDLE"
	else
		echo "each connection: LOGIN ($NUSERS users round-robin), IDLE with no mailbox selected"
	fi
	echo "per connection = (server tree after - before) / connections idling"
	echo
	"$PY" - "$RESULTS" <<'EOF'
import sys
rows = [dict(kv.split("=", 1) for kv in line.split()) for line in open(sys.argv[1])]
def f(r, k):
    try:
        return float(r.get(k, 0))
    except ValueError:
        return 0.0
print("%-8s %-5s %6s %6s %6s %8s %10s %10s %10s %10s %12s %12s" % (
    "server", "mode", "conns", "alive", "open s", "procs", "RSS0 MB", "RSS MB",
    "PSS0 MB", "PSS MB", "RSS KB/conn", "PSS KB/conn"))
per = {}
for r in rows:
    up = f(r, "up")
    d_rss = (f(r, "rss1") - f(r, "rss0")) / up if up else 0
    d_pss = (f(r, "pss1") - f(r, "pss0")) / up if up else 0
    per[(r["server"], r["mode"])] = (d_rss, d_pss)
    print("%-8s %-5s %6d %6d %6.1f %8s %10.1f %10.1f %10.1f %10.1f %12.1f %12.1f" % (
        r["server"], r["mode"], up, f(r, "alive"), f(r, "open_s"),
        "%d>%d" % (f(r, "procs0"), f(r, "procs1")),
        f(r, "rss0") / 1024, f(r, "rss1") / 1024, f(r, "pss0") / 1024,
        f(r, "pss1") / 1024, d_rss, d_pss))
modes = sorted({m for _, m in per})
if any(("postern", m) in per and ("dovecot", m) in per for m in modes):
    print()
    print("postern / dovecot per idle connection (< 1 is postern smaller; the aim is <= 0.05)")
    for m in modes:
        if ("postern", m) in per and ("dovecot", m) in per:
            p, d = per[("postern", m)], per[("dovecot", m)]
            r = lambda a, b: "%.3f" % (a / b) if b else "n/a"
            print("%-5s RSS %s   PSS %s" % (m, r(p[0], d[0]), r(p[1], d[1])))
if any(f(r, "alive") < f(r, "up") for r in rows):
    print("\nNOTE: some connections were not alive at the end (see build/bench/imap-idle-*.txt)")
EOF
} >"$REPORT"
echo
cat "$REPORT"
echo
log "written to ${REPORT#$TOP/}; logs in ${B#$TOP/}/"
