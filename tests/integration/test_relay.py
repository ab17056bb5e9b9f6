"""The outbound queue end to end: submission -> queue -> DNS -> SMTP out.

Everything stays on loopback: a DNS server started here
(dnsserver.py) answers for the test domains, the "other side" is either a
second postern instance or a scripted SMTP server (smtpsink.py), and
relay_port points MX-found hosts at that server's port.

* two postern instances: alice@a.test on A writes to bob@b.test on B; the
  message arrives byte for byte and is read by POP3 and IMAP;
* a remote that answers 4xx for a while: retried on the (shortened)
  schedule, then delivered once; 550: a DSN with the right codes and the
  original header reaches alice's INBOX;
* no MX -> A; null MX -> immediate bounce; MX preference and fallback to
  the next MX when the first refuses connections;
* kill -9 of the queue runner while a remote holds its reply to DATA:
  after the restart every message is delivered exactly once;
* STARTTLS required by policy but not offered: deferred, never sent;
* delay warnings and the bounce at the maximum age; smarthost with TLS
  verified against its certificate and AUTH; one connection carrying
  several messages.
"""

import email
import email.policy
import imaplib
import os
import re
import signal
import smtplib
import subprocess
import time

import pytest

from conftest import (PASSWORD, Instance, _finish, client_tls_context,
                      to_lf)
from dnsserver import DNSServer
from smtpsink import Sink

ALICE = "alice@a.test"


def submit(inst, rcpts, msg, sender=ALICE):
    s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=15)
    s.starttls(context=client_tls_context())
    s.login("alice", PASSWORD)
    refused = s.sendmail(sender, rcpts, msg)
    s.quit()
    return refused


def message(subject, to, body="Hello from A.\r\n.leading dot\r\nbye\r\n"):
    return ("From: Alice <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-ID: <%s@a.test>\r\n\r\n%s"
            % (ALICE, to, subject, subject.replace(" ", "."), body)).encode()


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def queue_ids(inst):
    r = inst.check(["queue", "list"])
    return re.findall(r"^(\S+-\S+)\s", r.stdout.decode(), re.M)


def inbox(inst, user):
    """The raw messages in user's INBOX (new/ and cur/), oldest first."""
    files = inst.message_files(user)
    out = []
    for f in sorted(files, key=os.path.getmtime):
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


def wait_inbox(inst, user, n, timeout=15.0):
    return wait_for(lambda: len(inbox(inst, user)) >= n and inbox(inst, user),
                    timeout, "%d messages for %s" % (n, user))


def body_after_trace(raw):
    """The message without the Return-Path/Received lines prepended by
    the servers on the way."""
    lines = raw.split(b"\r\n") if b"\r\n" in raw else raw.split(b"\n")
    i = 0
    while i < len(lines) and (re.match(rb"(Return-Path|Received):", lines[i])
                              or (i and lines[i][:1] in (b" ", b"\t"))):
        i += 1
    sep = b"\r\n" if b"\r\n" in raw else b"\n"
    return sep.join(lines[i:])


def dsn_parts(raw):
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    return m, m.get_payload()


@pytest.fixture
def dns():
    with DNSServer({}) as d:
        yield d


@pytest.fixture
def sender_inst(request, dns):
    """Instance A: alice@a.test, queue on a short schedule, DNS here."""
    inst = Instance()
    inst.init()
    inst.configure(auth_fail_delay_ms=200, shutdown_timeout=5,
                   local_domains="a.test", hostname="mx.a.test",
                   dns_resolver="127.0.0.1:%d" % dns.port,
                   queue_retry_min=1, queue_retry_max=2,
                   relay_connect_timeout=5, relay_timeout=20,
                   # the other side runs on loopback here; by default
                   # outbound mail never goes to internal addresses
                   relay_allowed_internal="127.0.0.0/8 ::1")
    inst.add_user("alice", PASSWORD)
    yield inst
    _finish(request, inst)


def start_with_sink(inst, sink, **conf):
    inst.configure(relay_port=sink.port, **conf)
    inst.start()


# ---- two postern instances ----------------------------------------------

