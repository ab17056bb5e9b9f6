"""SMTP/LMTP message data: big messages spooled to disk (the worker's
memory stays small however big the message, and the bytes arrive exact,
in a mailbox and in the queue), the line and header limits, and bare LF
(normalized as Postfix does, so curl --upload-file and LF-only scripts
work, while only CRLF.CRLF ends the data)."""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import (IO_TIMEOUT, PASSWORD, children_of, client_tls_context,
                      to_crlf, to_lf)
from test_smtp import SmtpRaw, pop3_messages, wait_messages

HOST = "127.0.0.1"


def big_message(size, subject="big"):
    """A message of about size bytes: a header, then 76-character lines
    (with a dot-led line now and then, to be stuffed on the wire)."""
    head = ("From: <bob@example.org>\r\nTo: <alice@localhost>\r\n"
            "Subject: %s\r\n\r\n" % subject).encode()
    lines = []
    n = 0
    i = 0
    while n < size:
        if i % 1000 == 7:
            line = b".dot-led line %d\r\n" % i
        else:
            line = (b"%08d" % i) + b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij" \
                b"klmnopqrstuvwxyz0123456789+/" + b"\r\n"
        lines.append(line)
        n += len(line)
        i += 1
    return head + b"".join(lines)


def stuff(msg):
    """Dot-stuffing for DATA (RFC 5321 4.5.2)."""
    out = msg.replace(b"\r\n.", b"\r\n..")
    return b"." + out if out.startswith(b".") else out


def vm_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def spool_fds(pid, queue_dir):
    """The worker's open files in queue_dir/tmp (spool files show as
    "(deleted)" or O_TMPFILE's "#NNN (deleted)")."""
    out = []
    tmp = os.path.join(os.path.realpath(queue_dir), "tmp")
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith(tmp + "/"):
                out.append(t)
    except OSError:
        pass
    return out


def start_lean(inst, **conf):
    # ASan keeps freed memory in a quarantine (256 MB by default), which
    # would count every freed input buffer; without it RSS shows what
    # the server holds.
    inst.env["ASAN_OPTIONS"] += ":quarantine_size_mb=0"
    inst.configure(workers=1, **conf)
    inst.start()


def open_data(port, rcpts=("alice@localhost",), lmtp=False):
    r = SmtpRaw(port)
    assert r.cmd(("LHLO" if lmtp else "EHLO") + " c.example").startswith(
        b"250")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")
    for a in rcpts:
        assert r.cmd("RCPT TO:<%s>" % a).startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    return r


# ---- spooling: memory per session stays small --------------------------

def test_big_data_keeps_worker_memory_small(inst):
    """25 MB sent slowly without the final dot: the worker's resident
    memory stays within a few MB (it grew by the message size when DATA
    was buffered in memory); the spool file is open while the data comes
    and gone after; the message arrives byte for byte."""
    start_lean(inst)
    msg = big_message(25 * 1024 * 1024)
    wire = stuff(msg)
    procs = children_of(inst.pid)
    r = open_data(inst.port("smtp"))
    base = {p: vm_kb(p, "VmRSS") for p in procs}
    grew = 0
    step = 1 << 20
    for off in range(0, len(wire), step):
        r.send(wire[off:off + step])
        time.sleep(0.02)
        for p in procs:
            grew = max(grew, vm_kb(p, "VmRSS") - base[p])
    time.sleep(0.3)
    for p in procs:
        grew = max(grew, vm_kb(p, "VmRSS") - base[p])
    qdir = inst.path_setting("queue_dir", "queue")
    spooling = [p for p in procs if spool_fds(p, qdir)]
    print("worker RSS grew by %d kB" % grew)
    assert grew < 8 * 1024, "a worker grew by %d kB" % grew
    assert len(spooling) == 1, "no worker holds a spool file"
    r.send(b"\r\n.\r\n")
    rep = r.reply()
    assert rep.startswith(b"250 2.0.0"), rep
    assert r.cmd("QUIT").startswith(b"221")
    r.close()
    files = wait_messages(inst, "alice", 1)
    assert len(files) == 1
    with open(files[0], "rb") as f:
        got = f.read()
    assert got.startswith(b"Return-Path: <bob@example.org>\n")
    assert got.endswith(to_lf(msg) + b"\n"), "stored message differs"
    assert len(got) < len(msg) + 1000
    assert spool_fds(spooling[0], qdir) == []
    assert re.search(r"event=message result=accepted proto=smtp .* size=%d "
                     % (len(msg) + 2), inst.log())


