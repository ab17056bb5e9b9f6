"""SMTP, submission, LMTP: scripted conversations against the real daemon."""

import os
import smtplib
import socket
import ssl
import stat
import time

import pytest

from conftest import (PASSWORD, IO_TIMEOUT, LineSocket, client_tls_context,
                      simple_message)

HOST = "127.0.0.1"


class SmtpRaw(LineSocket):
    """A byte-exact SMTP client; replies are read whole (multi-line)."""

    def __init__(self, port, tls=False):
        super().__init__(port, tls=tls)
        self.greeting = self.reply()

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return b"".join(lines)

    def cmd(self, c):
        self.send(c + "\r\n" if isinstance(c, str) else c + b"\r\n")
        return self.reply()

    def starttls(self):
        self.sock = client_tls_context().wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_messages(inst, user, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(inst.message_files(user)) >= n:
            break
        time.sleep(0.05)
    return inst.message_files(user)


def pop3_messages(inst):
    p = inst.login()
    try:
        count = p.stat()[0]
        out = []
        for i in range(1, count + 1):
            resp, lines, octets = p.retr(i)
            out.append(b"\r\n".join(lines) + b"\r\n")
        return out
    finally:
        p.quit()


def smtp(inst, name="smtp"):
    return smtplib.SMTP(HOST, inst.port(name), timeout=IO_TIMEOUT)


def test_smtp_greeting_and_ehlo(srv):
    r = SmtpRaw(srv.port("smtp"))
    assert r.greeting.startswith(b"220 ") and b"ESMTP postern" in r.greeting
    ehlo = r.cmd("EHLO client.example")
    for kw in (b"PIPELINING", b"SIZE ", b"8BITMIME", b"ENHANCEDSTATUSCODES",
               b"SMTPUTF8", b"CHUNKING", b"STARTTLS"):
        assert kw in ehlo, ehlo
    assert b"AUTH" not in ehlo
    assert r.cmd("VRFY alice").startswith(b"252 2.5.2")
    assert r.cmd("EXPN staff").startswith(b"502 5.5.1")
    assert r.cmd("NOOP").startswith(b"250 2.0.0")
    assert r.cmd("AUTH PLAIN").startswith(b"502 5.5.1")
    assert r.cmd("DATA").startswith(b"503 5.5.1")
    assert r.cmd("X" * 600).startswith(b"500 5.5.2")
    assert r.cmd("QUIT").startswith(b"221 2.0.0")
    r.close()


def test_smtp_deliver_and_read_back(srv):
    msg = simple_message(1).replace(b"\n", b"\r\n")
    s = smtp(srv)
    s.ehlo("client.example")
    s.sendmail("bob@example.org", ["alice@localhost"], msg)
    s.quit()
    got = pop3_messages(srv)
    assert len(got) == 1
    m = got[0]
    assert m.startswith(b"Return-Path: <bob@example.org>\r\nReceived: from "
                        b"client.example (127.0.0.1)")
    assert b"for <alice@localhost>;" in m
    # the original message, byte for byte, after the trace headers
    assert m.endswith(msg), m
    assert b"with ESMTP " in m


def test_smtp_unknown_user_and_relay(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250 2.1.0")
    assert r.cmd("RCPT TO:<nobody@localhost>").startswith(b"550 5.1.1")
    assert r.cmd("RCPT TO:<x@remote.example>").startswith(b"554 5.7.1")
    for bad in ("<alice%remote.example@localhost>",
                "<@relay.example:alice@localhost>",
                "<\"alice\"@localhost>", "<remote.example!alice@localhost>"):
        assert r.cmd("RCPT TO:" + bad).startswith(b"550 5.7.1"), bad
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250 2.1.5")
    r.close()


def test_smtp_size_limit(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<b@example.org> SIZE=999999999999"
                 ).startswith(b"552 5.3.4")
    r.close()
    srv.stop()
    srv.configure(max_message_size=2048)
    srv.start()
    big = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 3000
    s = smtp(srv)
    with pytest.raises(smtplib.SMTPSenderRefused) as e:
        s.sendmail("b@example.org", ["alice@localhost"], big)
    assert e.value.smtp_code == 552
    s.quit()
    # without SIZE=: the data is read to its end, then refused
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<b@example.org>")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    r.send(big + b".\r\n")
    assert r.reply().startswith(b"552 5.3.4")
    assert r.cmd("NOOP").startswith(b"250")
    r.close()
    assert srv.message_files("alice") == []


def test_smtp_pipelining(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    r.send("MAIL FROM:<b@example.org>\r\nRCPT TO:<nobody@localhost>\r\n"
           "RCPT TO:<alice@localhost>\r\nDATA\r\n")
    assert r.reply().startswith(b"250 2.1.0")
    assert r.reply().startswith(b"550 5.1.1")
    assert r.reply().startswith(b"250 2.1.5")
    assert r.reply().startswith(b"354")
    r.send("Subject: p\r\n\r\nbody\r\n.\r\nMAIL FROM:<c@example.org>\r\n"
           "RSET\r\nQUIT\r\n")
    assert r.reply().startswith(b"250 2.0.0 Ok: queued as")
    assert r.reply().startswith(b"250 2.1.0")
    assert r.reply().startswith(b"250 2.0.0")
    assert r.reply().startswith(b"221")
    r.close()
    assert len(wait_messages(srv, "alice", 1)) == 1


def test_smtp_bdat(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<b@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    part1 = b"Subject: chunked\r\n\r\nfirst "
    part2 = b"second\r\n.\r\nnot an end\r\n"
    r.send(b"BDAT %d\r\n" % len(part1) + part1 +
           b"BDAT %d LAST\r\n" % len(part2) + part2 + b"NOOP\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    assert r.reply().startswith(b"250 2.0.0 Ok: queued as")
    assert r.reply().startswith(b"250 2.0.0")
    # an empty LAST chunk ends a message too; BDAT before RCPT is
    # read and discarded (RFC 3030 section 2)
    r.send(b"BDAT 6\r\nQUIT\r\nNOOP\r\n")
    assert r.reply().startswith(b"503 5.5.1")
    assert r.reply().startswith(b"250 2.0.0")
    r.cmd("MAIL FROM:<b@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    r.send(b"BDAT 11\r\nSubject: \r\nBDAT 0 LAST\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    assert r.reply().startswith(b"250 2.0.0 Ok: queued as")
    r.close()
    got = pop3_messages(srv)
    assert len(got) == 2
    assert got[0].endswith(part1 + part2)


def test_smtp_starttls_discards_pipelined(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    r.send("STARTTLS\r\nRSET\r\n")
    assert r.reply().startswith(b"220 2.0.0")
    assert r.buf == b""
    r.starttls()
    r.sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        r.reply()
    r.sock.settimeout(IO_TIMEOUT)
    # state is back to before EHLO
    assert r.cmd("MAIL FROM:<b@example.org>").startswith(b"503 5.5.1")
    ehlo = r.cmd("EHLO c")
    assert b"STARTTLS" not in ehlo
    assert r.cmd("STARTTLS").startswith(b"503")
    r.close()


def test_submission_requires_auth(srv):
    r = SmtpRaw(srv.port("submission"))
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<alice@localhost>").startswith(b"530 5.7.0")
    r.close()


def test_submission_auth_after_starttls(srv):
    s = smtp(srv, "submission")
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    assert "auth" in s.esmtp_features
    code, _ = s.login("alice", PASSWORD)
    assert code == 235
    code, resp = s.mail("someone@example.org")
    assert code == 553 and resp.startswith(b"5.7.1"), resp
    s.rset()
    s.sendmail("alice@localhost", ["alice@localhost"],
               b"Subject: no id\r\n\r\nhello\r\n")
    s.quit()
    m = pop3_messages(srv)[0]
    head = m.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nMessage-ID: <" in head and b"\r\nDate: " in head
    assert b"with ESMTPSA" in m


def test_submission_sees_date_written_the_old_way(srv):
    """RFC 5322 4.5.1: "Date :" (space before the colon) is a Date field
    of the obsolete syntax; submission must not add a second one (nor a
    second Message-ID)."""
    s = smtp(srv, "submission")
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    s.login("alice", PASSWORD)
    s.sendmail("alice@localhost", ["alice@localhost"],
               b"Date : Mon, 1 Jan 2024 10:00:00 +0000\r\n"
               b"Message-ID\t: <old.style@example.org>\r\n"
               b"Subject: old style\r\n\r\nhello\r\n")
    s.quit()
    m = pop3_messages(srv)[0]
    head = m.split(b"\r\n\r\n", 1)[0].lower()
    assert head.count(b"\r\ndate") == 1, head
    assert head.count(b"\r\nmessage-id") == 1, head


def test_submission_bad_password(srv):
    s = smtp(srv, "submission")
    s.ehlo("c")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("alice", "wrong")
    assert e.value.smtp_code == 535
    s.close()


def test_submissions_implicit_tls(srv):
    s = smtplib.SMTP_SSL(HOST, srv.port("submissions"),
                         context=client_tls_context(), timeout=IO_TIMEOUT)
    s.ehlo("c")
    assert "starttls" not in s.esmtp_features
    s.login("alice", PASSWORD)
    s.sendmail("alice@localhost", ["alice@localhost"],
               b"Subject: tls\r\n\r\nhi\r\n")
    s.quit()
    assert len(wait_messages(srv, "alice", 1)) == 1


def test_lmtp_per_recipient(srv):
    r = SmtpRaw(srv.port("lmtp"))
    assert b"LMTP postern" in r.greeting
    assert r.cmd("EHLO c").startswith(b"500")
    assert r.cmd("LHLO c").startswith(b"250")
    assert r.cmd("MAIL FROM:<b@example.org>").startswith(b"250")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250 2.1.5")
    assert r.cmd("RCPT TO:<postmaster@localhost>")[:1] in (b"2", b"5")
    assert r.cmd("RCPT TO:<nobody@localhost>").startswith(b"550 5.1.1")
    r.close()
    l = smtplib.LMTP(HOST, srv.port("lmtp"), timeout=IO_TIMEOUT)
    refused = l.sendmail("b@example.org", ["alice@localhost",
                                          "nobody@localhost"],
                         b"Subject: lmtp\r\n\r\nhi\r\n")
    assert list(refused) == ["nobody@localhost"]
    l.quit()
    assert len(wait_messages(srv, "alice", 1)) == 1


# End-of-data look-alikes from the 2023 SMTP smuggling research (SEC
# Consult) and its follow-ups: bare LF or CR around the dot, and NUL.
SMUGGLE = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\n.\r\r\n",
           b"\r\n.\r", b"\r.\r\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"]


@pytest.mark.parametrize("seq", SMUGGLE)
def test_smtp_smuggling(srv, seq):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c")
    r.cmd("MAIL FROM:<b@example.org>")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"Subject: s\r\n\r\nbefore" + seq +
           b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<alice@localhost>\r\n"
           b"DATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
    rep = r.reply()
    # A bare LF is normalized (smtp_bare_newline = normalize), a bare CR
    # refused: either way the look-alike did not end the data, and the
    # "second message" is text inside the first, never delivered alone.
    if b"\r" in seq.replace(b"\r\n", b""):
        assert rep.startswith(b"550 5.6.11"), rep
    else:
        assert rep.startswith(b"250 2.0.0"), rep
    r.cmd("QUIT")
    r.close()
    files = wait_messages(srv, "alice", 1, timeout=1.0)
    assert len(files) == (0 if rep.startswith(b"550") else 1)
    if files:
        with open(files[0], "rb") as f:
            got = f.read()
        assert b"MAIL FROM:<evil@example.org>" in got, got
        assert b"Subject: smuggled" in got


def test_smtp_too_many_errors(srv):
    r = SmtpRaw(srv.port("smtp"))
    for _ in range(9):
        assert r.cmd("BOGUS").startswith(b"500 5.5.1")
    assert r.cmd("BOGUS").startswith(b"421 4.7.0")
    r.close()


def test_swaks_submission_starttls_auth(srv):
    import subprocess
    r = subprocess.run(["/usr/bin/swaks", "--server", HOST, "--port",
                        str(srv.port("submission")), "--tls",
                        "--auth", "PLAIN", "--auth-user", "alice",
                        "--auth-password", PASSWORD, "--from",
                        "alice@localhost", "--to", "alice@localhost",
                        "--pipeline", "--body", "hello from swaks"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert "250 2.0.0 Ok: queued as" in out, out
    assert len(wait_messages(srv, "alice", 1)) == 1


def test_lmtp_unix_socket(srv):
    """LMTP on the Unix socket (Postfix: mailbox_transport =
    lmtp:unix:PATH): mode 0660, mail delivered, socket gone after stop."""
    path = os.path.join(os.path.dirname(srv.conf), "lmtp.sock")
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    l = smtplib.LMTP(path, timeout=IO_TIMEOUT)
    refused = l.sendmail("b@example.org", ["alice@localhost",
                                          "nobody@localhost"],
                         b"Subject: over unix\r\n\r\nhi\r\n")
    assert list(refused) == ["nobody@localhost"]
    l.quit()
    assert len(wait_messages(srv, "alice", 1)) == 1
    msgs = pop3_messages(srv)
    assert len(msgs) == 1 and b"Subject: over unix\r\n\r\nhi\r\n" in msgs[0]
    assert "proto=lmtp sid=" in srv.log() and "ip=unix" in srv.log()
    srv.stop()
    assert not os.path.exists(path)


def test_submission_from_header_must_be_owned(inst):
    # alice may send as herself and as an alias that reaches her; never
    # with someone else's address in From:, whatever the envelope says
    inst.add_user("bob@example.org", PASSWORD)
    with open(inst.path_setting("aliases_file", "aliases"), "a") as f:
        f.write("sales@example.org: alice\n")
    inst.start()
    s = smtp(inst, "submission")
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    s.login("alice", PASSWORD)

    def send(from_hdr):
        msg = ("From: %s\r\nTo: bob@example.org\r\nSubject: from test\r\n"
               "\r\nbody\r\n" % from_hdr).encode()
        try:
            s.sendmail("alice@localhost", ["bob@example.org"], msg)
            return 250, b""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error

    assert send("Alice <alice@localhost>")[0] == 250
    assert send("sales@example.org")[0] == 250          # her alias
    assert send('"Alice" <ALICE@LOCALHOST>')[0] == 250   # case
    code, why = send("Bob <bob@example.org>")
    assert code == 553 and why.startswith(b"5.7.1"), why
    # a list with one foreign address, and a second From: field
    assert send("alice@localhost, bob@example.org")[0] == 553
    code, why = send("alice@localhost\r\nFrom: bob@example.org")
    assert code == 550 and why.startswith(b"5.6.0"), why
    # the session goes on after a refusal
    assert send("alice@localhost")[0] == 250
    s.quit()
    bob = inst.login("bob@example.org")
    try:
        assert bob.stat()[0] == 4
    finally:
        bob.quit()
    assert "reason=from_not_owned" in inst.log()


def test_submission_from_header_is_read_whole(inst):
    """Every From: address is checked, however many (over 16 is refused
    whole), there is exactly one From: field (RFC 5322 3.6), and no
    control bytes or broken UTF-8 hide what a reader sees."""
    inst.add_user("bob@example.org", PASSWORD)
    inst.start()
    s = smtp(inst, "submission")
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    s.login("alice", PASSWORD)

    def send(from_hdr):
        if isinstance(from_hdr, str):
            from_hdr = from_hdr.encode()
        msg = (b"From: " + from_hdr + b"\r\nTo: bob@example.org\r\n"
               b"Subject: from test\r\n\r\nbody\r\n")
        try:
            s.sendmail("alice@localhost", ["bob@example.org"], msg)
            return 250, b""
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error

    own = ", ".join("alice+%d@localhost" % i for i in range(16))
    assert send(own)[0] == 250  # 16 of her own: fine
    code, why = send(own + ", bob@example.org")
    assert code == 553 and why.startswith(b"5.7.1"), why
    code, why = send(", ".join("alice+%d@localhost" % i for i in range(17)))
    assert code == 553 and why.startswith(b"5.7.1"), why
    # two From: fields, even both her own
    code, why = send("alice@localhost\r\nFrom: alice@localhost")
    assert code == 550 and why.startswith(b"5.6.0"), why
    code, why = send("alice@localhost\r\nTo: x@y\r\nfrom : bob@example.org")
    assert code == 550 and why.startswith(b"5.6.0"), why
    for bad in (b"alice@localhost\x00 <bob@example.org>",
                b"Alice \x01 <alice@localhost>",
                b"Alice \x7f <alice@localhost>",
                b"Alice \xc2\x85 <alice@localhost>",   # U+0085 (C1)
                b"Alice \xe9 <alice@localhost>"):      # not UTF-8
        s.rset()
        code, why = send(bad)
        assert code == 550 and why.startswith(b"5.6.0"), (bad, why)
    assert send(b"=?utf-8?q?x?= \xc3\xa9l\xc3\xa8ve <alice@localhost>")[0] \
        == 250
    s.quit()
    bob = inst.login("bob@example.org")
    try:
        assert bob.stat()[0] == 2
    finally:
        bob.quit()
    log = inst.log()
    for r in ("from_too_many", "from_multiple", "from_control_bytes"):
        assert "reason=" + r in log, r


def test_submission_cram_md5(inst):
    import base64
    import hashlib
    import hmac
    inst.configure(auth_cram_md5="yes", allow_plaintext_auth_loopback="no")
    inst.add_user("carol", "carol-plain-pw", scheme="plain")
    inst.start()
    r = SmtpRaw(inst.port("submission"))
    ehlo = r.cmd("EHLO c")
    # before TLS, without plaintext: only the mechanism that hides the
    # password is offered
    assert b"250-AUTH CRAM-MD5\r\n" in ehlo, ehlo
    assert r.cmd("AUTH PLAIN").startswith(b"538 5.7.11")
    ch = r.cmd("AUTH CRAM-MD5")
    assert ch.startswith(b"334 "), ch
    challenge = base64.b64decode(ch[4:].strip())
    digest = hmac.new(b"carol-plain-pw", challenge, hashlib.md5).hexdigest()
    rep = r.cmd(base64.b64encode(("carol " + digest).encode()))
    assert rep.startswith(b"235 2.7.0"), rep
    assert r.cmd("MAIL FROM:<carol@localhost>").startswith(b"250")
    r.close()


def test_store_error_is_a_temporary_failure(inst):
    # a mailbox the server cannot write (here: tmp/ made read-only) is a
    # 4xx, so the sender keeps the message and retries; nothing partial
    # is left visible, and the retry after the repair is delivered once
    inst.add_user("bob@example.org", PASSWORD)
    inst.start()
    msg = simple_message(7).replace(b"\n", b"\r\n")
    s = smtp(inst)
    s.ehlo("c")
    s.sendmail("x@remote.example", ["bob@example.org"], msg)  # makes it
    bob_tmp = os.path.join(inst.maildir("bob@example.org"), "tmp")
    os.chmod(bob_tmp, 0o500)
    try:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            s.sendmail("x@remote.example", ["bob@example.org"], msg)
        assert ei.value.smtp_code == 451, ei.value
        # LMTP: one reply per recipient; alice is fine, bob is not
        r = SmtpRaw(inst.port("lmtp"))
        r.cmd("LHLO c")
        r.cmd("MAIL FROM:<x@remote.example>")
        assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
        assert r.cmd("RCPT TO:<bob@example.org>").startswith(b"250")
        assert r.cmd("DATA").startswith(b"354")
        r.send(msg + b".\r\n")
        first, second = r.reply(), r.reply()
        assert first.startswith(b"250 "), first
        assert second.startswith(b"452 4.3.1 <bob@example.org>"), second
        r.close()
    finally:
        os.chmod(bob_tmp, 0o700)
    s.sendmail("x@remote.example", ["bob@example.org"], msg)
    s.quit()
    assert len(inst.message_files("bob@example.org")) == 2
    assert len(inst.message_files("alice")) == 1
    assert "result=tempfail" in inst.log() or "tempfail" in inst.log()


def test_smtp_basic_commands(srv):
    # RFC 5321 4.1.1: HELO, RSET, NOOP (with an argument), HELP, QUIT
    r = SmtpRaw(srv.port("smtp"))
    helo = r.cmd("HELO client.example")
    assert helo.startswith(b"250 ") and b"PIPELINING" not in helo
    assert r.cmd("HELP").startswith(b"214")
    assert r.cmd("HELP MAIL").startswith(b"214")
    assert r.cmd("NOOP anything").startswith(b"250 2.0.0")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    # RSET forgets the transaction: a RCPT needs a new MAIL
    assert r.cmd("RSET").startswith(b"250 2.0.0")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"503 5.5.1")
    assert r.cmd("MAIL FROM:<>").startswith(b"250")   # the null sender
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"Subject: bounce\r\n\r\nx\r\n.\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    # MAIL twice in one transaction is a sequence error
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"503 5.5.1")
    assert r.cmd("QUIT").startswith(b"221 2.0.0")
    assert pop3_messages(srv)[0].startswith(b"Return-Path: <>\r\n")


def test_port25_sender_in_a_local_domain_is_refused(inst):
    """From the Internet (port 25, no AUTH, outside relay_networks) an
    envelope sender in one of our own domains is forged: 550 5.7.1.
    Our users send through submission or from relay_networks."""
    inst.add_user("bob@example.org", PASSWORD)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c")
    for sender in ("alice@localhost", "nobody@localhost",
                   "BOB@Example.ORG", "bob+tag@example.org"):
        rep = r.cmd("MAIL FROM:<%s>" % sender)
        assert rep.startswith(b"550 5.7.1"), (sender, rep)
    assert r.cmd("MAIL FROM:<carol@elsewhere.example>").startswith(b"250")
    assert r.cmd("RSET").startswith(b"250")
    assert r.cmd("MAIL FROM:<>").startswith(b"250")  # bounces come in
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    r.close()
    assert "reason=local_sender_from_outside" in inst.log()
    inst.stop()
    inst.configure(relay_networks="127.0.0.0/8")
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c")
    assert r.cmd("MAIL FROM:<alice@localhost>").startswith(b"250")
    r.close()
