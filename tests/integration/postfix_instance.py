"""A private Postfix instance for tests and benchmarks, on 127.0.0.1 only.

Debian's postfix package provides the programs; this writes its own
main.cf/master.cf, queue and data directories under a temporary root and
runs `postfix -c DIR start`. The system Postfix (if any) is not touched.
Postfix's master refuses to run except as root, so callers skip or fail
when not root. No DNS: disable_dns_lookups, numeric next hops only.
"""

import os
import shutil
import subprocess
import tempfile
import time

POSTFIX = "/usr/sbin/postfix"

# name type private unpriv chroot wakeup maxproc command
_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available():
    return os.access(POSTFIX, os.X_OK) and os.geteuid() == 0


class PostfixInstance:
    def __init__(self, smtp_port, main_extra, smtpd_maxproc=100):
        self.root = tempfile.mkdtemp(prefix="postern-pfx-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.conf = os.path.join(self.root, "conf")
        self.queue = os.path.join(self.root, "queue")
        self.data = os.path.join(self.root, "data")
        self.maillog = os.path.join(self.root, "maillog")
        self.port = smtp_port
        for d in (self.conf, self.queue, self.data):
            os.mkdir(d)
        shutil.chown(self.data, "postfix", "postfix")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.test",
            "mydomain": "test",
            "myorigin": "postfix.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "disable_dns_lookups": "yes",
            # mail for anywhere else (bounces too) never leaves the machine
            "default_transport": "error:no outbound mail in tests",
            "relay_transport": "error:no outbound mail in tests",
            "smtp_host_lookup": "native",
            "lmtp_host_lookup": "native",
            "smtputf8_enable": "no",
            "biff": "no",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.root,
            "smtpd_reject_unlisted_recipient": "no",
            "smtpd_relay_restrictions":
                "permit_mynetworks, reject_unauth_destination",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
        }
        main.update(main_extra)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("127.0.0.1:%d inet n - n - %d smtpd\n"
                    % (smtp_port, smtpd_maxproc))
            f.write(_SERVICES)

    def postfix(self, *args, check=True):
        r = subprocess.run([POSTFIX, "-c", self.conf] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("postfix %s: %s\n%s" % (
                " ".join(args), r.stdout.decode(errors="replace"),
                self.log()))
        return r

    def start(self):
        self.postfix("start")

    def stop(self):
        pid_file = os.path.join(self.queue, "pid", "master.pid")
        try:
            with open(pid_file) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        # abort: the test is over; do not wait for idle daemons to time out
        self.postfix("abort", check=False)
        deadline = time.monotonic() + 10
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)

    def flush(self):
        self.postfix("flush", check=False)

    def log(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def relocate(self, root):
        """Moves conf/, queue/ and data/ into root (the benchmarks keep
        the instance under their own build directory) and drops the
        temporary directory."""
        for d in ("conf", "queue", "data"):
            shutil.move(os.path.join(self.root, d), os.path.join(root, d))
        main = os.path.join(root, "conf", "main.cf")
        with open(main) as f:
            text = f.read().replace(self.root, root)
        with open(main, "w") as f:
            f.write(text)
        shutil.rmtree(self.root)
        self.root = root
