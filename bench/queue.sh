#!/bin/bash
# Outbound queue benchmark: how fast a full queue drains into a local sink,
# postern and Postfix side by side in one run. See bench/README.md
# ("Outbound queue"). Not a test: nothing here runs in CI.
#
# For each server: smtp-source injects BENCH_MESSAGES messages (one
# recipient each, spread evenly over BENCH_DOMAINS domains d1.bench ..
# dN.bench) through the server's port-25 listener while the sink is down,
# so every message is deferred and sits in the queue. Then the clock
# starts, Postfix's smtp-sink comes up on 127.0.0.1, the server is told to
# retry its whole queue (`postern queue retry`, `postqueue -f`), and the
# clock stops when the server's queue is empty (the sink's counter must
# then say N). Reported: messages/s for each server and postern / Postfix.
#
# Every domain is routed to the sink by a static route (postern's
# relay_routes, Postfix's transport_maps): no DNS anywhere, loopback only.
#
# Environment (all optional):
#   BENCH_MESSAGES     10000
#   BENCH_DOMAINS      100
#   BENCH_SIZE         4096   payload bytes (smtp-source -l)
#   BENCH_CONCURRENCY  20     connections at once to the sink, see README
#   BENCH_SERVERS      "postern postfix" or one of them
#   BENCH_PORT_BASE    postern --port-base (SMTP is +25)    (default 23000)
#   BENCH_POSTFIX_PORT Postfix's smtpd                      (default 23225)
#   BENCH_SINK_PORT    smtp-sink                            (default 23325)
#   BENCH_TIMEOUT      seconds allowed for each drain       (default 900)
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
NMSG=${BENCH_MESSAGES:-10000}
NDOM=${BENCH_DOMAINS:-100}
SIZE=${BENCH_SIZE:-4096}
CONC=${BENCH_CONCURRENCY:-20}
SERVERS=${BENCH_SERVERS:-"postern postfix"}
PORT_BASE=${BENCH_PORT_BASE:-23000}
PPORT=$((PORT_BASE + 25))
XPORT=${BENCH_POSTFIX_PORT:-23225}
SINK_PORT=${BENCH_SINK_PORT:-23325}
TIMEOUT=${BENCH_TIMEOUT:-900}
SRC=/usr/sbin/smtp-source
SINK=/usr/sbin/smtp-sink
PFX_ROOT= SINK_PID= DRAIN_SECS=

has() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

postfix_cleanup() {
	[ -n "$PFX_ROOT" ] && [ -d "$PFX_ROOT/conf" ] &&
		/usr/sbin/postfix -c "$PFX_ROOT/conf" abort >/dev/null 2>&1 || true
}
sink_stop() { stop_pid "$SINK_PID" smtp-sink; SINK_PID=; }
trap 'sink_stop; postfix_cleanup; bench_cleanup' EXIT
trap 'exit 130' INT TERM

[ "$NMSG" -ge "$NDOM" ] && [ "$NDOM" -ge 1 ] && [ "$NDOM" -le 150 ] ||
	die "need 1 <= BENCH_DOMAINS <= 150 (one config line) and BENCH_MESSAGES >= BENCH_DOMAINS"
