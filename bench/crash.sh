#!/bin/bash
# Crash campaign: CRASH_KILLS (default 1000) SIGKILLs of workers, the
# queue runner, the auth process and the whole server while SMTP,
# submission (-> queue -> a loopback sink), LMTP and IMAP APPEND load
# runs; then every acknowledged message is looked for. See bench/README.md
# ("Crash campaign"); the work is done by bench/crash.py. Not a test:
# nothing here runs in CI.
#
# Environment (all optional):
#   CRASH_KILLS     1000        kills to do
#   CRASH_CLIENTS   2           concurrent clients per path (4 paths)
#   CRASH_INTERVAL  0.2:1.0     seconds between kills, random in LO:HI
#   CRASH_WEIGHTS   40:20:15:25 worker:queue:auth:server
#   CRASH_SEED      (time)      seeds the kills and the load
#   CRASH_TIME_CAP  7200        seconds for the kill phase at most
set -euo pipefail

BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/lib.sh"
[ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"
mkdir -p "$B/bin" "$BENCH/results"
# A snapshot of the binary, under a name without "postern": a rebuild
# during the run changes nothing, and clean-ups by name elsewhere on the
# machine do not hit it (lib.sh, postern_setup).
cp "$TOP/postern" "$B/bin/pcrash.new" && mv -f "$B/bin/pcrash.new" "$B/bin/pcrash"
REPORT="$BENCH/results/crash-$(date +%Y%m%d-%H%M%S).txt"
args=(--kills "${CRASH_KILLS:-1000}" --clients "${CRASH_CLIENTS:-2}"
	--interval "${CRASH_INTERVAL:-0.2:1.0}" --weights "${CRASH_WEIGHTS:-40:20:15:25}"
	--time-cap "${CRASH_TIME_CAP:-7200}" --bin "$B/bin/pcrash" --report "$REPORT")
[ -n "${CRASH_SEED:-}" ] && args+=(--seed "$CRASH_SEED")
rc=0
"$PY" "$BENCH/crash.py" "${args[@]}" || rc=$?
log "report: $REPORT"
exit $rc
