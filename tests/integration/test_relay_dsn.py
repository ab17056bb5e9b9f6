"""RFC 3461 (DSN) end to end: what postern takes in on MAIL/RCPT, what it
passes on to the next hop, and which notifications the sender gets.

* EHLO advertises DSN; bad or repeated RET/ENVID/NOTIFY/ORCPT are 501;
* NOTIFY=NEVER and a 550: no bounce at all; NOTIFY=FAILURE and a remote
  that keeps answering 4xx: the bounce, never a delay warning;
* RET=HDRS returns the header, RET=FULL the whole message; ENVID and
  ORCPT come back as Original-Envelope-Id and Original-Recipient;
* a next hop that offers DSN gets RET/ENVID/NOTIFY/ORCPT as received;
* one that does not gets none of them, and NOTIFY=SUCCESS then makes a
  "relayed" DSN; a local recipient with NOTIFY=SUCCESS a "delivered" one.
"""

import re
import smtplib
import time

from conftest import PASSWORD, client_tls_context
from smtpsink import Sink
from test_relay import (ALICE, dns, dsn_parts, inbox, message,  # noqa: F401
                        queue_ids, sender_inst, start_with_sink, wait_for,
                        wait_inbox)


def submit_dsn(inst, rcpts, msg, mail_opts=(), sender=ALICE):
    """rcpts: [(address, [rcpt options])]. Returns the RCPT replies."""
    s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=15)
    s.starttls(context=client_tls_context())
    s.login("alice", PASSWORD)
    code, text = s.mail(sender, list(mail_opts))
    assert code == 250, (code, text)
    replies = []
    for addr, opts in rcpts:
        replies.append(s.rcpt(addr, list(opts)))
    code, text = s.data(msg)
    assert code == 250, (code, text)
    s.quit()
    return replies


def status_of(raw):
    m, parts = dsn_parts(raw)
    return m, parts, parts[1].as_string()


def test_ehlo_advertises_dsn_and_checks_parameters(sender_inst):
    # port 25 offers DSN to relay_networks only (test below)
    sender_inst.configure(relay_networks="127.0.0.0/8")
    sender_inst.start()
    for kind in ("smtp", "submission"):
        s = smtplib.SMTP("127.0.0.1", sender_inst.port(kind), timeout=15)
        s.ehlo("client.test")
        assert s.has_extn("dsn"), (kind, s.esmtp_features)
        s.quit()
    # LMTP only delivers here, for an MTA in front that reports itself
    lm = smtplib.LMTP("127.0.0.1", sender_inst.port("lmtp"), timeout=15)
    lm.ehlo("client.test")  # sends LHLO
    assert lm.does_esmtp and not lm.has_extn("dsn"), lm.esmtp_features
    code, _ = lm.mail("b@example.org", ["RET=FULL"])
    assert code == 555
    lm.quit()
    s = smtplib.SMTP("127.0.0.1", sender_inst.port("submission"), timeout=15)
    s.starttls(context=client_tls_context())
    s.login("alice", PASSWORD)
    for opts in (["RET=ALL"], ["RET=FULL", "RET=HDRS"], ["ENVID=a+2"],
                 ["ENVID=" + "e" * 101], ["ENVID=x", "ENVID=y"]):
        code, text = s.mail(ALICE, opts)
        assert code == 501 and text.startswith(b"5.5.4"), (opts, code, text)
    assert s.mail(ALICE, ["RET=HDRS", "ENVID=QQ+2B1"])[0] == 250
    s.quit()
    # a new session: ten errors would end one (SMTP_MAX_ERRORS)
    s = smtplib.SMTP("127.0.0.1", sender_inst.port("submission"), timeout=15)
    s.starttls(context=client_tls_context())
    s.login("alice", PASSWORD)
    assert s.mail(ALICE)[0] == 250
    for opts in (["NOTIFY=NEVER,SUCCESS"], ["NOTIFY=SOMETIMES"],
                 ["NOTIFY=FAILURE", "NOTIFY=DELAY"], ["ORCPT=a@b"],
                 ["ORCPT=rfc822;a+0Ab"], ["ORCPT=rfc822;a", "ORCPT=rfc822;a"]):
        code, text = s.rcpt("carol@c.test", opts)
        assert code == 501 and text.startswith(b"5.5.4"), (opts, code, text)
    assert s.rcpt("carol@c.test", ["NOTIFY=SUCCESS,FAILURE",
                                   "ORCPT=rfc822;carol@c.test"])[0] == 250
    s.rset()
    # after HELO there are no extensions: DSN parameters are refused
    s.helo("client.test")
    code, _ = s.mail(ALICE, ["RET=FULL"])
    assert code == 555
    s.quit()


