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

need_postfix() { # Postfix's master runs only as root; its tools come with it
	[ "$(id -u)" = 0 ] || die "run as root: Postfix's master runs only as root"
	[ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ] &&
		[ -x /usr/sbin/postfix ] && return 0
	log "installing postfix (smtp-source, smtp-sink; the system instance stays unconfigured)"
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null ||
		die "apt-get install postfix failed"
}

pfx_start() { # root port: the private Postfix instance written into root
	local i
	/usr/sbin/postfix -c "$1/conf" start >/dev/null 2>&1 ||
		die "postfix did not start: $(tail -5 "$1/maillog" 2>/dev/null)"
	for i in $(seq 1 100); do port_free "$2" || break; sleep 0.1; done
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

# ensure_dovecot [PACKAGE]: installs Debian's PACKAGE (default
# dovecot-pop3d; the IMAP scripts pass dovecot-imapd) if needed (root
# only), and keeps the system-wide dovecot it brings disabled: we run a
# private instance.
ensure_dovecot() {
	local pkg=${1:-dovecot-pop3d}
	if [ -x /usr/sbin/dovecot ] && dpkg -s "$pkg" >/dev/null 2>&1; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "$pkg is missing: run 'apt-get install $pkg' as root"
	log "installing $pkg"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "$pkg" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q "$pkg" >/dev/null; } ||
		die "apt-get install $pkg failed"
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

build_imapload() {
	mkdir -p "$B"
	make -s -C "$BENCH" OUT="$B" "$B/imapload" >/dev/null || die "building imapload failed"
	LOAD="$B/imapload"
}

# postern_conf_set CONF KEY=VALUE...: sets (or adds) keys in a bench.conf
# written by postern_setup, e.g. the IMAP listeners.
postern_conf_set() {
	local conf=$1
	shift
	"$PY" - "$conf" "$@" <<'EOF'
import re, sys
path, pairs = sys.argv[1], sys.argv[2:]
want = dict(p.split("=", 1) for p in pairs)
out, seen = [], set()
for line in open(path):
    m = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
    if m and m.group(1) in want:
        k = m.group(1)
        if k not in seen:
            seen.add(k)
            out.append(f"{k} = {want[k]}\n")
    else:
        out.append(line)
for k, v in want.items():
    if k not in seen:
        out.append(f"{k} = {v}\n")
open(path, "w").write("".join(out))
EOF
}

# bench_tls_cert DIR: a self-signed certificate and key for 127.0.0.1
# (made once), used by both servers so the TLS work is the same; sets
# TLS_CERT and TLS_KEY.
bench_tls_cert() {
	local dir=$1
	TLS_CERT=$dir/cert.pem TLS_KEY=$dir/key.pem
	if [ ! -s "$TLS_CERT" ] || [ ! -s "$TLS_KEY" ]; then
		mkdir -p "$dir"
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
			-subj "/CN=localhost" -keyout "$TLS_KEY" -out "$TLS_CERT" \
			>"$dir/openssl.log" 2>&1 || die "openssl req failed: $(cat "$dir/openssl.log")"
	fi
	chmod 600 "$TLS_KEY"
	[ "$ROOT" = yes ] && chown "$MAIL_USER:" "$TLS_CERT" "$TLS_KEY"
	return 0
}

# dovecot_imap_start DIR PORT TLS_PORT USERS_FILE MAIL_ROOT TUNING MAX_CONNS:
# writes DIR/dovecot.conf for a private IMAP-only instance (IMAP on
# 127.0.0.1:PORT, IMAPS on TLS_PORT with $TLS_CERT/$TLS_KEY) and starts it
# in the foreground. The limits allow MAX_CONNS logged-in sessions, any
# number per user and IP; each has its own imap process, as Dovecot ships.
dovecot_imap_start() {
	local dir=$1 port=$2 tport=$3 users=$4 mail=$5 tuning=$6 max=$7
	local internal login chroot= tune= logins
	port_free "$port" || die "127.0.0.1:$port is in use"
	port_free "$tport" || die "127.0.0.1:$tport is in use"
	rm -rf "$dir"
	mkdir -p "$dir/run" "$dir/state"
	if [ "$ROOT" = yes ]; then
		internal=dovecot login=dovenull
	else
		internal=$MAIL_USER login=$MAIL_USER chroot="chroot ="
	fi
	# perf: long-lived login processes, each proxying up to
	# default_client_limit TLS connections (thousands of TLS states
	# outgrow the default vsz_limit of 256 MB: "OpenSSL malloc() failed");
	# default: one login process per connection.
	if [ "$tuning" = perf ]; then
		tune="service_count = 0
  process_min_avail = $(nproc)"
		logins=$(($(nproc) + 8))
	else
		logins=$((max + 100))
	fi
	cat >"$dir/dovecot.conf" <<EOF
# Generated by bench/lib.sh: a private Dovecot for the IMAP benchmarks.
base_dir = $dir/run
state_dir = $dir/state
instance_name = postern-bench-dovecot-imap
protocols = imap
listen = 127.0.0.1
log_path = $dir/dovecot.log
ssl = yes
ssl_cert = <$TLS_CERT
ssl_key = <$TLS_KEY
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
auth_cache_size = 0
first_valid_uid = 1
default_internal_user = $internal
default_login_user = $login
default_process_limit = $((max + 100))
default_client_limit = $((2 * max + 1000))
mail_max_userip_connections = $((max + 100))
passdb {
  driver = passwd-file
  args = scheme=PLAIN $users
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$mail/%u
}
mail_location = maildir:$mail/%u
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tport
    ssl = yes
  }
  process_limit = $logins
  vsz_limit = 2G
  $chroot
  $tune
}
service imap {
  process_limit = $((max + 100))
}
EOF
	[ "$ROOT" = yes ] || printf 'service auth {\n  chroot =\n}\nservice anvil {\n  chroot =\n}\n' >>"$dir/dovecot.conf"
	/usr/sbin/dovecot -c "$dir/dovecot.conf" -n >/dev/null 2>"$dir/check.log" ||
		die "dovecot rejects its config: $(cat "$dir/check.log")"
	log "starting dovecot (imap) on 127.0.0.1:$port and :$tport ($tuning tuning)"
	/usr/sbin/dovecot -c "$dir/dovecot.conf" -F >"$dir/foreground.log" 2>&1 &
	DOVECOT_PID=$!
	wait_port "$port" "$DOVECOT_PID" dovecot
}

