#!/bin/sh
# `make run`: a demo instance in ./var (made once), a demo user whose
# password is printed once, then the server in the foreground.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f var/postern.conf ]; then
	./postern init var
	pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | cut -c1-16)
	printf '%s\n' "$pw" | ./postern -c var/postern.conf user add demo
	deliver_welcome() {
		printf 'From: postern <postmaster@localhost>\nTo: demo@localhost\nSubject: Welcome to postern\nDate: %s\n\nThis message was delivered by `postern deliver`.\n' \
			"$(date -R)" | ./postern -c var/postern.conf deliver demo
	}
	deliver_welcome
	cat <<MSG

  demo user:  demo
  password:   $pw     (shown once; change it with: ./postern -c var/postern.conf user passwd demo)

  POP3:  127.0.0.1:2110 (STLS)   POP3S: 127.0.0.1:2995
  SMTP:  127.0.0.1:2025           submission: 127.0.0.1:2587 (STARTTLS), 127.0.0.1:2465 (TLS)
  LMTP:  127.0.0.1:2024, var/lmtp.sock
  try:   curl -k --user demo:$pw pop3s://127.0.0.1:2995/1
         swaks --server 127.0.0.1:2025 --to demo@localhost

MSG
fi
# Started as root, the server runs as run_user: that user must be able to
# reach ./var, which a checkout under a private home directory prevents.
if [ "$(id -u)" = 0 ]; then
	ru=$(sed -n 's/^run_user *= *//p' var/postern.conf)
	if [ -n "$ru" ] && ! setpriv --reuid="$ru" --regid="$ru" --clear-groups test -r var/users 2>/dev/null; then
		echo "make run: user $ru cannot reach $(pwd)/var (a parent directory is private)." >&2
		echo "make run: clone postern somewhere world-traversable, or: chmod o+x on each parent of $(pwd)" >&2
		exit 1
	fi
fi
exec ./postern -c var/postern.conf serve
