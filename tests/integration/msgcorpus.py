"""Deterministic corpus of varied RFC 5322 messages (seeded random).

Every message carries a unique Message-ID <corpus-N@postern.test> so a copy
downloaded by any client can be matched to its original.  Kinds, cycled:

  plain        short text, LF line ends
  crlf         same, CRLF line ends
  attachment   multipart/mixed with a base64 binary attachment
  eightbit     8-bit body (UTF-8 and Latin-1 bytes), 8bit CTE
  dots         lines that start with '.', a lone '.', '..', '...'
  nofinal      no newline at the end of the last line
  longlines    lines of 998 octets, and many lines
  emptybody    headers, blank line, nothing else
  fromline     body lines starting with "From " and ">From "
  qp           quoted-printable with soft line breaks and '=' at line start
"""

import base64
import random

KINDS = ["plain", "crlf", "attachment", "eightbit", "dots", "nofinal",
         "longlines", "emptybody", "fromline", "qp"]

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet "
         "kilo lima mike november oscar papa quebec romeo sierra tango "
         "uniform victor whiskey xray yankee zulu").split()


def msgid(i):
    return "<corpus-%d@postern.test>" % i


def _text(rng, lines, width=70):
    out = []
    for _ in range(lines):
        words, n = [], 0
        target = rng.randint(0, width)
        while n < target:
            w = rng.choice(WORDS)
            words.append(w)
            n += len(w) + 1
        out.append(" ".join(words))
    return "\n".join(out) + "\n"


def _headers(i, rng, kind, extra=""):
    return ("Return-Path: <sender%d@example.org>\n"
            "From: \"Sender %d\" <sender%d@example.org>\n"
            "To: Alice <alice@example.org>\n"
            "Subject: corpus %d (%s) %s\n"
            "Date: Tue, %02d Mar 2024 %02d:%02d:%02d +0100\n"
            "Message-ID: %s\n"
            "%s" % (i, i, i, i, kind, rng.choice(WORDS), 1 + i % 28, i % 24,
                    i % 60, (i * 7) % 60, msgid(i), extra))


def make(i, rng):
    kind = KINDS[i % len(KINDS)]
    mime = "MIME-Version: 1.0\n"
    if kind == "plain":
        return (_headers(i, rng, kind) + "\n" +
                _text(rng, rng.randint(1, 30))).encode()
    if kind == "crlf":
        m = _headers(i, rng, kind) + "\n" + _text(rng, rng.randint(1, 30))
        return m.encode().replace(b"\n", b"\r\n")
    if kind == "attachment":
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40000)))
        enc = base64.encodebytes(blob).decode()  # 76-char lines
        boundary = "=_b%08x" % rng.getrandbits(32)
        m = (_headers(i, rng, kind, mime +
                      "Content-Type: multipart/mixed; boundary=\"%s\"\n"
                      % boundary) +
             "\nThis is a multi-part message in MIME format.\n"
             "--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s"
             "--%s\nContent-Type: application/octet-stream\n"
             "Content-Transfer-Encoding: base64\n"
             "Content-Disposition: attachment; filename=\"blob%d.bin\"\n\n"
             "%s--%s--\n" % (boundary, _text(rng, 3), boundary, i, enc,
                              boundary))
        return m.encode()
    if kind == "eightbit":
        head = _headers(i, rng, kind, mime +
                        "Content-Type: text/plain; charset=utf-8\n"
                        "Content-Transfer-Encoding: 8bit\n").encode()
        body = ("Grüße aus Köln — ½ € ✓ 日本語\n".encode() +
                bytes(range(0x80, 0x100)) + b"\n" +
                "Ça va? Ñandú.\n".encode("latin-1") +
                _text(rng, 3).encode())
        return head + b"\n" + body
    if kind == "dots":
        body = (".\n..\n...\n.hidden line\n..double\n"
                "text\n.\n" + _text(rng, 2) + ". trailing dot line\n.\n")
        return (_headers(i, rng, kind) + "\n" + body).encode()
    if kind == "nofinal":
        body = _text(rng, rng.randint(1, 5)) + "last line without newline"
        return (_headers(i, rng, kind) + "\n" + body).encode()
    if kind == "longlines":
        long1 = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                        for _ in range(998))
        long2 = ("x" * 997) + "."
        body = long1 + "\n" + long2 + "\n" + _text(rng, 200)
        return (_headers(i, rng, kind) + "\n" + body).encode()
    if kind == "emptybody":
        return (_headers(i, rng, kind) + "\n").encode()
    if kind == "fromline":
        body = ("From the desk of the sender\n>From quoted\n"
                "From: not a header\n" + _text(rng, 3) + "From \n")
        return (_headers(i, rng, kind) + "\n" + body).encode()
    if kind == "qp":
        body = ("Soft =\nbreak here and =3D equals\n=3Dstart of line\n"
                "caf=C3=A9\n" + "long " * 20 + "=\ncontinued\n")
        return (_headers(i, rng, kind, mime +
                         "Content-Type: text/plain; charset=utf-8\n"
                         "Content-Transfer-Encoding: quoted-printable\n")
                + "\n" + body).encode()
    raise AssertionError(kind)


def corpus(n=200, seed=1939):
    rng = random.Random(seed)
    return [make(i, rng) for i in range(n)]


def message_id_of(data):
    """The Message-ID of a message (bytes), or None."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    for line in head.split(b"\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


def index_by_id(messages):
    out = {}
    for m in messages:
        mid = message_id_of(m)
        assert mid not in out, "duplicate Message-ID %s" % mid
        out[mid] = m
    return out


if __name__ == "__main__":
    c = corpus()
    print(len(c), sum(len(m) for m in c), len(index_by_id(c)))
