"""The disk fills up (issue 10): mail_dir and queue_dir on a small tmpfs
this test mounts itself, filled with a big file.

* below min_free_space: MAIL (port 25, submission, LMTP) gets
  452 4.3.1, IMAP APPEND gets NO [UNAVAILABLE] before the literal is
  sent, `postern deliver` exits 75 (EX_TEMPFAIL); all of it works again
  once the filler is gone;
* min_free_space = 0 and a disk too full for the message: every way in
  gets a temporary error, no partial file is left in new/ cur/ tmp/, the
  mailbox shows exactly the acknowledged messages (IMAP, POP3), and the
  same deliveries succeed once space returns;
* a queued message survives attempts on a full disk and is delivered
  once when space returns.

Mounting needs root (CI runs as root); otherwise the tests are skipped.
"""

import imaplib
import os
import poplib
import re
import smtplib
import subprocess
import time

import pytest

from conftest import PASSWORD, Instance, LineSocket, _finish
from smtpsink import Sink

FS_SIZE = 16 * 1024 * 1024
MAX_MSG = 1024 * 1024          # so that min_free_space auto = 1.5 MiB
CACHE_WAIT = 1.2               # the server keeps a statvfs answer 1 s
RCPT = "alice@localhost"


def mount_tmpfs(path, uid, gid):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%d,mode=0755,uid=%d,gid=%d" % (FS_SIZE, uid,
                                                             gid),
                        "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s"
                    % r.stderr.decode(errors="replace").strip())


@pytest.fixture
def small(request):
    """alice on an instance whose mail_dir and queue_dir are on a 16 MiB
    tmpfs (inst.fs); not started."""
    inst = Instance()
    inst.init()
    st = os.stat(inst.mail_dir)
    fs = os.path.join(inst.root, "fs")
    mount_tmpfs(fs, st.st_uid, st.st_gid)
    inst.fs = fs
    try:
        for d in ("mail", "queue"):
            os.mkdir(os.path.join(fs, d), 0o700)
            os.chown(os.path.join(fs, d), st.st_uid, st.st_gid)
        inst.configure(auth_fail_delay_ms=200, shutdown_timeout=5,
                       dns_resolver="127.0.0.1:9",
                       mail_dir=os.path.join(fs, "mail"),
                       queue_dir=os.path.join(fs, "queue"),
                       max_message_size=MAX_MSG,
                       queue_retry_min=1, queue_retry_max=1)
        inst.add_user("alice", PASSWORD)
        yield inst
    finally:
        try:
            _finish(request, inst)
        finally:
            subprocess.run(["umount", "-l", fs])


def free_bytes(inst):
    st = os.statvfs(inst.fs)
    return st.f_bavail * st.f_frsize


def fill(inst, leave):
    """Fills the file system up to `leave` bytes free; waits until the
    server's cached answer is stale."""
    unfill(inst, wait=False)
    n = free_bytes(inst) - leave
    with open(os.path.join(inst.fs, "filler"), "wb") as f:
        chunk = b"\0" * (1 << 20)
        while n > 0:
            k = min(n, len(chunk))
            f.write(chunk[:k])
            n -= k
    left = free_bytes(inst)
    assert abs(left - leave) <= 64 * 1024, left
    time.sleep(CACHE_WAIT)


def unfill(inst, wait=True):
    try:
        os.unlink(os.path.join(inst.fs, "filler"))
    except FileNotFoundError:
        pass
    if wait:
        time.sleep(CACHE_WAIT)


