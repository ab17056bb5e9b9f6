#!/bin/sh
# Makes sure the Debian packages postern needs are installed. As root it
# installs what is missing with apt-get; otherwise it prints the exact
# command and fails. --build-only checks just what `make` needs.
BUILD="gcc make clang pkg-config libssl-dev libevent-dev libcrypt-dev zlib1g-dev libc-ares-dev"
# postfix: the integration suite runs a private instance that hands mail
# to postern over LMTP (its own config; the system Postfix is never started)
# python3-dkim (dkimpy), opendkim-tools, python3-spf: DKIM signatures and
# SPF results checked by implementations written elsewhere
# (tests/integration/test_dkim.py, test_spf.py)
TEST="python3 python3-pytest python3-dnslib python3-spf python3-dnspython python3-dkim opendkim-tools curl fetchmail mpop msmtp swaks isync offlineimap3 postfix openssl libclang-rt-14-dev"
pkgs="$BUILD"
[ "${1:-}" = "--build-only" ] || pkgs="$BUILD $TEST"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix's installer asks what kind of mail system this is: none.
	echo "postfix postfix/main_mailer_type select No configuration" |
		debconf-set-selections
	apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null || {
		echo "deps: apt-get install$missing failed" >&2; exit 1; }
	exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run: sudo apt-get install$missing" >&2
exit 1