def test_two_instances_deliver_byte_for_byte(request, dns, sender_inst):
    b = Instance()
    try:
        b.init()
        b.configure(auth_fail_delay_ms=200, shutdown_timeout=5,
                    local_domains="b.test", hostname="mx.b.test",
                    dns_resolver="127.0.0.1:9")
        b.add_user("bob", PASSWORD)
        b.start()
        dns.zone.update({"b.test": {"MX": [(10, "mx.b.test")]},
                         "mx.b.test": {"A": ["127.0.0.1"]}})
        a = sender_inst
        a.configure(relay_port=b.port("smtp"))
        a.start()
        body = ("Zeile mit Umlaut \xe4\xf6\xfc\r\n"
                ".a line that starts with a dot\r\n"
                "..two dots\r\n" + "x" * 900 + "\r\n")
        msg = ("From: Alice <alice@a.test>\r\nTo: Bob <bob@b.test>\r\n"
               "Subject: across\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n"
               + body).encode("utf-8")
        assert submit(a, ["bob@b.test"], msg) == {}
        got = wait_inbox(b, "bob", 1)[0]
        # the submission server adds Date: and Message-ID: in front; the
        # Maildir file has LF line ends, like every Maildir
        sent = body_after_trace(got)
        assert sent.endswith(to_lf(msg)), sent[-300:]
        # read back through both protocols
        p = b.login("bob")
        _, lines, _ = p.retr(1)
        p.quit()
        assert (b"\r\n".join(lines) + b"\r\n").endswith(msg)
        im = imaplib.IMAP4("127.0.0.1", b.port("imap"))
        im.login("bob", PASSWORD)
        im.select("INBOX")
        typ, data = im.fetch("1", "(BODY.PEEK[TEXT])")
        im.logout()
        assert data[0][1] == body.encode("utf-8")
        # A's log says how; A's queue is empty
        a.wait_log("event=removed")
        assert re.search(r"event=delivery id=\S+ to=bob@b.test "
                         r"relay=mx.b.test status=sent", a.log())
        wait_for(lambda: queue_ids(a) == [], what="A's queue to empty")
        # B saw it arrive over TLS (relay_tls=may and B offers STARTTLS)
        assert re.search(r"with ESMTPS", got.decode("utf-8", "replace"))
    finally:
        _finish(request, b)


# ---- retries, bounces -----------------------------------------------------

def test_temporary_failures_are_retried_then_delivered(dns, sender_inst):
    tries = []

    def rcpt(addr):
        tries.append(time.time())
        return "451 4.3.2 try later" if len(tries) <= 2 else None

    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink(rcpt=rcpt) as sink:
        start_with_sink(sender_inst, sink, queue_retry_min=2,
                        queue_retry_max=2)
        submit(sender_inst, ["carol@c.test"], message("retry me",
                                                      "carol@c.test"))
        got = sink.wait_accepted(1, timeout=30)
        assert len(tries) == 3
        # on schedule: 2 s apart (the queue counts whole seconds)
        assert tries[1] - tries[0] >= 1.0, tries
        assert tries[2] - tries[1] >= 1.0, tries
        assert got[0].rcpts == ["carol@c.test"]
        time.sleep(1.5)
        assert len(sink.accepted()) == 1  # exactly once
        log = sender_inst.log()
        assert log.count("status=deferred") == 2
        assert "4.3.2" in log
        wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_permanent_failure_bounces_to_the_sender(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})

    def rcpt(addr):
        if addr.startswith("nobody"):
            return "550 5.1.1 <%s>: Recipient address rejected" % addr
        return None

    with Sink(rcpt=rcpt) as sink:
        start_with_sink(sender_inst, sink)
        submit(sender_inst, ["nobody@c.test", "carol@c.test"],
               message("will bounce", "nobody@c.test"))
        sink.wait_accepted(1)
        dsn = wait_inbox(sender_inst, "alice", 1)[0]
    m, parts = dsn_parts(dsn)
    assert m["From"].lower().find("mailer-daemon@") >= 0
    assert m["To"].find(ALICE) >= 0
    assert re.search(rb"^Return-Path: <>", dsn, re.M)
    human, status, orig = parts
    assert human.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    st = status.as_string()
    assert re.search(r"Final-Recipient: rfc822; ?nobody@c.test", st)
    assert "carol@c.test" not in st  # delivered: not in the bounce
    assert re.search(r"Action: failed", st)
    assert re.search(r"Status: 5\.1\.1", st)
    assert re.search(r"Diagnostic-Code: smtp; ?550 5\.1\.1", st)
    assert orig.get_content_type() in ("text/rfc822-headers",
                                       "message/rfc822")
    assert "Subject: will bounce" in orig.as_string()
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_delay_warning_then_bounce_at_maximum_age(dns, sender_inst):
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink(rcpt=lambda a: "450 4.2.0 mailbox busy") as sink:
        start_with_sink(sender_inst, sink, queue_delay_warning=1,
                        queue_max_age=4)
        submit(sender_inst, ["carol@c.test"], message("slow", "carol@c.test"))
        first = wait_inbox(sender_inst, "alice", 1, timeout=20)[0]
        m, parts = dsn_parts(first)
        st = parts[1].as_string()
        assert re.search(r"Action: delayed", st), st
        assert re.search(r"Status: 4\.2\.0", st)
        assert re.search(r"Will-Retry-Until:", st)
        both = wait_inbox(sender_inst, "alice", 2, timeout=20)
        m2, parts2 = dsn_parts(both[1])
        st2 = parts2[1].as_string()
        assert re.search(r"Action: failed", st2), st2
        assert re.search(r"Status: 4\.4\.7|Status: 4\.2\.0", st2)
        assert len(sink.accepted()) == 0
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
    time.sleep(1)
    assert len(inbox(sender_inst, "alice")) == 2  # one warning, one bounce