def test_spool_dropped_on_rset_and_disconnect(inst):
    """A spooled message that is not finished leaves nothing behind:
    not after a 552 (too big), not when the client goes away."""
    start_lean(inst, max_message_size=2 * 1024 * 1024)
    qdir = inst.path_setting("queue_dir", "queue")
    procs = children_of(inst.pid)
    # too big: read to the end, 552, the spool file is gone, the
    # session goes on
    r = open_data(inst.port("smtp"))
    r.send(stuff(big_message(3 * 1024 * 1024)) + b"\r\n.\r\n")
    assert r.reply().startswith(b"552 5.3.4")
    assert all(spool_fds(p, qdir) == [] for p in procs)
    assert r.cmd("RSET").startswith(b"250")
    r.close()
    # the client drops mid-message
    r = open_data(inst.port("smtp"))
    r.send(stuff(big_message(1024 * 1024)))
    deadline = time.monotonic() + 5
    while not any(spool_fds(p, qdir) for p in procs):
        assert time.monotonic() < deadline, "no spool file"
        time.sleep(0.05)
    r.close()
    deadline = time.monotonic() + 5
    while any(spool_fds(p, qdir) for p in procs):
        assert time.monotonic() < deadline, "spool file left open"
        time.sleep(0.05)
    assert os.listdir(os.path.join(qdir, "tmp")) == []
    assert wait_messages(inst, "alice", 1, timeout=0.5) == []


def test_spool_failure_is_temporary(inst):
    """When the spool file cannot be made (here queue_dir/tmp is gone)
    a big message gets a 451 at its end, nothing is delivered, the
    session goes on; a small one (in memory) still goes through."""
    start_lean(inst)
    qdir = inst.path_setting("queue_dir", "queue")
    tmp = os.path.join(qdir, "tmp")
    deadline = time.monotonic() + 10
    while not os.path.isdir(tmp):  # the queue runner makes it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # a file where the directory was: the spool cannot be made
    os.rmdir(tmp)
    open(tmp, "w").close()
    try:
        r = open_data(inst.port("smtp"))
        r.send(stuff(big_message(300 * 1024)) + b".\r\n")
        assert r.reply().startswith(b"451 4.3.0")
        r.cmd("MAIL FROM:<bob@example.org>")
        r.cmd("RCPT TO:<alice@localhost>")
        half = 100 * 1024
        body = big_message(2 * half)
        r.send(b"BDAT %d\r\n" % half + body[:half])
        assert r.reply().startswith(b"451 4.3.0")
        r.cmd("MAIL FROM:<bob@example.org>")
        r.cmd("RCPT TO:<alice@localhost>")
        assert r.cmd("DATA").startswith(b"354")
        r.send(b"Subject: small\r\n\r\nfits in memory\r\n.\r\n")
        assert r.reply().startswith(b"250 2.0.0")
        r.close()
    finally:
        os.unlink(tmp)
        os.mkdir(tmp, 0o700)
    assert len(wait_messages(inst, "alice", 1)) == 1
    assert "event=spool_failed proto=smtp" in inst.log()
    assert "reason=spool_failed" in inst.log()


def test_big_bdat_and_lmtp_arrive_exact(inst):
    start_lean(inst)
    msg = big_message(6 * 1024 * 1024, "bdat")
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<bob@example.org>")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    half = len(msg) // 2
    r.send(b"BDAT %d\r\n" % half + msg[:half])
    assert r.reply().startswith(b"250 2.0.0 %d octets" % half)
    r.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
    assert r.reply().startswith(b"250 2.0.0 Ok")
    r.close()
    msg2 = big_message(5 * 1024 * 1024, "lmtp")
    l = smtplib.LMTP(HOST, inst.port("lmtp"), timeout=IO_TIMEOUT)
    assert l.sendmail("b@example.org", ["alice@localhost"], msg2) == {}
    l.quit()
    files = wait_messages(inst, "alice", 2)
    got = []
    for f in files:
        with open(f, "rb") as fh:
            got.append(fh.read())
    assert any(g.endswith(to_lf(msg)) for g in got)
    assert any(g.endswith(to_lf(msg2)) for g in got)


