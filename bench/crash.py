#!/usr/bin/env python3
"""Crash campaign: kill -9 postern's processes under load, then count.

Not a test: nothing here runs in CI (bench/crash.sh, `make bench-crash`).
See bench/README.md ("Crash campaign").

A private instance on 127.0.0.1 (tests/integration/conftest.py's Instance:
`postern init` into a temporary directory, a free port base) gets load on
four paths at once, every message carrying a unique id:

  submission  AUTH on 587, one to three recipients, local users and remote
              ones (remote.test, routed to a loopback sink by relay_routes,
              so they go through the queue and the queue runner)
  smtp        port 25, one to three local users
  lmtp        LMTP over TCP, one to three local users, a reply per recipient
  append      IMAP APPEND to the user's INBOX

Each client records which (id, recipient) pairs were acknowledged: a 250 to
the end of DATA (smtplib's sendmail without an exception; refused
recipients are not acknowledged), LMTP's 250 for that recipient, APPEND's
tagged OK. Meanwhile a killer sends SIGKILL, at random short intervals, to
a worker, the queue runner, the auth process, or the whole server
(supervisor and every child at once; the campaign then starts
`postern serve` again). The supervisor restarts its children itself.

Then the load stops, the queue is drained (`postern queue retry`, bounded
wait) and everything is counted:

  lost        an acknowledged (id, recipient) that is neither in the
              recipient's mailbox (Maildir new/ + cur/, read directly) nor
              at the sink
  duplicated  an id twice in one mailbox (postern delivered it twice)
  partial     a stored message (or a message at the sink) whose text is
              not the one sent, byte for byte after the trace fields
              postern prepends (every message is regenerated from its id),
              or a file in new/ or cur/ that is not one of ours
  index       IMAP SELECT's EXISTS, and the ids IMAP FETCH shows, against
              the files on disk, for every mailbox

A remote recipient may get a message twice: when the queue runner dies
after the remote server's 250 and before the envelope records it, the
message is sent again (at-least-once, RFC 5321 6.1; docs/ARCHITECTURE.md,
runner_update.c). Those are counted apart ("sink redeliveries"), as are
messages stored although the client got no acknowledgement (the kill came
between the fsync and the reply): both are allowed, a loss is not.

Every loop is bounded in count and in time; everything is on loopback.
"""

import argparse
import hashlib
import imaplib
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.dont_write_bytecode = True

from conftest import (PASSWORD, PORT_OFFSETS, Instance,  # noqa: E402
                      _port_free, children_of)
from smtpsink import Sink  # noqa: E402

HOST = "127.0.0.1"
REMOTE_DOMAIN = "remote.test"
IO_TIMEOUT = 20.0
PATHS = ("submission", "smtp", "lmtp", "append")
KINDS = ("worker", "queue", "auth", "server")


