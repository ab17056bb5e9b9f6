"""Command line, configuration, signals, worker restarts, privileges."""

import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import (PASSWORD, PORT_OFFSETS, Instance, children_of,
                      proc_uid, simple_message)
from test_conn_limits import connect, first_line


def out_of(r):
    return (r.stdout + r.stderr).decode("utf-8", "replace")


# ---- help ----------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["init", "--help"],
                                  ["serve", "--help"], ["user", "--help"],
                                  ["deliver", "--help"],
                                  ["check-config", "--help"]])
def test_help(bare, args):
    r = bare.run_raw(args)
    assert r.returncode == 0, out_of(r)
    assert re.search(r"usage", out_of(r), re.I), out_of(r)


def test_unknown_subcommand(bare):
    r = bare.run_raw(["frobnicate"])
    assert r.returncode != 0
    assert out_of(r).strip()


# ---- init ----------------------------------------------------------------

def test_init_creates_instance(bare):
    bare.init()
    d = bare.dir
    for p in ("postern.conf", "tls/cert.pem", "tls/key.pem", "users"):
        assert os.path.isfile(os.path.join(d, p)), p
    assert os.path.isdir(os.path.join(d, "mail"))
    assert bare.user_lines() == []  # comments allowed
    conf = bare.read_config()
    assert "127.0.0.1:%d" % (bare.base + 110) in conf
    assert "127.0.0.1:%d" % (bare.base + 995) in conf
    for name in ("imap", "imaps", "smtp", "submission", "submissions", "lmtp"):
        assert "127.0.0.1:%d" % bare.port(name) in conf, name
    # key not readable by others
    mode = os.stat(os.path.join(d, "tls", "key.pem")).st_mode
    assert mode & 0o007 == 0, oct(mode)
    # certificate is a valid X.509 certificate
    r = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in",
                        os.path.join(d, "tls", "cert.pem")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    if os.geteuid() == 0:
        assert bare.get("run_user"), conf
    r = bare.run(["check-config"])
    assert r.returncode == 0, out_of(r)


def test_init_default_port_base(bare):
    r = bare.run_raw(["init", bare.dir])
    assert r.returncode == 0, out_of(r)
    conf = bare.read_config()
    assert "127.0.0.1:2110" in conf and "127.0.0.1:2995" in conf, conf


def test_init_refuses_overwrite(bare):
    bare.init()
    conf_before = bare.read_config()
    with open(os.path.join(bare.dir, "tls", "cert.pem"), "rb") as f:
        cert_before = f.read()
    bare.add_user("alice")
    r = bare.run_raw(["init", bare.dir, "--port-base", str(bare.base + 1)])
    assert r.returncode != 0, out_of(r)
    assert out_of(r).strip()
    assert bare.read_config() == conf_before
    with open(os.path.join(bare.dir, "tls", "cert.pem"), "rb") as f:
        assert f.read() == cert_before
    assert bare.user_lines()[0].startswith("alice:")


# ---- check-config ----------------------------------------------------------

def test_check_config_ok_with_comments(inst):
    with open(inst.conf, "a") as f:
        f.write("\n# a comment\n   # indented comment\n\n")
    inst.set("log_level", "info")
    r = inst.run(["check-config"])
    assert r.returncode == 0, out_of(r)


def _append(inst, text):
    with open(inst.conf) as f:
        n = len(f.read().splitlines())
    with open(inst.conf, "a") as f:
        f.write(text + "\n")
    return n + 1


@pytest.mark.parametrize("line", [
    "no_such_key = 1",
    "pop3_listn = 127.0.0.1:1110",
    "workers = many",
    "allow_plaintext_auth = maybe",
    "pop3_idle_timeout = 10",
    "auth_fail_limit = -3",
    "pop3_dele_mode = shred",
    "log_level = chatty",
    "just some words",
    "pop3_listen = not-an-address",
])
def test_check_config_error_has_path_and_line(inst, line):
    n = _append(inst, line)
    r = inst.run(["check-config"])
    assert r.returncode != 0, out_of(r)
    assert "%s:%d:" % (inst.conf, n) in out_of(r), out_of(r)


def test_check_config_reports_every_error(inst):
    a = _append(inst, "bogus_one = 1")
    _append(inst, "# fine")
    b = _append(inst, "bogus_two = 2")
    r = inst.run(["check-config"])
    assert r.returncode != 0
    o = out_of(r)
    assert "%s:%d:" % (inst.conf, a) in o and "%s:%d:" % (inst.conf, b) in o, o