def test_big_message_queued_exact(inst):
    """A spooled message for another domain goes into the queue whole
    (copied from the spool file); DNS does not answer here, so it stays
    queued and its file can be compared."""
    start_lean(inst, relay_networks="127.0.0.0/8")
    msg = big_message(8 * 1024 * 1024, "queued")
    s = smtplib.SMTP(HOST, inst.port("smtp"), timeout=IO_TIMEOUT)
    s.ehlo("c.example")
    assert s.sendmail("bob@example.org",
                      ["x@remote.example", "alice@localhost"], msg) == {}
    s.quit()
    qdir = inst.path_setting("queue_dir", "queue")
    names = os.listdir(os.path.join(qdir, "msg"))
    assert len(names) == 1, names
    with open(os.path.join(qdir, "msg", names[0]), "rb") as f:
        queued = f.read()
    assert queued.startswith(b"Received: from c.example")
    assert queued.endswith(msg)
    assert len(queued) < len(msg) + 1000
    files = wait_messages(inst, "alice", 1)
    with open(files[0], "rb") as f:
        assert f.read().endswith(to_lf(msg))


def test_big_submission_checks_from_in_memory_header(srv):
    """On submission the From: check and the added Date:/Message-ID:
    work from the header kept in memory while the body is spooled."""
    s = smtplib.SMTP(HOST, srv.port("submission"), timeout=IO_TIMEOUT)
    s.starttls(context=client_tls_context())
    s.login("alice", PASSWORD)
    body = big_message(2 * 1024 * 1024).split(b"\r\n\r\n", 1)[1]
    good = b"From: <alice@localhost>\r\nSubject: big\r\n\r\n" + body
    assert s.sendmail("alice@localhost", ["alice@localhost"], good) == {}
    bad = b"From: <bob@example.org>\r\nSubject: big\r\n\r\n" + body
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail("alice@localhost", ["alice@localhost"], bad)
    assert e.value.smtp_code == 553
    s.quit()
    files = wait_messages(srv, "alice", 1)
    assert len(files) == 1
    with open(files[0], "rb") as f:
        got = f.read()
    assert b"\nDate: " in got and b"\nMessage-ID: <" in got
    assert got.endswith(to_lf(good))


# ---- line and header limits ----------------------------------------------

def test_long_lines_and_big_headers_refused_session_goes_on(srv):
    r = open_data(srv.port("smtp"))
    # over RFC 5321's 1000 but under the 64 KiB cap: taken
    r.send(b"Subject: l\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    # a 70 000-octet line: 554 5.6.0, and the session goes on
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"Subject: l\r\n\r\n" + b"y" * 70000 + b"\r\nend\r\n.\r\n")
    assert r.reply().startswith(b"554 5.6.0")
    # a header section of 70 KB: 552 5.3.4
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"X-Filler: " + b"h" * 88 + b"\r\n" * 1 +
           b"".join(b"X-Filler-%d: %s\r\n" % (i, b"h" * 80)
                    for i in range(800)) + b"\r\nbody\r\n.\r\n")
    assert r.reply().startswith(b"552 5.3.4")
    # one folded field of 40 KB: 552 5.3.4
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"To: a@b,\r\n" + b" c@example.org,\r\n" * 2500 +
           b"Subject: s\r\n\r\nbody\r\n.\r\n")
    assert r.reply().startswith(b"552 5.3.4")
    # 1001 small fields: 552 5.3.4
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"A: b\r\n" * 1001 + b"\r\nbody\r\n.\r\n")
    assert r.reply().startswith(b"552 5.3.4")
    # the same over BDAT
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    body = b"A: b\r\n" * 1001 + b"\r\nbody\r\n"
    r.send(b"BDAT %d LAST\r\n" % len(body) + body)
    assert r.reply().startswith(b"552 5.3.4")
    # still in step: a good message after all that
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"Subject: ok\r\n\r\nfine\r\n.\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    assert r.cmd("QUIT").startswith(b"221")
    r.close()
    assert len(wait_messages(srv, "alice", 2)) == 2
    log = srv.log()
    assert "reason=TEXT_LINE_TOO_LONG" in log
    assert "reason=HEADER_TOO_BIG" in log


