"""FETCH items (RFC 9051 6.4.5, RFC 3516 BINARY) and SEARCH keys
(RFC 9051 6.4.4, RFC 4731 ESEARCH, RFC 5182 SEARCHRES) against messages
APPENDed or delivered through the real daemon."""

import base64
import datetime
import os
import re

import pytest

from conftest import simple_message
# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import Lit, S, drop, logged_in, parse

CORPUS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..",
                      "mime-corpus")

# A multipart message whose sections are known byte for byte.
#   1    text/plain, quoted-printable
#   2    application/octet-stream, base64
#   3    message/rfc822 containing a multipart/alternative (3.1, 3.2)
PART1_BODY = b"caf=C3=A9 au lait=\r\nsecond line\r\n"
PART2_RAW = bytes(range(256)) * 2
PART2_BODY = base64.encodebytes(PART2_RAW).replace(b"\n", b"\r\n")
INNER = (b"From: Inner <inner@example.net>\r\n"
         b"Subject: inner subject\r\n"
         b"Content-Type: multipart/alternative; boundary=\"in\"\r\n"
         b"\r\n"
         b"--in\r\n"
         b"Content-Type: text/plain\r\n"
         b"\r\n"
         b"inner plain\r\n"
         b"--in\r\n"
         b"Content-Type: text/html\r\n"
         b"\r\n"
         b"<p>inner html</p>\r\n"
         b"--in--\r\n")
HEADER = (b"From: Bob Sender <bob@example.org>\r\n"
          b"To: Alice <alice@example.org>\r\n"
          b"Cc: Carol <carol@example.org>\r\n"
          b"Bcc: dave@example.org\r\n"
          b"Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\r\n"
          b"Date: Tue, 14 Mar 2023 09:26:53 +0100\r\n"
          b"Message-ID: <multi@example.org>\r\n"
          b"X-Folded: first\r\n second\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
          b"\r\n")
