"""When the supervisor dies (kill -9, the OOM killer, a crash), every child
notices at once and exits, releasing the ports (issue 11): workers (a
retiring one after SIGHUP too), the auth process and the queue runner.
A new `serve` on the same config then starts and serves."""

import errno
import os
import re
import signal
import socket
import stat
import time

import imaputil
from conftest import (PORT_OFFSETS, _port_free, children_of,
                      simple_message)
from test_smtp import SmtpRaw

# The bound: every port free, every process gone, within this.
GONE_WITHIN = 1.0


def _alive(pid):
    """True while pid exists and is not a zombie (an orphan's zombie may
    wait for a reaper that never comes in a container; it holds nothing)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _refused(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def _unix_refused(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return False
    except OSError as e:
        return e.errno in (errno.ECONNREFUSED, errno.ENOENT)
    finally:
        s.close()


def _dropped(sock, timeout=2.0):
    """The server closed sock (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def test_kill_supervisor_frees_ports_and_children(srv):
    srv.deliver_ok("alice", simple_message(1))
    lmtp_sock = srv.path_setting("lmtp_socket", "lmtp.sock")
    assert stat.S_ISSOCK(os.stat(lmtp_sock).st_mode)
    time.sleep(0.3)

    # An idle IMAP session, whose worker then retires on SIGHUP (it lives
    # on until its last session ends).
    imap = imaputil.logged_in(srv)
    imap.ok("SELECT INBOX")
    srv.reload()
    assert srv.wait_log("event=reloaded")
    # A POP3 session that deleted a message (nothing may be committed),
    # and an SMTP transaction stopped in the middle of DATA.
    pop = srv.raw()
    pop.login()
    pop.cmd_ok("DELE 1")
    smtp = SmtpRaw(srv.port("smtp"))
    assert smtp.cmd("EHLO client.example").startswith(b"250")
    assert smtp.cmd("MAIL FROM:<bob@example.org>").startswith(b"250")
    assert smtp.cmd("RCPT TO:<alice@localhost>").startswith(b"250")
    assert smtp.cmd("DATA").startswith(b"354")
    smtp.send(b"Subject: half\r\n\r\nthe first half of a body\r\n")

    assert srv.wait_log("event=retiring")
    time.sleep(0.5)  # the old auth process and queue runner are gone
    pids = [p for p in children_of(srv.pid) if _alive(p)]
    # auth, queue, the new workers and the retiring one
    assert len(pids) >= 4, pids

    os.kill(srv.pid, signal.SIGKILL)
    t0 = time.monotonic()
    srv.proc.wait()
    ports = [srv.port(n) for n in PORT_OFFSETS]
    while time.monotonic() - t0 < 5:
        left = [p for p in pids if _alive(p)]
        busy = [p for p in ports if not _refused(p)]
        if not left and not busy and _unix_refused(lmtp_sock):
            break
        time.sleep(0.02)
    took = time.monotonic() - t0
    left = [p for p in pids if _alive(p)]
    assert not left, "children outlived the supervisor: %r\n%s" % (
        left, srv.log()[-3000:])
    assert not [p for p in ports if not _refused(p)]
    assert all(_port_free(p) for p in ports)
    assert _unix_refused(lmtp_sock)
    print("ports free and children gone %.3f s after the kill" % took)
    assert took <= GONE_WITHIN, "took %.2fs" % took
    # every session was dropped, none kept by an orphan
    for s in (imap.sock, pop.sock, smtp.sock):
        assert _dropped(s)
    log = srv.log()
    # each child says why it went
    for pid in pids:
        assert re.search(r"pid=%d event=supervisor_gone" % pid, log), (
            pid, log[-3000:])

    # The same config starts again: the stale LMTP socket is replaced.
    srv.proc = None
    srv.logf.close()
    srv.start()
    p = srv.login()
    assert p.stat()[0] == 1  # the DELE was never committed
    p.quit()
    c = imaputil.logged_in(srv)
    c.ok("SELECT INBOX")
    c.close()
    # the half-sent message was not delivered
    assert len(srv.message_files("alice")) == 1