def log(msg):
    sys.stderr.write("%s crash: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---- messages: everything follows from the id ---------------------------

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu").split()


def make_message(mid, sender, rcpts):
    """The message for id mid, CRLF line ends. Sizes: mostly 1-8 KB, one
    in 20 from 64 to 512 KB (past the spool thresholds). Some body lines
    start with a dot (dot-stuffing on the way in and out)."""
    rng = random.Random(mid)
    big = rng.random() < 0.05
    size = rng.randrange(64 << 10, 512 << 10) if big else rng.randrange(1 << 10, 8 << 10)
    lines = ["crash-id %s" % mid]
    n = len(lines[0])
    while n < size:
        w = rng.randrange(4, 16)
        line = " ".join(rng.choice(WORDS) for _ in range(w))
        if rng.random() < 0.03:
            line = "." + line
        lines.append(line)
        n += len(line) + 2
    body = "\r\n".join(lines) + "\r\n"
    head = ("From: %s\r\n"
            "To: %s\r\n"
            "Subject: crash campaign %s\r\n"
            "Message-ID: <%s@crash.bench>\r\n"
            "Date: Tue, 03 Jan 2023 11:22:33 +0000\r\n"
            "X-Crash-Id: %s\r\n"
            "\r\n" % (sender, ", ".join(rcpts), mid, mid, mid))
    return (head + body).encode()


ID_RE = re.compile(rb"^X-Crash-Id: (\S+)\r?$", re.M)
TRACE_LINE = re.compile(rb"^([A-Za-z0-9-]+:|[ \t])")


_expected = {}


def expected(mid, sender, rcpts):
    """(length, SHA-256) of message mid with LF line ends (cached: a
    message with three recipients is checked three times)."""
    v = _expected.get(mid)
    if v is None:
        o = make_message(mid, sender, list(rcpts)).replace(b"\r\n", b"\n")
        v = _expected[mid] = (len(o), hashlib.sha256(o).digest())
    return v


def check_stored(data, mid, sender, rcpts):
    """True if data is the message sent as mid, with only header fields in
    front of it (postern's Return-Path/Received), line ends aside."""
    d = data.replace(b"\r\n", b"\n")
    n, digest = expected(mid, sender, rcpts)
    if len(d) < n or hashlib.sha256(d[len(d) - n:]).digest() != digest:
        return False
    prefix = d[:len(d) - n]
    return all(TRACE_LINE.match(l) for l in prefix.split(b"\n") if l)


# ---- the record of what the clients sent and saw -------------------------

class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {}        # id -> (path, sender, rcpts)
        self.acked = set()    # (id, rcpt)
        self.sent = Counter()     # path -> messages whose sending began
        self.acked_ids = set()
        self.errors = Counter()   # path -> sessions that failed
        self.error_kinds = Counter()  # (path, exception class)
        self.error_sample = {}
        self.seq = 0

    def new_id(self, path):
        with self.lock:
            self.seq += 1
            return "%s-%06d-%04x" % (path[:3], self.seq,
                                     random.getrandbits(16))

    def start(self, mid, path, sender, rcpts):
        with self.lock:
            self.msgs[mid] = (path, sender, tuple(rcpts))
            self.sent[path] += 1

    def ack(self, mid, rcpts):
        with self.lock:
            if rcpts:
                self.acked_ids.add(mid)
            for r in rcpts:
                self.acked.add((mid, r))

    def error(self, path, e):
        with self.lock:
            self.errors[path] += 1
            k = (path, type(e).__name__)
            self.error_kinds[k] += 1
            self.error_sample.setdefault(k, str(e)[:120])


# ---- load clients ---------------------------------------------------------

class Load:
    def __init__(self, inst, users, rec, stop, seed):
        self.inst = inst
        self.users = users
        self.rec = rec
        self.stop = stop
        self.seed = seed

    def local(self, rng, n):
        return ["%s@localhost" % u for u in rng.sample(self.users, n)]

    def pause_after_error(self, rng):
        # the server is restarting: try again soon
        self.stop.wait(rng.uniform(0.05, 0.3))

    def run(self, path, idx, max_msgs):
        rng = random.Random("%s-%s-%d" % (self.seed, path, idx))
        fn = getattr(self, "session_" + path)
        done = 0
        while not self.stop.is_set() and done < max_msgs:
            try:
                done += fn(rng)
            except (OSError, EOFError, smtplib.SMTPException,
                    imaplib.IMAP4.error, ValueError) as e:
                self.rec.error(path, e)
                self.pause_after_error(rng)
            # moderate load: a short breath between sessions
            self.stop.wait(rng.uniform(0.0, 0.05))

    def smtp_session(self, rng, port, auth_user, make_rcpts, sender_of):
        n = 0
        s = smtplib.SMTP(HOST, port, timeout=IO_TIMEOUT)
        try:
            s.ehlo("crash.bench")
            if auth_user:
                s.login(auth_user, PASSWORD)
            for _ in range(rng.randrange(1, 6)):
                if self.stop.is_set():
                    break
                path = "submission" if auth_user else "smtp"
                rcpts = make_rcpts(rng)
                sender = sender_of(auth_user)
                mid = self.rec.new_id(path)
                msg = make_message(mid, sender, rcpts)
                self.rec.start(mid, path, sender, rcpts)
                n += 1
                try:
                    refused = s.sendmail(sender, rcpts, msg)
                except smtplib.SMTPRecipientsRefused:
                    s.rset()
                    continue
                except smtplib.SMTPResponseException:
                    # a 4xx/5xx to MAIL or DATA: not acknowledged
                    s.rset()
                    continue
                self.rec.ack(mid, [r for r in rcpts if r not in refused])
            s.quit()
        finally:
            s.close()
        return n

    def session_submission(self, rng):
        user = rng.choice(self.users)

        def rcpts(rng):
            k = rng.randrange(1, 4)
            out = []
            for _ in range(k):
                if rng.random() < 0.5:
                    out.append("r%d@%s" % (rng.randrange(1000), REMOTE_DOMAIN))
                else:
                    out += self.local(rng, 1)
            return sorted(set(out))
        return self.smtp_session(rng, self.inst.port("submission"), user,
                                 rcpts, lambda u: "%s@localhost" % u)

    def session_smtp(self, rng):
        return self.smtp_session(
            rng, self.inst.port("smtp"), None,
            lambda rng: self.local(rng, rng.randrange(1, 4)),
            lambda u: "sender@outside.example")

    def session_lmtp(self, rng):
        n = 0
        c = LineConn(self.inst.port("lmtp"))
        try:
            c.expect(b"220")
            c.send(b"LHLO crash.bench\r\n")
            c.reply(b"250")
            for _ in range(rng.randrange(1, 6)):
                if self.stop.is_set():
                    break
                rcpts = self.local(rng, rng.randrange(1, 4))
                sender = "sender@outside.example"
                mid = self.rec.new_id("lmtp")
                msg = make_message(mid, sender, rcpts)
                self.rec.start(mid, "lmtp", sender, rcpts)
                n += 1
                c.send(b"MAIL FROM:<%s>\r\n" % sender.encode())
                c.reply(b"250")
                ok = []
                for r in rcpts:
                    c.send(b"RCPT TO:<%s>\r\n" % r.encode())
                    if c.reply().startswith(b"250"):
                        ok.append(r)
                if not ok:
                    c.send(b"RSET\r\n")
                    c.reply(b"250")
                    continue
                c.send(b"DATA\r\n")
                c.reply(b"354")
                stuffed = re.sub(rb"(?m)^\.", b"..", msg)
                c.send(stuffed + b".\r\n")
                # RFC 2033 4.2: one reply per accepted recipient, in order
                for r in ok:
                    if c.reply().startswith(b"250"):
                        self.rec.ack(mid, [r])
            c.send(b"QUIT\r\n")
        finally:
            c.close()
        return n

    def session_append(self, rng):
        n = 0
        user = rng.choice(self.users)
        im = imaplib.IMAP4(HOST, self.inst.port("imap"), timeout=IO_TIMEOUT)
        try:
            im.login(user, PASSWORD)
            for _ in range(rng.randrange(1, 6)):
                if self.stop.is_set():
                    break
                rcpt = "%s@localhost" % user
                mid = self.rec.new_id("append")
                msg = make_message(mid, rcpt, [rcpt])
                self.rec.start(mid, "append", rcpt, [rcpt])
                n += 1
                typ, _ = im.append("INBOX", None, None, msg)
                if typ == "OK":
                    self.rec.ack(mid, [rcpt])
            im.logout()
        finally:
            try:
                im.shutdown()
            except OSError:
                pass
        return n


class LineConn:
    """A raw CRLF line client (for LMTP's reply per recipient)."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
            if len(self.buf) > 65536:
                raise ValueError("reply line too long")
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def reply(self, want=None):
        """A whole (multi-line) reply; its last line."""
        while True:
            l = self.line()
            if l[3:4] != b"-":
                break
        if want and not l.startswith(want):
            raise ValueError("unexpected reply %r" % l[:200])
        return l

    expect = reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- processes and the killer -------------------------------------------

def pick_port_base(rng):
    """A free port base whose listeners all lie below the kernel's
    ephemeral range: while the server is down the clients keep
    connecting, and a client socket that happened to get, say, the POP3
    port as its local port would make the restart fail with EADDRINUSE
    (seen in a 1000-kill run with a base of 51000)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        eph = 32768
    top = eph - 1 - max(PORT_OFFSETS.values())
    bases = list(range(10000, top, 1000))
    rng.shuffle(bases)
    for base in bases:
        if all(_port_free(base + off) for off in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free port base below %d" % eph)


START_FAILURES = Counter()   # why a start had to be retried


def start_server(inst, attempts=5):
    """inst.start(), a few times: a port still held for a moment is no
    reason to stop the campaign (each retry is counted, with the reason
    from the log)."""
    for i in range(attempts):
        try:
            inst.start()
            return i
        except AssertionError as e:
            why = [l for l in str(e).splitlines() if "level=error" in l][-1:]
            START_FAILURES[re.sub(r"^.*?event=", "event=", why[0]) if why
                           else str(e)[:100]] += 1
            if inst.proc is not None and inst.proc.poll() is None:
                raise
            inst.proc = None
            if inst.logf:
                inst.logf.close()
                inst.logf = None
            if i + 1 == attempts:
                raise
            time.sleep(0.5)
    return attempts

def socket_inodes(pid):
    out = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                out.add(int(t[8:-1]))
    except OSError:
        pass
    return out


def tcp_listen_inodes(ports):
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            port = int(p[1].split(":")[1], 16)
            if p[3] == "0A" and port in ports:
                out.add(int(p[9]))
    return out


def auth_listen_inodes(sup_pid):
    # supervisor.c: the auth process listens on @postern-auth-<pid>-...
    out = set()
    want = "@postern-auth-%d-" % sup_pid
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[7].startswith(want):
                out.add(int(p[6]))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        return st[st.rindex(")") + 2] not in "ZX"
    except OSError:
        return False


def classify(inst):
    """{"worker": [pids], "queue": [...], "auth": [...]}: the supervisor's
    children told apart by what they hold (supervisor.c): workers the TCP
    listeners, the auth process its abstract Unix socket, the queue runner
    neither."""
    sup = inst.proc.pid
    ports = {inst.port(k) for k in ("smtp", "submission", "lmtp", "imap", "pop3")}
    tcp = tcp_listen_inodes(ports)
    auth = auth_listen_inodes(sup)
    kinds = defaultdict(list)
    for pid in children_of(sup):
        if not alive(pid):
            continue
        inodes = socket_inodes(pid)
        if inodes & tcp:
            kinds["worker"].append(pid)
        elif inodes & auth:
            kinds["auth"].append(pid)
        else:
            kinds["queue"].append(pid)
    return kinds


class Killer:
    def __init__(self, inst, rng, kills, weights, interval, deadline):
        self.inst = inst
        self.rng = rng
        self.kills = kills
        self.weights = weights
        self.interval = interval
        self.deadline = deadline
        self.done = Counter()
        self.missed = Counter()
        self.restarts = 0
        self.restart_secs = []
        self.events = []    # (time.time() of the kill, kind)
        self.start_retries = 0

    def kill_server(self):
        sup = self.inst.proc.pid
        # stopped first, so it cannot fork a child we would miss
        os.kill(sup, signal.SIGSTOP)
        victims = [sup]
        todo = [sup]
        while todo:
            kids = children_of(todo.pop())
            victims += kids
            todo += kids
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.events.append((time.time(), "server"))
        self.inst.proc.wait(30)
        t0 = time.monotonic()
        while any(alive(p) for p in victims[1:]):
            if time.monotonic() - t0 > 30:
                raise RuntimeError("children of the killed server still alive: %r"
                                   % [p for p in victims if alive(p)])
            time.sleep(0.01)
        self.inst.proc = None
        self.inst.logf.close()
        self.inst.logf = None
        time.sleep(self.rng.uniform(0.0, 0.3))
        t0 = time.monotonic()
        self.start_retries += start_server(self.inst)  # waits for POP3
        self.restarts += 1
        self.restart_secs.append(time.monotonic() - t0)

    def one(self):
        kind = self.rng.choices(KINDS, self.weights)[0]
        if kind == "server":
            self.kill_server()
            self.done[kind] += 1
            return
        pids = classify(self.inst).get(kind, [])
        if not pids:
            # being restarted (or the supervisor's restart throttle)
            self.missed[kind] += 1
            return
        pid = self.rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
            self.events.append((time.time(), kind))
            self.done[kind] += 1
        except ProcessLookupError:
            self.missed[kind] += 1

    def run(self):
        lo, hi = self.interval
        while sum(self.done.values()) < self.kills:
            if time.monotonic() > self.deadline:
                log("time cap reached after %d kills" % sum(self.done.values()))
                break
            time.sleep(self.rng.uniform(lo, hi))
            self.one()
            n = sum(self.done.values())
            if n % 50 == 0 and n:
                log("%d kills: %s" % (n, dict(self.done)))
        if self.inst.proc is None or self.inst.proc.poll() is not None:
            raise RuntimeError("the server is not running at the end")


# ---- the count ----------------------------------------------------------

def queue_count(inst):
    d = os.path.join(inst.path_setting("queue_dir", "queue"), "env")
    try:
        return len([n for n in os.listdir(d) if not n.startswith(".")])
    except FileNotFoundError:
        return 0


def drain_queue(inst, timeout):
    t0 = time.monotonic()
    last_retry = 0.0
    while time.monotonic() - t0 < timeout:
        n = queue_count(inst)
        if n == 0:
            return 0, time.monotonic() - t0
        if time.monotonic() - last_retry > 5:
            inst.run(["queue", "retry"])
            last_retry = time.monotonic()
        time.sleep(0.2)
    return queue_count(inst), time.monotonic() - t0


def imap_view(inst, user, attempts=20):
    """(EXISTS, [ids]) of user's INBOX through IMAP."""
    last = None
    for _ in range(attempts):
        try:
            im = imaplib.IMAP4(HOST, inst.port("imap"), timeout=60)
            try:
                im.login(user, PASSWORD)
                typ, data = im.select("INBOX", readonly=True)
                if typ != "OK":
                    raise imaplib.IMAP4.error("SELECT: %r" % data)
                exists = int(data[0])
                ids = []
                if exists:
                    typ, data = im.fetch(
                        "1:*", "(UID BODY.PEEK[HEADER.FIELDS (X-CRASH-ID)])")
                    for item in data:
                        if isinstance(item, tuple):
                            m = ID_RE.search(item[1])
                            ids.append(m.group(1).decode() if m else None)
                im.logout()
                return exists, ids
            finally:
                try:
                    im.shutdown()
                except OSError:
                    pass
        except (OSError, imaplib.IMAP4.error) as e:
            last = e
            time.sleep(0.5)
    raise RuntimeError("IMAP view of %s failed: %r" % (user, last))


def count(inst, users, rec, sink, kill_events):
    res = Counter()
    problems = []
    # where each (id, rcpt) was found
    found = Counter()
    for user in users:
        md = inst.maildir(user)
        ids_on_disk = []
        nfiles = 0
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            for name in sorted(os.listdir(d)):
                nfiles += 1
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                m = ID_RE.search(data)
                mid = m.group(1).decode() if m else None
                if mid not in rec.msgs:
                    res["partial"] += 1
                    problems.append("partial: %s/%s/%s has no known id (%d bytes)"
                                    % (user, sub, name, len(data)))
                    continue
                path, sender, rcpts = rec.msgs[mid]
                if not check_stored(data, mid, sender, rcpts):
                    res["partial"] += 1
                    problems.append("partial: %s/%s/%s (id %s, %d bytes) differs "
                                    "from what was sent" % (user, sub, name, mid, len(data)))
                ids_on_disk.append(mid)
        tmp = os.path.join(md, "tmp")
        res["tmp_leftovers"] += len(os.listdir(tmp)) if os.path.isdir(tmp) else 0
        per = Counter(ids_on_disk)
        for mid, k in per.items():
            if k > 1:
                res["duplicated"] += k - 1
                problems.append("duplicated: id %s is %d times in %s's INBOX"
                                % (mid, k, user))
            found[(mid, "%s@localhost" % user)] += 1
        exists, imap_ids = imap_view(inst, user)
        if exists != nfiles:
            res["index_mismatch"] += 1
            problems.append("index: %s SELECT EXISTS %d, %d files in new/+cur/"
                            % (user, exists, nfiles))
        if Counter(imap_ids) != per:
            res["index_mismatch"] += 1
            problems.append("index: %s: ids over IMAP differ from the files "
                            "(%d vs %d)" % (user, len(imap_ids), len(ids_on_disk)))
        res["stored_local"] += nfiles
    sink_seen = Counter()
    sink_times = defaultdict(list)
    for t in sink.accepted():
        m = ID_RE.search(t.data or b"")
        mid = m.group(1).decode() if m else None
        if mid not in rec.msgs:
            res["partial"] += 1
            problems.append("partial: the sink got a message with no known id")
            continue
        path, sender, rcpts = rec.msgs[mid]
        if not check_stored(t.data, mid, sender, rcpts):
            res["partial"] += 1
            problems.append("partial: the sink's copy of %s differs" % mid)
        for r in t.rcpts:
            sink_seen[(mid, r.lower())] += 1
            sink_times[(mid, r.lower())].append(t.time)
    runner_kills = sorted(t for t, kind in kill_events if kind in ("queue", "server"))
    for key, k in sink_seen.items():
        found[key] += 1
        if k > 1:
            res["sink_redeliveries"] += k - 1
            # a redelivery is explained by a kill of the runner between
            # the two transactions (times of their MAIL commands)
            ts = sorted(sink_times[key])
            for a, b in zip(ts, ts[1:]):
                if not any(a <= x <= b for x in runner_kills):
                    res["sink_redeliveries_unexplained"] += 1
                    problems.append("redelivered with no runner kill between: "
                                    "%s to %s at %.3f and %.3f" % (key[0], key[1], a, b))
    res["sink_transactions"] = len(sink.accepted())
    # lost: acknowledged, found nowhere
    delivered = Counter()
    for (mid, r) in rec.acked:
        if found[(mid, r)] == 0:
            res["lost"] += 1
            problems.append("lost: %s to %s (%s) was acknowledged"
                            % (mid, r, rec.msgs[mid][0]))
        else:
            delivered[rec.msgs[mid][0]] += 1
    # delivered without an acknowledgement (allowed: the reply was lost)
    unacked = Counter()
    for key in found:
        if key not in rec.acked and key[0] in rec.msgs:
            unacked[rec.msgs[key[0]][0]] += 1
    return res, problems, delivered, unacked


# ---- main ---------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", default=str(int(time.time())))
    ap.add_argument("--clients", type=int, default=2,
                    help="concurrent clients per path (4 paths)")
    ap.add_argument("--interval", default="0.2:1.0",
                    help="seconds between kills, random in LO:HI")
    ap.add_argument("--weights", default="40:20:15:25",
                    help="worker:queue:auth:server kill weights")
    ap.add_argument("--time-cap", type=float, default=7200,
                    help="seconds for the kill phase at most")
    ap.add_argument("--drain-timeout", type=float, default=300)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--bin", default=None)
    ap.add_argument("--report", default=None)
    ap.add_argument("--keep", action="store_true",
                    help="keep the instance directory")
    a = ap.parse_args()
    lo, hi = (float(x) for x in a.interval.split(":"))
    weights = [float(x) for x in a.weights.split(":")]
    rng = random.Random(a.seed)
    log("seed %s, %d kills, %d clients per path" % (a.seed, a.kills, a.clients))

    inst = Instance(a.bin) if a.bin else Instance()
    inst.init(pick_port_base(rng))
    users = ["u%d" % i for i in range(1, a.users + 1)]
    srng = random.Random(a.seed + "-sink")
    slock = threading.Lock()

    def sink_rand():
        with slock:
            return srng.random()

    def sink_data(tx):
        tx.wire = None      # memory: the un-stuffed data is enough
        # now and then a temporary failure, so that messages stay in the
        # queue and are retried across the kills
        return "451 4.3.0 sink: try again" if sink_rand() < 0.1 else None

    def sink_rcpt(addr):
        return "450 4.2.1 sink: mailbox busy" if sink_rand() < 0.05 else None

    sink = Sink(data=sink_data, rcpt=sink_rcpt)
    sink.__enter__()
    inst.configure(
        hostname="localhost",
        workers=2,
        dns_resolver="127.0.0.1:9",          # no DNS: a static route
        relay_routes="%s=127.0.0.1:%d" % (REMOTE_DOMAIN, sink.port),
        relay_tls="none",
        queue_retry_min=1,
        queue_retry_max=5,
        queue_delay_warning=0,
        max_connections_per_ip=1000,
        auth_fail_delay_ms=0,
        shutdown_timeout=5,
        log_level="warn")
    for u in users:
        inst.add_user(u, PASSWORD)
    inst.start()
    rec = Record()
    stop = threading.Event()
    load = Load(inst, users, rec, stop, a.seed)
    threads = []
    for path in PATHS:
        for i in range(a.clients):
            t = threading.Thread(target=load.run, args=(path, i, 10 ** 6),
                                 daemon=True)
            t.start()
            threads.append(t)
    t0 = time.monotonic()
    killer = Killer(inst, rng, a.kills, weights, (lo, hi), t0 + a.time_cap)
    err = None
    try:
        killer.run()
    except Exception as e:   # report what we have, then fail
        err = e
        log("killer failed: ...%s" % str(e)[-300:])
    kill_secs = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(IO_TIMEOUT * 3)
    if inst.proc is None or inst.proc.poll() is not None:
        log("the server is down at the end: starting it")
        if inst.proc is not None:
            inst.proc = None
            inst.logf.close()
        start_server(inst)
    # let the restarted children settle, then drain
    time.sleep(1)
    left, drain_secs = drain_queue(inst, a.drain_timeout)
    log("queue: %d left after %.1f s" % (left, drain_secs))
    time.sleep(1)
    res, problems, delivered, unacked = count(inst, users, rec, sink, killer.events)
    res["queue_left"] = left
    qdir = inst.path_setting("queue_dir", "queue")
    for sub in ("msg", "tmp"):
        try:
            res["queue_" + sub] = len(os.listdir(os.path.join(qdir, sub)))
        except FileNotFoundError:
            pass
    total_secs = time.monotonic() - t0
    rc = inst.stop()
    sink.close()
    server_log = inst.log()

    lines = []
    p = lines.append
    p("Crash campaign, %s, %d cores, postern %s, seed %s"
      % (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), os.cpu_count(),
         git_rev(), a.seed))
    p("load: %d clients per path; kills every %.2f-%.2f s; weights "
      "worker:queue:auth:server = %s" % (a.clients, lo, hi, a.weights))
    p("kills (SIGKILL): %s; total %d; server restarts %d (mean %.2f s to "
      "answer again, %d starts retried); kills skipped (no such process at "
      "that moment): %s"
      % (", ".join("%s %d" % (k, killer.done[k]) for k in KINDS),
         sum(killer.done.values()), killer.restarts,
         (sum(killer.restart_secs) / len(killer.restart_secs)) if killer.restart_secs else 0,
         killer.start_retries,
         dict(killer.missed) or 0))
    for why, k in START_FAILURES.items():
        p("  start retried %d x: %s" % (k, why))
    p("%-11s %8s %8s %10s %10s %10s %9s" % ("path", "sent", "acked",
                                             "ack rcpts", "delivered", "unacked+", "sess err"))
    ack_rcpts = Counter(rec.msgs[mid][0] for mid, _ in rec.acked)
    acked_msgs = Counter(rec.msgs[mid][0] for mid in rec.acked_ids)
    for path in PATHS:
        p("%-11s %8d %8d %10d %10d %10d %9d"
          % (path, rec.sent[path], acked_msgs[path], ack_rcpts[path],
             delivered[path], unacked[path], rec.errors[path]))
    p("  (sent: messages begun; acked: messages with at least one "
      "acknowledged recipient; ack rcpts: acknowledged (message, recipient) "
      "pairs; delivered: those found; unacked+: stored or at the sink "
      "without an acknowledgement, allowed)")
    p("session errors: %s" % ", ".join(
        "%s %s %d" % (k[0], k[1], v) for k, v in sorted(rec.error_kinds.items())))
    for k, v in sorted(rec.error_sample.items()):
        p("  e.g. %s %s: %s" % (k[0], k[1], v))
    seen = Counter(m.group(1) for m in re.finditer(
        r"event=(worker|queue|auth)_exit pid=\d+ signal=9", server_log))
    p("the supervisor saw SIGKILLed: worker %d, queue %d, auth %d "
      "(equal to the kills above, less any the supervisor had not reaped yet when the whole server was killed)" % (seen["worker"], seen["queue"], seen["auth"]))
    p("remote (queue -> sink): %d transactions accepted by the sink, "
      "%d redeliveries (at-least-once, allowed), %d of them with no kill of "
      "the queue runner or the server in between (must be 0)"
      % (res["sink_transactions"], res["sink_redeliveries"],
         res["sink_redeliveries_unexplained"]))
    p("LOST %d   DUPLICATED %d   PARTIAL %d   INDEX MISMATCHES %d   "
      "queue left %d"
      % (res["lost"], res["duplicated"], res["partial"], res["index_mismatch"],
         res["queue_left"]))
    p("left on disk, never visible to a client: %d files in the mailboxes' "
      "tmp/ (removed after 36 h, store_int.h), %d in the queue's msg/ "
      "(orphans) and %d in its tmp/ (both removed when the queue runner "
      "next starts, queue_recover)" % (res["tmp_leftovers"], res["queue_msg"], res["queue_tmp"]))
    p("time: %.0f s of kills under load, %.1f s queue drain, %.0f s in all"
      % (kill_secs, drain_secs, total_secs))
    if problems:
        p("problems (first 50 of %d):" % len(problems))
        lines += ["  " + x for x in problems[:50]]
    if err:
        # the end of the message: an AssertionError of conftest's
        # Instance.start carries the whole server log
        p("the killer stopped early: %s: ...%s" % (type(err).__name__, str(err)[-300:]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.report:
        with open(a.report, "w") as f:
            f.write(text)
    bad = (res["lost"] or res["duplicated"] or res["partial"] or
           res["sink_redeliveries_unexplained"] or
           res["index_mismatch"] or left or err or rc not in (0, None))
    if bad or a.keep:
        log("instance kept at %s (log %s)" % (inst.root, inst.log_path))
    else:
        import shutil
        shutil.rmtree(inst.root, ignore_errors=True)
    return 1 if bad else 0


def git_rev():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