# raise_nofile N: the open-files limit of this shell (soft, and hard if
# needed: root only), inherited by the servers and the load generator.
raise_nofile() {
	local want=$1 hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
		ulimit -Hn "$want" 2>/dev/null ||
			die "cannot raise the open-files limit to $want (hard limit $hard; run as root)"
	fi
	ulimit -Sn "$want"
}

# imap_data DATA USERS MESSAGES: the IMAP benchmarks' mailboxes (made
# once, by make-mailboxes.py): DATA/{postern-mail,dovecot-mail} and
# DATA/users. The IMAP runs change them (APPEND, EXPUNGE, flags), so they
# are kept apart from the POP3 run's data.
imap_data() {
	local data=$1 nusers=$2 nmsgs=$3
	if [ ! -f "$data/.done" ]; then
		log "generating $nusers users x $nmsgs messages (two identical trees)"
		rm -rf "$data"
		mkdir -p "$data"
		"$PY" "$BENCH/make-mailboxes.py" --users "$nusers" --messages "$nmsgs" \
			--root "$data/postern-mail" --root "$data/dovecot-mail" \
			--users-file "$data/users"
		touch "$data/.done"
	fi
	[ "$ROOT" = yes ] && chown -R "$MAIL_USER:" "$data/postern-mail" "$data/dovecot-mail"
	return 0
}

# postern_imap_setup INST PORT_BASE USERS_FILE MAIL_DIR MAX_CONNS: as
# postern_setup, then IMAP on 127.0.0.1:PORT_BASE+143 and IMAPS on
# PORT_BASE+993 with $TLS_CERT/$TLS_KEY, MAX_CONNS connections per IP.
postern_imap_setup() {
	local inst=$1 base=$2
	postern_setup "$inst" "$base" "$3" "$4"
	postern_conf_set "$inst/bench.conf" \
		"imap_listen=127.0.0.1:$((base + 143))" \
		"imaps_listen=127.0.0.1:$((base + 993))" \
		"tls_cert=$TLS_CERT" "tls_key=$TLS_KEY" \
		"max_connections_per_ip=$5"
	[ "$ROOT" = yes ] && chown "$MAIL_USER:" "$inst/bench.conf"
	return 0
}

# snapshot PID: one sample of the process tree's summed RSS and PSS, as
# "rss_kb=... pss_kb=... procs=..." (procstat.py's PEAK line).
snapshot() {
	"$PY" "$BENCH/procstat.py" --pid "$1" --interval 0.05 --max-seconds 0.01 |
		sed -n 's/^PEAK //p' | cut -d' ' -f1-3
}