def message(i, size=0):
    body = "".join("line %d of message %d, some words to fill it\r\n"
                   % (k, i) for k in range(size // 44 + 1)) if size else \
        "Message %d.\r\n" % i
    return ("From: <sender@example.org>\r\nTo: <%s>\r\n"
            "Subject: disk %d\r\nMessage-ID: <disk%d@example.org>\r\n\r\n"
            % (RCPT, i, i) + body).encode()


def smtp_send(inst, msg, port="smtp"):
    """(code of the end of DATA, text) or the refusal at MAIL."""
    s = smtplib.SMTP("127.0.0.1", inst.port(port), timeout=30)
    try:
        s.ehlo("client.example.org")
        code, text = s.mail("sender@example.org")
        if code != 250:
            return code, text
        code, text = s.rcpt(RCPT)
        assert code == 250, (code, text)
        code, text = s.data(msg)
        return code, text
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def lmtp_send(inst, msg):
    s = smtplib.LMTP("127.0.0.1", inst.port("lmtp"), timeout=30)
    try:
        s.ehlo("client.example.org")
        code, text = s.mail("sender@example.org")
        if code != 250:
            return code, text
        assert s.rcpt(RCPT)[0] == 250
        # smtplib's LMTP reads one reply after DATA: the single recipient's
        return s.data(msg)
    finally:
        try:
            s.quit()
        except smtplib.SMTPException:
            pass


def imap(inst):
    m = imaplib.IMAP4("127.0.0.1", inst.port("imap"), timeout=30)
    m.login("alice", PASSWORD)
    return m


def imap_append(inst, msg):
    m = imap(inst)
    try:
        return m.append("INBOX", None, None, msg)
    finally:
        m.logout()


def deliver(inst, msg):
    return inst.run(["deliver", "alice"], input=msg)


def maildir_files(inst):
    md = inst.maildir("alice")
    return {sub: sorted(os.listdir(os.path.join(md, sub)))
            for sub in ("new", "cur", "tmp")}


def bodies_on_disk(inst):
    md = inst.maildir("alice")
    out = []
    for sub in ("new", "cur"):
        for n in os.listdir(os.path.join(md, sub)):
            with open(os.path.join(md, sub, n), "rb") as f:
                out.append(f.read())
    return out


def subject_of(data):
    m = re.search(rb"Subject: (disk \d+)", data)
    return m.group(1).decode() if m else None


def check_consistent(inst, acked):
    """The store holds exactly the acknowledged messages, whole."""
    files = maildir_files(inst)
    assert files["tmp"] == [], files
    subjects = sorted(subject_of(b) for b in bodies_on_disk(inst))
    assert subjects == sorted(acked), (subjects, acked)
    for data in bodies_on_disk(inst):
        # a whole message ends with the last line of its body
        assert data.endswith(b"\n"), data[-80:]
    m = imap(inst)
    try:
        typ, data = m.select("INBOX")
        assert typ == "OK", data
        assert int(data[0]) == len(acked)
        if acked:
            typ, data = m.fetch("1:*", "(BODY.PEEK[] RFC822.SIZE)")
            assert typ == "OK", data
            got = sorted(subject_of(p[1]) for p in data
                         if isinstance(p, tuple))
            assert got == sorted(acked)
        typ, data = m.status("INBOX", "(MESSAGES)")
        assert typ == "OK" and b"MESSAGES %d" % len(acked) in data[0], data
    finally:
        m.logout()
    p = poplib.POP3("127.0.0.1", inst.pop3_port, timeout=30)
    try:
        p.user("alice")
        p.pass_(PASSWORD)
        assert p.stat()[0] == len(acked)
    finally:
        p.quit()


# ---- below the floor ------------------------------------------------------

def test_below_min_free_space_mail_and_append_are_refused(small):
    inst = small
    inst.start()
    fill(inst, 1024 * 1024)  # auto floor: 1.5 x 1 MiB

    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.ehlo("client.example.org")
    code, text = s.mail("sender@example.org")
    assert code == 452 and text.startswith(b"4.3.1"), (code, text)
    s.quit()

    s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30)
    s.ehlo("client.example.org")
    s.login("alice", PASSWORD)
    code, text = s.mail("alice@localhost")
    assert code == 452 and text.startswith(b"4.3.1"), (code, text)
    s.quit()

    code, text = lmtp_send(inst, message(1))
    assert code == 452 and text.startswith(b"4.3.1"), (code, text)

    # a synchronizing literal is refused before the client sends it
    typ, data = imap_append(inst, message(2))
    assert typ == "NO" and data[0].startswith(b"[UNAVAILABLE]"), (typ, data)
    c = LineSocket(inst.port("imap"))
    c.line()
    c.send("a LOGIN alice %s\r\n" % PASSWORD)
    while not c.line().startswith(b"a "):
        pass
    # LITERAL+ (RFC 7888): the bytes come anyway; the answer is a NO
    msg = message(3)
    c.send(b"b APPEND INBOX {%d+}\r\n" % len(msg) + msg + b"\r\n")
    line = c.line()
    while not line.startswith(b"b "):
        line = c.line()
    assert line.startswith(b"b NO [UNAVAILABLE]"), line
    c.send("c NOOP\r\n")
    while not (line := c.line()).startswith(b"c "):
        pass
    assert line.startswith(b"c OK"), line

    r = deliver(inst, message(4))
    assert r.returncode == 75, (r.returncode, r.stderr)

    assert "reason=disk_full" in inst.log()
    check_consistent(inst, [])

    # space is back: all of it works again, without a restart
    unfill(inst)
    assert smtp_send(inst, message(5))[0] == 250
    assert lmtp_send(inst, message(6))[0] == 250
    assert imap_append(inst, message(7))[0] == "OK"
    assert deliver(inst, message(8)).returncode == 0
    check_consistent(inst, ["disk 5", "disk 6", "disk 7", "disk 8"])


def test_mail_size_counts_against_the_floor(small):
    inst = small
    inst.start()
    fill(inst, 2 * 1024 * 1024)   # above 1.5 MiB, below 1.5 MiB + 1 MiB
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30)
    s.ehlo("client.example.org")
    code, text = s.mail("sender@example.org", ["SIZE=%d" % MAX_MSG])
    assert code == 452 and text.startswith(b"4.3.1"), (code, text)
    code, text = s.mail("sender@example.org", ["SIZE=1000"])
    assert code == 250, (code, text)
    s.quit()


