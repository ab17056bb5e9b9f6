#!/bin/bash
# `make run`: a demo instance in ./var (made once), a demo user whose
# password is printed once, then the server in the foreground.
set -eu
cd "$(dirname "$0")/.."

# True if something already listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The standard base is 2000 (POP3 on 2110, ...); if another program holds
# one of its ports, take the next base that is wholly free.
# POSTERN_PORT_BASE=N chooses it (the tests do).
pick_base() {
	for base in 2000 12000 22000 32000 42000; do
		busy=""
		for off in 110 995 143 993 25 587 465 24; do
			port_busy $((base + off)) && busy="$busy $((base + off))"
		done
		if [ -z "$busy" ]; then
			echo "$base"
			return 0
		fi
		echo "make run: ports$busy are in use; trying another port base" >&2
	done
	echo "make run: no free port base found" >&2
	return 1
}

if [ ! -f var/postern.conf ]; then
	base=${POSTERN_PORT_BASE:-$(pick_base)}
	./postern init var --port-base "$base"
	pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | cut -c1-16)
	printf '%s\n' "$pw" | ./postern -c var/postern.conf user add demo
	printf 'From: postern <postmaster@localhost>\nTo: demo@localhost\nSubject: Welcome to postern\nDate: %s\n\nThis message was delivered by `postern deliver`.\n' \
		"$(date -R)" | ./postern -c var/postern.conf deliver demo
	cat <<MSG

  demo user:  demo
  password:   $pw     (shown once; change it with: ./postern -c var/postern.conf user passwd demo)

  IMAP:  127.0.0.1:$((base + 143)) (STARTTLS)   IMAPS: 127.0.0.1:$((base + 993))
  POP3:  127.0.0.1:$((base + 110)) (STLS)   POP3S: 127.0.0.1:$((base + 995))
  SMTP:  127.0.0.1:$((base + 25))           submission: 127.0.0.1:$((base + 587)) (STARTTLS), 127.0.0.1:$((base + 465)) (TLS)
  LMTP:  127.0.0.1:$((base + 24)), var/lmtp.sock
  try:   curl -k --user demo:$pw 'imaps://127.0.0.1:$((base + 993))/INBOX;UID=1'
         curl -k --user demo:$pw pop3s://127.0.0.1:$((base + 995))/1
         swaks --server 127.0.0.1:$((base + 25)) --to demo@localhost

MSG
fi
# Started as root, the server runs as run_user from ./var (its working
# directory), so a checkout in a private home directory works too.
exec ./postern -c var/postern.conf serve
