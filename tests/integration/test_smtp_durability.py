"""SMTP with real clients (msmtp) and delivery durability under SIGKILL.

* msmtp through submission (STARTTLS + AUTH PLAIN) and submissions (465):
  the message read back over POP3 is the original, byte for byte, after
  the trace header lines postern prepends.
* 200 concurrent deliveries over port 25 while the worker processes are
  SIGKILLed at (seeded) random moments: every message that got a 250 for
  its DATA is in new/ or cur/ exactly once and intact; every other message
  is there at most once; nothing truncated is ever visible to POP3.
"""

import os
import random
import re
import signal
import smtplib
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import PASSWORD, to_crlf

HOST = "127.0.0.1"
MSMTP = "/usr/bin/msmtp"

TRACE_RE = re.compile(rb"(?:Return-Path|Received):")


def pop3_all(inst, retries=100):
    """RETR every message through a fresh POP3 login; raw CRLF bytes."""
    last = None
    for _ in range(retries):
        try:
            p = inst.login()
            break
        except (OSError, EOFError) as e:   # workers restarting
            last = e
            time.sleep(0.1)
    else:
        raise AssertionError("cannot log in over POP3: %r" % last)
    try:
        count = p.stat()[0]
        out = []
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            out.append(b"\r\n".join(lines) + b"\r\n")
        return out
    finally:
        p.quit()


def split_trace(m):
    """(trace header lines, the rest): the leading Return-Path/Received
    fields, with their continuation lines, that postern prepends."""
    pos = 0
    in_trace = False
    while True:
        eol = m.find(b"\r\n", pos)
        if eol < 0:
            break
        line = m[pos:eol]
        if TRACE_RE.match(line):
            in_trace = True
        elif in_trace and line[:1] in (b" ", b"\t"):
            pass
        else:
            break
        pos = eol + 2
    return m[:pos], m[pos:]


# ---- msmtp ---------------------------------------------------------------

def msmtp_message(tag):
    # an attachment-like body: MIME multipart with base64 lines, a line
    # that needs dot-stuffing, trailing whitespace, 8-bit-free
    b64 = "".join(
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx"
        "\n" for _ in range(40))
    return ("From: Alice <alice@localhost>\n"
            "To: Alice <alice@localhost>\n"
            "Subject: msmtp " + tag + " test\n"
            "Message-ID: <msmtp-" + tag + "@example.org>\n"
            "Date: Tue, 03 Jan 2023 11:22:33 +0000\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"=-=-=bnd\"\n"
            "\n"
            "This is a multi-part message in MIME format.\n"
            "\n"
            "--=-=-=bnd\n"
            "Content-Type: text/plain; charset=us-ascii\n"
            "\n"
            "Hello,   \n"
            ".a line starting with a dot\n"
            "..two dots\n"
            ".\n"
            "\n"
            "--=-=-=bnd\n"
            "Content-Type: application/octet-stream; name=\"blob.bin\"\n"
            "Content-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"blob.bin\"\n"
            "\n" + b64 +
            "--=-=-=bnd--\n").encode()


def write_msmtprc(inst, port, starttls):
    path = os.path.join(inst.dir, "msmtprc-%d" % port)
    with open(path, "w") as f:
        f.write("defaults\n"
                "logfile -\n"
                "account postern\n"
                "host 127.0.0.1\n"
                "port %d\n"
                "tls on\n"
                "tls_starttls %s\n"
                "tls_certcheck off\n"
                "auth plain\n"
                "user alice\n"
                "password %s\n"
                "from alice@localhost\n"
                "account default : postern\n"
                % (port, "on" if starttls else "off", PASSWORD))
    os.chmod(path, 0o600)
    return path


