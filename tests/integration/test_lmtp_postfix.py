"""Debian's Postfix hands mail to postern over LMTP (RFC 2033).

A private Postfix instance (tests/integration/postfix_instance.py) listens
on 127.0.0.1, treats example.org as a virtual mailbox domain and delivers
it with `virtual_transport = lmtp:inet:127.0.0.1:<postern LMTP port>`.
Mail sent to Postfix must arrive in postern's store, intact; a recipient
postern does not know must bounce in Postfix with postern's 5.1.1.
"""

import os
import smtplib
import time

import pytest

import postfix_instance
from conftest import IO_TIMEOUT, PASSWORD, _port_free
from test_smtp import pop3_messages

pytestmark = pytest.mark.skipif(
    not postfix_instance.available(),
    reason="needs Debian's postfix and root (Postfix's master runs as root)")


@pytest.fixture
def postfix(srv):
    srv.add_user("bob@example.org", PASSWORD)  # makes example.org local
    port = next(p for p in range(srv.base + 525, srv.base + 600)
                if _port_free(p))
    pf = postfix_instance.PostfixInstance(port, {
        "virtual_mailbox_domains": "example.org",
        "virtual_transport": "lmtp:inet:127.0.0.1:%d" % srv.port("lmtp"),
        # one LMTP transaction may carry several recipients
        "lmtp_destination_recipient_limit": "50",
    })
    pf.start()
    yield pf
    pf.stop()
    log = pf.log()
    pf.cleanup()
    assert "panic" not in log, log


def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def message(n, body):
    return (b"From: Carol <carol@remote.test>\r\n"
            b"To: alice@example.org, bob@example.org\r\n"
            b"Subject: via postfix %d\r\n"
            b"Message-ID: <pf%d@remote.test>\r\n"
            b"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n"
            b"\r\n" % (n, n)) + body


def test_postfix_delivers_over_lmtp(srv, postfix):
    small = message(1, "Grüße aus Postfix.\r\n.leading dot\r\n".encode())
    big = message(2, b"".join(b"line %06d of a big message\r\n" % i
                              for i in range(12000)))
    s = smtplib.SMTP("127.0.0.1", postfix.port, timeout=IO_TIMEOUT)
    s.ehlo("client.test")
    # two recipients in one transaction: Postfix sends both in one LMTP
    # transaction and needs one reply per recipient after DATA
    refused = s.sendmail("carol@remote.test",
                         ["alice@example.org", "bob+lists@example.org"],
                         small)
    assert refused == {}
    s.sendmail("carol@remote.test", ["alice@example.org"], big)
    s.sendmail("carol@remote.test", ["nobody@example.org"], small)
    s.quit()

    def delivered():
        log = postfix.log()
        return (log.count("status=sent") >= 3
                and "to=<nobody@example.org>" in log
                and "status=bounced" in log) and log
    log = wait_for(delivered)
    assert log, "Postfix did not finish:\n" + postfix.log()
    assert "relay=127.0.0.1[127.0.0.1]:%d" % srv.port("lmtp") in log
    # postern's own reply to the unknown recipient, relayed by Postfix
    bounced = [l for l in log.splitlines()
               if "status=bounced" in l and "to=<nobody@example.org>" in l]
    assert len(bounced) == 1, log
    assert "5.1.1" in bounced[0], bounced[0]

    got = pop3_messages(srv)
    assert len(got) == 2
    by_subject = {b"via postfix 1": None, b"via postfix 2": None}
    for m in got:
        for subj in by_subject:
            if b"Subject: " + subj + b"\r\n" in m:
                by_subject[subj] = m
    m1, m2 = by_subject[b"via postfix 1"], by_subject[b"via postfix 2"]
    assert m1 is not None and m2 is not None
    # trace headers in front (postern's Return-Path and Received, then
    # Postfix's Received), then the message exactly as it was sent
    assert m1.startswith(b"Return-Path: <carol@remote.test>\r\n")
    assert b"by postfix.test (Postfix)" in m1
    assert m1.endswith(small), m1[-300:]
    assert m2.endswith(big)

    bob = srv.login("bob@example.org")
    try:
        assert bob.stat()[0] == 1
        lines = bob.retr(1)[1]
        assert (b"\r\n".join(lines) + b"\r\n").endswith(small)
    finally:
        bob.quit()
    # each message is in the store once
    assert len(srv.message_files("alice")) == 2
