"""A byte-exact IMAP client and response parser for the integration tests.

imaplib hides too much (it re-tags, swallows untagged data between
commands, cannot send LITERAL+ or watch IDLE with a deadline), so the tests
that assert on the wire use this client; imaplib is used where a test wants
to show that Python's stock client works.

Responses are kept as "logical lines": a server line with its literals
inlined exactly as sent ("{5}\r\nhello"), so a test can both look at the
bytes and parse them with parse().
"""

import datetime
import itertools
import os
import re
import socket
import ssl
import time

import pytest

from conftest import (IO_TIMEOUT, PASSWORD, PORT_OFFSETS, LineSocket,
                      client_tls_context,
                      pick_port_base, simple_message)

HOST = "127.0.0.1"
_LIT_RE = re.compile(rb"(~?)\{(\d+)\+?\}\r\n$")
_TAGGED_RE = re.compile(rb"^(\S+) (OK|NO|BAD)(?: \[([^\]]*)\])?(.*)\r\n$",
                        re.S | re.I)
_UNTAGGED_STATUS_RE = re.compile(
    rb"^\* (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?(.*)\r\n$", re.S | re.I)

# The extension list of the issue (#4), before login on a TLS or loopback
# connection; AUTH= and STARTTLS go away after login, LOGINDISABLED
# appears only when plaintext is refused.
CAPS_ALWAYS = {"IMAP4REV1", "IMAP4REV2", "ID", "ENABLE", "IDLE",
               "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE", "CHILDREN",
               "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "ESEARCH",
               "SEARCHRES", "STATUS=SIZE", "UTF8=ACCEPT"}
CAPS_AUTH = {"AUTH=PLAIN", "AUTH=LOGIN"}
# RFC 4959 SASL-IR only matters before authentication: required then,
# tolerated after login
CAPS_PRELOGIN = {"SASL-IR"}


class S(bytes):
    """An IMAP string (quoted or literal), as opposed to an atom."""

    def __repr__(self):
        return "S(%s)" % bytes.__repr__(self)


def parse(data, i=0):
    """Parses IMAP data into nested lists: atoms as bytes, strings as S,
    NIL as None.  BODY[...]<n> style atoms keep their brackets (spaces
    inside brackets included).  Returns the list of top-level items."""
    out, i = _parse_list(data, i, top=True)
    return out