def test_text_without_header_is_not_a_big_header(srv):
    # a plain text file sent as is: its first line is not a header
    # field, so 200 KB of it is body, not a header section
    text = b"".join(b"line %d of a plain text\r\n" % i for i in range(8000))
    r = open_data(srv.port("smtp"))
    r.send(b"Hello,\r\n" + text + b".\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    r.close()


# ---- bare LF --------------------------------------------------------------

LF_MESSAGE = (b"From: Bob <bob@example.org>\n"
              b"To: Alice <alice@localhost>\n"
              b"Subject: LF only\n"
              b"\n"
              b"first line\n"
              b".a line that starts with a dot\n"
              b".\n"
              b"last line\n")


def stored_body(inst):
    """The one message in alice's INBOX, as POP3 gives it, without the
    trace fields the server put in front."""
    msgs = pop3_messages(inst)
    assert len(msgs) == 1, msgs
    m = msgs[0]
    i = m.index(b"From: Bob")
    return m[i:]


def test_curl_upload_lf_file(srv, tmp_path):
    """curl --upload-file of an ordinary (LF) text file: accepted, every
    line end stored as CRLF, the dot lines kept as they are in the file
    (curl stuffs only dots after CRLF, and a line after a bare LF is
    never unstuffed nor the end)."""
    curl = shutil.which("curl")
    assert curl, "curl is not installed"
    path = tmp_path / "mail.txt"
    path.write_bytes(LF_MESSAGE)
    r = subprocess.run([curl, "-sS", "--max-time", "30", "--url",
                        "smtp://127.0.0.1:%d" % srv.port("smtp"),
                        "--mail-from", "bob@example.org",
                        "--mail-rcpt", "alice@localhost",
                        "--upload-file", str(path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    assert r.returncode == 0, r.stdout
    assert len(wait_messages(srv, "alice", 1)) == 1
    got = stored_body(srv)
    # curl ends the data with CRLF "." CRLF after the file's last LF:
    # that CRLF is one more (empty) line, as with Postfix
    assert got == to_crlf(LF_MESSAGE) + b"\r\n", got
    assert "event=message result=accepted proto=smtp" in srv.log()


def test_lf_only_script(srv):
    """A script that writes LF lines, commands included; only its end of
    data must be CRLF "." CRLF (as with Postfix's normalize): "." LF is a
    line of the message."""
    s = socket.create_connection((HOST, srv.port("smtp")), timeout=IO_TIMEOUT)
    f = s.makefile("rb")

    def reply():
        lines = [f.readline()]
        while lines[-1][3:4] == b"-":
            lines.append(f.readline())
        return lines[-1]

    assert reply().startswith(b"220")
    for c, want in ((b"EHLO script.example\n", b"250"),
                    (b"MAIL FROM:<bob@example.org>\n", b"250"),
                    (b"RCPT TO:<alice@localhost>\n", b"250"),
                    (b"DATA\n", b"354")):
        s.sendall(c)
        assert reply().startswith(want), c
    s.sendall(LF_MESSAGE + b"\r\n.\r\n")
    assert reply().startswith(b"250 2.0.0")
    s.sendall(b"QUIT\n")
    assert reply().startswith(b"221")
    s.close()
    assert len(wait_messages(srv, "alice", 1)) == 1
    assert stored_body(srv) == to_crlf(LF_MESSAGE) + b"\r\n"


def test_bare_lf_reject_mode(inst):
    inst.configure(smtp_bare_newline="reject")
    inst.start()
    r = open_data(inst.port("smtp"))
    r.send(LF_MESSAGE + b"\r\n.\r\n")
    assert r.reply().startswith(b"550 5.6.11")
    r.close()
    assert wait_messages(inst, "alice", 1, timeout=0.5) == []