P1_MIME = (b"Content-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
P2_MIME = (b"Content-Type: application/octet-stream; name=\"bytes.bin\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n")
P3_MIME = b"Content-Type: message/rfc822\r\n\r\n"
TEXT = (b"This is the preamble.\r\n"
        b"--outer\r\n" + P1_MIME + PART1_BODY +
        b"--outer\r\n" + P2_MIME + PART2_BODY +
        b"--outer\r\n" + P3_MIME + INNER +
        b"--outer--\r\n")
MULTI = HEADER + TEXT


def same_instant(a, b):
    fmt = "%d-%b-%Y %H:%M:%S %z"
    a = a.decode() if isinstance(a, bytes) else a
    return (datetime.datetime.strptime(a.strip(), fmt) ==
            datetime.datetime.strptime(b.strip(), fmt))


def value(c, seq, item, uid=False, key=None):
    f, r = c.fetch(seq, "(%s)" % item, uid=uid)
    assert len(f) == 1, r
    d = list(f.values())[0]
    key = key or item.replace(".PEEK", "").upper()
    key = re.sub(r"<(\d+)\.\d+>$", r"<\1>", key)
    assert key in d, (key, d)
    return d[key]


def flagset(items):
    # \Recent is session state that an IMAP4rev1 server may report
    # (RFC 3501 2.3.2); postern never sets it, Dovecot does: not compared
    return {x.decode().lower() for x in items} - {"\\recent"}


def flags_of(c, seq):
    return flagset(value(c, seq, "FLAGS"))


@pytest.fixture
def multi(srv):
    drop(srv, MULTI, date="14-Mar-2023 09:30:00 +0100")
    c = logged_in(srv)
    c.select()
    yield c
    c.logout()


# ---- FETCH ---------------------------------------------------------------

def test_fetch_sections(multi):
    c = multi
    # RFC 9051 6.4.5: section texts, all byte-exact
    assert value(c, 1, "BODY.PEEK[]") == MULTI
    assert value(c, 1, "BODY.PEEK[HEADER]") == HEADER
    assert value(c, 1, "BODY.PEEK[TEXT]") == TEXT
    # RFC 2046 5.1.1: the CRLF before a delimiter belongs to it
    assert value(c, 1, "BODY.PEEK[1]") == PART1_BODY[:-2]
    assert value(c, 1, "BODY.PEEK[1.MIME]") == P1_MIME
    assert value(c, 1, "BODY.PEEK[2]") == PART2_BODY[:-2]
    assert value(c, 1, "BODY.PEEK[3]") == INNER[:-2]
    assert value(c, 1, "BODY.PEEK[3.HEADER]") == INNER.split(b"\r\n\r\n")[0] \
        + b"\r\n\r\n"
    assert value(c, 1, "BODY.PEEK[3.TEXT]") == \
        INNER[:-2].split(b"\r\n\r\n", 1)[1]
    assert value(c, 1, "BODY.PEEK[3.1]") == b"inner plain"
    assert value(c, 1, "BODY.PEEK[3.2]") == b"<p>inner html</p>"
    assert value(c, 1, "BODY.PEEK[3.2.MIME]") == \
        b"Content-Type: text/html\r\n\r\n"
    # HEADER.FIELDS: the named fields in message order, folding kept,
    # then the blank line (6.4.5); names case-insensitive
    assert value(c, 1, "BODY.PEEK[HEADER.FIELDS (subject X-FOLDED)]",
                 key="BODY[HEADER.FIELDS (SUBJECT X-FOLDED)]") == (
        b"Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\r\n"
        b"X-Folded: first\r\n second\r\n\r\n")
    got = value(c, 1, "BODY.PEEK[HEADER.FIELDS.NOT (Bcc Cc X-Folded "
                "MIME-Version Content-Type Message-ID Date)]",
                key="BODY[HEADER.FIELDS.NOT (BCC CC X-FOLDED MIME-VERSION "
                "CONTENT-TYPE MESSAGE-ID DATE)]")
    assert got == (b"From: Bob Sender <bob@example.org>\r\n"
                   b"To: Alice <alice@example.org>\r\n"
                   b"Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= attached\r\n"
                   b"\r\n")
    assert value(c, 1, "BODY.PEEK[3.HEADER.FIELDS (Subject)]",
                 key="BODY[3.HEADER.FIELDS (SUBJECT)]") == \
        b"Subject: inner subject\r\n\r\n"
    # a nonexistent part is empty, not an error (Dovecot, RFC 9051 6.4.5)
    f, r = c.fetch(1, "(BODY.PEEK[9])")
    assert f[1]["BODY[9]"] in (b"", None), r
    assert flags_of(c, 1) == set(), "BODY.PEEK set a flag"


def test_fetch_partial(multi):
    c = multi
    # RFC 9051 6.4.5: <origin.count>; the reply names only the origin;
    # a range past the end is truncated, an origin past it gives ""
    assert value(c, 1, "BODY.PEEK[]<0.10>") == MULTI[:10]
    f, r = c.fetch(1, "(BODY.PEEK[]<5.20>)")
    assert b"BODY[]<5> " in r.untagged[0], r.untagged[0][:200]
    assert f[1]["BODY[]<5>"] == MULTI[5:25]
    n = len(MULTI)
    assert value(c, 1, "BODY.PEEK[]<%d.1000>" % (n - 7)) == MULTI[-7:]
    assert value(c, 1, "BODY.PEEK[]<%d.10>" % (n + 5)) == b""
    assert value(c, 1, "BODY.PEEK[2]<4.8>") == PART2_BODY[4:12]
    assert value(c, 1, "BINARY.PEEK[2]<100.50>") == PART2_RAW[100:150]
    # count 0 is BAD? No: RFC 9051 9: nz-number; <n.0> is a syntax error
    assert c.cmd("FETCH 1 (BODY.PEEK[]<0.0>)").status == "BAD"


def test_fetch_binary(multi):
    c = multi
    # RFC 3516 4.2: content-transfer-decoded part; BINARY.SIZE its size
    assert value(c, 1, "BINARY.PEEK[2]") == PART2_RAW
    assert int(value(c, 1, "BINARY.SIZE[2]")) == len(PART2_RAW)
    assert value(c, 1, "BINARY.PEEK[1]") == \
        "café au laitsecond line".encode()
    f, r = c.fetch(1, "(BINARY.PEEK[2])")
    # 8-bit/NUL content goes out as literal8 (RFC 3516 4.3)
    assert re.search(rb"BINARY\[2\] ~\{\d+\}\r\n", r.untagged[0]), \
        r.untagged[0][:200]
    assert flags_of(c, 1) == set()
    # BINARY (not PEEK) sets \Seen like BODY[] (RFC 3516 4.2)
    f, r = c.fetch(1, "(BINARY[1])")
    assert flagset(f[1]["FLAGS"]) == {"\\seen"}, r


def test_binary_unknown_cte(srv):
    msg = (b"Subject: odd\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: x-uuencode-ish\r\n\r\nbegin 644\r\n")
    drop(srv, msg)
    c = logged_in(srv)
    c.select()
    # RFC 3516 4.3: a transfer encoding the server cannot decode is
    # NO [UNKNOWN-CTE]; BODY[] still works
    r = c.cmd("FETCH 1 (BINARY.PEEK[1])")
    assert r.status == "NO" and r.code_named("UNKNOWN-CTE"), r
    # the body of a single-part message is part 1 (RFC 9051 6.4.5)
    assert value(c, 1, "BODY.PEEK[1]") == b"begin 644\r\n"
    # and the whole message cannot be decoded either
    r = c.cmd("FETCH 1 (BINARY.PEEK[])")
    assert r.status == "NO" and r.code_named("UNKNOWN-CTE"), r
    c.logout()


def test_binary_whole_message_decodes_the_body(srv):
    # RFC 3516 4.2: BINARY[] is the message with its body's transfer
    # encoding removed; the header stays as it is (Dovecot does the same)
    head = (b"Subject: b64\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    raw = bytes(range(256))
    drop(srv, head + base64.encodebytes(raw).replace(b"\n", b"\r\n"))
    c = logged_in(srv)
    c.select()
    assert value(c, 1, "BINARY.PEEK[]") == head + raw
    assert int(value(c, 1, "BINARY.SIZE[]")) == len(head) + len(raw)
    assert value(c, 1, "BINARY.PEEK[1]") == raw
    c.logout()


def test_fetch_seen_semantics(srv):
    for i in range(5):
        drop(srv, simple_message(i).replace(b"\n", b"\r\n"),
             date="0%d-Jan-2023 10:00:00 +0000" % (i + 1))
    c = logged_in(srv)
    c.select()
    # RFC 9051 6.4.5: BODY[] sets \Seen and the change is reported in the
    # same FETCH response; BODY.PEEK[] / RFC822.HEADER / RFC822.SIZE don't
    f, r = c.fetch(1, "(BODY[])")
    assert flagset(f[1].get("FLAGS", [])) == \
        {"\\seen"}, "FETCH BODY[] did not report \\Seen: %r" % r
    c.fetch(2, "(BODY.PEEK[] RFC822.HEADER RFC822.SIZE BODY.PEEK[TEXT])")
    assert flags_of(c, 2) == set()
    c.fetch(3, "(RFC822.TEXT)")  # = BODY[TEXT] (RFC 3501 6.4.5)
    assert flags_of(c, 3) == {"\\seen"}
    c.fetch(4, "(RFC822)")
    assert flags_of(c, 4) == {"\\seen"}
    c.fetch(5, "(BODY[HEADER])")
    assert flags_of(c, 5) == {"\\seen"}
    # in EXAMINE nothing changes
    c.ok("STORE 1:* -FLAGS (\\Seen)")
    c.select(examine=True)
    c.fetch("1:*", "(BODY[] RFC822 BINARY[1])")
    c.select()
    f, _ = c.fetch("1:*", "(FLAGS)")
    assert all(not flagset(v["FLAGS"]) for v in f.values()), f
    c.logout()


def test_fetch_simple_items_and_macros(srv):
    msg = MULTI
    drop(srv, msg, flags="\\Flagged", date="01-Feb-2022 23:59:59 -0500")
    c = logged_in(srv)
    c.select()
    uid = int(value(c, 1, "UID"))
    f, r = c.fetch(1, "ALL")
    d = f[1]
    # RFC 9051 6.4.5: ALL = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
    assert set(d) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}, d
    # the same instant; the zone it is shown in is the server's choice
    assert same_instant(d["INTERNALDATE"], "01-Feb-2022 23:59:59 -0500")
    assert int(d["RFC822.SIZE"]) == len(msg)
    f, _ = c.fetch(1, "FAST")
    assert set(f[1]) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}, f
    f, _ = c.fetch(1, "FULL")
    assert set(f[1]) == {"FLAGS", "INTERNALDATE", "RFC822.SIZE",
                         "ENVELOPE", "BODY"}, f
    # UID FETCH always includes UID (RFC 9051 6.4.9)
    f, _ = c.fetch(uid, "(FLAGS)", uid=True)
    assert int(f[1]["UID"]) == uid
    env = value(c, 1, "ENVELOPE")
    assert env[0] == b"Tue, 14 Mar 2023 09:26:53 +0100"
    assert env[1] == b"=?UTF-8?Q?R=C3=A9sum=C3=A9?= attached"
    assert env[2] == [[S(b"Bob Sender"), None, S(b"bob"),
                       S(b"example.org")]]
    assert env[3] == env[2] and env[4] == env[2]  # Sender/Reply-To = From
    assert env[6][0][2:] == [b"carol", b"example.org"]
    assert env[7][0][2:] == [b"dave", b"example.org"]
    assert env[9] == b"<multi@example.org>"
    bs = value(c, 1, "BODYSTRUCTURE")
    subtype = [x for x in bs if not isinstance(x, list)][0]
    assert subtype.lower() == b"mixed", bs
    assert bs[1][:7] == [b"application", b"octet-stream",
                         [b"name", b"bytes.bin"], None, None, b"base64",
                         str(len(PART2_BODY) - 2).encode()], bs[1]
    assert [x.lower() if isinstance(x, bytes) else x
            for x in bs[0][:2]] == [b"text", b"plain"]
    # text parts carry a line count (RFC 9051 7.5.2)
    assert bs[0][7] == str(PART1_BODY[:-2].count(b"\n")).encode(), bs[0]
    rfc822 = bs[2]
    assert rfc822[0].lower() == b"message" and rfc822[1].lower() == b"rfc822"
    assert rfc822[6] == str(len(INNER) - 2).encode()
    assert rfc822[7][1] == b"inner subject"  # its ENVELOPE
    # lines: LFs of the encapsulated message (Dovecot counts the same)
    assert rfc822[9] == str(INNER[:-2].count(b"\n")).encode()
    body = value(c, 1, "BODY")
    assert len(body[0]) == 7 + 1, body[0]  # no extension data in BODY
    # RFC822.SIZE is exactly the size of BODY[]
    assert int(value(c, 1, "RFC822.SIZE")) == len(value(c, 1,
                                                        "BODY.PEEK[]"))
    assert value(c, 1, "RFC822.HEADER") == HEADER
    c.logout()


