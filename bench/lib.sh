# Shared helpers for bench/*.sh (sourced, not run). Everything listens on
# 127.0.0.1 only; every server started here is stopped by bench_cleanup,
# which the scripts run from an EXIT trap.

BENCH=${BENCH:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
TOP=${TOP:-$(cd "$BENCH/.." && pwd)}
B=${B:-$TOP/build/bench}
PY=/usr/bin/python3
BENCH_USER=postern-bench
POSTERN_PID= DOVECOT_PID= SAMPLER_PID=

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_pid() { # pid name: SIGTERM, then SIGKILL after 10 s
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "$2 (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
	stop_pid "$SAMPLER_PID" sampler
	stop_pid "$POSTERN_PID" postern
	stop_pid "$DOVECOT_PID" dovecot
	SAMPLER_PID= POSTERN_PID= DOVECOT_PID=
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid name
	local i
	for i in $(seq 1 150); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || die "$3 exited at startup; see its log in $B"
		sleep 0.1
	done
	die "$3 is not listening on 127.0.0.1:$1 after 15 s"
}

build_pop3load() {
	mkdir -p "$B"
	make -s -C "$BENCH" OUT="$B" >/dev/null || die "building pop3load failed"
	LOAD="$B/pop3load"
}

# Installs Debian's dovecot-pop3d if needed (root only), and keeps the
# system-wide dovecot it brings disabled: we run a private instance.
ensure_dovecot() {
	if [ -x /usr/sbin/dovecot ] && dpkg -s dovecot-pop3d >/dev/null 2>&1; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "dovecot-pop3d is missing: run 'apt-get install dovecot-pop3d' as root"
	log "installing dovecot-pop3d"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q dovecot-pop3d >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q dovecot-pop3d >/dev/null; } ||
		die "apt-get install dovecot-pop3d failed"
	systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
	invoke-rc.d dovecot stop >/dev/null 2>&1 || true
}

# Mail belongs to an unprivileged user: as root, $BENCH_USER (created
# here), which Dovecot's userdb and postern's run_user both use;
# otherwise whoever runs the script.
setup_mail_user() {
	if [ "$(id -u)" = 0 ]; then
		ROOT=yes
		id "$BENCH_USER" >/dev/null 2>&1 ||
			useradd --system --no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin "$BENCH_USER" ||
			die "cannot create user $BENCH_USER"
		MAIL_USER=$BENCH_USER
	else
		ROOT=no
		MAIL_USER=$(id -un)
	fi
	MAIL_UID=$(id -u "$MAIL_USER")
	MAIL_GID=$(id -g "$MAIL_USER")
}

# postern_setup INST PORT_BASE USERS_FILE MAIL_DIR: makes (once) and
# configures a postern instance; POP3 on 127.0.0.1:PORT_BASE+110.
# The server runs from a snapshot of ./postern ($B/bin/pserve) with
# INST/bench.conf: a rebuild of ./postern during the run changes nothing,
# and neither command line contains "postern" (other people's clean-ups by
# name have killed the server mid-run).
postern_setup() {
	local inst=$1 base=$2 users=$3 mail=$4 run_user=
	[ -x "$TOP/postern" ] || die "$TOP/postern is missing: run 'make' first"
	mkdir -p "$B/bin"
	cp "$TOP/postern" "$B/bin/pserve.new" && mv -f "$B/bin/pserve.new" "$B/bin/pserve"
	PSERVE="$B/bin/pserve"
	if [ ! -f "$inst/postern.conf" ]; then
		rm -rf "$inst"
		"$PSERVE" init "$inst" --port-base "$base" >"$B/postern-init.log" 2>&1 ||
			die "postern init failed: $(cat "$B/postern-init.log")"
	fi
	[ "$ROOT" = yes ] && run_user=$MAIL_USER
	"$PY" - "$inst/postern.conf" "$inst/bench.conf" "$mail" "$users" "127.0.0.1:$((base + 110))" "$run_user" <<'EOF'
import re, sys
src, path, mail, users, listen, run_user = sys.argv[1:]
want = {
    "mail_dir": mail,
    "users_file": users,
    "pop3_listen": listen,
    "workers": "2",
    "allow_plaintext_auth_loopback": "yes",
    "max_connections_per_ip": "1000",
    "run_user": run_user,
}
out, seen = [], set()
for line in open(src):
    m = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
    if m and m.group(1) in want:
        k = m.group(1)
        if k not in seen:       # a key once: duplicates are config errors
            seen.add(k)
            out.append(f"{k} = {want[k]}\n")
    else:
        out.append(line)
for k, v in want.items():
    if k not in seen and v != "":
        out.append(f"{k} = {v}\n")
open(path, "w").write("".join(out))
EOF
	[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$inst"
	return 0
}

# postern_start INST PORT LOGFILE
postern_start() {
	port_free "$2" || die "127.0.0.1:$2 is in use"
	log "starting postern on 127.0.0.1:$2"
	"$PSERVE" -c "$1/bench.conf" serve >>"$3" 2>&1 &
	POSTERN_PID=$!
	wait_port "$2" "$POSTERN_PID" postern
}

# dovecot_start DIR PORT USERS_FILE MAIL_ROOT TUNING: writes DIR/dovecot.conf
# for a private POP3-only instance and starts it in the foreground.
dovecot_start() {
	local dir=$1 port=$2 users=$3 mail=$4 tuning=$5 internal login chroot= tune=
	port_free "$port" || die "127.0.0.1:$port is in use"
	rm -rf "$dir"
	mkdir -p "$dir/run" "$dir/state"
	if [ "$ROOT" = yes ]; then
		internal=dovecot login=dovenull
	else
		internal=$MAIL_USER login=$MAIL_USER chroot="chroot ="
	fi
	[ "$tuning" = perf ] && tune="service_count = 0
  process_min_avail = $(nproc)"
	cat >"$dir/dovecot.conf" <<EOF
# Generated by bench/lib.sh: a private Dovecot for the POP3 benchmarks.
base_dir = $dir/run
state_dir = $dir/state
instance_name = postern-bench-dovecot
protocols = pop3
listen = 127.0.0.1
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
login_trusted_networks = 127.0.0.0/8
auth_cache_size = 0
first_valid_uid = 1
default_internal_user = $internal
default_login_user = $login
passdb {
  driver = passwd-file
  args = scheme=PLAIN $users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$mail/%u
}
mail_location = maildir:$mail/%u
pop3_uidl_format = %08Xu%08Xv
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $port
  }
  inet_listener pop3s {
    port = 0
  }
  $chroot
  $tune
}
EOF
	[ "$ROOT" = yes ] || printf 'service auth {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n' >>"$dir/dovecot.conf"
	/usr/sbin/dovecot -c "$dir/dovecot.conf" -n >/dev/null 2>"$dir/check.log" ||
		die "dovecot rejects its config: $(cat "$dir/check.log")"
	log "starting dovecot on 127.0.0.1:$port ($tuning tuning)"
	/usr/sbin/dovecot -c "$dir/dovecot.conf" -F >"$dir/foreground.log" 2>&1 &
	DOVECOT_PID=$!
	wait_port "$port" "$DOVECOT_PID" dovecot
}