need_postfix
has postern && { [ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"; }
setup_mail_user
mkdir -p "$B" "$BENCH/results"
REPORT="$BENCH/results/queue-$(date +%Y%m%d-%H%M%S).txt"

# Messages per domain: the first NMSG % NDOM domains get one more.
per_domain() { echo $(( NMSG / NDOM + ($1 <= NMSG % NDOM ? 1 : 0) )); }

# inject PORT NAME: NMSG messages to bench@dK.bench, K = 1..NDOM, four
# smtp-source runs (one per domain) at a time, each over 2 kept-open
# sessions (-d).
inject_domain() { # port k n
	timeout 300 "$SRC" -d -s 2 -m "$3" -l "$SIZE" -M client.bench \
		-f sender@client.bench -t "bench@d$2.bench" "127.0.0.1:$1"
}
export -f inject_domain
export SRC SIZE

inject() { # port name
	local port=$1 name=$2 k
	for k in $(seq 1 "$NDOM"); do echo "$k $(per_domain "$k")"; done |
		xargs -P 4 -L 1 bash -c 'inject_domain "$0" "$1" "$2"' "$port" ||
		die "smtp-source against $name failed"
}

# wait_queued NAME DIR COUNT-FN: until COUNT-FN prints NMSG and no file
# under DIR has changed for 3 s (ctime: Postfix sets a deferred file's
# mtime to its next retry time) (first delivery attempts over, every
# message deferred); at most 300 s.
wait_queued() {
	local name=$1 dir=$2 fn=$3 i n=0 quiet=0
	for i in $(seq 1 3000); do
		n=$($fn)
		if [ "$n" -ge "$NMSG" ]; then
			# settled: nothing in the queue changed in the last 3 s
			if [ -z "$(find "$dir" -type f -newerct '-3 seconds' -print -quit 2>/dev/null)" ]; then
				quiet=1
				break
			fi
		fi
		sleep 0.1
	done
	[ "$quiet" = 1 ] || die "$name: $n of $NMSG messages queued after 300 s"
}

# drain NAME QUEUED-FN RETRY-COMMAND...: starts the sink, runs the retry
# command, sets DRAIN_SECS to the seconds until QUEUED-FN finds the queue empty
# (every message got the sink's 250). The sink's own count must then be
# NMSG: a message that left the queue some other way (bounced) fails
# the run.
drain() {
	local name=$1 queued=$2 t0 t1 i got
	shift 2
	port_free "$SINK_PORT" || die "127.0.0.1:$SINK_PORT is in use"
	t0=$(date +%s.%N)
	# -c: running counters on stdout, "sess=.. quit=.. mesg=N" + CR
	"$SINK" -c -u postfix "127.0.0.1:$SINK_PORT" 1024 \
		>"$B/queue-sink-$name.log" 2>&1 &
	SINK_PID=$!
	wait_port "$SINK_PORT" "$SINK_PID" smtp-sink
	"$@" >>"$B/queue-retry-$name.log" 2>&1 || die "$name: '$*' failed"
	for i in $(seq 1 $((TIMEOUT * 20))); do
		$queued || break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	$queued && die "$name: the queue is not empty after $TIMEOUT s (sink log: $B/queue-sink-$name.log)"
	sleep 0.5 # the counter is printed after the reply
	got=$(tr '\r' '\n' <"$B/queue-sink-$name.log" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
	sink_stop
	[ "${got:-0}" -ge "$NMSG" ] || die "$name: the queue is empty but the sink got ${got:-0} of $NMSG messages"
	DRAIN_SECS=$("$PY" -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$t1")
}

rate() { "$PY" -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$NMSG" "$1"; }

# ---- postern ----
P_SECS=- X_SECS=-
if has postern; then
	PINST="$B/queue-pinst"
	rm -rf "$PINST" "$B/queue-pmail"
	mkdir -p "$B/queue-pmail"
	postern_setup "$PINST" "$PORT_BASE" "$PINST/users" "$B/queue-pmail"
	: >"$PINST/users"
	PQ="$PINST/queue"
	routes=
	for k in $(seq 1 "$NDOM"); do routes="$routes d$k.bench=127.0.0.1:$SINK_PORT"; done
	# The sink is down while mail comes in: the first attempt fails and
	# the next is an hour away, so nothing moves until `queue retry`.
	# dns_resolver points at a port where nothing answers: every domain
	# has a static route, and a DNS query would be a bug in the bench.
	"$PY" - "$PINST/bench.conf" <<EOF
import re, sys
path = sys.argv[1]
want = {
    "hostname": "postern.bench",
    "relay_networks": "127.0.0.0/8",
    "relay_routes": "${routes# }",
    "relay_tls": "none",
    "dns_resolver": "127.0.0.1:9",
    "queue_dir": "$PQ",
    "queue_retry_min": "3600",
    "queue_retry_max": "3600",
    "queue_delay_warning": "0",
    "relay_max_connections": "$CONC",
    "relay_max_per_destination": "$CONC",
    "max_message_size": "52428800",
}
out, seen = [], set()
for line in open(path):
    m = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
    if m and m.group(1) in want:
        if m.group(1) not in seen:
            seen.add(m.group(1))
            out.append("%s = %s\n" % (m.group(1), want[m.group(1)]))
    else:
        out.append(line)
out += ["%s = %s\n" % (k, v) for k, v in want.items() if k not in seen]
open(path, "w").write("".join(out))
EOF
	[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$PINST"
	"$PSERVE" -c "$PINST/bench.conf" check-config >"$B/queue-check-config.log" 2>&1 ||
		die "postern check-config: $(cat "$B/queue-check-config.log")"
	postern_start "$PINST" "$PPORT" "$B/queue-postern.log"
	log "postern: injecting $NMSG messages for $NDOM domains (sink down)"
	inject "$PPORT" postern
	# queue.h: a message is queued when env/ID exists
	p_count() { find "$PQ/env" -type f 2>/dev/null | wc -l; }
	wait_queued postern "$PQ/env" p_count
	"$PSERVE" -c "$PINST/bench.conf" queue list >"$B/queue-list-before.txt" 2>&1 ||
		log "postern queue list failed (see $B/queue-list-before.txt)"
	log "postern: $(p_count) queued; draining"
	p_queued() { [ -n "$(find "$PQ/env" -type f -print -quit 2>/dev/null)" ]; }
	# the sink is started inside drain, not in a $(...) subshell, so
	# the EXIT trap always sees its pid
	drain postern p_queued "$PSERVE" -c "$PINST/bench.conf" queue retry
	P_SECS=$DRAIN_SECS
	log "postern: drained in $P_SECS s; $(p_count) left in the queue"
	bench_cleanup
fi

# ---- Postfix: a private instance relaying every dK.bench to the sink ----
if has postfix; then
	PFX_ROOT="$B/queue-postfix"
	postfix_cleanup
	rm -rf "$PFX_ROOT"
	mkdir -p "$PFX_ROOT"
	"$PY" - "$TOP/tests/integration" "$PFX_ROOT" "$XPORT" "$SINK_PORT" "$NDOM" "$CONC" <<'PYEOF'
import os, sys
sys.path.insert(0, sys.argv[1])
import postfix_instance as pi
root, port, sink, ndom, conc = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
routes = ", ".join("d%d.bench=smtp:[127.0.0.1]:%s" % (k, sink) for k in range(1, ndom + 1))
inst = pi.PostfixInstance(port, {
    "myhostname": "postfix.bench",
    "transport_maps": "inline:{ %s }" % routes,
    # deferred mail waits an hour: nothing moves until `postqueue -f`
    "queue_run_delay": "3600s",
    "minimal_backoff_time": "3600s",
    "maximal_backoff_time": "3600s",
    "default_destination_concurrency_limit": conc,
    # smtp(8) processes at once (master.cf's maxproc "-")
    "default_process_limit": conc,
    "smtp_tls_security_level": "none",
    "message_size_limit": "52428800",
    "bounce_queue_lifetime": "5d",
    "maximal_queue_lifetime": "5d",
    "delay_warning_time": "0h",
}, smtpd_maxproc=100)
inst.relocate(root)
PYEOF
	pfx_start "$PFX_ROOT" "$XPORT"
	log "postfix: injecting $NMSG messages for $NDOM domains (sink down)"
	inject "$XPORT" postfix
	x_count() { find "$PFX_ROOT/queue/deferred" -type f 2>/dev/null | wc -l; }
	wait_queued postfix "$PFX_ROOT/queue" x_count
	log "postfix: $(x_count) deferred; draining"
	x_queued() { [ -n "$(find "$PFX_ROOT"/queue/{incoming,active,deferred,maildrop} -type f -print -quit 2>/dev/null)" ]; }
	drain postfix x_queued /usr/sbin/postqueue -c "$PFX_ROOT/conf" -f
	X_SECS=$DRAIN_SECS
	log "postfix: drained in $X_SECS s; $(find "$PFX_ROOT/queue/deferred" "$PFX_ROOT/queue/active" "$PFX_ROOT/queue/incoming" -type f | wc -l) left in the queue"
	postfix_cleanup
fi

P_RATE=- X_RATE=- RATIO=-
[ "$P_SECS" != - ] && P_RATE=$(rate "$P_SECS")
[ "$X_SECS" != - ] && X_RATE=$(rate "$X_SECS")
[ "$P_RATE" != - ] && [ "$X_RATE" != - ] &&
	RATIO=$("$PY" -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$P_RATE" "$X_RATE")
{
	echo "Outbound queue benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
	echo "postern $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?'); $(/usr/sbin/postconf -d mail_version 2>/dev/null)"
	echo "$NMSG messages of $SIZE bytes, one recipient each, $NDOM domains, all routed to smtp-sink on 127.0.0.1"
	echo "concurrency: postern relay_max_connections = relay_max_per_destination = $CONC;"
	echo "             Postfix default_process_limit = default_destination_concurrency_limit = $CONC"
	printf '%-8s | %-10s | %-10s\n' server seconds msgs/s
	printf '%-8s | %-10s | %-10s\n' postern "$P_SECS" "$P_RATE"
	printf '%-8s | %-10s | %-10s\n' postfix "$X_SECS" "$X_RATE"
	echo "postern / Postfix: $RATIO"
} | tee "$REPORT"
log "report: $REPORT"