def test_min_free_space_zero_turns_the_check_off(small):
    inst = small
    inst.configure(min_free_space=0)
    inst.start()
    fill(inst, 512 * 1024)
    assert smtp_send(inst, message(1))[0] == 250
    check_consistent(inst, ["disk 1"])


def test_bad_min_free_space_is_a_config_error(small):
    inst = small
    inst.configure(min_free_space="lots")
    r = inst.run(["check-config"])
    assert r.returncode != 0
    assert b"min_free_space" in r.stdout + r.stderr


# ---- the disk fills while a message is written ------------------------------

def test_enospc_mid_delivery_is_temporary_and_leaves_no_trace(small):
    inst = small
    inst.configure(min_free_space=0)
    inst.start()
    acked = []
    for i, how in enumerate(("smtp", "imap", "deliver")):
        msg = message(i)
        if how == "smtp":
            assert smtp_send(inst, msg)[0] == 250
        elif how == "imap":
            assert imap_append(inst, msg)[0] == "OK"
        else:
            assert deliver(inst, msg).returncode == 0
        acked.append("disk %d" % i)
    check_consistent(inst, acked)

    fill(inst, 16 * 1024)
    small_msg = message(10, 40 * 1024)      # an in-memory IMAP literal
    big_msg = message(11, 600 * 1024)       # spooled by IMAP

    # RFC 3463 3.4: the reply says why (not a generic 451 4.3.0)
    code, text = smtp_send(inst, small_msg)
    assert (code, text[:5]) == (452, b"4.3.1"), (code, text)
    code, text = smtp_send(inst, big_msg)
    assert (code, text[:5]) == (452, b"4.3.1"), (code, text)
    code, text = lmtp_send(inst, small_msg)
    assert code == 452, (code, text)
    for msg in (small_msg, big_msg):
        typ, data = imap_append(inst, msg)
        assert typ == "NO", (typ, data)
        assert data[0].startswith(b"[UNAVAILABLE]"), data
    r = deliver(inst, small_msg)
    assert r.returncode == 75, (r.returncode, r.stderr)

    check_consistent(inst, acked)

    # space is back: the same deliveries go through
    unfill(inst)
    assert smtp_send(inst, small_msg)[0] == 250
    assert imap_append(inst, big_msg)[0] == "OK"
    check_consistent(inst, acked + ["disk 10", "disk 11"])


# ---- the queue on a full disk ---------------------------------------------