# ---- routing --------------------------------------------------------------

def test_no_mx_falls_back_to_the_address_record(dns, sender_inst):
    dns.zone.update({"d.test": {"A": ["127.0.0.1"]}})
    with Sink() as sink:
        start_with_sink(sender_inst, sink)
        submit(sender_inst, ["dave@d.test"], message("implicit mx",
                                                     "dave@d.test"))
        got = sink.wait_accepted(1)
        assert got[0].rcpts == ["dave@d.test"]
        assert got[0].sender == ALICE


def test_null_mx_bounces_at_once(dns, sender_inst):
    dns.zone.update({"e.test": {"MX": [(0, ".")], "A": ["127.0.0.1"]}})
    with Sink() as sink:
        start_with_sink(sender_inst, sink)
        t0 = time.time()
        submit(sender_inst, ["erin@e.test"], message("null mx",
                                                     "erin@e.test"))
        dsn = wait_inbox(sender_inst, "alice", 1)[0]
        assert time.time() - t0 < 10
        assert sink.connections == 0
    st = dsn_parts(dsn)[1][1].as_string()
    assert re.search(r"Status: 5\.1\.10", st), st


def test_mx_preference_order(dns, sender_inst):
    # the preferred MX is listed last; the other one is a second server
    with Sink(host="127.0.0.1") as best:
        with Sink(host="127.0.0.3", port=best.port) as worse:
            dns.zone.update({"f.test": {"MX": [(20, "mx2.f.test"),
                                               (10, "mx1.f.test")]},
                             "mx1.f.test": {"A": ["127.0.0.1"]},
                             "mx2.f.test": {"A": ["127.0.0.3"]}})
            start_with_sink(sender_inst, best)
            for i in range(3):
                submit(sender_inst, ["frank@f.test"],
                       message("pref %d" % i, "frank@f.test"))
            best.wait_accepted(3)
            assert worse.connections == 0


def test_next_mx_when_the_first_refuses(dns, sender_inst):
    with Sink(host="127.0.0.3") as second:
        # nothing listens on 127.0.0.2:port: connection refused
        dns.zone.update({"g.test": {"MX": [(10, "mx1.g.test"),
                                           (20, "mx2.g.test")]},
                         "mx1.g.test": {"A": ["127.0.0.2"]},
                         "mx2.g.test": {"A": ["127.0.0.3"]}})
        start_with_sink(sender_inst, second)
        submit(sender_inst, ["gina@g.test"], message("fallback",
                                                     "gina@g.test"))
        got = second.wait_accepted(1)
        assert got[0].rcpts == ["gina@g.test"]
        sender_inst.wait_log("relay=mx2.g.test status=sent")


