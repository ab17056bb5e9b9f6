"""Started as root from a private checkout (issue 11): a clone in /root
(mode 0700) must work for `make run`, `init`, `user add`, `deliver` and
`serve`, with the real split of uids: root owns the config, the key and
the instance directory; run_user owns the mail and the queue. Root editing
the users file keeps its owner and mode. A layout run_user cannot use is
refused at once, naming the directory."""

import imaplib
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, PASSWORD, Instance, _finish, pick_port_base,
                      proc_uid, simple_message)

root_only = pytest.mark.skipif(os.geteuid() != 0,
                               reason="the uid split needs root")
HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_RUN = os.path.join(HERE, "..", "..", "scripts", "make-run.sh")


def out_of(r):
    return "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout.decode("utf-8", "replace"),
        r.stderr.decode("utf-8", "replace"))


def private_checkout(inst):
    """HOME (0700) / pt (0700) holding a copy of the binary, like a clone
    in /root; the instance goes to pt/var as `make run` makes it."""
    home = os.path.join(inst.root, "home")
    pt = os.path.join(home, "pt")
    os.mkdir(home, 0o700)
    os.mkdir(pt, 0o700)
    os.chmod(home, 0o700)
    os.chmod(pt, 0o700)
    shutil.copy2(inst.bin, os.path.join(pt, "postern"))
    inst.bin = os.path.join(pt, "postern")
    inst.dir = os.path.join(pt, "var")
    inst.conf = os.path.join(inst.dir, "postern.conf")
    return pt


@pytest.fixture
def priv(request):
    inst = Instance()
    inst.checkout = private_checkout(inst)
    yield inst
    _finish(request, inst)


def run_user(inst):
    return pwd.getpwnam(inst.get("run_user"))


def check_layout(inst):
    """Who owns what after `postern init` as root."""
    ru = run_user(inst)
    d = inst.dir
    st = os.stat(d)
    assert (st.st_uid, st.st_mode & 0o7777) == (0, 0o755), oct(st.st_mode)
    for name in ("postern.conf", "tls", "tls/cert.pem", "tls/key.pem"):
        assert os.stat(os.path.join(d, name)).st_uid == 0, name
    key = os.stat(os.path.join(d, "tls", "key.pem"))
    assert key.st_mode & 0o077 == 0, oct(key.st_mode)
    for name in ("users", "aliases"):
        st = os.stat(os.path.join(d, name))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == \
            (0, ru.pw_gid, 0o640), (name, st)
    for name in ("mail", "queue"):
        st = os.stat(os.path.join(d, name))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == \
            (ru.pw_uid, ru.pw_gid, 0o700), (name, st)


@root_only
def test_init_layout_as_root(bare):
    bare.init()
    check_layout(bare)
    r = bare.run(["check-config"])
    assert r.returncode == 0, out_of(r)


@root_only
def test_private_checkout_as_root(priv):
    """init, user add, deliver, queue and serve from a 0700 directory in
    a 0700 directory; IMAP, POP3 and SMTP work; files have their owners;
    `user passwd` as root keeps the users file's owner and mode."""
    inst = priv
    for d in (os.path.dirname(inst.checkout), inst.checkout):
        assert os.stat(d).st_mode & 0o777 == 0o700
    inst.init()
    check_layout(inst)
    inst.configure(auth_fail_delay_ms=200, shutdown_timeout=5,
                   dns_resolver="127.0.0.1:9")
    inst.add_user("alice", PASSWORD)
    inst.deliver_ok("alice", simple_message(1))
    inst.check(["queue", "list"])
    r = inst.run(["check-config"])
    assert r.returncode == 0, out_of(r)
    inst.start()
    ru = run_user(inst)
    kids = inst.children()
    assert kids
    for pid in kids:
        assert proc_uid(pid) != 0, "child %d runs as root" % pid

    im = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=IO_TIMEOUT)
    im.login("alice", PASSWORD)
    typ, data = im.select("INBOX")
    assert typ == "OK" and data == [b"1"], data
    im.logout()

    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=IO_TIMEOUT)
    s.sendmail("bob@example.org", ["alice@localhost"], simple_message(2))
    s.quit()
    deadline = time.monotonic() + 10
    while len(inst.message_files("alice")) < 2:
        assert time.monotonic() < deadline, inst.log()
        time.sleep(0.05)
    p = inst.login()
    assert p.stat()[0] == 2
    p.quit()

    files = inst.message_files("alice")
    assert len(files) == 2
    for f in files + [inst.maildir("alice")]:
        st = os.stat(f)
        assert (st.st_uid, st.st_gid) == (ru.pw_uid, ru.pw_gid), f

    users = inst.users_file
    before = os.stat(users)
    inst.check(["user", "passwd", "alice"], input="New-Password-2\n")
    after = os.stat(users)
    assert after.st_ino != before.st_ino  # replaced, not edited in place
    assert (after.st_uid, after.st_gid, after.st_mode) == \
        (before.st_uid, before.st_gid, before.st_mode)
    inst.reload()
    p = inst.login("alice", "New-Password-2")
    p.quit()
    check_layout(inst)


