"""Big FETCH literals are streamed from the file with back-pressure, and
APPEND takes at most one message literal (issue 10: memory and
descriptors per connection stay small whatever a client sends).

The clients here read the wire with their own socket code: imaputil's
Client keeps its buffer in a bytes object, which would be quadratic on a
40 MB response."""

import base64
import os
import re
import socket
import time

# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import PASSWORD, drop, logged_in, quote

MB = 1 << 20
_LIT = re.compile(rb"(~?)\{(\d+)\}\r\n$")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


class Raw:
    """A plain socket with an efficient reader of IMAP responses."""

    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(60)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()
        self.pos = 0
        self.n = 0
        self.resp()  # greeting

    def send(self, b):
        self.sock.sendall(b)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("server closed; last: %r" % self.buf[-200:])
        self.buf += chunk

    def line(self):
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                out = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                return out
            del self.buf[:self.pos]
            self.pos = 0
            self._fill()

    def take(self, n):
        while len(self.buf) - self.pos < n:
            del self.buf[:self.pos]
            self.pos = 0
            self._fill()
        out = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return out

    def resp(self):
        """One response: (list of text pieces, list of literals)."""
        texts, lits = [], []
        while True:
            ln = self.line()
            texts.append(ln)
            m = _LIT.search(ln)
            if not m:
                return texts, lits
            lits.append((m.group(1), self.take(int(m.group(2)))))

    def cmd(self, text):
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + text.encode() + b"\r\n")
        untagged = []
        while True:
            texts, lits = self.resp()
            if texts[0].startswith(tag + b" "):
                return untagged, texts[0]
            untagged.append((texts, lits))


def tagged(c, tag):
    while True:
        texts, _ = c.resp()
        if texts[0].startswith(tag + b" "):
            return texts[0]


def login(srv, rcvbuf=None):
    c = Raw(srv.port("imap"), rcvbuf=rcvbuf)
    _, t = c.cmd("LOGIN %s %s" % (quote("alice"), quote(PASSWORD)))
    assert b" OK" in t, t
    _, t = c.cmd("SELECT INBOX")
    assert b" OK" in t, t
    return c