def test_starttls_required_but_not_offered_is_deferred(dns, sender_inst):
    dns.zone.update({"h.test": {"A": ["127.0.0.1"]}})
    with Sink() as sink:   # no STARTTLS
        start_with_sink(sender_inst, sink, relay_tls_policy="h.test=encrypt")
        submit(sender_inst, ["hank@h.test"], message("secret",
                                                     "hank@h.test"))
        wait_for(lambda: sink.connections >= 2, timeout=20,
                 what="two attempts")
        assert not any(c.upper().startswith("MAIL") for c in sink.commands)
        assert sink.transactions == []
        ids = queue_ids(sender_inst)
        assert len(ids) == 1
        show = sender_inst.check(["queue", "show", ids[0]]).stdout.decode()
        assert re.search(r"TLS", show), show
        assert "status=deferred" in sender_inst.log()


# ---- internal addresses and loops -------------------------------------------

def unfold(text):
    return re.sub(r"\r?\n[ \t]+", " ", text)


def test_internal_targets_are_refused_by_default(dns, sender_inst):
    """An MX (or A) that resolves into loopback/private/link-local space
    -- a DNS rebinding of a public name too -- is not connected to unless
    relay_allowed_internal lists it; the sender gets a bounce saying
    why. At RCPT, an address literal in such a range is refused."""
    dns.zone.update({"c.test": {"MX": [(10, "mx.c.test")]},
                     "mx.c.test": {"A": ["127.0.0.1"]},
                     "d.test": {"A": ["169.254.169.254"]}})
    with Sink() as sink:
        start_with_sink(sender_inst, sink, relay_allowed_internal="")
        submit(sender_inst, ["carol@c.test"], message("rebound",
                                                      "carol@c.test"))
        dsn = wait_inbox(sender_inst, "alice", 1)[0]
        st = unfold(dsn_parts(dsn)[1][1].as_string())
        assert re.search(r"Status: 5\.4\.4", st), st
        assert "127.0.0.1 is loopback" in st, st
        assert "relay_allowed_internal" in st, st
        submit(sender_inst, ["dan@d.test"], message("metadata",
                                                    "dan@d.test"))
        dsn = wait_inbox(sender_inst, "alice", 2)
        assert any("169.254.169.254 is link-local" in unfold(d.decode())
                   for d in dsn), dsn
        s = smtplib.SMTP("127.0.0.1", sender_inst.port("submission"),
                         timeout=15)
        s.starttls(context=client_tls_context())
        s.login("alice", PASSWORD)
        s.mail(ALICE)
        for lit in ("x@[127.0.0.1]", "x@[169.254.169.254]", "x@[10.1.2.3]",
                    "x@[IPv6:::1]", "x@[IPv6:fe80::1]", "x@[0.0.0.0]"):
            code, text = s.rcpt(lit)
            assert code == 550 and text.startswith(b"5.7.1"), (lit, code)
        assert s.rcpt("x@[192.0.2.1]")[0] == 250  # a public one
        s.quit()
        time.sleep(0.5)
        assert sink.connections == 0
    assert "reason=internal_literal" in sender_inst.log()
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_a_target_that_is_ourselves_is_a_loop(dns, sender_inst):
    """An MX whose address is ours, at the port we take mail on, and an
    address literal of ours: 5.4.6, never a connection to ourselves."""
    dns.zone.update({"c.test": {"MX": [(10, "other-name.c.test")]},
                     "other-name.c.test": {"A": ["127.0.0.1"]}})
    sender_inst.configure(relay_port=sender_inst.port("smtp"))
    sender_inst.start()
    submit(sender_inst, ["carol@c.test", "x@[127.0.0.1]"],
           message("loop", "carol@c.test"))
    dsn = wait_inbox(sender_inst, "alice", 1)[0]
    st = unfold(dsn_parts(dsn)[1][1].as_string())
    assert re.search(r"Status: 5\.4\.6", st), st
    assert "loops back to myself" in st, st
    assert "carol@c.test" in st and "x@[127.0.0.1]" in st, st
    assert "event=mail_from proto=smtp" not in sender_inst.log()
    wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


# ---- connections and the smarthost --------------------------------------

def test_one_connection_carries_several_messages(dns, sender_inst):
    dns.zone.update({"k.test": {"A": ["127.0.0.1"]}})
    up = {"ok": False}
    with Sink(greeting="220 sink", rcpt=lambda a: None if up["ok"]
              else "451 4.3.0 not yet") as sink:
        start_with_sink(sender_inst, sink, relay_max_per_destination=1,
                        queue_retry_min=30, queue_retry_max=30)
        for i in range(4):
            submit(sender_inst, ["kim@k.test"], message("batch %d" % i,
                                                        "kim@k.test"))
        wait_for(lambda: sender_inst.log().count("status=deferred") >= 4,
                 what="four deferrals")
        up["ok"] = True
        before = sink.connections
        sender_inst.check(["queue", "retry"])
        sink.wait_accepted(4)
        assert sink.connections - before == 1, sink.connections - before