def test_queued_message_survives_a_full_disk(small):
    inst = small
    inst.configure(min_free_space=0)
    state = {"reply": "451 4.3.0 not now"}
    with Sink(data=lambda t: state["reply"]) as sink:
        inst.configure(relay_routes="remote.test=127.0.0.1:%d" % sink.port,
                       relay_tls="none")
        inst.start()
        s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30)
        s.ehlo("client.example.org")
        s.login("alice", PASSWORD)
        msg = ("From: <alice@localhost>\r\nTo: <bob@remote.test>\r\n"
               "Subject: queued\r\n\r\nwaits for space\r\n").encode()
        assert s.sendmail("alice@localhost", ["bob@remote.test"], msg) == {}
        s.quit()
        deadline = time.time() + 20
        while not sink.transactions and time.time() < deadline:
            time.sleep(0.1)
        assert sink.transactions, "no first attempt"

        fill(inst, 0)
        # attempts on a full disk: the runner cannot record them
        n = len(sink.transactions)
        deadline = time.time() + 20
        while len(sink.transactions) < n + 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(sink.transactions) >= n + 2
        queued = os.listdir(os.path.join(inst.fs, "queue", "env"))
        assert len(queued) == 1, queued

        # a second message cannot be queued: a temporary error, and
        # nothing of it is left in the queue
        s = smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30)
        s.ehlo("client.example.org")
        s.login("alice", PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("alice@localhost", ["bob@remote.test"],
                       msg.replace(b"queued", b"second") + b"x" * 8192)
        assert e.value.smtp_code in (451, 452), e.value
        s.quit()
        q = os.path.join(inst.fs, "queue")
        assert os.listdir(os.path.join(q, "env")) == queued
        assert len(os.listdir(os.path.join(q, "msg"))) == 1
        assert os.listdir(os.path.join(q, "tmp")) == []

        state["reply"] = None
        unfill(inst)
        deadline = time.time() + 30
        while (not any(t.accepted for t in sink.transactions)
               and time.time() < deadline):
            time.sleep(0.1)
        assert sum(t.accepted for t in sink.transactions) == 1
        deadline = time.time() + 10
        while (os.listdir(os.path.join(inst.fs, "queue", "env"))
               and time.time() < deadline):
            time.sleep(0.1)
        assert os.listdir(os.path.join(inst.fs, "queue", "env")) == []
        time.sleep(2.5)  # no second copy on a later retry
        assert sum(t.accepted for t in sink.transactions) == 1


def test_enospc_sweep_keeps_store_consistent(small):
    """The message fits but the store's own files (uidstate, index, log)
    may not: at every amount of space left, what was acknowledged is on
    disk whole, nothing else is, the mailbox opens, and once space
    returns it shows exactly the acknowledged messages."""
    inst = small
    inst.configure(min_free_space=0)
    inst.start()
    assert smtp_send(inst, message(0))[0] == 250
    acked = ["disk 0"]
    watcher = imap(inst)
    assert watcher.select("INBOX")[0] == "OK"
    i = 1
    for leave_kb in range(0, 49, 4):
        fill(inst, leave_kb * 1024)
        for how in ("smtp", "imap", "deliver", "lmtp"):
            msg = message(i, 1500)
            if how == "smtp":
                ok = smtp_send(inst, msg)[0] == 250
            elif how == "lmtp":
                ok = lmtp_send(inst, msg)[0] == 250
            elif how == "imap":
                ok = imap_append(inst, msg)[0] == "OK"
            else:
                ok = deliver(inst, msg).returncode == 0
            if ok:
                acked.append("disk %d" % i)
            i += 1
            files = maildir_files(inst)
            assert files["tmp"] == [], (leave_kb, how, files)
            on_disk = sorted(subject_of(b) for b in bodies_on_disk(inst))
            assert on_disk == sorted(acked), (leave_kb, how, on_disk)
        # the open session and a new one keep working
        assert watcher.noop()[0] == "OK"
        m = imap(inst)
        typ, data = m.select("INBOX")
        assert typ == "OK", (leave_kb, data)
        assert int(data[0]) <= len(acked)
        m.logout()
    unfill(inst)
    assert watcher.noop()[0] == "OK"
    watcher.logout()
    check_consistent(inst, acked)
    assert len(acked) > 1