def corpus_names():
    return sorted(f[:-4] for f in os.listdir(CORPUS) if f.endswith(".eml"))


def wire(data):
    """The store serves a message in wire form: CRLF line ends, and a
    final CRLF if the file lacks one (the same as POP3's RETR)."""
    c = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return c if c.endswith(b"\r\n") else c + b"\r\n"


def leaf_parts(bs, path=""):
    """(section, body structure) of every non-multipart part, with the
    message/rfc822 parts' insides too (RFC 9051 6.4.5 part numbers)."""
    if isinstance(bs[0], list):  # multipart
        n = 0
        for sub in bs:
            if not isinstance(sub, list):
                break
            n += 1
            yield from leaf_parts(sub, "%s%d" % (path + "." if path else "",
                                                 n))
        return
    yield (path or "1"), bs
    if bs[0].lower() == b"message" and bs[1].lower() in (b"rfc822",
                                                         b"global") \
            and len(bs) > 8 and isinstance(bs[8], list):
        inner = bs[8]
        if isinstance(inner[0], list):
            yield from leaf_parts(inner, path or "1")
        else:
            yield ((path or "1") + ".1"), inner


def test_mime_corpus_bodystructure_envelope(srv):
    """Every message of tests/mime-corpus: BODYSTRUCTURE, BODY and ENVELOPE
    through the server equal the expected files, value by value (quoted
    vs literal ignored), for an IMAP4rev1 client.  The expected files give
    sizes of the bytes as stored; where the wire form differs (bare LF, no
    final newline) the sizes are instead checked against what FETCH
    BODY[part] returns, as they are for every message (RFC 9051 7.5.2:
    body-fld-octets is the size of the body in its transfer encoding;
    text line counts are LF counts, as Dovecot counts)."""
    names = corpus_names()
    assert len(names) >= 25
    failures = []
    datas = []
    checked = 0
    for i, name in enumerate(names):
        with open(os.path.join(CORPUS, name + ".eml"), "rb") as f:
            data = f.read()
        datas.append(data)
        drop(srv, data, date="01-Jan-2023 10:%02d:00 +0000" % i)
    c = logged_in(srv)
    c.select()
    f, _ = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert len(f) == len(names), f
    for seq, name in enumerate(names, 1):
        data = datas[seq - 1]
        if b"\0" in data:
            full = value(c, seq, "BINARY.PEEK[]")
        else:
            full = value(c, seq, "BODY.PEEK[]")
        if full != wire(data):
            failures.append("%s BODY[] is not the wire form" % name)
        for item, ext in (("BODYSTRUCTURE", "bodystructure"),
                          ("BODY", "body"), ("ENVELOPE", "envelope")):
            got = value(c, seq, item)
            if item == "BODYSTRUCTURE":
                for sec, part in leaf_parts(got):
                    if b"\0" in data:
                        continue
                    body = value(c, seq, "BODY.PEEK[%s]" % sec)
                    checked += 1
                    if int(part[6]) != len(body):
                        failures.append("%s part %s size %s, BODY[%s] has "
                                        "%d" % (name, sec, part[6], sec,
                                                len(body)))
                    if part[0].lower() == b"text" and \
                            int(part[7]) != body.count(b"\n"):
                        failures.append("%s part %s lines %s, BODY[%s] has "
                                        "%d LFs" % (name, sec, part[7], sec,
                                                    body.count(b"\n")))
            if wire(data) != data:
                continue
            with open(os.path.join(CORPUS, name + "." + ext), "rb") as fh:
                want = parse(fh.read().strip())[0]
            if got != want:
                failures.append("%s %s\n  got  %r\n  want %r"
                                % (name, item, got, want))
    assert not failures, "\n".join(failures)
    assert checked > 50, checked
    c.logout()


