"""Integration test harness: runs the real postern binary.

Every test gets its own instance directory under /tmp (world-traversable so
that the daemon can drop privileges when the suite runs as root), its own
random port base, and its own stderr log.  At teardown the daemon is stopped
and any ASan/UBSan report written by any postern process fails the test.
"""

import base64
import glob
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

POSTERN_BIN = os.environ.get(
    "POSTERN_BIN",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "postern"))

# Offsets of every listener `postern init --port-base N` configures.
PORT_OFFSETS = {
    "pop3": 110,
    "pop3s": 995,
    "imap": 143,
    "imaps": 993,
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "lmtp": 24,
}

PASSWORD = "Correct-Horse-7391"  # password of the default user "alice"
IO_TIMEOUT = 15.0


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # like the daemon's listeners: TIME_WAIT left by earlier tests is fine
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_recent_bases = []


def pick_port_base():
    rng = random.Random()
    for _ in range(200):
        # Below the kernel's ephemeral range (32768-60999): a client socket
        # may be given a port there while a test restarts the server.
        base = rng.randrange(10000, 32000, 1000)
        if base in _recent_bases[-10:]:
            continue
        if all(_port_free(base + off) for off in PORT_OFFSETS.values()):
            _recent_bases.append(base)
            return base
    raise RuntimeError("no free port base found")


