"""SMTP limits: timeouts (RFC 5321 4.5.3.2), connections per IP,
recipients per message (4.5.3.1.8), line length (4.5.3.1.4)."""

import socket
import re
import time

from conftest import simple_message
from test_smtp import SmtpRaw, wait_messages


def read_until_eof(r, timeout):
    """Everything the server sends until it closes, within timeout."""
    r.sock.settimeout(timeout)
    data = r.buf
    try:
        while True:
            chunk = r.sock.recv(4096)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False


def test_smtp_idle_timeout_after_command(inst):
    inst.configure(smtp_timeout=2)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    assert r.cmd("EHLO c.example").startswith(b"250")
    t0 = time.monotonic()
    data, closed = read_until_eof(r, 10)
    took = time.monotonic() - t0
    assert closed, data
    assert data.startswith(b"421 4.4.2 ") and b"timeout" in data, data
    assert 1.5 < took < 6, took
    assert "event=timeout proto=smtp" in inst.log()


def test_smtp_timeout_in_data_delivers_nothing(inst):
    inst.configure(smtp_timeout=2)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c.example")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")
    assert r.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    assert r.cmd("DATA").startswith(b"354")
    r.send(b"Subject: half\r\n\r\nthe client stalls here\r\n")
    data, closed = read_until_eof(r, 10)
    assert closed and data.startswith(b"421 4.4.2 "), data
    assert wait_messages(inst, "alice", 1, timeout=1.0) == []


def test_smtp_greeting_wait_uses_login_timeout(inst):
    # before the first command the shorter login_timeout applies
    inst.configure(login_timeout=1, smtp_timeout=30)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    t0 = time.monotonic()
    data, closed = read_until_eof(r, 10)
    assert closed and data.startswith(b"421 4.4.2 "), data
    assert time.monotonic() - t0 < 5