def run_msmtp(inst, port, starttls, msg):
    rc = write_msmtprc(inst, port, starttls)
    r = subprocess.run([MSMTP, "-C", rc, "alice@localhost"], input=msg,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "msmtp exited %d:\n%s\n--- log ---\n%s" % (
        r.returncode, out, inst.log()[-4000:])
    return out


@pytest.mark.skipif(not os.access(MSMTP, os.X_OK), reason="no msmtp")
@pytest.mark.parametrize("listener,starttls", [("submission", True),
                                               ("submissions", False)])
def test_msmtp_roundtrip(srv, listener, starttls):
    msg = msmtp_message(listener)
    run_msmtp(srv, srv.port(listener), starttls, msg)
    got = pop3_all(srv)
    assert len(got) == 1
    m = got[0]
    trace, rest = split_trace(m)
    assert trace.startswith(b"Return-Path: <alice@localhost>\r\n"), m[:400]
    assert b"\r\nReceived: " in b"\r\n" + trace
    assert b"with ESMTPSA" in trace, trace
    # nothing added (Message-ID and Date were present), nothing changed
    assert rest == to_crlf(msg), (rest[:600], to_crlf(msg)[:600])
    assert len(srv.message_files("alice")) == 1


# ---- durability under SIGKILL -------------------------------------------

N_MESSAGES = 200
CONCURRENCY = 20
SEED = 20260101


def make_message(i, rng):
    token = "tok%04d-%08x" % (i, rng.getrandbits(32))
    size = rng.randint(1024, 50 * 1024)
    head = ("From: Sender <s%d@example.org>\r\n"
            "To: alice@localhost\r\n"
            "Subject: durability %s\r\n"
            "Message-ID: <%s@example.org>\r\n"
            "Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
            "\r\n" % (i, token, token)).encode()
    lines = []
    n = 0
    j = 0
    while n < size:
        # varied lines; some start with a dot to exercise (un)stuffing
        pre = "." if j % 17 == 3 else ""
        line = ("%s%s line %d %s\r\n"
                % (pre, token, j, "x" * rng.randint(0, 60))).encode()
        lines.append(line)
        n += len(line)
        j += 1
    return token, head + b"".join(lines)


def send_one(port, msg, pace):
    """True iff the server answered DATA with 250; never raises.  The
    dot-stuffed data goes out in a few chunks with short pauses so that
    kills land in every phase: mid-DATA, after the final dot, while the
    reply is on its way."""
    s = None
    try:
        s = smtplib.SMTP(HOST, port, timeout=10)
        s.ehlo("durability.example")
        s.mail("sender@example.org")
        code, _ = s.rcpt("alice@localhost")
        if code != 250:
            return False
        s.putcmd("data")
        code, _ = s.getreply()
        if code != 354:
            return False
        wire = re.sub(rb"(?m)^\.", b"..", msg) + b".\r\n"
        n = len(pace)
        step = (len(wire) + n - 1) // n
        for k in range(n):
            s.send(wire[k * step:(k + 1) * step])
            time.sleep(pace[k])
        code, _ = s.getreply()
        ok = (code == 250)
        try:
            s.quit()
        except Exception:
            pass
        return ok
    except Exception:
        return False
    finally:
        if s is not None:
            try:
                s.close()
            except Exception:
                pass


def test_durability_sigkill_workers(srv):
    rng = random.Random(SEED)
    msgs = [make_message(i, rng) for i in range(N_MESSAGES)]
    trng = random.Random(SEED + 2)
    paces = [[trng.uniform(0.03, 0.1) for _ in range(4)]
             for _ in range(N_MESSAGES)]
    by_token = {t: m for t, m in msgs}
    assert len(by_token) == N_MESSAGES

    port = srv.port("smtp")
    results = [None] * N_MESSAGES
    done = [0]
    lock = threading.Lock()
    stop_killer = threading.Event()
    kills = []            # (completed-at-kill, pids killed)

    def task(i):
        ok = send_one(port, msgs[i][1], paces[i])
        with lock:
            results[i] = ok
            done[0] += 1

    # the kills land at seeded random moments of the run; timing is the
    # only random thing, not what is asserted
    krng = random.Random(SEED + 1)
    delays = [krng.uniform(0.2, 0.5)] + [krng.uniform(0.2, 0.6)
                                         for _ in range(2)]

    def killer():
        for d in delays:
            if stop_killer.wait(d):
                return
            pids = srv.children()
            killed = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            with lock:
                kills.append((done[0], killed))

    t0 = time.monotonic()
    kt = threading.Thread(target=killer, daemon=True)
    kt.start()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as ex:
        list(ex.map(task, range(N_MESSAGES)))
    stop_killer.set()
    kt.join(10)
    elapsed = time.monotonic() - t0
    assert elapsed < 90, "deliveries took %.1fs" % elapsed

    assert srv.proc.poll() is None, "supervisor died\n" + srv.log()[-4000:]
    # the kills really happened during the run
    mid = [(d, k) for d, k in kills if k and d < N_MESSAGES]
    assert len(mid) >= 2, "kills did not land mid-run: %r" % kills
    accepted = {msgs[i][0] for i in range(N_MESSAGES) if results[i]}
    assert None not in results
    # sanity: the kills must not have made everything fail
    assert len(accepted) >= N_MESSAGES // 4, (len(accepted), kills)

    # wait until the supervisor has workers again, then read everything
    got = pop3_all(srv)
    files = srv.message_files("alice")
    assert len(got) == len(files), (len(got), len(files))

    seen = {}
    for m in got:
        trace, rest = split_trace(m)
        assert trace.startswith(b"Return-Path: <sender@example.org>\r\n"), \
            m[:300]
        mt = re.search(rb"Subject: durability (tok\d{4}-[0-9a-f]{8})\r\n", rest)
        assert mt, "unidentifiable message: %r" % m[:400]
        tok = mt.group(1).decode()
        assert tok in by_token, tok
        # intact: no truncation, no damage, nothing else added
        assert rest == by_token[tok], (
            "message %s differs: %d bytes retrieved, %d sent"
            % (tok, len(rest), len(by_token[tok])))
        seen[tok] = seen.get(tok, 0) + 1

    dups = {t: c for t, c in seen.items() if c > 1}
    assert not dups, "delivered more than once: %r" % dups
    missing = sorted(accepted - set(seen))
    assert not missing, ("%d messages got 250 but are missing: %r; kills %r"
                         % (len(missing), missing[:10], kills))

    # the same, looking at the files directly: every file in new/ and cur/
    # is a complete message (tmp/ leftovers from killed workers are allowed)
    file_tokens = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        _, rest = split_trace(to_crlf(data))
        mt = re.search(rb"Subject: durability (tok\d{4}-[0-9a-f]{8})\r\n", rest)
        assert mt, path
        tok = mt.group(1).decode()
        assert rest == by_token[tok], path
        file_tokens.append(tok)
    assert sorted(file_tokens) == sorted(seen)