def test_check_config_missing_file(bare):
    r = bare.run_raw(["-c", "/nonexistent/postern.conf", "check-config"])
    assert r.returncode != 0
    assert "/nonexistent/postern.conf" in out_of(r)


def test_serve_refuses_bad_config(inst):
    n = _append(inst, "unknown_thing = yes")
    r = inst.run(["serve"], timeout=20)
    assert r.returncode != 0
    assert "%s:%d:" % (inst.conf, n) in out_of(r), out_of(r)


# ---- users -----------------------------------------------------------------

def test_user_list_add_del(inst):
    inst.add_user("bob", "bob-pw")
    r = inst.check(["user", "list"])
    names = r.stdout.decode().split()
    assert "alice" in names and "bob" in names, r.stdout
    assert PASSWORD not in out_of(r)
    assert inst.run(["user", "add", "bob"], input="x\n").returncode != 0
    inst.check(["user", "del", "bob"])
    names = inst.check(["user", "list"]).stdout.decode().split()
    assert "bob" not in names and "alice" in names
    assert inst.run(["user", "del", "bob"]).returncode != 0


@pytest.mark.parametrize("name", ["a:b", "../etc", "", "a/b", "bad name",
                                  ".hidden"])
def test_user_add_rejects_bad_names(inst, name):
    r = inst.run(["user", "add", name], input="pw\n")
    assert r.returncode != 0, name
    assert [l.split(":")[0] for l in inst.user_lines()] == ["alice"]


def test_user_add_empty_password_refused(inst):
    r = inst.run(["user", "add", "nopw"], input="\n")
    assert r.returncode != 0


def test_user_passwd_and_reload(srv):
    srv.check(["user", "passwd", "alice"], input="New-Password-1\n")
    srv.reload()
    r = srv.raw()
    r.login("alice", "New-Password-1")
    r.cmd_ok("QUIT")
    r = srv.raw()
    r.cmd("USER alice")
    assert r.cmd("PASS " + PASSWORD).startswith(b"-ERR")
    r.close()


# ---- deliver ---------------------------------------------------------------

def test_deliver_exit_codes(inst):
    assert inst.deliver("alice", simple_message(1)).returncode == 0
    r = inst.deliver("nosuchuser", simple_message(2))
    assert r.returncode == 67, out_of(r)
    r = inst.deliver("alice", b"")
    assert r.returncode == 65, out_of(r)
    assert len(inst.message_files("alice")) == 1


def test_deliver_bad_config_is_temp_failure_or_error(bare):
    r = bare.run_raw(["-c", "/nonexistent/postern.conf", "deliver", "alice"],
                     input=simple_message(1))
    assert r.returncode not in (0, 65, 67), r.returncode


def test_deliver_while_serving_and_bare_lf(srv):
    srv.deliver_ok("alice", b"Subject: lf\n\na\nb\n")
    p = srv.login()
    resp, lines, octets = p.retr(1)
    assert lines == [b"Subject: lf", b"", b"a", b"b"]
    assert p.list(1) == b"+OK 1 %d" % len(b"Subject: lf\r\n\r\na\r\nb\r\n")
    p.quit()


# ---- serve: logs, signals, workers, timeouts --------------------------------

def test_log_is_key_value(srv):
    r = srv.raw()
    r.login()
    r.cmd_ok("QUIT")
    time.sleep(0.3)
    lines = [l for l in srv.log().splitlines() if l.strip()]
    assert lines
    kv = [l for l in lines if re.search(r"\b[a-z_]+=\S", l)]
    assert len(kv) >= len(lines) * 0.9, lines[:20]
    login = [l for l in lines if "event=login" in l]
    assert login and "user=alice" in login[-1], lines[-20:]
    assert re.search(r"127\.0\.0\.1", login[-1]), login[-1]


def test_sighup_adds_user_without_dropping_session(srv):
    srv.deliver_ok("alice", simple_message(1))
    a = srv.raw()
    a.login()
    assert a.cmd("STAT").startswith(b"+OK 1 ")
    # a new user and a new setting
    srv.add_user("bob", "bob-pw")
    srv.set("pop3_expire_days", "3")
    srv.reload()
    b = srv.raw()
    b.login("bob", "bob-pw")
    b.cmd_ok("QUIT")
    capa = [l.upper() for l in srv.raw().capa()]
    assert any(l.startswith("EXPIRE 3") for l in capa), capa
    # the old session is intact
    assert a.cmd("STAT").startswith(b"+OK 1 ")
    a.cmd_ok("RETR 1")
    assert b"test message 1" in a.multiline()
    a.cmd_ok("QUIT")
    assert srv.proc.poll() is None