def to_crlf(data):
    """Line endings as POP3 sends them: every LF or CRLF becomes CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def to_lf(data):
    return data.replace(b"\r\n", b"\n")


def children_of(pid):
    kids = []
    for task in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(task) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return sorted(set(kids))


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return None


class Instance:
    def __init__(self, binary=POSTERN_BIN):
        self.bin = binary
        self.root = tempfile.mkdtemp(prefix="postern-it-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.dir = os.path.join(self.root, "inst")
        self.san_dir = os.path.join(self.root, "san")
        os.mkdir(self.san_dir)
        os.chmod(self.san_dir, 0o1777)
        self.log_path = os.path.join(self.root, "serve.log")
        self.conf = os.path.join(self.dir, "postern.conf")
        self.proc = None
        self.logf = None
        self.base = None
        self.env = dict(os.environ)
        self.env["ASAN_OPTIONS"] = "log_path=%s/asan:detect_leaks=1" % self.san_dir
        self.env["UBSAN_OPTIONS"] = ("log_path=%s/ubsan:print_stacktrace=1"
                                     % self.san_dir)
        self.env.pop("POSTERN_CONF", None)

    # ---- ports ---------------------------------------------------------
    def port(self, name):
        return self.base + PORT_OFFSETS[name]

    @property
    def pop3_port(self):
        return self.port("pop3")

    @property
    def pop3s_port(self):
        return self.port("pop3s")

    # ---- CLI -----------------------------------------------------------
    def run_raw(self, args, input=None, timeout=60):
        """Run `postern ARGS` (no -c); returns CompletedProcess (bytes)."""
        if isinstance(input, str):
            input = input.encode()
        return subprocess.run([self.bin] + list(args), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=self.env, timeout=timeout)

    def run(self, args, input=None, timeout=60):
        return self.run_raw(["-c", self.conf] + list(args), input=input,
                            timeout=timeout)

    def check(self, args, input=None):
        r = self.run(args, input=input)
        assert r.returncode == 0, (
            "postern %s exited %d\nstdout: %r\nstderr: %r"
            % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def init(self, base=None):
        self.base = base if base is not None else pick_port_base()
        r = self.run_raw(["init", self.dir, "--port-base", str(self.base)])
        assert r.returncode == 0, "init failed: %r %r" % (r.stdout, r.stderr)
        return r

    # ---- config --------------------------------------------------------
    def read_config(self):
        with open(self.conf) as f:
            return f.read()

    def get(self, key):
        for line in self.read_config().splitlines():
            m = re.match(r"\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$", line)
            if m and m.group(1) == key:
                return m.group(2)
        return None

    def set(self, key, value):
        """Replace every `key = ...` line, or append one."""
        lines = self.read_config().splitlines()
        out, done = [], False
        for line in lines:
            m = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
            if m and m.group(1) == key:
                if not done:
                    out.append("%s = %s" % (key, value))
                    done = True
                continue
            out.append(line)
        if not done:
            out.append("%s = %s" % (key, value))
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")

    def unset(self, key):
        lines = self.read_config().splitlines()
        out = [l for l in lines
               if not re.match(r"\s*%s\s*=" % re.escape(key), l)]
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")

    def configure(self, **kw):
        for k, v in kw.items():
            self.set(k, v)

    # ---- users and mail ------------------------------------------------
    def path_setting(self, key, default):
        """A path from the config; relative ones are relative to its dir."""
        v = self.get(key) or default
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = v[1:-1]
        return os.path.join(os.path.dirname(self.conf), v)

    @property
    def users_file(self):
        return self.path_setting("users_file", "users")

    @property
    def mail_dir(self):
        return self.path_setting("mail_dir", "mail")

    def user_lines(self):
        with open(self.users_file) as f:
            return [l for l in f.read().splitlines()
                    if l.strip() and not l.lstrip().startswith("#")]

    def maildir(self, user):
        return os.path.join(self.mail_dir, user)

    def add_user(self, name, password=PASSWORD, scheme=None, dele=None):
        args = ["user", "add", name]
        if scheme:
            args += ["--scheme", scheme]
        if dele:
            args += ["--pop3-dele", dele]
        return self.check(args, input=password + "\n")

    def deliver(self, user, data):
        if isinstance(data, str):
            data = data.encode()
        return self.run(["deliver", user], input=data)

    def deliver_ok(self, user, data):
        r = self.deliver(user, data)
        assert r.returncode == 0, "deliver exited %d: %r" % (r.returncode,
                                                             r.stderr)
        return r

    def maildir_owner(self, user):
        st = os.stat(self.maildir(user))
        return st.st_uid, st.st_gid

    def drop_into_new(self, user, name, data):
        """Put a message into new/ the way an external MTA would."""
        md = self.maildir(user)
        uid, gid = self.maildir_owner(user)
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, 0o600)
        os.rename(tmp, os.path.join(md, "new", name))

    def message_files(self, user):
        md = self.maildir(user)
        files = []
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if os.path.isdir(d):
                files += [os.path.join(d, n) for n in os.listdir(d)]
        return sorted(files)

    # ---- daemon --------------------------------------------------------
    def start(self, wait=True):
        assert self.proc is None, "already running"
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf, "serve"],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=self.env)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("postern serve exited %d at startup\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                s = socket.create_connection(("127.0.0.1", self.pop3_port),
                                             timeout=2)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                s.settimeout(5)
                line = s.recv(512)
                if line.startswith(b"+OK"):
                    s.sendall(b"QUIT\r\n")
                    return
            except OSError:
                pass
            finally:
                s.close()
            time.sleep(0.1)
        raise AssertionError("postern did not become ready\n" + self.log())

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        return children_of(self.proc.pid)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.proc = None
                self.logf.close()
                raise AssertionError("postern did not stop within %ds on "
                                     "SIGTERM" % timeout)
        self.proc = None
        self.logf.close()
        self.logf = None
        # children must not outlive the supervisor
        return proc.returncode

    def restart(self):
        rc = self.stop()
        assert rc == 0, "serve exited %r on SIGTERM\n%s" % (rc, self.log())
        self.start()

    def reload(self, settle=1.0):
        self.signal(signal.SIGHUP)
        time.sleep(settle)

    def wait_log(self, text, timeout=5.0):
        """Waits until text appears in the server log; True if it did."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_reports(self):
        reports = []
        for p in sorted(glob.glob(os.path.join(self.san_dir, "*"))):
            try:
                with open(p, "rb") as f:
                    reports.append((p, f.read().decode("utf-8", "replace")))
            except OSError:
                pass
        return reports

    # ---- clients -------------------------------------------------------
    def pop3(self, tls=False):
        import poplib
        if tls:
            return poplib.POP3_SSL("127.0.0.1", self.pop3s_port,
                                   context=client_tls_context(),
                                   timeout=IO_TIMEOUT)
        return poplib.POP3("127.0.0.1", self.pop3_port, timeout=IO_TIMEOUT)

    def login(self, user="alice", password=PASSWORD, tls=False, retries=50):
        """poplib session in TRANSACTION state; retries on [IN-USE]."""
        import poplib
        for i in range(retries):
            p = self.pop3(tls=tls)
            try:
                p.user(user)
                p.pass_(password)
                return p
            except poplib.error_proto as e:
                p.close()
                msg = e.args[0]
                if isinstance(msg, str):
                    msg = msg.encode("latin-1", "replace")
                if b"[IN-USE]" in msg and i + 1 < retries:
                    time.sleep(0.1)
                    continue
                raise
        raise AssertionError("unreachable")

    def raw(self, tls=False):
        return Raw(self.pop3s_port if tls else self.pop3_port, tls=tls)


def client_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class LineSocket:
    """Byte-exact transport for the raw protocol clients: a plain or TLS
    socket to 127.0.0.1, a receive buffer, CRLF-terminated lines."""

    MAX_LINE = 1 << 20

    def __init__(self, port, tls=False, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock)
        self.buf = b""

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server; buffered %r"
                           % self.buf[:300])
        self.buf += chunk

    def line(self):
        """One line including its CRLF."""
        while b"\r\n" not in self.buf:
            if len(self.buf) > self.MAX_LINE:
                raise AssertionError("no CRLF in %d octets" % self.MAX_LINE)
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out