def _parse_list(b, i, top=False):
    out = []
    n = len(b)
    while i < n:
        c = b[i:i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c == b"(":
            sub, i = _parse_list(b, i + 1)
            out.append(sub)
        elif c == b")":
            if top:
                raise ValueError("unbalanced ')' at %d in %r" % (i, b[:300]))
            return out, i + 1
        elif c == b'"':
            j = i + 1
            s = bytearray()
            while True:
                if j >= n:
                    raise ValueError("unterminated quoted string in %r"
                                     % b[:300])
                ch = b[j:j + 1]
                if ch == b'"':
                    break
                if ch == b"\\":
                    j += 1
                    ch = b[j:j + 1]
                s += ch
                j += 1
            out.append(S(bytes(s)))
            i = j + 1
        elif c == b"{" or (c == b"~" and b[i + 1:i + 2] == b"{"):
            if c == b"~":
                i += 1
            j = b.index(b"}", i)
            length = int(b[i + 1:j].rstrip(b"+"))
            k = j + 3  # "}\r\n"
            assert b[j + 1:j + 3] == b"\r\n", b[i:j + 3]
            out.append(S(b[k:k + length]))
            i = k + length
        else:
            j = i
            depth = 0
            while j < n:
                ch = b[j:j + 1]
                if ch == b"[":
                    depth += 1
                elif ch == b"]":
                    depth -= 1
                elif depth == 0 and ch in (b" ", b"(", b")", b"\r", b"\n"):
                    break
                j += 1
            atom = b[i:j]
            out.append(None if atom.upper() == b"NIL" else atom)
            i = j
    if not top:
        raise ValueError("unbalanced '(' in %r" % b[:300])
    return out, i


def plist_dict(items):
    """(K1 V1 K2 V2) -> {K1.upper(): V1, ...} with keys as str."""
    assert len(items) % 2 == 0, items
    return {items[k].decode("latin-1").upper(): items[k + 1]
            for k in range(0, len(items), 2)}


class Lit:
    """A literal argument: synchronizing by default, LITERAL+ with plus."""

    def __init__(self, data, plus=False, binary=False):
        self.data = data if isinstance(data, bytes) else data.encode()
        self.plus = plus
        self.binary = binary

    def marker(self):
        return b"%s{%d%s}\r\n" % (b"~" if self.binary else b"",
                                 len(self.data), b"+" if self.plus else b"")


class Result:
    def __init__(self, tag, untagged, tagged):
        self.tag = tag
        self.untagged = untagged  # logical lines, "* ..." with CRLF
        self.tagged = tagged
        m = _TAGGED_RE.match(tagged)
        assert m and m.group(1).decode() == tag, "bad tagged line %r" % tagged
        self.status = m.group(2).decode().upper()
        self.code = (m.group(3) or b"").decode("utf-8", "replace")
        self.text = m.group(4).strip().decode("utf-8", "replace")

    def __repr__(self):
        return "Result(%r, untagged=%r)" % (self.tagged, self.untagged[:20])

    def codes(self):
        """Response codes (upper-case first word + rest) of the untagged
        status responses and the tagged one."""
        out = []
        for u in self.untagged:
            m = _UNTAGGED_STATUS_RE.match(u)
            if m and m.group(2) is not None:
                out.append(m.group(2).decode("utf-8", "replace"))
        if self.code:
            out.append(self.code)
        return out

    def code_named(self, name):
        for c in self.codes():
            if c.split(" ", 1)[0].upper() == name.upper():
                return c
        return None

    def data(self, kind):
        """Parsed untagged data of a kind: 'LIST', 'FETCH' (returns
        (seq, dict)), 'EXISTS' (returns the number), 'SEARCH', ..."""
        kind = kind.upper().encode()
        out = []
        for u in self.untagged:
            if not u.startswith(b"* "):
                continue
            if _UNTAGGED_STATUS_RE.match(u):
                continue
            toks = parse(u[2:])
            if len(toks) >= 2 and isinstance(toks[1], bytes) and \
                    toks[0].isdigit() and toks[1].upper() == kind:
                if kind == b"FETCH":
                    out.append((int(toks[0]), plist_dict(toks[2])))
                else:
                    out.append(int(toks[0]))
            elif toks and isinstance(toks[0], bytes) and \
                    toks[0].upper() == kind:
                out.append(toks[1:])
        return out

    def fetch(self):
        """{seq: {ITEM: value}} of the untagged FETCH responses (merged)."""
        out = {}
        for seq, d in self.data("FETCH"):
            out.setdefault(seq, {}).update(d)
        return out

    def has_untagged(self, pattern):
        return any(re.search(pattern, u, re.I | re.S) for u in self.untagged)


class ImapError(AssertionError):
    pass


_open_clients = []


@pytest.fixture
def inst(inst):
    """conftest's `inst`, plus: every Client a test opened is closed
    before the daemon is stopped, so that a failing test does not make
    the shutdown wait shutdown_timeout for its sessions.  Test modules
    import it (`from imaputil import inst`); `srv` then uses it."""
    yield inst
    while _open_clients:
        _open_clients.pop().close()


def start(inst, attempts=3):
    """inst.start(), but when another program on this shared machine took
    one of the ports between the harness's check and the daemon's bind,
    the instance moves to a fresh port base and starts again (instead of
    an error that says nothing about postern)."""
    for attempt in range(attempts):
        try:
            return inst.start()
        except AssertionError as e:
            if "Address already in use" not in str(e) or \
                    attempt + 1 == attempts:
                raise
            inst.proc = None
            inst.logf.close()
            inst.logf = None
            base = pick_port_base()
            for name, off in PORT_OFFSETS.items():
                inst.set(name + "_listen", "127.0.0.1:%d" % (base + off))
            inst.base = base


@pytest.fixture
def srv(inst):
    """conftest's `srv`, started with start() above."""
    start(inst)
    return inst


class Client(LineSocket):
    MAX_LINE = 16 << 20  # FETCH responses can be long

    def __init__(self, port, tls=False, timeout=IO_TIMEOUT, greeting=True):
        _open_clients.append(self)
        self.port = port
        self.timeout = timeout
        super().__init__(port, tls=tls, timeout=timeout)
        self.n = 0
        self.greeting = self.read_resp() if greeting else None

    def read_resp(self):
        """One logical response: a line plus the literals it announces."""
        out = b""
        while True:
            line = self.line()
            out += line
            m = _LIT_RE.search(line)
            if not m:
                return out
            need = int(m.group(2))
            while len(self.buf) < need:
                self._fill()
            out += self.buf[:need]
            self.buf = self.buf[need:]

    def poll_resp(self, timeout):
        """A response if one arrives within timeout, else None."""
        if b"\r\n" in self.buf:
            return self.read_resp()
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            self._fill()
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(old)
        return self.read_resp()

    def drain(self, quiet=0.3):
        """Everything the server sends until it is quiet for `quiet` s."""
        out = []
        while True:
            r = self.poll_resp(quiet)
            if r is None:
                return out
            out.append(r)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def expect_eof(self, timeout=5.0):
        """Reads until the server closes; returns what was read."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        data, self.buf = self.buf, b""
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ssl.SSLError, OSError):
                return data
            if not chunk:
                return data
            data += chunk
        raise AssertionError("server did not close within %.1fs; got %r"
                             % (timeout, data[-300:]))

    # ---- commands ------------------------------------------------------
    def next_tag(self):
        self.n += 1
        return "t%d" % self.n

    def cmd(self, *parts, tag=None):
        """Sends TAG + parts + CRLF; str/bytes are sent verbatim, Lit()s as
        literals (waiting for '+' unless LITERAL+).  Returns a Result; a
        tagged reply instead of '+' ends the command early."""
        tag = tag or self.next_tag()
        untagged = []
        pending = tag.encode() + b" "
        for p in parts:
            if isinstance(p, Lit):
                pending += p.marker()
                self.send(pending)
                pending = b""
                if not p.plus:
                    while True:
                        r = self.read_resp()
                        if r.startswith(b"+"):
                            break
                        if r.startswith(tag.encode() + b" "):
                            return Result(tag, untagged, r)
                        untagged.append(r)
                self.send(p.data)
            else:
                pending += p.encode() if isinstance(p, str) else p
        self.send(pending + b"\r\n")
        return self.finish(tag, untagged)

    def finish(self, tag, untagged=None):
        untagged = untagged if untagged is not None else []
        while True:
            r = self.read_resp()
            if r.startswith(tag.encode() + b" "):
                return Result(tag, untagged, r)
            untagged.append(r)

    def ok(self, *parts):
        r = self.cmd(*parts)
        if r.status != "OK":
            raise ImapError("%r -> %r" % (parts, r))
        return r

    def capabilities(self):
        r = self.ok("CAPABILITY")
        caps = r.data("CAPABILITY")
        assert len(caps) == 1, r
        return {c.decode().upper() for c in caps[0]}

    def login(self, user="alice", password=PASSWORD):
        return self.ok("LOGIN %s %s" % (quote(user), quote(password)))

    def starttls(self):
        r = self.ok("STARTTLS")
        assert not self.buf, "data after STARTTLS OK: %r" % self.buf
        self.sock = client_tls_context().wrap_socket(self.sock)
        return r

    def select(self, name="INBOX", examine=False):
        return self.ok("%s %s" % ("EXAMINE" if examine else "SELECT",
                                  quote(name)))

    def append(self, mailbox, msg, flags=None, date=None, plus=False):
        parts = ["APPEND %s " % quote(mailbox)]
        if flags is not None:
            parts.append("(%s) " % flags)
        if date is not None:
            parts.append('"%s" ' % date)
        parts.append(Lit(msg, plus=plus))
        return self.cmd(*parts)

    def fetch(self, seqs, items, uid=False):
        r = self.ok("%sFETCH %s %s" % ("UID " if uid else "", seqs, items))
        return r.fetch(), r

    def logout(self):
        r = self.cmd("LOGOUT")
        self.close()
        return r

    # ---- IDLE ----------------------------------------------------------
    def idle(self):
        self.idle_tag = self.next_tag()
        self.send(self.idle_tag + " IDLE\r\n")
        pre = []
        while True:
            r = self.read_resp()
            if r.startswith(b"+"):
                return pre
            assert not r.startswith(self.idle_tag.encode()), r
            pre.append(r)

    def idle_wait(self, pattern, timeout):
        """Waits in IDLE for an untagged response matching pattern;
        returns (line, seconds) or (None, timeout)."""
        t0 = time.monotonic()
        seen = []
        while True:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                return None, timeout, seen
            r = self.poll_resp(left)
            if r is None:
                return None, timeout, seen
            seen.append(r)
            if re.search(pattern, r, re.I):
                return r, time.monotonic() - t0, seen

    def idle_done(self):
        self.send("DONE\r\n")
        return self.finish(self.idle_tag)


def quote(s):
    if isinstance(s, bytes):
        s = s.decode("utf-8")
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def connect(inst, tls=False, starttls=False):
    if tls:
        return Client(inst.port("imaps"), tls=True)
    c = Client(inst.port("imap"))
    if starttls:
        c.starttls()
    return c


def logged_in(inst, user="alice", password=PASSWORD, tls=False):
    c = connect(inst, tls=tls)
    c.login(user, password)
    return c


def crlf(m):
    """Wire form of a message delivered from LF text (as the store keeps
    sizes: every LF becomes CRLF)."""
    return m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# Maildir info letters of the system flags (Maildir spec; Dovecot's too)
MAILDIR_FLAGS = {"\\draft": "D", "\\flagged": "F", "\\answered": "R",
                 "\\seen": "S", "\\deleted": "T"}
_drop_seq = itertools.count(1)


def imap_time(date):
    """"01-Jan-2023 10:00:00 +0000" -> seconds since the epoch."""
    return datetime.datetime.strptime(date, "%d-%b-%Y %H:%M:%S %z"
                                      ).timestamp()


def drop(inst, msg, flags="", date=None, user="alice", folder=None):
    """Puts msg into a Maildir byte for byte, as another program (an MTA,
    mutt) would: written in tmp/, the internal date as its mtime, renamed
    into cur/ with the system flags as info letters (or into new/).  The
    store gives it a UID at the next sync, in mtime order.  Used where a
    test needs exact bytes, dates and flags without depending on APPEND;
    keywords have no letters here (set them with STORE)."""
    md = inst.maildir(user)
    if not os.path.isdir(md):
        logged_in(inst, user).logout()  # the first login provisions it
    if folder:
        md = os.path.join(md, "." + folder)
    uid, gid = inst.maildir_owner(user)
    letters = "".join(sorted(MAILDIR_FLAGS[f.lower()] for f in flags.split()
                             if f.lower() in MAILDIR_FLAGS))
    name = "%d.M%dP%d.h6test" % (time.time(), next(_drop_seq), os.getpid())
    tmp = os.path.join(md, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(msg)
    os.chown(tmp, uid, gid)
    os.chmod(tmp, 0o600)
    if date is not None:
        t = imap_time(date)
        os.utime(tmp, (t, t))
    if letters or flags:
        os.rename(tmp, os.path.join(md, "cur", name + ":2," + letters))
    else:
        os.rename(tmp, os.path.join(md, "new", name))


# ---- reading replies -------------------------------------------------

def deliver_n(inst, n, user="alice"):
    msgs = [simple_message(i) for i in range(1, n + 1)]
    for m in msgs:
        inst.deliver_ok(user, m)
    return msgs


def list_names(r):
    """{name: set(attributes)} of the LIST/LSUB responses in r."""
    out = {}
    for kind in ("LIST", "LSUB"):
        for d in r.data(kind):
            attrs, delim, name = d[0], d[1], d[2]
            assert delim in (b"/", None), d
            out[bytes(name).decode("utf-8")] = {a.decode().lower()
                                                for a in attrs}
    return out


def status_of(r):
    out = {}
    for d in r.data("STATUS"):
        items = d[1]
        out[bytes(d[0]).decode("utf-8")] = {
            items[k].decode().upper(): int(items[k + 1])
            for k in range(0, len(items), 2)}
    return out


def same_instant(a, b):
    """INTERNALDATE: the zone it is shown in is the server's choice."""
    fmt = "%d-%b-%Y %H:%M:%S %z"
    return (datetime.datetime.strptime(a.decode().strip(), fmt) ==
            datetime.datetime.strptime(b, fmt))


def bad_or_no(r):
    return r.status in ("BAD", "NO")