def make_cert(d, name):
    cert, key = os.path.join(d, "sink.pem"), os.path.join(d, "sink.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=%s" % name,
                    "-addext", "subjectAltName=DNS:%s" % name],
                   check=True, capture_output=True)
    return cert, key


def test_smarthost_with_verified_tls_and_auth(dns, sender_inst):
    cert, key = make_cert(sender_inst.root, "smarthost.test")
    dns.zone.update({"smarthost.test": {"A": ["127.0.0.1"]}})
    pwfile = os.path.join(sender_inst.dir, "smarthost-password")
    with open(pwfile, "w") as f:
        f.write("s3cret-pass\n")
    with Sink(starttls=(cert, key), auth=("relayuser", "s3cret-pass")) as sink:
        sender_inst.configure(smarthost="smarthost.test:%d" % sink.port,
                              smarthost_tls="verify", tls_ca_file=cert,
                              smarthost_user="relayuser",
                              smarthost_password_file=pwfile)
        sender_inst.start()
        submit(sender_inst, ["zed@z.test"], message("via smarthost",
                                                    "zed@z.test"))
        got = sink.wait_accepted(1)
        assert got[0].tls and got[0].auth == "relayuser"
        assert got[0].rcpts == ["zed@z.test"]


def test_smarthost_certificate_must_verify(dns, sender_inst):
    cert, key = make_cert(sender_inst.root, "other-name.test")
    dns.zone.update({"smarthost.test": {"A": ["127.0.0.1"]}})
    with Sink(starttls=(cert, key)) as sink:
        sender_inst.configure(smarthost="smarthost.test:%d" % sink.port,
                              smarthost_tls="verify", tls_ca_file=cert)
        sender_inst.start()
        submit(sender_inst, ["zed@z.test"], message("not verified",
                                                    "zed@z.test"))
        sender_inst.wait_log("status=deferred", timeout=15)
        assert sink.transactions == []


@pytest.mark.parametrize("level", ["may", "encrypt"])
def test_smarthost_auth_only_over_verified_tls(dns, sender_inst, level):
    """A smarthost whose certificate is not checked for its name (here
    self-signed, not in tls_ca_file) could be anyone in the path: the
    password is not sent, the mail waits, the log says why, and
    check-config warns about the setting."""
    cert, key = make_cert(sender_inst.root, "smarthost.test")
    dns.zone.update({"smarthost.test": {"A": ["127.0.0.1"]}})
    pwfile = os.path.join(sender_inst.dir, "smarthost-password")
    with open(pwfile, "w") as f:
        f.write("s3cret-pass\n")
    with Sink(starttls=(cert, key), auth=("relayuser", "s3cret-pass")) as sink:
        sender_inst.configure(smarthost="smarthost.test:%d" % sink.port,
                              smarthost_tls=level,
                              smarthost_user="relayuser",
                              smarthost_password_file=pwfile)
        r = sender_inst.check(["check-config"])
        assert b"AUTH will not be sent" in r.stdout, r.stdout
        sender_inst.start()
        submit(sender_inst, ["zed@z.test"], message("no auth", "zed@z.test"))
        assert sender_inst.wait_log("status=deferred", timeout=15)
        time.sleep(0.5)
        assert not [c for c in sink.commands if c.upper().startswith("AUTH")]
        assert sink.transactions == []
        assert sink.connections >= 1
    log = sender_inst.log()
    assert "was not verified for its name" in log, log[-3000:]
    assert queue_ids(sender_inst) != []


# ---- crash safety ---------------------------------------------------------

def queue_runner_pid(inst):
    pids = re.findall(r"role=queue pid=(\d+) event=queue_started", inst.log())
    return int(pids[-1]) if pids else None