@pytest.mark.parametrize("kind", ["bare-lf", "nul", "long-line",
                                  "no-final-newline", "8bit", "empty-body"])
def test_append_byte_exact(srv, kind):
    """Issue #4 (Robustness): stored and fetched back byte-exact."""
    msgs = {
        "bare-lf": b"Subject: lf\nFrom: a@b\n\nline one\nline two\n",
        "nul": b"Subject: nul\r\n\r\nbefore\0after\r\n",
        "long-line": b"Subject: long\r\n\r\n" + b"x" * 200000 + b"\r\n",
        "no-final-newline": b"Subject: nonl\r\n\r\nno newline at end",
        "8bit": "Subject: 8bit\r\n\r\nGrüße, 日本語\r\n".encode(),
        "empty-body": b"Subject: empty\r\n\r\n",
    }
    msg = msgs[kind]
    c = logged_in(srv)
    r = c.append("INBOX", msg)
    if kind == "nul" and r.status != "OK":
        # RFC 3516 4.4: NUL may need a literal8 APPEND
        r = c.cmd("APPEND INBOX ", Lit(msg, binary=True))
    assert r.status == "OK", r
    c.select()
    assert int(value(c, 1, "RFC822.SIZE")) == len(msg)
    if kind == "nul":
        # BODY[] may not carry NUL (RFC 9051 4.3); BINARY[] can
        assert value(c, 1, "BINARY.PEEK[]") == msg
        assert len(value(c, 1, "BODY.PEEK[]")) == len(msg)
    else:
        assert value(c, 1, "BODY.PEEK[]") == msg
    if kind == "bare-lf":
        assert value(c, 1, "BODY.PEEK[TEXT]") == b"line one\nline two\n"
    c.logout()