@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_user_edit_keeps_owner_and_mode(inst, mode):
    """The users file is replaced through a temporary file: the new one
    gets the old owner, group and mode (root editing root:GROUP 0640
    keeps the auth process able to read it)."""
    users = inst.users_file
    os.chmod(users, mode)
    gid = os.stat(users).st_gid
    if os.geteuid() == 0:
        gid = 4242  # a group nobody would pick by accident
        os.chown(users, 0, gid)
    inst.check(["user", "passwd", "alice"], input="Another-Pw-3\n")
    inst.add_user("bob", "bob-pw")
    inst.check(["user", "del", "bob"])
    st = os.stat(users)
    assert (st.st_mode & 0o7777, st.st_gid) == (mode, gid), oct(st.st_mode)
    if os.geteuid() == 0:
        assert st.st_uid == 0


@root_only
def test_unreachable_mail_dir_refused(inst):
    """mail_dir at an absolute path behind a directory run_user cannot
    enter: check-config and serve say which directory, at once."""
    ru = run_user(inst)
    private = os.path.join(inst.root, "private")
    mail = os.path.join(private, "mail")
    os.mkdir(private, 0o700)
    os.chmod(private, 0o700)
    os.mkdir(mail, 0o700)
    os.chown(mail, ru.pw_uid, ru.pw_gid)
    inst.configure(mail_dir=mail)
    r = inst.run(["check-config"])
    assert r.returncode == 78, out_of(r)
    err = r.stderr.decode()
    assert re.search(r"mail_dir %s: run_user %s cannot enter %s \(mode 0700"
                     % (re.escape(mail), ru.pw_name, re.escape(private)),
                     err), err
    inst.start(wait=False)
    try:
        rc = inst.proc.wait(timeout=10)
    finally:
        if inst.proc.poll() is None:
            inst.proc.kill()
            inst.proc.wait()
        inst.proc = None
        inst.logf.close()
    assert rc == 78, inst.log()
    assert "mail_dir %s: run_user %s cannot enter %s" % (
        mail, ru.pw_name, private) in inst.log(), inst.log()


@root_only
def test_init_refuses_a_dir_run_user_cannot_enter(bare):
    os.mkdir(bare.dir, 0o700)
    os.chmod(bare.dir, 0o700)
    r = bare.run_raw(["init", bare.dir, "--port-base", str(pick_port_base())])
    assert r.returncode != 0, out_of(r)
    err = r.stderr.decode()
    assert "cannot enter %s (mode 0700" % bare.dir in err, err
    assert not os.path.exists(bare.conf)


@root_only
def test_make_run_from_private_checkout(priv):
    """`make run` (scripts/make-run.sh) as root in a clone under a 0700
    home: the demo user logs in over IMAP and finds its welcome mail."""
    inst = priv
    os.mkdir(os.path.join(inst.checkout, "scripts"))
    shutil.copy2(MAKE_RUN, os.path.join(inst.checkout, "scripts"))
    inst.base = pick_port_base()
    env = dict(inst.env, POSTERN_PORT_BASE=str(inst.base))
    inst.logf = open(inst.log_path, "ab")
    inst.proc = subprocess.Popen(
        ["bash", "scripts/make-run.sh"], cwd=inst.checkout, env=env,
        stdin=subprocess.DEVNULL, stdout=inst.logf, stderr=inst.logf)
    inst.wait_ready()
    m = re.search(r"password:\s+(\S+)", inst.log())
    assert m, inst.log()
    im = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=IO_TIMEOUT)
    im.login("demo", m.group(1))
    typ, data = im.select("INBOX")
    assert typ == "OK" and data == [b"1"], data
    typ, data = im.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"Welcome to postern" in data[0][1], data
    im.logout()
    check_layout(inst)
