"""SMTP in puts mail for other domains in the outbound queue, and
`postern queue` shows and changes it. No queue runner runs here and the
resolver points at a dead port, so nothing ever leaves the machine."""

import os
import re
import time
import smtplib

import pytest

from conftest import PASSWORD, IO_TIMEOUT, client_tls_context
from test_smtp import HOST, SmtpRaw, wait_messages

EX_USAGE, EX_DATAERR = 64, 65

MSG = (b"From: Alice <alice@localhost>\r\n"
       b"To: Bob <bob@remote.example>\r\n"
       b"Subject: to the queue\r\n"
       b"Message-ID: <q1@localhost>\r\n"
       b"Date: Mon, 02 Jan 2023 10:00:00 +0000\r\n"
       b"\r\n"
       b"Hello Bob,\r\n.. a line with a dot\r\n")


@pytest.fixture
def qsrv(inst):
    inst.configure(dns_resolver="127.0.0.1:9")
    inst.start()
    return inst


def queue_dir(inst):
    return inst.path_setting("queue_dir", "queue")


def queue_ids(inst):
    d = os.path.join(queue_dir(inst), "env")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def submit(inst, rcpts, msg=MSG, mail_options=()):
    s = smtplib.SMTP(HOST, inst.port("submission"), timeout=IO_TIMEOUT)
    s.ehlo("client.example")
    s.starttls(context=client_tls_context())
    s.ehlo("client.example")
    s.login("alice", PASSWORD)
    refused = s.sendmail("alice@localhost", rcpts, msg,
                         mail_options=list(mail_options))
    s.quit()
    assert refused == {}


def test_submission_queues_remote_recipients(qsrv):
    submit(qsrv, ["bob@remote.example", "carol@other.example",
                  "alice@localhost"], mail_options=["BODY=8BITMIME"])
    # the local copy is delivered as before, with its Return-Path
    assert len(wait_messages(qsrv, "alice", 1)) == 1
    ids = queue_ids(qsrv)
    assert len(ids) == 1
    qid = ids[0]
    assert re.fullmatch(r"\d{8}T\d{6}-\d{6}-[0-9a-f]{8}", qid), qid

    out = qsrv.check(["queue", "list"]).stdout.decode()
    line = [l for l in out.splitlines() if l.startswith(qid)][0]
    assert "<alice@localhost>" in line
    assert "bob@remote.example (pending)" in line
    assert "carol@other.example (pending)" in line
    assert "alice@localhost (" not in line  # local: not queued
    assert " no " in line  # not held
    assert "1 message in the queue." in out

    show = qsrv.check(["queue", "show", qid]).stdout.decode()
    assert re.search(r"^sender +alice@localhost$", show, re.M)
    assert re.search(r"^body +8BITMIME$", show, re.M)
    assert re.search(r"^auth_user +alice$", show, re.M)
    assert re.search(r"^recipient +bob@remote.example$", show, re.M)
    assert re.search(r"^  state +pending$", show, re.M)
    assert "\nSubject: to the queue\n" in show
    assert "Hello Bob" not in show  # the header section only

    # the queued copy: our Received, then the message byte for byte
    with open(os.path.join(queue_dir(qsrv), "msg", qid), "rb") as f:
        data = f.read()
    assert data.startswith(b"Received: from client.example (127.0.0.1)")
    assert b"Return-Path" not in data
    assert data.endswith(MSG)  # smtplib's dot-stuffing undone
    head = data[:len(data) - len(MSG) + 1]
    assert head.count(b"Received:") == 1
    assert b"with ESMTPSA" in data
    assert "size" in show and str(len(data)) in show

    log = qsrv.log()
    assert "event=rcpt" in log and "result=accepted remote=yes" in log
    assert "queued=2" in log