# ---- SEARCH ------------------------------------------------------------

SEARCH_MSGS = [
    # (header/body, flags, internal date)
    (b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\n"
     b"Subject: Quarterly report\r\nDate: 01 Jan 2023 10:00:00 +0000\r\n"
     b"X-Tag: blue\r\n\r\nThe numbers are in.\r\n",
     "\\Seen", "01-Jan-2023 10:00:00 +0000"),
    (b"From: Bob <bob@example.org>\r\nTo: ann@example.org\r\n"
     b"Cc: carl@example.net\r\nSubject: =?ISO-8859-1?Q?Caf=E9?= meeting\r\n"
     b"Date: 15 Feb 2023 10:00:00 +0000\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"Let us meet at the caf=C3=A9 on Friday.\r\n",
     "\\Flagged \\Answered", "15-Feb-2023 10:00:00 +0000"),
    (b"From: Carl <carl@example.net>\r\nTo: ann@example.org\r\n"
     b"Bcc: secret@example.com\r\nSubject: big attachment\r\n"
     b"Date: 20 Mar 2023 10:00:00 +0000\r\n"
     b"Content-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\n" +
     base64.encodebytes("Übergrößen-Paket ist unterwegs.\n".encode()
                        ).replace(b"\n", b"\r\n") + b"x" * 0,
     "\\Deleted $Important", "20-Mar-2023 10:00:00 +0000"),
    (b"From: Dana <dana@example.com>\r\nTo: ann@example.org\r\n"
     b"Subject: draft of the plan\r\nDate: 20 Mar 2023 23:00:00 -0500\r\n"
     b"\r\n" + b"padding " * 500 + b"\r\n",
     "\\Draft", "21-Mar-2023 12:00:00 +0000"),
    (b"From: Ann <ann@example.org>\r\nTo: bob@example.org\r\n"
     b"Subject: lunch?\r\nDate: 02 Apr 2023 10:00:00 +0000\r\n"
     b"\r\nShall we?\r\n",
     "", "02-Apr-2023 10:00:00 +0000"),
]