class Raw(LineSocket):
    """A byte-exact POP3 client over a plain or TLS socket."""

    def __init__(self, port, tls=False, timeout=IO_TIMEOUT):
        super().__init__(port, tls=tls, timeout=timeout)
        self.greeting = self.line()

    def line_unbuffered(self):
        """Read one line byte by byte so nothing after it is consumed."""
        assert not self.buf
        out = b""
        while not out.endswith(b"\r\n"):
            c = self.sock.recv(1)
            if not c:
                raise EOFError("closed after %r" % out)
            out += c
            assert len(out) < 4096
        return out

    def multiline(self):
        """Body of a multi-line reply, dot-unstuffed, CRLFs kept, without
        the terminating dot line."""
        out = []
        while True:
            l = self.line()
            if l == b".\r\n":
                return b"".join(out)
            if l.startswith(b"."):
                l = l[1:]
            out.append(l)

    def multiline_wire(self):
        """Body of a multi-line reply exactly as sent (still stuffed)."""
        out = []
        while True:
            l = self.line()
            if l == b".\r\n":
                return b"".join(out)
            out.append(l)

    def cmd(self, command):
        self.send(command + "\r\n" if isinstance(command, str)
                  else command + b"\r\n")
        return self.line()

    def cmd_ok(self, command):
        r = self.cmd(command)
        assert r.startswith(b"+OK"), "%r -> %r" % (command, r)
        return r

    def login(self, user="alice", password=PASSWORD):
        self.cmd_ok("USER " + user)
        return self.cmd_ok("PASS " + password)

    def capa(self):
        r = self.cmd("CAPA")
        assert r.startswith(b"+OK"), r
        return [l.decode("latin-1") for l in self.multiline().split(b"\r\n")
                if l]

    def expect_eof(self, timeout=5.0):
        """Read until the server closes; returns what was read."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError):
                return data
            if not chunk:
                return data
            data += chunk
        raise AssertionError("server did not close the connection within "
                             "%.1fs; got %r" % (timeout, data[-300:]))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def capa_keywords(lines):
    return {l.split()[0].upper() for l in lines if l.strip()}


def sasl_mechs(lines):
    for l in lines:
        parts = l.split()
        if parts and parts[0].upper() == "SASL":
            return {p.upper() for p in parts[1:]}
    return set()


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


# ---- pytest plumbing ---------------------------------------------------

@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _finish(request, inst):
    errors = []
    try:
        if inst.proc is not None and inst.proc.poll() is not None:
            errors.append("postern serve died during the test (status %r)"
                          % inst.proc.returncode)
            inst.proc = None
        rc = inst.stop()
        if rc not in (None, 0):
            errors.append("postern serve exited %r on SIGTERM" % rc)
    except AssertionError as e:
        errors.append(str(e))
    time.sleep(0.05)
    reports = inst.sanitizer_reports()
    failed = any(getattr(request.node, "rep_" + w, None) is not None and
                 getattr(request.node, "rep_" + w).failed
                 for w in ("setup", "call"))
    if reports:
        for path, text in reports:
            sys.stderr.write("==== sanitizer report %s ====\n%s\n"
                             % (path, text))
        errors.append("sanitizer reports: %s\n%s" % (
            ", ".join(p for p, _ in reports),
            "\n".join(t[:4000] for _, t in reports)))
    if errors or failed:
        sys.stderr.write("==== postern log (%s) ====\n%s\n"
                         % (inst.log_path, inst.log()[-20000:]))
        sys.stderr.write("instance kept at %s\n" % inst.root)
    else:
        shutil.rmtree(inst.root, ignore_errors=True)
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def bare(request):
    """An Instance object with nothing created (for init tests)."""
    inst = Instance()
    yield inst
    _finish(request, inst)


@pytest.fixture
def inst(request):
    """An initialised instance with user alice; not started."""
    inst = Instance()
    inst.init()
    # No DNS query may leave the machine: a port where nothing answers
    # (tests that relay start their own server, tests/integration/dnsserver.py).
    inst.configure(auth_fail_delay_ms=200, shutdown_timeout=5,
                   dns_resolver="127.0.0.1:9")
    inst.add_user("alice", PASSWORD)
    yield inst
    _finish(request, inst)


@pytest.fixture
def srv(inst):
    """`inst`, running."""
    inst.start()
    return inst


def simple_message(i, body=None):
    body = body if body is not None else "Message number %d.\nSecond line.\n" % i
    return ("From: Sender %d <sender%d@example.org>\n"
            "To: alice@example.org\n"
            "Subject: test message %d\n"
            "Message-ID: <m%d.test@example.org>\n"
            "Date: Mon, 02 Jan 2023 10:00:%02d +0000\n"
            "\n" % (i, i, i, i, i % 60) + body).encode()


TEST_TIME_LIMIT = int(os.environ.get("POSTERN_TEST_TIME_LIMIT", "150"))


@pytest.fixture(autouse=True)
def _time_limit():
    """No pytest-timeout on Debian by default: a SIGALRM per test."""
    def expired(signum, frame):
        raise AssertionError("test exceeded %ds" % TEST_TIME_LIMIT)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIME_LIMIT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