def test_kill9_queue_runner_mid_delivery_loses_nothing(dns, sender_inst):
    dns.zone.update({"m.test": {"A": ["127.0.0.1"]}})
    hold = {"n": 0}

    def delay(tx):
        # the third message: the remote sits on its reply to DATA
        hold["n"] += 1
        return 6.0 if b"Subject: crash 2" in tx.data and hold["n"] <= 3 \
            else 0.0

    with Sink(data_delay=delay) as sink:
        start_with_sink(sender_inst, sink, relay_max_per_destination=1)
        wait_for(lambda: queue_runner_pid(sender_inst), what="queue runner")
        old = queue_runner_pid(sender_inst)
        for i in range(5):
            submit(sender_inst, ["mia@m.test"], message("crash %d" % i,
                                                        "mia@m.test"))
        wait_for(lambda: any(b"Subject: crash 2" in (t.data or b"")
                             for t in sink.transactions),
                 what="the held DATA")
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: queue_runner_pid(sender_inst) not in (None, old),
                 what="a new queue runner")
        sink.wait_accepted(5, timeout=40)
        time.sleep(2)
        subjects = sorted(re.search(rb"Subject: (crash \d)", t.data).group(1)
                          for t in sink.accepted())
        assert subjects == [b"crash %d" % i for i in range(5)], subjects
        wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")


def test_a_bounce_that_fails_is_dropped_not_bounced(dns, sender_inst):
    """A client in relay_networks sends from a remote address; the remote
    refuses it, and then refuses the bounce too: the bounce (from <>) is
    dropped, never bounced again (RFC 5321 section 6.1: no loops)."""
    dns.zone.update({"c.test": {"A": ["127.0.0.1"]}})
    with Sink(rcpt=lambda a: "550 5.7.1 go away") as sink:
        start_with_sink(sender_inst, sink, relay_networks="127.0.0.0/8")
        s = smtplib.SMTP("127.0.0.1", sender_inst.port("smtp"), timeout=15)
        s.sendmail("someone@c.test", ["x@c.test"],
                   b"Subject: from afar\r\n\r\nhi\r\n")
        s.quit()
        wait_for(lambda: queue_ids(sender_inst) == []
                 and "event=removed" in sender_inst.log()
                 and sender_inst.log().count("status=bounced") >= 2,
                 what="both refusals")
        time.sleep(1.5)
        mails = [c for c in sink.commands if c.upper().startswith("MAIL")]
        assert len(mails) == 2, mails
        assert "<someone@c.test>" in mails[0]
        assert "<>" in mails[1]
        assert queue_ids(sender_inst) == []


def test_ipv6_first_then_ipv4(dns, sender_inst):
    """A host with AAAA and A: IPv6 is tried first; when nothing answers
    there, IPv4 is."""
    with Sink(host="::1") as v6:
        with Sink(host="127.0.0.1", port=v6.port) as v4:
            dns.zone.update({"six.test": {"AAAA": ["::1"],
                                          "A": ["127.0.0.1"]}})
            start_with_sink(sender_inst, v6)
            submit(sender_inst, ["ada@six.test"], message("over v6",
                                                          "ada@six.test"))
            v6.wait_accepted(1)
            assert v4.connections == 0
    with Sink(host="127.0.0.1") as v4only:
        dns.zone.update({"four.test": {"AAAA": ["::1"],
                                       "A": ["127.0.0.1"]}})
        sender_inst.configure(relay_port=v4only.port)
        sender_inst.reload()
        submit(sender_inst, ["bo@four.test"], message("over v4",
                                                      "bo@four.test"))
        v4only.wait_accepted(1)


def test_smtputf8_needs_the_remote_to_offer_it(dns, sender_inst):
    dns.zone.update({"u.test": {"A": ["127.0.0.1"]}})
    utf8_rcpt = "j\u00f6rg@u.test"
    msg = ("From: alice@a.test\r\nTo: %s\r\nSubject: gr\u00fc\u00dfe\r\n\r\n"
           "hallo\r\n" % utf8_rcpt).encode("utf-8")

    def send():
        s = smtplib.SMTP("127.0.0.1", sender_inst.port("submission"),
                         timeout=15)
        s.starttls(context=client_tls_context())
        s.login("alice", PASSWORD)
        s.sendmail(ALICE, [utf8_rcpt], msg, mail_options=["SMTPUTF8"])
        s.quit()

    with Sink() as plain:   # no SMTPUTF8: never sent, bounced (RFC 6531 3.4)
        start_with_sink(sender_inst, plain)
        send()
        dsn = wait_inbox(sender_inst, "alice", 1)[0]
        st = dsn_parts(dsn)[1][1].as_string()
        assert re.search(r"Status: 5\.6\.7", st), st
        assert plain.transactions == []
    with Sink(extensions=("PIPELINING", "8BITMIME", "SMTPUTF8")) as utf8:
        sender_inst.configure(relay_port=utf8.port)
        sender_inst.reload()
        send()
        got = utf8.wait_accepted(1)
        assert "SMTPUTF8" in got[0].mail_line.upper()
        assert got[0].rcpts == [utf8_rcpt]
        assert got[0].data.endswith(msg)


