#!/usr/bin/python3
"""Deterministic benchmark mailboxes for postern and Dovecot.

Writes the same message files (byte for byte, same names, same mtimes) into
one or more Maildir roots, one Maildir per user below each root:

    <root>/<user>/{cur,new,tmp}/     messages go to new/

and a users file in Dovecot passwd-file format ("userNN:{PLAIN}pwNN"),
which postern reads too. Everything is derived from --seed: two runs with
the same arguments produce identical trees.

Messages are 2..200 KB (log-uniform, so most are small), LF line ends, a
mix of plain text, text with dot-leading lines (exercises POP3
dot-stuffing), and multipart/mixed with one or two base64 attachments.

Example:
    make-mailboxes.py --root build/bench/data/postern/mail \
        --root build/bench/data/dovecot/mail \
        --users-file build/bench/data/users --users 100 --messages 100
"""
import argparse
import base64
import math
import os
import random
import sys

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or "
    "his from at which but have an had they you were their one all we can her "
    "has there been if more when will would who so no mailbox server message "
    "retrieve protocol session octets index maildir postern dovecot quarterly "
    "report meeting agenda invoice shipment delivery schedule budget review "
    "draft final attached please find regards thanks update status project "
    "timeline customer support ticket resolved pending approval signature"
).split()

BASE_TIME = 1_700_000_000  # fixed epoch for names, Date: and mtimes


def corpus(rng, size):
    """About size bytes of text lines (<= 76 chars, LF), some dot-leading."""
    lines = []
    total = 0
    while total < size:
        n = rng.randint(3, 13)
        line = " ".join(rng.choice(WORDS) for _ in range(n))
        r = rng.random()
        if r < 0.02:
            line = "." + line          # needs dot-stuffing on the wire
        elif r < 0.025:
            line = ".."
        elif r < 0.08:
            line = ""
        line = line[:76]
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def text_slice(rng, text, n):
    """About n bytes of whole lines from the corpus, starting at a line."""
    if n >= len(text):
        return text
    start = text.find("\n", rng.randrange(0, len(text) - n)) + 1
    end = text.find("\n", start + n)
    if end < 0:
        end = len(text) - 1
    return text[start:end + 1]


def make_message(rng, text, user, uidx, midx, target):
    date = BASE_TIME + uidx * 100_000 + midx * 600
    hdr = (
        f"Return-Path: <sender{midx % 17}@example.org>\n"
        f"Received: from bench.example.org by mail.example.net; "
        f"Tue, 14 Nov 2023 22:13:20 +0000\n"
        f"Message-ID: <{uidx:03d}.{midx:04d}.{target}@bench.example.org>\n"
        f"Date: {format_date(date)}\n"
        f"From: Sender {midx % 17} <sender{midx % 17}@example.org>\n"
        f"To: {user} <{user}@example.net>\n"
        f"Subject: {' '.join(rng.choice(WORDS) for _ in range(5))}\n"
        f"MIME-Version: 1.0\n"
    )
    kind = rng.random()
    if kind < 0.55 or target < 6000:
        body = text_slice(rng, text, max(target - len(hdr) - 60, 200))
        msg = hdr + "Content-Type: text/plain; charset=us-ascii\n\n" + body
    else:
        boundary = f"=-=bench-{uidx}-{midx}-{rng.getrandbits(32):08x}=-="
        n_att = 1 if rng.random() < 0.7 else 2
        intro = text_slice(rng, text, rng.randint(300, 3000))
        parts = [
            hdr,
            f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n',
            "This is a multi-part message in MIME format.\n\n",
            f"--{boundary}\n",
            "Content-Type: text/plain; charset=us-ascii\n\n",
            intro,
        ]
        room = max(target - sum(map(len, parts)) - 400 * n_att, 1000)
        for a in range(n_att):
            raw = rng.randbytes(int(room / n_att * 3 / 4))
            b64 = base64.encodebytes(raw).decode("ascii")
            parts += [
                f"\n--{boundary}\n",
                f'Content-Type: application/octet-stream; name="file{a}.bin"\n',
                "Content-Transfer-Encoding: base64\n",
                f'Content-Disposition: attachment; filename="file{a}.bin"\n\n',
                b64,
            ]
        parts.append(f"\n--{boundary}--\n")
        msg = "".join(parts)
    return date, msg.encode("ascii")


def format_date(t):
    import time
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", action="append", required=True,
                    help="a Maildir root to fill (repeat for several)")
    ap.add_argument("--users-file", required=True)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--min-kb", type=float, default=2)
    ap.add_argument("--max-kb", type=float, default=200)
    ap.add_argument("--seed", type=int, default=20231114)
    ap.add_argument("--prefix", default="user")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    text = corpus(random.Random(args.seed + 1), 1 << 20)
    lo, hi = math.log(args.min_kb * 1024), math.log(args.max_kb * 1024)
    width = max(2, len(str(args.users - 1)))
    total_bytes = 0

    users = []
    for u in range(args.users):
        name = f"{args.prefix}{u:0{width}d}"
        users.append(name)
        dirs = []
        for root in args.root:
            d = os.path.join(root, name)
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            dirs.append(d)
        for m in range(args.messages):
            target = int(math.exp(rng.uniform(lo, hi)))
            date, data = make_message(rng, text, name, u, m, target)
            fname = f"{date}.M{m:06d}P{u}.bench.example.net"
            for d in dirs:
                tmp = os.path.join(d, "tmp", fname)
                with open(tmp, "wb") as f:
                    f.write(data)
                os.utime(tmp, (date, date))
                os.rename(tmp, os.path.join(d, "new", fname))
            total_bytes += len(data)

    os.makedirs(os.path.dirname(os.path.abspath(args.users_file)), exist_ok=True)
    with open(args.users_file, "w") as f:
        for u, name in enumerate(users):
            f.write(f"{name}:{{PLAIN}}pw{u:0{width}d}\n")
    n = args.users * args.messages
    print(f"make-mailboxes: {args.users} users x {args.messages} messages = {n} "
          f"messages, {total_bytes / 1e6:.1f} MB per tree, "
          f"{len(args.root)} tree(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