def test_sighup_with_broken_config_keeps_running(srv):
    srv.set("no_such_key", "1")
    srv.reload()
    assert srv.proc.poll() is None
    r = srv.raw()
    r.login()
    r.cmd_ok("QUIT")
    srv.unset("no_such_key")


def test_sigterm_graceful_idle(srv):
    r = srv.raw()
    r.login()
    t = time.monotonic()
    rc = srv.stop(timeout=20)
    took = time.monotonic() - t
    assert rc == 0
    assert took < 5 + 3, took  # shutdown_timeout = 5 in the fixture
    r.expect_eof(timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.pop3_port), timeout=2)


def test_sigterm_does_not_expunge_open_session(srv):
    for i in range(2):
        srv.deliver_ok("alice", simple_message(i))
    r = srv.raw()
    r.login()
    r.cmd_ok("DELE 1")
    assert srv.stop() == 0
    srv.start()
    p = srv.login()
    assert p.stat()[0] == 2
    p.quit()


def test_sigterm_during_retr_of_big_message(srv):
    body = b"".join(b"line %07d of a big message for shutdown\n" % i
                    for i in range(150000))
    srv.deliver_ok("alice", b"Subject: big\n\n" + body)
    r = srv.raw()
    r.login()
    r.send(b"RETR 1\r\n")
    r.line()
    srv.signal(signal.SIGTERM)
    t = time.monotonic()
    srv.proc.wait(timeout=30)
    took = time.monotonic() - t
    rc = srv.stop()
    assert took < 5 + 2, "stop took %.1fs with shutdown_timeout = 5" % took
    assert rc == 0


def _worker_for_connection(inst, client_sock):
    """The child process holding the server side of client_sock."""
    cport = client_sock.getsockname()[1]
    sport = client_sock.getpeername()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if lport == sport and rport == cport:
                inode = parts[9]
    assert inode, "server socket not found in /proc/net/tcp"
    target = "socket:[%s]" % inode
    for pid in [inst.pid] + children_of(inst.pid):
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    return pid
            except OSError:
                pass
    raise AssertionError("no process holds %s" % target)


def test_kill_worker_is_restarted(srv):
    time.sleep(0.5)
    kids_before = srv.children()
    assert len(kids_before) >= 2, kids_before  # auth + at least one worker
    r = srv.raw()
    r.login()
    worker = _worker_for_connection(srv, r.sock)
    assert worker != srv.pid and worker in kids_before
    os.kill(worker, signal.SIGKILL)
    r.expect_eof(timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = srv.children()
        if len(kids) == len(kids_before) and worker not in kids:
            break
        time.sleep(0.1)
    kids = srv.children()
    assert worker not in kids and len(kids) == len(kids_before), (
        kids_before, kids)
    assert srv.proc.poll() is None
    for i in range(8):
        p = srv.login()
        assert p.stat() == (0, 0)
        p.quit()
    log = srv.log()
    assert re.search(r"event=\S*(exit|died|crash|restart)\S*.*\b%d\b|"
                     r"\b%d\b.*event=\S*(exit|died|crash|restart)"
                     % (worker, worker), log) or \
        re.search(r"event=worker_exit", log), log[-3000:]


def test_kill_auth_process_is_restarted(srv):
    time.sleep(0.5)
    kids_before = srv.children()
    r = srv.raw()
    worker = _worker_for_connection(srv, r.sock)
    r.close()
    others = [k for k in kids_before if k != worker]
    for pid in others:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            p = srv.login()
            p.quit()
            break
        except Exception:
            time.sleep(0.2)
    p = srv.login()
    assert p.stat() == (0, 0)
    p.quit()
    assert srv.proc.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="privilege drop needs root")
def test_privileges_dropped(srv):
    time.sleep(0.5)
    kids = srv.children()
    assert kids
    for pid in kids:
        assert proc_uid(pid) != 0, "child %d runs as root" % pid
    srv.deliver_ok("alice", simple_message(1))
    for path in srv.message_files("alice"):
        assert os.stat(path).st_uid != 0, path