@pytest.fixture
def searchbox(srv):
    for msg, flags, date in SEARCH_MSGS:
        drop(srv, msg, flags=flags, date=date)
    c = logged_in(srv)
    c.select()
    for seq, (msg, flags, date) in enumerate(SEARCH_MSGS, 1):
        kws = [k for k in flags.split() if not k.startswith("\\")]
        if kws:
            c.ok("STORE %d +FLAGS.SILENT (%s)" % (seq, " ".join(kws)))
    f, _ = c.fetch("1:*", "(UID)")
    assert len(f) == len(SEARCH_MSGS), f
    c.uids = [int(f[i]["UID"]) for i in sorted(f)]
    yield c
    c.logout()


def search(c, criteria, uid=False):
    r = c.ok("%sSEARCH %s" % ("UID " if uid else "", criteria))
    s = r.data("SEARCH")
    assert len(s) == 1, r
    return [int(x) for x in s[0]]


# (criteria, expected sequence numbers) — RFC 9051 6.4.4
SEARCH_CASES = [
    ("ALL", [1, 2, 3, 4, 5]),
    ("2:4", [2, 3, 4]),
    ("4:*", [4, 5]),
    ("*", [5]),
    ("1,3,5", [1, 3, 5]),
    ("SEEN", [1]),
    ("UNSEEN", [2, 3, 4, 5]),
    ("FLAGGED", [2]),
    ("UNFLAGGED", [1, 3, 4, 5]),
    ("ANSWERED", [2]),
    ("UNANSWERED", [1, 3, 4, 5]),
    ("DELETED", [3]),
    ("UNDELETED", [1, 2, 4, 5]),
    ("DRAFT", [4]),
    ("UNDRAFT", [1, 2, 3, 5]),
    ("KEYWORD $Important", [3]),
    ("UNKEYWORD $Important", [1, 2, 4, 5]),
    ("KEYWORD $NeverUsed", []),
    ("FROM ann", [1, 5]),
    ("FROM \"Carl\"", [3]),
    ("TO bob@example.org", [1, 5]),
    ("CC carl", [2]),
    ("BCC secret", [3]),
    ("SUBJECT REPORT", [1]),          # case-insensitive
    ("HEADER X-Tag blue", [1]),
    ("HEADER X-Tag \"\"", [1]),       # "" matches any message with it
    ("BODY numbers", [1]),
    ("BODY \"Friday\"", [2]),
    ("TEXT Friday", [2]),
    ("TEXT \"Quarterly\"", [1]),      # TEXT includes the header
    ("BODY Quarterly", []),
    ("LARGER 276", [2, 4]),           # sizes 147 277 264 4118 114
    ("LARGER 277", [4]),              # strictly larger
    ("SMALLER 147", [5]),
    ("SMALLER 148", [1, 5]),
    ("BEFORE 15-Feb-2023", [1]),
    ("ON 15-Feb-2023", [2]),
    ("SINCE 20-Mar-2023", [3, 4, 5]),
    ("SENTBEFORE 15-Feb-2023", [1]),
    ("SENTON 20-Mar-2023", [3, 4]),   # Date: header's own date, zone ignored
    ("SENTSINCE 21-Mar-2023", [5]),
    ("NOT SEEN", [2, 3, 4, 5]),
    ("OR SEEN FLAGGED", [1, 2]),
    ("OR (SEEN FROM ann) DRAFT", [1, 4]),
    ("NOT (OR SEEN FLAGGED)", [3, 4, 5]),
    ("(FROM ann) (SUBJECT lunch)", [5]),
    ("FROM ann SUBJECT lunch", [5]),
    ("2:5 NOT 3 UNSEEN", [2, 4, 5]),
    ("OR OR SEEN DRAFT DELETED", [1, 3, 4]),
]