def big_text(size, seed):
    """CRLF text lines of printable bytes, about size octets."""
    line = (b"%s line of a big message, to be streamed byte for byte" %
            seed).ljust(76, b".") + b"\r\n"
    return line * (size // len(line))


HDR = (b"From: Bob <bob@example.org>\r\n"
       b"To: Alice <alice@example.org>\r\n"
       b"Subject: big\r\n"
       b"Message-ID: <big@example.org>\r\n")


def test_big_fetch_is_streamed_with_back_pressure(srv):
    body = big_text(40 * MB, b"plain")
    msg = HDR + b"\r\n" + body
    drop(srv, msg, flags="\\Seen")
    c = login(srv)
    kids = srv.children()
    before = {p: rss_kb(p) for p in kids}
    # a client that reads nothing (small receive buffer: the kernel
    # holds little for us)
    slow = login(srv, rcvbuf=64 * 1024)
    slow.send(b"s1 FETCH 1 (UID BODY.PEEK[] FLAGS)\r\n")
    time.sleep(3)
    grown = max(rss_kb(p) - before.get(p, 0) for p in srv.children())
    print("worker RSS growth during a stalled 40 MB FETCH: %d kB" % grown)
    # today the whole 40 MB (and more) sat in the worker's buffers
    assert grown < 12 * 1024, "worker RSS grew by %d kB" % grown
    texts, lits = slow.resp()
    # items in their fixed order (imap/fetch.h), the literal last
    assert re.match(rb"\* 1 FETCH \(UID \d+ FLAGS \(\\Seen\) BODY\[\] "
                    rb"\{%d\}\r\n$" % len(msg), texts[0]), texts[0][:80]
    assert lits[0][1] == msg
    assert texts[1] == b")\r\n"
    texts, _ = slow.resp()
    assert texts[0].startswith(b"s1 OK"), texts
    # the session goes on
    _, t = slow.cmd("NOOP")
    assert b" OK" in t
    _, t = c.cmd("NOOP")
    assert b" OK" in t


def test_big_sections_partials_and_order(srv):
    # 1: CRLF, big; 2: small; 3: LF-only file (the wire form adds CR);
    # 4: multipart with a big base64 part and a big text part
    big = HDR + b"\r\n" + big_text(3 * MB, b"one")
    small = HDR + b"\r\nsmall body\r\n"
    lf_text = big_text(2 * MB, b"lf").replace(b"\r\n", b"\n")
    lf = HDR.replace(b"\r\n", b"\n") + b"\n" + lf_text
    lf_wire = lf.replace(b"\n", b"\r\n")
    raw = bytes(range(256)) * (5 * 4096)  # 5 MiB with NULs
    b64 = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    p1 = big_text(1 * MB, b"part")
    mime_hdr = (HDR + b"MIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n")
    text = (b"--b\r\nContent-Type: text/plain\r\n\r\n" + p1 +
            b"\r\n--b\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 +
            b"\r\n--b--\r\n")
    multi = mime_hdr + text
    # 5: NULs in a big body: BODY[] sends them as 0x80 (as small
    # literals do), BINARY[] as they are in a literal8
    nul = HDR + b"\r\n" + (b"a\0b\r\n" * (300 * 1024))
    for m in (big, small, lf, multi, nul):
        drop(srv, m)
    c = login(srv)
    untagged, t = c.cmd("FETCH 1:4 (UID BODY.PEEK[] RFC822.SIZE)")
    assert t.startswith(b"t3 OK"), t
    assert [u[1][0][1] for u in untagged] == [big, small, lf_wire, multi]
    for k, u in enumerate(untagged):
        assert u[0][0].startswith(b"* %d FETCH (UID " % (k + 1))
        assert u[0][-1].endswith(b")\r\n")
    sizes = [int(re.search(rb"RFC822.SIZE (\d+)", u[0][0]).group(1))
             for u in untagged]
    assert sizes == [len(big), len(small), len(lf_wire), len(multi)]

    def one(seq, item):
        untagged, t = c.cmd("FETCH %d (%s)" % (seq, item))
        assert b" OK" in t, t
        assert len(untagged) == 1, untagged
        return untagged[0][1]

    hdr_len = len(HDR) + 2
    assert one(1, "BODY.PEEK[TEXT]")[0][1] == big[hdr_len:]
    assert one(1, "BODY.PEEK[HEADER]")[0][1] == big[:hdr_len]
    assert one(1, "BODY.PEEK[]<1000.2000000>")[0][1] == \
        big[1000:2001000]
    assert one(1, "BODY.PEEK[]<3000000.9000000>")[0][1] == big[3000000:]
    assert one(3, "BODY.PEEK[TEXT]<7.1500000>")[0][1] == \
        lf_wire[hdr_len:][7:1500007]
    assert one(3, "RFC822.TEXT")[0][1] == lf_wire[hdr_len:]
    # two streams of one message, the second before the first's end
    lits = one(3, "BODY.PEEK[TEXT] BODY.PEEK[]")
    assert [x[1] for x in lits] == [lf_wire[hdr_len:], lf_wire]
    assert one(4, "BODY.PEEK[1]")[0][1] == p1
    assert one(4, "BODY.PEEK[2]")[0][1] == b64
    # BINARY of the base64 part: decoded, literal8 for the NULs
    lit = one(4, "BINARY.PEEK[2]")[0]
    assert lit == (b"~", raw)
    assert one(4, "BINARY.PEEK[2]<10.3000000>")[0] == (b"~",
                                                       raw[10:3000010])
    assert one(4, "BINARY.PEEK[1]")[0] == (b"", p1)
    lits = one(4, "BODYSTRUCTURE BODY.PEEK[2] BINARY.PEEK[2] BODY.PEEK[]")
    assert [x[1] for x in lits] == [b64, raw, multi]
    assert one(5, "BODY.PEEK[]")[0] == (b"", nul.replace(b"\0", b"\x80"))
    assert one(5, "BINARY.PEEK[]")[0] == (b"~", nul)
    # RFC822 sets \Seen: FLAGS comes in the same response
    untagged, t = c.cmd("FETCH 1 RFC822")
    assert b" OK" in t
    assert untagged[0][1][0][1] == big
    assert b"\\Seen" in b"".join(untagged[0][0])


def test_client_gone_mid_stream(srv):
    msg = HDR + b"\r\n" + big_text(20 * MB, b"gone")
    drop(srv, msg)
    for _ in range(3):
        c = login(srv, rcvbuf=64 * 1024)
        c.send(b"s FETCH 1 BODY.PEEK[]\r\n")
        time.sleep(0.3)
        c.sock.close()
    c = login(srv)
    untagged, t = c.cmd("FETCH 1 BODY.PEEK[]")
    assert b" OK" in t
    assert untagged[0][1][0][1] == msg
    assert not srv.sanitizer_reports()


# ---- APPEND: one message literal ------------------------------------------

def test_append_extra_literals_refused_before_spooling(srv):
    logged_in(srv).logout()  # provisions the Maildir
    c = login(srv)
    kids = srv.children()
    before = {p: fd_count(p) for p in kids}
    big = 1 << 20  # over the in-memory literal limit: spooled
    c.send(b"a1 APPEND INBOX {%d+}\r\n" % big + b"x" * big)
    for _ in range(30):
        c.send(b" {%d+}\r\n" % big)
        c.send(b"y" * big)
        time.sleep(0.01)
    time.sleep(0.5)
    grown = max(fd_count(p) - before.get(p, 0) for p in srv.children())
    c.send(b"\r\n")
    texts = [tagged(c, b"a1")]
    assert texts[0].startswith(b"a1 BAD"), texts
    assert grown <= 2, "worker fds grew by %d" % grown
    # the session goes on, the bytes of the refused literals were
    # swallowed (not read as commands), nothing was appended
    _, t = c.cmd("NOOP")
    assert t.startswith(b"t3 OK"), t
    untagged, t = c.cmd("STATUS INBOX (MESSAGES)")
    assert b"MESSAGES 0" in untagged[0][0][0], untagged
    # a synchronizing second literal: BAD, and no "+" for it
    c.send(b"a2 APPEND INBOX {5+}\r\nhello {5}\r\n")
    texts = [tagged(c, b"a2")]
    assert texts[0].startswith(b"a2 BAD"), texts
    _, t = c.cmd("NOOP")
    assert t.startswith(b"t5 OK"), t
    # a literal inside the flag list is no place for one either
    c.send(b"a3 APPEND INBOX (\\Seen {3}\r\n")
    texts = [tagged(c, b"a3")]
    assert texts[0].startswith(b"a3 BAD"), texts
    # one message literal still works, and so does UTF8 (literal8)
    c.send(b"a4 APPEND INBOX {5+}\r\nhello\r\n")
    texts = [tagged(c, b"a4")]
    assert texts[0].startswith(b"a4 OK"), texts
    c.send(b"a5 APPEND INBOX UTF8 (~{5+}\r\nhello)\r\n")
    texts = [tagged(c, b"a5")]
    assert texts[0].startswith(b"a5 OK"), texts