def test_notify_never_means_no_bounce(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink(rcpt=lambda a: "550 5.1.1 no such user") as sink:
        start_with_sink(sender_inst, sink)
        submit_dsn(sender_inst, [("nobody@c.test", ["NOTIFY=NEVER"])],
                   message("never tell", "nobody@c.test"))
        wait_for(lambda: queue_ids(sender_inst) == []
                 and "event=removed" in sender_inst.log(),
                 what="the message to leave the queue")
        assert any(c.upper().startswith("RCPT") for c in sink.commands)
    time.sleep(1.5)
    assert inbox(sender_inst, "alice") == []
    assert queue_ids(sender_inst) == []
    assert "kind=failed" not in sender_inst.log()


def test_no_delay_in_notify_means_no_delay_warning(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink(rcpt=lambda a: "450 4.2.0 mailbox busy") as sink:
        start_with_sink(sender_inst, sink, queue_delay_warning=1,
                        queue_max_age=4)
        submit_dsn(sender_inst, [("carol@c.test", ["NOTIFY=FAILURE"])],
                   message("slow, no warning", "carol@c.test"))
        got = wait_inbox(sender_inst, "alice", 1, timeout=20)
        _, _, st = status_of(got[0])
        assert re.search(r"Action: failed", st), st
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
    time.sleep(1)
    assert len(inbox(sender_inst, "alice")) == 1  # the bounce alone
    assert "kind=delayed" not in sender_inst.log()


def test_ret_envid_orcpt_in_the_bounce(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    body = "The body line that only RET=FULL returns.\r\n"
    with Sink(rcpt=lambda a: "550 5.1.1 no such user") as sink:
        start_with_sink(sender_inst, sink)
        submit_dsn(sender_inst,
                   [("nobody@c.test", ["NOTIFY=FAILURE",
                                       "ORCPT=rfc822;Nobody+2Bx@c.test"])],
                   message("ret hdrs", "nobody@c.test", body),
                   mail_opts=["RET=HDRS", "ENVID=QQ+2B314"])
        got = wait_inbox(sender_inst, "alice", 1)
        submit_dsn(sender_inst, [("nobody@c.test", [])],
                   message("ret full", "nobody@c.test", body),
                   mail_opts=["RET=FULL"])
        got = wait_inbox(sender_inst, "alice", 2)
    hdrs = [g for g in got if b"Subject: ret hdrs" in g][0]
    full = [g for g in got if b"Subject: ret full" in g][0]
    _, parts, st = status_of(hdrs)
    assert re.search(r"Original-Envelope-Id: QQ\+314", st), st
    assert re.search(r"Original-Recipient: rfc822; ?Nobody\+x@c.test", st), st
    assert re.search(r"Final-Recipient: rfc822; ?nobody@c.test", st)
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert body.strip() not in parts[2].as_string()
    _, parts, st = status_of(full)
    assert "Original-Envelope-Id" not in st
    assert "Original-Recipient" not in st
    assert parts[2].get_content_type() == "message/rfc822"
    assert body.strip() in parts[2].as_string()
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_parameters_go_on_to_a_dsn_server(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    ext = ("PIPELINING", "8BITMIME", "SIZE 100000000", "DSN")
    with Sink(extensions=ext) as sink:
        start_with_sink(sender_inst, sink)
        submit_dsn(sender_inst,
                   [("carol@c.test", ["NOTIFY=SUCCESS,DELAY",
                                      "ORCPT=rfc822;Carol+2B1@c.test"]),
                    ("dave@c.test", [])],
                   message("pass it on", "carol@c.test"),
                   mail_opts=["RET=HDRS", "ENVID=QQ+2B314"])
        tx = sink.wait_accepted(1)[0]
        rcpts = [c for c in sink.commands if c.upper().startswith("RCPT")]
    assert re.search(r" RET=HDRS( |$)", tx.mail_line), tx.mail_line
    assert re.search(r" ENVID=QQ\+2B314( |$)", tx.mail_line), tx.mail_line
    carol = [c for c in rcpts if "<carol@c.test>" in c][0]
    dave = [c for c in rcpts if "<dave@c.test>" in c][0]
    assert re.search(r" NOTIFY=SUCCESS,DELAY( |$)", carol), carol
    assert re.search(r" ORCPT=rfc822;Carol\+2B1@c.test( |$)", carol), carol
    # RFC 3461 5.2.1 (c): no NOTIFY given, none passed on
    assert "NOTIFY" not in dave and "ORCPT" not in dave, dave
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
    time.sleep(1)
    # the next hop offers DSN: success is its to report, not ours
    assert inbox(sender_inst, "alice") == []


def test_success_to_a_non_dsn_server_gets_a_relayed_dsn(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink() as sink:  # no DSN in its EHLO reply
        start_with_sink(sender_inst, sink)
        submit_dsn(sender_inst,
                   [("carol@c.test", ["NOTIFY=SUCCESS",
                                      "ORCPT=rfc822;carol@c.test"]),
                    ("dave@c.test", ["NOTIFY=FAILURE"])],
                   message("tell me it went", "carol@c.test"),
                   mail_opts=["RET=FULL", "ENVID=env1"])
        tx = sink.wait_accepted(1)[0]
        got = wait_inbox(sender_inst, "alice", 1)
    # RFC 3461 5.2.2 (a): nothing of DSN goes to a server without it
    assert "RET=" not in tx.mail_line and "ENVID=" not in tx.mail_line
    assert not [c for c in sink.commands
                if c.upper().startswith("RCPT") and "=" in c]
    m, parts, st = status_of(got[0])
    assert re.search(r"Return-Path: <>", got[0].decode(), re.M)
    assert m["Subject"] == "Successful Mail Delivery Report"
    assert re.search(r"Action: relayed", st), st
    assert re.search(r"Status: 2\.0\.0", st), st
    assert re.search(r"Final-Recipient: rfc822; ?carol@c.test", st)
    assert re.search(r"Original-Envelope-Id: env1", st)
    assert "dave@c.test" not in st  # no SUCCESS asked for
    # a success DSN returns the header only, whatever RET said
    assert parts[2].get_content_type() == "text/rfc822-headers"
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
    time.sleep(1)
    assert len(inbox(sender_inst, "alice")) == 1


def test_local_success_gets_a_delivered_dsn(sender_inst):
    sender_inst.start()
    submit_dsn(sender_inst, [(ALICE, ["NOTIFY=SUCCESS"])],
               message("to myself", ALICE), mail_opts=["ENVID=self1"])
    got = wait_inbox(sender_inst, "alice", 2)
    dsns = [g for g in got if b"multipart/report" in g]
    assert len(dsns) == 1, got
    _, _, st = status_of(dsns[0])
    assert re.search(r"Action: delivered", st), st
    assert re.search(r"Status: 2\.0\.0", st), st
    assert re.search(r"Original-Envelope-Id: self1", st), st
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_port25_strangers_get_no_success_dsn(sender_inst):
    """An unverified MAIL FROM on port 25 must not get our reports: DSN
    is not offered there to clients outside relay_networks (so NOTIFY=
    SUCCESS cannot be asked for, RFC 3461 5.2.2 (b) leaves the "relayed"
    DSN to the client's MTA) unless dsn_success_untrusted = yes."""
    sender_inst.start()

    def ehlo_dsn():
        s = smtplib.SMTP("127.0.0.1", sender_inst.port("smtp"), timeout=15)
        s.ehlo("client.test")
        has = s.has_extn("dsn")
        code = None
        if not has:
            code, _ = s.mail("victim@c.test", ["RET=HDRS"])
            assert code == 555
            s.rset()
            assert s.mail("victim@c.test")[0] == 250
            code, _ = s.rcpt(ALICE, ["NOTIFY=SUCCESS"])
            assert code == 555
        s.quit()
        return has

    assert not ehlo_dsn()
    # the reflection itself: nothing comes back to the victim's address
    s = smtplib.SMTP("127.0.0.1", sender_inst.port("smtp"), timeout=15)
    s.sendmail("victim@c.test", [ALICE], message("plain", ALICE))
    s.quit()
    wait_inbox(sender_inst, "alice", 1)
    assert queue_ids(sender_inst) == []
    # a trusted network, or the admin's choice, brings it back
    sender_inst.configure(relay_networks="127.0.0.0/8")
    sender_inst.reload()
    assert ehlo_dsn()
    sender_inst.configure(relay_networks="", dsn_success_untrusted="yes")
    sender_inst.reload()
    assert ehlo_dsn()


def test_returned_header_is_bounded(dns, sender_inst):
    """The text/rfc822-headers part of a DSN or bounce is cut after the
    last whole field within 8 KiB, however large the header."""
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    filler = "".join("X-Filler-%04d: %s\r\n" % (i, "f" * 100)
                     for i in range(500))  # ~57 KB of header
    msg = ("From: Alice <%s>\r\nTo: <%s>\r\nSubject: big header\r\n%s"
           "\r\nthe body\r\n" % (ALICE, ALICE, filler)).encode()
    with Sink(rcpt=lambda a: "550 5.1.1 no such user") as sink:
        start_with_sink(sender_inst, sink)
        submit_dsn(sender_inst, [(ALICE, ["NOTIFY=SUCCESS"]),
                                 ("nobody@c.test", [])], msg)
        got = wait_inbox(sender_inst, "alice", 3)
    dsns = [g for g in got if b"multipart/report" in g]
    assert len(dsns) == 2, [g[:300] for g in got]
    for d in dsns:
        _, parts, st = status_of(d)
        assert parts[2].get_content_type() == "text/rfc822-headers"
        part = parts[2].get_payload()
        assert "Subject: big header" in part
        assert len(part.encode()) <= 8 * 1024 + 2, len(part)
        assert re.search(r"X-Filler-\d{4}: f{100}\r?\n?$", part), part[-200:]
        assert "X-Filler-0499" not in part
    assert len(dsns[0]) < 20000 and len(dsns[1]) < 20000
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