def test_smtp_slow_client_within_timeout_is_served(inst):
    inst.configure(smtp_timeout=2)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<bob@example.org>")
    r.cmd("RCPT TO:<alice@localhost>")
    assert r.cmd("DATA").startswith(b"354")
    # every pause is shorter than the timeout: the session goes on
    for i in range(4):
        r.send(b"X-Slow: %d\r\n" % i)
        time.sleep(1.0)
    r.send(b"\r\nbody\r\n.\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    assert len(wait_messages(inst, "alice", 1)) == 1


def test_smtp_connections_per_ip(inst):
    # one budget per address across all workers and protocols
    inst.configure(max_connections_per_ip=3, workers=2)
    inst.start()
    # the readiness probe (POP3) counts too: one budget per address
    assert inst.wait_log("event=disconnect")
    held = [SmtpRaw(inst.port("smtp")) for _ in range(3)]
    for h in held:
        assert h.greeting.startswith(b"220 ")
    extra = socket.create_connection(("127.0.0.1", inst.port("smtp")),
                                     timeout=5)
    data = b""
    try:
        while True:
            chunk = extra.recv(512)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    extra.close()
    assert data.startswith(b"421 4.7.0"), data
    assert "reason=too_many_connections" in inst.log()
    held[0].cmd("QUIT")
    held[0].close()
    time.sleep(0.3)
    again = SmtpRaw(inst.port("smtp"))
    assert again.greeting.startswith(b"220 ")
    for h in held[1:] + [again]:
        h.close()


def test_smtp_recipient_limit(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<bob@example.org>")
    # RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted
    for i in range(100):
        assert r.cmd("RCPT TO:<alice+%d@localhost>" % i).startswith(
            b"250 2.1.5"), i
    assert r.cmd("RCPT TO:<alice+x@localhost>").startswith(b"452 4.5.3")
    assert r.cmd("DATA").startswith(b"354")
    r.send(simple_message(1).replace(b"\n", b"\r\n") + b".\r\n")
    assert r.reply().startswith(b"250 2.0.0")
    r.cmd("QUIT")
    # 100 recipients that are one mailbox: one copy in the store
    assert len(wait_messages(srv, "alice", 1)) == 1


def test_smtp_command_line_limit(srv):
    r = SmtpRaw(srv.port("smtp"))
    r.cmd("EHLO c.example")
    # 4.5.3.1.4: 512 octets including CRLF; MAIL with SIZE/BODY may grow
    # by the extensions' allowance, but a 5000-octet line is too long
    rep = r.cmd("MAIL FROM:<%s@example.org>" % ("a" * 5000))
    assert rep.startswith(b"500 5.5.2"), rep
    # the session goes on
    assert r.cmd("NOOP").startswith(b"250")
    r.close()


def test_unknown_recipients_are_slowed_then_cut_off(inst):
    """RCPT TO tells which users exist: a stranger on port 25 gets its
    first unknown-recipient replies at once, each one past the soft
    limit late (a timer: others are served meanwhile), and after the
    hard limit 421 and the end of the session. The count is per client
    address across sessions, so reconnecting does not reset it."""
    inst.configure(workers=1, smtp_rcpt_error_soft_limit=2,
                   smtp_rcpt_error_hard_limit=4,
                   smtp_rcpt_error_delay_ms=1500)
    inst.start()
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c.example")
    assert r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")

    def timed(cmd):
        t0 = time.monotonic()
        rep = r.cmd(cmd)
        return rep, time.monotonic() - t0

    for i in range(2):
        rep, took = timed("RCPT TO:<nobody%d@localhost>" % i)
        assert rep.startswith(b"550 5.1.1") and took < 1.0, (rep, took)
    # a known user is never slowed
    rep, took = timed("RCPT TO:<alice@localhost>")
    assert rep.startswith(b"250") and took < 1.0, (rep, took)
    # past the soft limit: late; meanwhile another client is served
    r.send(b"RCPT TO:<nobody2@localhost>\r\n")
    t0 = time.monotonic()
    other = SmtpRaw(inst.port("smtp"))
    assert other.cmd("NOOP").startswith(b"250")
    assert time.monotonic() - t0 < 1.0
    other.close()
    rep = r.reply()
    took = time.monotonic() - t0
    assert rep.startswith(b"550 5.1.1") and 1.4 < took < 5, (rep, took)
    rep, took = timed("RCPT TO:<nobody3@localhost>")
    assert rep.startswith(b"550 5.1.1") and 1.4 < took < 5, (rep, took)
    # the fifth is past the hard limit: 421, and the session ends
    rep, took = timed("RCPT TO:<nobody4@localhost>")
    assert rep.startswith(b"421 4.7.0") and took > 1.4, (rep, took)
    data, closed = read_until_eof(r, 5)
    assert closed, data
    # a new session from the same address starts where this one ended
    r = SmtpRaw(inst.port("smtp"))
    r.cmd("EHLO c.example")
    r.cmd("MAIL FROM:<bob@example.org>")
    rep, took = timed("RCPT TO:<alice@localhost>")
    assert rep.startswith(b"250"), rep
    rep, took = timed("RCPT TO:<nobody5@localhost>")
    assert rep.startswith(b"421 4.7.0") and took > 1.4, (rep, took)
    r.close()
    log = inst.log()
    assert "event=rcpt_throttle" in log and "action=disconnect" in log
    assert "reason=too_many_unknown_recipients" in log


def test_unknown_recipient_count_is_shared_by_workers(inst):
    """The count per address is the server's, not a worker's: two
    sessions held at once on two workers (one connection per worker)
    add up, so more workers give a prober no more replies."""
    inst.configure(workers=2, worker_max_connections=1,
                   smtp_rcpt_error_soft_limit=100,
                   smtp_rcpt_error_hard_limit=6)
    inst.start()

    def session():
        # a worker that is full may still take a connection in the
        # instant before it stops accepting: it answers 421 and closes
        for _ in range(10):
            r = SmtpRaw(inst.port("smtp"))
            try:
                r.cmd("EHLO c.example")
                if r.cmd("MAIL FROM:<bob@example.org>").startswith(b"250"):
                    return r
            except (EOFError, OSError):
                pass
            r.close()
            time.sleep(0.2)
        raise AssertionError("no session")
    a = session()
    b = session()  # the other worker: the first is full
    pids = set(re.findall(r"pid=(\d+) event=mail_from", inst.log())) or \
        set(re.findall(r"pid=(\d+) event=connect proto=smtp", inst.log()))
    assert len(pids) == 2, pids
    replies = []
    for i in range(8):
        r = (a, b)[i % 2]
        replies.append(r.cmd("RCPT TO:<nobody%d@localhost>" % i)[:3])
        if replies[-1] == b"421":
            break
    # six unknown recipients in all, then the cut, whichever worker
    assert replies == [b"550"] * 6 + [b"421"], replies
    a.close()
    b.close()