def test_reload_lets_a_delivery_finish_and_sends_it_once(dns, sender_inst):
    """SIGHUP restarts the queue runner; the transaction it has under way
    finishes and is recorded first, so the new runner does not send the
    message again."""
    dns.zone.update({"r.test": {"A": ["127.0.0.1"]}})
    with Sink(data_delay=2.0) as sink:
        start_with_sink(sender_inst, sink)
        old = wait_for(lambda: queue_runner_pid(sender_inst),
                       what="queue runner")
        submit(sender_inst, ["rob@r.test"], message("reload", "rob@r.test"))
        assert sink.in_data.wait(10)
        sender_inst.reload(settle=0)
        sink.wait_accepted(1)
        wait_for(lambda: queue_runner_pid(sender_inst) not in (None, old),
                 what="the new queue runner")
        wait_for(lambda: queue_ids(sender_inst) == [], what="empty queue")
        time.sleep(2)
        mails = [c for c in sink.commands if c.upper().startswith("MAIL")]
        assert len(mails) == 1, mails
        assert "event=removed" in sender_inst.log()


def test_backup_mx_sends_only_to_better_mx(dns, sender_inst):
    """RFC 5321 section 5.1: when our own name is among the MX hosts,
    only MX records better than ours may be used; if ours is the best,
    the mail would loop and is bounced (5.4.6)."""
    dns.zone.update({"bk.test": {"MX": [(5, "primary.bk.test"),
                                        (10, "mx.a.test"),
                                        (20, "worse.bk.test")]},
                     "primary.bk.test": {"A": ["127.0.0.1"]},
                     "worse.bk.test": {"A": ["127.0.0.3"]},
                     "lp.test": {"MX": [(10, "MX.A.TEST."),
                                        (20, "other.lp.test")]},
                     "other.lp.test": {"A": ["127.0.0.1"]}})
    with Sink(host="127.0.0.1") as primary:
        with Sink(host="127.0.0.3", port=primary.port) as worse:
            start_with_sink(sender_inst, primary)
            submit(sender_inst, ["bea@bk.test"], message("backup",
                                                         "bea@bk.test"))
            primary.wait_accepted(1)
            submit(sender_inst, ["lou@lp.test"], message("loop",
                                                         "lou@lp.test"))
            dsn = wait_inbox(sender_inst, "alice", 1)[0]
            st = dsn_parts(dsn)[1][1].as_string()
            assert re.search(r"Status: 5\.4\.6", st), st
            assert len(primary.accepted()) == 1
            assert worse.connections == 0


def test_internationalized_domain_is_looked_up_by_its_a_labels(dns,
                                                               sender_inst):
    """SMTPUTF8 to j\u00f6rg@b\u00fccher.test: DNS is asked for
    xn--bcher-kva.test (RFC 5891), the remote gets the UTF-8 address."""
    dns.zone.update({"xn--bcher-kva.test": {"A": ["127.0.0.1"]}})
    rcpt = "j\u00f6rg@b\u00fccher.test"
    msg = ("From: alice@a.test\r\nTo: %s\r\nSubject: idn\r\n\r\nhi\r\n"
           % rcpt).encode("utf-8")
    with Sink(extensions=("PIPELINING", "8BITMIME", "SMTPUTF8")) as sink:
        start_with_sink(sender_inst, sink)
        s = smtplib.SMTP("127.0.0.1", sender_inst.port("submission"),
                         timeout=15)
        s.starttls(context=client_tls_context())
        s.login("alice", PASSWORD)
        s.sendmail(ALICE, [rcpt], msg, mail_options=["SMTPUTF8"])
        s.quit()
        got = sink.wait_accepted(1)
        assert got[0].rcpts == [rcpt]
