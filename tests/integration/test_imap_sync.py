"""Every device in sync (issue #4): several IMAP sessions, IDLE, POP3 and
IMAP on one mailbox, restarts.  The moments at which untagged EXISTS,
EXPUNGE and FETCH may be sent are those of RFC 9051 7.5.1."""

import smtplib
import time

import pytest

from conftest import IO_TIMEOUT, simple_message
# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import deliver_n, logged_in

IDLE_LIMIT = 1.0  # issue #4: an IDLE client hears of new mail within 1 s
N_IDLE = 10       # enough to land on every worker (one per core)


def two_sessions(srv, n=3, box="INBOX"):
    deliver_n(srv, n)
    a = logged_in(srv)
    b = logged_in(srv)
    a.select(box)
    b.select(box)
    return a, b


def test_store_seen_by_other_session(srv):
    a, b = two_sessions(srv)
    a.ok("STORE 2 +FLAGS (\\Flagged $Work)")
    # RFC 9051 7.5.1: flag changes are reported at the next command
    r = b.ok("NOOP")
    f = r.fetch()
    assert 2 in f, r
    assert {x.decode().lower() for x in f[2]["FLAGS"]} == {"\\flagged",
                                                          "$work"}, r
    a.ok("STORE 2 -FLAGS (\\Flagged)")
    f = b.ok("NOOP").fetch()
    assert {x.decode().lower() for x in f[2]["FLAGS"]} == {"$work"}, f
    # RFC 9051 7.5.2: for an IMAP4rev2 client, unsolicited FETCH
    # responses carry the UID
    c = logged_in(srv)
    c.ok("ENABLE IMAP4rev2")
    c.select()
    a.ok("STORE 1 +FLAGS (\\Answered)")
    f = c.ok("NOOP").fetch()
    assert "UID" in f[1] and "FLAGS" in f[1], f
    c.logout()
    a.logout()
    b.logout()


def test_expunge_and_new_mail_seen_by_other_session(srv):
    a, b = two_sessions(srv, 4)
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    a.ok("EXPUNGE")
    r = b.ok("NOOP")
    assert r.data("EXPUNGE") == [2], r
    # new mail: EXISTS (RFC 9051 7.4.1)
    srv.deliver_ok("alice", simple_message(10))
    r = b.ok("NOOP")
    assert r.data("EXISTS") == [4], r
    f, _ = b.fetch("4", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"test message 10" in f[4]["BODY[HEADER.FIELDS (SUBJECT)]"]
    a.logout()
    b.logout()


def test_append_seen_by_other_session(srv):
    a, b = two_sessions(srv, 1)
    assert a.append("INBOX", b"Subject: from a\r\n\r\nx\r\n").status == "OK"
    r = b.ok("NOOP")
    assert r.data("EXISTS") == [2], r
    a.logout()
    b.logout()


def test_no_expunge_during_fetch_store_search(srv):
    """RFC 9051 7.5.1: no EXPUNGE while responding to FETCH, STORE or
    SEARCH; it comes at NOOP (and the sequence numbers stay valid until
    then)."""
    a, b = two_sessions(srv, 4)
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    time.sleep(0.3)  # let any change notification reach a's worker
    r = a.cmd("FETCH 1:4 (FLAGS)")
    assert not r.data("EXPUNGE"), "EXPUNGE during FETCH: %r" % r
    # RFC 9051 7.1: a server that cannot return the expunged message's
    # data says NO [EXPUNGEISSUED] (or it returns what it still has)
    assert r.status == "OK" or (r.status == "NO" and
                                r.code_named("EXPUNGEISSUED")), r
    r = a.cmd("STORE 3 +FLAGS (\\Flagged)")
    assert not r.data("EXPUNGE"), "EXPUNGE during STORE: %r" % r
    r = a.cmd("SEARCH ALL")
    assert not r.data("EXPUNGE"), "EXPUNGE during SEARCH: %r" % r
    assert r.data("SEARCH") == [[b"1", b"2", b"3", b"4"]], r
    # the flagged message is still number 3 until EXPUNGE is announced
    r = a.ok("NOOP")
    assert r.data("EXPUNGE") == [2], r
    r = a.ok("SEARCH FLAGGED")
    assert r.data("SEARCH") == [[b"2"]], r
    a.logout()
    b.logout()


def _idle_client(srv):
    c = logged_in(srv)
    c.select()
    pre = c.idle()
    return c, pre


def _smtp(srv, msg):
    msg = msg.replace(b"\n", b"\r\n")  # postern refuses bare LF (BDAT/DATA)
    s = smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=IO_TIMEOUT)
    s.sendmail("bob@example.org", ["alice@localhost"], msg)
    s.quit()