def test_search_keys(searchbox):
    c = searchbox
    failures = []
    for crit, want in SEARCH_CASES:
        got = search(c, crit)
        if got != want:
            failures.append("SEARCH %s: got %r want %r" % (crit, got, want))
    # UID sets (RFC 9051 6.4.4 UID key) and UID SEARCH returns UIDs
    u = c.uids
    got = search(c, "UID %d,%d" % (u[1], u[3]))
    if got != [2, 4]:
        failures.append("UID key: %r" % got)
    got = search(c, "FLAGGED", uid=True)
    if got != [u[1]]:
        failures.append("UID SEARCH FLAGGED: %r" % got)
    got = search(c, "UID %d:*" % u[3], uid=True)
    if got != [u[3], u[4]]:
        failures.append("UID SEARCH UID n:*: %r" % got)
    assert not failures, "\n".join(failures)


def test_search_mime_decoding_and_charset(searchbox):
    c = searchbox
    # RFC 9051 6.4.4: strings compared after decoding RFC 2047 words and
    # transfer encodings, case-insensitively; UTF-8 via a literal
    r = c.cmd("SEARCH CHARSET UTF-8 SUBJECT ", Lit("café".encode()))
    assert r.status == "OK" and r.data("SEARCH") == [[b"2"]], r
    r = c.cmd("SEARCH CHARSET UTF-8 BODY ", Lit("CAFÉ".encode()))
    assert r.data("SEARCH") == [[b"2"]], r
    r = c.cmd("SEARCH CHARSET UTF-8 BODY ", Lit("übergröße".encode()))
    assert r.data("SEARCH") == [[b"3"]], r
    r = c.cmd("SEARCH CHARSET UTF-8 TEXT ", Lit("Café meeting".encode()))
    assert r.data("SEARCH") == [[b"2"]], r
    # ISO-8859-1 search string (RFC 9051 6.4.4: other charsets MAY)
    r = c.cmd("SEARCH CHARSET ISO-8859-1 SUBJECT ", Lit(b"caf\xe9"))
    if r.status == "OK":
        assert r.data("SEARCH") == [[b"2"]], r
    else:
        assert r.code_named("BADCHARSET"), r
    # unknown charset: NO [BADCHARSET] (7.1)
    r = c.cmd("SEARCH CHARSET X-NO-SUCH ALL")
    assert r.status == "NO" and r.code_named("BADCHARSET"), r
    # syntax errors are BAD
    for bad in ("SEARCH FROB", "SEARCH OR SEEN", "SEARCH (SEEN",
                "SEARCH BEFORE 2023-01-01", "SEARCH LARGER x"):
        assert c.cmd(bad).status == "BAD", bad


def esearch(r):
    """{'TAG': ..., 'UID': bool, 'MIN': ..} of the single ESEARCH."""
    e = r.data("ESEARCH")
    assert len(e) == 1, r
    toks = e[0]
    out = {"UID": False}
    i = 0
    if toks and isinstance(toks[0], list):
        assert toks[0][0].upper() == b"TAG"
        out["TAG"] = toks[0][1].decode()
        i = 1
    while i < len(toks):
        k = toks[i].decode().upper()
        if k == "UID":
            out["UID"] = True
            i += 1
            continue
        out[k] = toks[i + 1].decode()
        i += 2
    return out


def expand(seqset):
    out = []
    for part in seqset.split(","):
        a, _, b = part.partition(":")
        lo, hi = sorted((int(a), int(b or a)))
        out += range(lo, hi + 1)
    return out


def test_esearch_return_options(searchbox):
    c = searchbox
    # RFC 4731 3.1 / RFC 9051 6.4.4.1
    r = c.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    e = esearch(r)
    assert e["TAG"] == r.tag and not e["UID"], e
    assert (e["MIN"], e["MAX"], e["COUNT"]) == ("2", "5", "4"), e
    assert expand(e["ALL"]) == [2, 3, 4, 5], e
    assert not r.data("SEARCH"), "SEARCH beside ESEARCH: %r" % r
    r = c.ok("UID SEARCH RETURN (COUNT MIN) FLAGGED")
    e = esearch(r)
    assert e["UID"] and e["COUNT"] == "1" and e["MIN"] == str(c.uids[1]), e
    assert "MAX" not in e and "ALL" not in e
    # RETURN () means ALL (RFC 4731 3.1)
    e = esearch(c.ok("SEARCH RETURN () SEEN"))
    assert expand(e["ALL"]) == [1], e
    # no match: no MIN/MAX/ALL (RFC 4731 3.1)
    e = esearch(c.ok("SEARCH RETURN (MIN MAX ALL) KEYWORD nothing"))
    assert not {"MIN", "MAX", "ALL"} & set(e), e