def test_hold_release_retry_delete(qsrv):
    submit(qsrv, ["bob@remote.example"])
    submit(qsrv, ["dave@remote.example"])
    a, b = queue_ids(qsrv)

    qsrv.check(["queue", "hold", a])
    out = qsrv.check(["queue", "list"]).stdout.decode()
    assert re.search(re.escape(a) + r" .* yes +<alice@localhost>", out), out
    show = qsrv.check(["queue", "show", a]).stdout.decode()
    assert re.search(r"^hold +yes$", show, re.M)
    # hold twice is fine
    qsrv.check(["queue", "hold", a])

    tries = qsrv.log().count("event=delivery id=%s " % a)
    qsrv.check(["queue", "release", a])
    show = qsrv.check(["queue", "show", a]).stdout.decode()
    assert re.search(r"^hold +no$", show, re.M)
    # released means tried at once (and deferred: no DNS answers here)
    deadline = time.time() + 10
    while qsrv.log().count("event=delivery id=%s " % a) == tries:
        assert time.time() < deadline, "release did not retry"
        time.sleep(0.05)

    r = qsrv.check(["queue", "retry", b])
    assert b.encode() in r.stdout
    r = qsrv.check(["queue", "retry"])
    assert b"2 messages will be retried now." in r.stdout

    qsrv.check(["queue", "delete", a])
    assert queue_ids(qsrv) == [b]
    assert not os.path.exists(os.path.join(queue_dir(qsrv), "msg", a))
    for args in (["delete", a], ["show", a], ["hold", a], ["release", a],
                 ["retry", a], ["show", "../../etc/passwd"],
                 ["delete", "no-such-id"]):
        r = qsrv.run(["queue"] + args)
        assert r.returncode == EX_DATAERR, (args, r)
        assert b"in the queue" in r.stderr
    for args in ([], ["frob"], ["show"], ["delete"], ["retry", a, b],
                 ["list", "x"]):
        r = qsrv.run(["queue"] + args)
        assert r.returncode == EX_USAGE, (args, r)
    assert b"queue retry [ID]" in qsrv.check(["queue", "--help"]).stdout

    qsrv.check(["queue", "delete", b])
    assert b"Queue is empty." in qsrv.check(["queue", "list"]).stdout


def relay_attempt(inst, rcpt="x@remote.example", body=b"Subject: r\r\n\r\nhi\r\n"):
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO relay-client.example")
    assert r.cmd("MAIL FROM:<someone@client.example>").startswith(b"250")
    rep = r.cmd("RCPT TO:<%s>" % rcpt)
    if rep.startswith(b"250"):
        assert r.cmd("DATA").startswith(b"354")
        rep = r.cmd(body + b".")
    r.cmd("QUIT")
    r.close()
    return rep


def test_port25_relay_networks(inst):
    inst.configure(dns_resolver="127.0.0.1:9",
                   relay_networks="192.0.2.0/24, 127.0.0.0/8 ::1")
    inst.start()
    assert relay_attempt(inst).startswith(b"250 2.0.0")
    ids = queue_ids(inst)
    assert len(ids) == 1
    show = inst.check(["queue", "show", ids[0]]).stdout.decode()
    assert re.search(r"^sender +someone@client.example$", show, re.M)
    assert re.search(r"^auth_user +-$", show, re.M)
    assert re.search(r"^body +7BIT$", show, re.M)
    assert "relay_client=yes" in inst.log()

    # LMTP never queues, whatever relay_networks says
    r = SmtpRaw(inst.port("lmtp"))
    r.cmd("LHLO c")
    r.cmd("MAIL FROM:<someone@client.example>")
    assert r.cmd("RCPT TO:<x@remote.example>").startswith(b"554 5.7.1")
    r.close()


def test_port25_outside_relay_networks(inst):
    inst.configure(dns_resolver="127.0.0.1:9",
                   relay_networks="10.0.0.0/8 2001:db8::/32")
    inst.start()
    rep = relay_attempt(inst)
    assert rep.startswith(b"554 5.7.1"), rep
    assert queue_ids(inst) == []
    assert "reason=relay_denied" in inst.log()


def test_too_many_hops(inst):
    inst.configure(dns_resolver="127.0.0.1:9", relay_max_hops=3)
    inst.start()
    hops = b"".join(b"Received: from h%d by h%d; Mon, 2 Jan 2023 10:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(4))
    body = hops + b"Subject: loop\r\n\r\nround and round\r\nReceived: x\r\n"
    s = smtplib.SMTP(HOST, inst.port("submission"), timeout=IO_TIMEOUT)
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    s.login("alice", PASSWORD)
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail("alice@localhost", ["bob@remote.example"], body)
    assert e.value.smtp_code == 554
    assert e.value.smtp_error.startswith(b"5.4.6 Too many hops")
    # three are fine (the one in the body does not count)
    s.sendmail("alice@localhost", ["bob@remote.example"],
               body[body.index(b"Received: from h1"):])
    s.quit()
    assert len(queue_ids(inst)) == 1
    assert "reason=too_many_hops" in inst.log()


def test_enqueue_failure_is_temporary(inst):
    # a queue_dir that can never be a directory
    path = os.path.join(inst.dir, "not-a-dir")
    with open(path, "w") as f:
        f.write("x")
    inst.configure(dns_resolver="127.0.0.1:9", queue_dir=path)
    inst.start()
    s = smtplib.SMTP(HOST, inst.port("submission"), timeout=IO_TIMEOUT)
    s.ehlo("c")
    s.starttls(context=client_tls_context())
    s.ehlo("c")
    s.login("alice", PASSWORD)
    with pytest.raises(smtplib.SMTPDataError) as e:
        s.sendmail("alice@localhost", ["bob@remote.example"], MSG)
    assert e.value.smtp_code == 451
    assert e.value.smtp_error.startswith(b"4.3.0")
    s.quit()
    assert "event=enqueue_failed" in inst.log()