def _lmtp(srv, msg):
    msg = msg.replace(b"\n", b"\r\n")
    s = smtplib.LMTP("127.0.0.1", srv.port("lmtp"), timeout=IO_TIMEOUT)
    refused = s.sendmail("bob@example.org", ["alice@localhost"], msg)
    assert not refused
    s.quit()


def _deliver(srv, msg):
    srv.deliver_ok("alice", msg)


def _append(srv, msg):
    c = logged_in(srv)
    assert c.append("INBOX", msg.replace(b"\n", b"\r\n")).status == "OK"
    c.logout()


@pytest.mark.parametrize("how", ["smtp", "lmtp", "deliver", "append"])
def test_idle_exists_within_one_second(srv, how):
    deliver_n(srv, 1)
    c, _ = _idle_client(srv)
    time.sleep(0.2)
    send = {"smtp": _smtp, "lmtp": _lmtp, "deliver": _deliver,
            "append": _append}[how]
    send(srv, simple_message(7))
    t_done = time.monotonic()
    line, secs, seen = c.idle_wait(rb"^\* 2 EXISTS", 5.0)
    assert line is not None, "no EXISTS within 5 s after %s: %r" % (how,
                                                                   seen)
    lag = time.monotonic() - t_done
    assert lag < IDLE_LIMIT, "EXISTS %.2fs after %s" % (lag, how)
    r = c.idle_done()
    assert r.status == "OK", r
    f, _ = c.fetch(2, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"test message 7" in f[2]["BODY[HEADER.FIELDS (SUBJECT)]"]
    c.logout()


def test_idle_sees_flags_and_expunge(srv):
    deliver_n(srv, 3)
    c, _ = _idle_client(srv)
    other = logged_in(srv)
    other.select()
    other.ok("STORE 1 +FLAGS (\\Seen)")
    line, secs, seen = c.idle_wait(rb"^\* 1 FETCH \(.*FLAGS \([^)]*\\Seen", 3.0)
    assert line is not None and secs < IDLE_LIMIT + 0.5, seen
    other.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    # RFC 2177 / RFC 9051 6.3.13: EXPUNGE may be sent during IDLE
    line, secs, seen = c.idle_wait(rb"^\* 3 EXPUNGE", 3.0)
    assert line is not None, seen
    r = c.idle_done()
    assert r.status == "OK"
    assert c.ok("NOOP").data("EXPUNGE") == []
    other.logout()
    c.logout()


def test_idle_done_and_bad_continuation(srv):
    c, pre = _idle_client(srv)
    # RFC 9051 6.3.13 only defines DONE; anything else must not be taken
    # as a command: it is refused (BAD, tagged or untagged) and IDLE ends
    c.send("t99 NOOP\r\n")
    r = c.finish(c.idle_tag)
    assert r.status == "BAD" or any(u.startswith(b"* BAD")
                                    for u in r.untagged), r
    assert not any(u.startswith(b"t99 ") for u in r.untagged), r
    assert c.ok("NOOP")
    c.idle()
    r = c.idle_done()
    assert r.status == "OK"
    c.logout()


def _pop3_login(srv):
    return srv.login()


def test_pop3_dele_appears_as_expunge(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    c.select()
    p = _pop3_login(srv)
    p.dele(2)
    p.quit()
    r = c.ok("NOOP")
    assert r.data("EXPUNGE") == [2], r
    f, _ = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = [f[i]["BODY[HEADER.FIELDS (SUBJECT)]"] for i in sorted(f)]
    assert [b"test message 1" in subjects[0], b"test message 3" in
            subjects[1]] == [True, True], subjects
    c.logout()


def test_pop3_sees_imap_append_and_imap_sees_pop3_rset(srv):
    c = logged_in(srv)
    msg = b"From: x@example.org\r\nSubject: via imap\r\n\r\nhello pop3\r\n"
    assert c.append("INBOX", msg).status == "OK"
    p = _pop3_login(srv)
    count, size = p.stat()
    assert count == 1 and size == len(msg)
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == msg
    p.dele(1)
    p.rset()
    p.quit()
    c.select()
    f, _ = c.fetch("1", "(BODY.PEEK[] FLAGS)")
    assert f[1]["BODY[]"] == msg
    c.logout()


def test_uids_stable_across_restart(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    r = c.select()
    uv = r.code_named("UIDVALIDITY")
    f, _ = c.fetch("1:*", "(UID FLAGS)")
    uids = [int(f[i]["UID"]) for i in sorted(f)]
    c.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    c.ok("EXPUNGE")
    c.ok("STORE 1 +FLAGS (Kw1)")
    c.logout()
    srv.restart()
    c = logged_in(srv)
    r = c.select()
    assert r.code_named("UIDVALIDITY") == uv, (uv, r)
    f, _ = c.fetch("1:*", "(UID FLAGS)")
    assert [int(f[i]["UID"]) for i in sorted(f)] == uids[:2]
    assert {x.decode().lower() for x in f[1]["FLAGS"]} == {"kw1"}, f
    c.logout()
    # UIDs are never reused (RFC 9051 2.3.1.1): the expunged UID stays gone
    srv.deliver_ok("alice", simple_message(4))
    c = logged_in(srv)
    r = c.select()
    f, _ = c.fetch("3", "(UID)")
    assert int(f[3]["UID"]) > uids[-1], (f, uids)
    assert int(r.code_named("UIDNEXT").split()[1]) > int(f[3]["UID"])
    c.logout()


def test_uidnext_tracks_other_sessions(srv):
    a, b = two_sessions(srv, 1)
    un = int(a.select().code_named("UIDNEXT").split()[1])
    r = b.append("INBOX", b"Subject: x\r\n\r\nx\r\n")
    uid = int(r.code_named("APPENDUID").split()[2])
    assert uid >= un
    r = a.ok("NOOP")
    assert r.data("EXISTS") == [2], r
    f, _ = a.fetch("2", "(UID)")
    assert int(f[2]["UID"]) == uid
    a.logout()
    b.logout()


def test_many_idle_clients_all_hear_new_mail(srv):
    """Sessions spread over the worker processes: every one of them
    hears of one delivery within the limit."""
    deliver_n(srv, 1)
    clients = []
    for _ in range(N_IDLE):
        c = logged_in(srv)
        c.select()
        c.idle()
        clients.append(c)
    time.sleep(0.3)
    srv.deliver_ok("alice", simple_message(2))
    t_done = time.monotonic()
    late = []
    for i, c in enumerate(clients):
        left = max(0.05, t_done + IDLE_LIMIT - time.monotonic())
        line, _, seen = c.idle_wait(rb"^\* 2 EXISTS", left)
        if line is None:
            late.append((i, seen))
    assert not late, "%d of %d IDLE sessions did not hear within %.1fs: %r" \
        % (len(late), N_IDLE, IDLE_LIMIT, late[:3])
    for c in clients:
        assert c.idle_done().status == "OK"
        c.logout()


def test_move_seen_by_other_session(srv):
    a, b = two_sessions(srv, 3)
    a.ok("MOVE 2 Trash")
    r = b.ok("NOOP")
    assert r.data("EXPUNGE") == [2], r
    c = logged_in(srv)
    r = c.select("Trash")
    assert r.data("EXISTS") == [1], r
    for x in (a, b, c):
        x.logout()