def test_searchres_save_and_dollar(searchbox):
    c = searchbox
    # RFC 5182 2.1: SAVE alone sends no ESEARCH
    r = c.ok("SEARCH RETURN (SAVE) OR FLAGGED DRAFT")
    assert not r.data("ESEARCH") and not r.data("SEARCH"), r
    f, _ = c.fetch("$", "(UID)")
    assert sorted(f) == [2, 4], f
    assert search(c, "$") == [2, 4]
    assert search(c, "UID $", uid=True) == [c.uids[1], c.uids[3]]
    assert search(c, "NOT $") == [1, 3, 5]
    # SAVE with MIN saves only the minimum (RFC 5182 2.1)
    e = esearch(c.ok("SEARCH RETURN (SAVE MIN) UNSEEN"))
    assert e["MIN"] == "2"
    f, _ = c.fetch("$", "(UID)")
    assert sorted(f) == [2], f
    # a failed SEARCH with SAVE empties $ (RFC 5182 2.1)
    r = c.cmd("SEARCH RETURN (SAVE) CHARSET X-NO-SUCH ALL")
    assert r.status == "NO" and r.code_named("BADCHARSET"), r
    assert search(c, "$") == []
    # STORE/COPY with $ (RFC 5182 2.2)
    c.ok("SEARCH RETURN (SAVE) FROM ann")
    c.ok("STORE $ +FLAGS (\\Flagged)")
    assert search(c, "FLAGGED") == [1, 2, 5]
    r = c.ok("COPY $ Archive")
    assert r.code_named("COPYUID")


def test_rev2_search_is_esearch(srv):
    for i in range(3):
        drop(srv, simple_message(i).replace(b"\n", b"\r\n"),
             date="0%d-Jan-2023 10:00:00 +0000" % (i + 1))
    c = logged_in(srv)
    c.ok("ENABLE IMAP4rev2")
    c.select()
    # RFC 9051 7.3.4: IMAP4rev2 servers answer SEARCH with ESEARCH
    r = c.ok("SEARCH 2:3")
    assert not r.data("SEARCH"), r
    e = esearch(r)
    assert expand(e["ALL"]) == [2, 3], e
    c.logout()


def test_search_delivered_messages(srv):
    """Messages delivered by `postern deliver` (LF in, CRLF on the wire)
    are searchable and their sizes are wire sizes."""
    msgs = [simple_message(i) for i in range(1, 4)]
    for m in msgs:
        srv.deliver_ok("alice", m)
    c = logged_in(srv)
    c.select()
    assert search(c, "SUBJECT \"test message 2\"") == [2]
    assert search(c, "BODY \"number 3\"") == [3]
    f, _ = c.fetch("1:3", "(RFC822.SIZE BODY.PEEK[])")
    for i, m in enumerate(msgs, 1):
        wire = m.replace(b"\n", b"\r\n")
        assert f[i]["BODY[]"] == wire
        assert int(f[i]["RFC822.SIZE"]) == len(wire)
    c.logout()


def test_search_address_keys_match_every_legal_spelling(srv):
    """SEARCH FROM/TO/CC name an address; the header may spell it in
    another legal form (RFC 5322 3.4: a quoted local part, comments,
    spaces around '@', a group) and must still match, as in Dovecot."""
    forms = ['alice@example.org', '"alice"@example.org',
             'alice@(home)example.org', 'alice @ example.org',
             'Alice <alice @example.org>',
             'friends: bob@example.net, alice@ example.org;']
    for i, f in enumerate(forms):
        srv.deliver_ok("alice", ("From: %s\nTo: %s\nCc: %s\nSubject: form %d"
                               "\n\nbody\n" % (f, f, f, i)).encode())
    srv.deliver_ok("alice", b"From: mallory@example.org\nSubject: other\n\n"
                          b"alice@example.org in the body only\n")
    c = logged_in(srv)
    c.select()
    want = list(range(1, len(forms) + 1))
    for key in ("FROM", "TO", "CC"):
        assert search(c, '%s "alice@example.org"' % key) == want, key
        assert search(c, '%s "ALICE@EXAMPLE.ORG"' % key) == want, key
    # the text of the field still matches as before
    assert search(c, 'FROM "(home)"') == [3]
    assert search(c, 'FROM "friends"') == [6]
    c.logout()