def test_login_timeout(inst):
    inst.configure(login_timeout=2)
    inst.start()
    r = inst.raw()
    t = time.monotonic()
    r.expect_eof(timeout=8)
    took = time.monotonic() - t
    assert 1.5 <= took <= 6, took


def test_login_timeout_does_not_hit_logged_in_session(inst):
    inst.configure(login_timeout=2)
    inst.start()
    r = inst.raw()
    r.login()
    time.sleep(3)
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_pop3_idle_timeout_minimum(inst):
    _append(inst, "pop3_idle_timeout = 599")
    r = inst.run(["check-config"])
    assert r.returncode != 0, out_of(r)


def test_max_connections_per_ip(inst):
    # documented as a per-worker budget: one worker makes it exact
    inst.configure(max_connections_per_ip=3, workers=1)
    inst.start()
    assert inst.wait_log("event=disconnect")  # the readiness probe
    conns = [inst.raw() for _ in range(3)]
    s = socket.create_connection(("127.0.0.1", inst.pop3_port), timeout=5)
    s.settimeout(5)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    assert not data.startswith(b"+OK"), data
    for c in conns:
        c.close()
    time.sleep(0.5)
    r = inst.raw()
    r.login()
    r.cmd_ok("QUIT")


def test_many_concurrent_sessions(srv):
    for i in range(3):
        srv.deliver_ok("alice", simple_message(i))
    srv.add_user("bob", "bob-pw")
    srv.reload()
    conns = [srv.raw() for _ in range(40)]
    for c in conns:
        c.cmd_ok("CAPA")
        c.multiline()
    a = conns[0]
    a.login()
    b = conns[1]
    b.login("bob", "bob-pw")
    assert a.cmd("STAT").startswith(b"+OK 3 ")
    assert b.cmd("STAT").startswith(b"+OK 0 ")
    for c in conns:
        c.cmd_ok("QUIT")
        c.close()


def test_kill_worker_mid_session_loses_nothing(srv):
    for i in range(3):
        srv.deliver_ok("alice", simple_message(i))
    r = srv.raw()
    r.login()
    r.cmd_ok("UIDL")
    before = r.multiline()
    r.cmd_ok("DELE 1")
    r.cmd_ok("DELE 2")
    worker = _worker_for_connection(srv, r.sock)
    os.kill(worker, signal.SIGKILL)
    r.expect_eof(timeout=5)
    # the mailbox is not left locked and nothing was deleted
    p = srv.login()
    _, lines, _ = p.uidl()
    assert b"\r\n".join(lines) + b"\r\n" == before
    p.quit()
    assert len(srv.message_files("alice")) == 3


def _greeting(port, timeout=5):
    """Connects and reads the first line; b"" if none comes."""
    s = connect(port, timeout=timeout)
    return s, first_line(s, timeout) or b""


def test_max_connections_per_ip_counts_every_worker(inst):
    # one budget per address for the whole server, however many workers
    # share the listeners (net/ipcount.c)
    inst.configure(max_connections_per_ip=4, workers=3)
    inst.start()
    # the readiness probe's own connection must be gone first
    assert inst.wait_log("event=disconnect")
    held = []
    for _ in range(4):
        s, data = _greeting(inst.pop3_port)
        assert data.startswith(b"+OK"), data
        held.append(s)
    # whichever worker accepts them, the 5th and 6th are over the budget
    for _ in range(2):
        s, data = _greeting(inst.pop3_port)
        s.close()
        assert not data.startswith(b"+OK"), data
    assert "reason=too_many_connections" in inst.log()
    held.pop().close()
    time.sleep(0.5)
    s, data = _greeting(inst.pop3_port)
    assert data.startswith(b"+OK"), data
    held.append(s)

    # a worker killed with its connections: its counts go with it, and
    # its replacement starts from zero
    workers = inst.children()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    for s in held:
        s.close()
    deadline = time.monotonic() + 15
    ok = 0
    while time.monotonic() < deadline and ok < 4:
        ok = 0
        conns = []
        for _ in range(4):
            try:
                s, data = _greeting(inst.pop3_port, timeout=2)
            except OSError:
                break
            conns.append(s)
            ok += data.startswith(b"+OK")
        for s in conns:
            s.close()
        if ok < 4:
            time.sleep(0.3)
    assert ok == 4, inst.log()[-2000:]
