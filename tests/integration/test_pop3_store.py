"""What POP3 serves from the Maildir store: bytes, sizes, UIDLs, deletion."""

import os
import time

import pytest

import msgcorpus
from conftest import PASSWORD, simple_message, to_crlf


def wire_form(m):
    """The message as RETR must deliver it (after dot-unstuffing)."""
    c = to_crlf(m)
    return c if c.endswith(b"\r\n") or c == b"" else c + b"\r\n"


def check_list_retr(inst, msgs, user="alice", password=PASSWORD):
    """LIST size == len(RETR) and RETR == the delivered message."""
    r = inst.raw()
    r.login(user, password)
    stat = r.cmd_ok("STAT")
    assert int(stat.split()[1]) == len(msgs), stat
    r.cmd_ok("LIST")
    sizes = {}
    for line in r.multiline().split(b"\r\n"):
        if line:
            n, s = line.split()
            sizes[int(n)] = int(s)
    assert sorted(sizes) == list(range(1, len(msgs) + 1))
    assert int(stat.split()[2]) == sum(sizes.values()), stat
    for n, m in enumerate(msgs, 1):
        r.cmd_ok("RETR %d" % n)
        got = r.multiline()
        assert got == wire_form(m), "message %d differs" % n
        exact = to_crlf(m)
        if exact.endswith(b"\r\n"):
            assert sizes[n] == len(got), (n, sizes[n], len(got))
        else:  # no final newline: the added CRLF may or may not count
            assert sizes[n] in (len(exact), len(got)), (n, sizes[n], len(got))
        lst = r.cmd_ok("LIST %d" % n)
        assert lst == b"+OK %d %d\r\n" % (n, sizes[n])
    r.cmd_ok("QUIT")
    r.close()
    return sizes


def uidls(inst, user="alice", password=PASSWORD):
    p = inst.login(user, password)
    _, lines, _ = p.uidl()
    out = [l.split(b" ", 1)[1] for l in lines]
    p.quit()
    return out


def contents_by_uidl(inst):
    r = inst.raw()
    r.login()
    r.cmd_ok("UIDL")
    ids = [l.split()[1] for l in r.multiline().split(b"\r\n") if l]
    out = {}
    for n, u in enumerate(ids, 1):
        r.cmd_ok("RETR %d" % n)
        out[u] = r.multiline()
    r.cmd_ok("QUIT")
    return out


SPECIAL = [
    b"Subject: bare LF\n\nline one\nline two\n",
    b"Subject: CRLF\r\n\r\nline one\r\nline two\r\n",
    b"Subject: dots\n\n.\n..\n.x\n...\nend\n.\n",
    b"Subject: no final newline\n\nlast line",
    b"Subject: 8bit\n\n\x80\x81\xfe\xff caf\xc3\xa9 \xe9t\xe9\n",
    b"Subject: empty body\n\n",
    b"Subject: only headers, no separator\n",
    b"Subject: long\n\n" + b"y" * 998 + b"\n" + b"z" * 4000 + b"\n",
    b"Subject: blank lines\n\n\n\n\n",
    b"Subject: tabs\n\n\tindented\t\n  \n",
]


def test_sizes_and_bytes_special(srv):
    for m in SPECIAL:
        srv.deliver_ok("alice", m)
    check_list_retr(srv, SPECIAL)


def test_dot_stuffing_on_the_wire(srv):
    srv.deliver_ok("alice", b"Subject: d\n\n.\n..\n.x\nx.\n")
    r = srv.raw()
    r.login()
    r.cmd_ok("RETR 1")
    assert r.multiline_wire() == b"Subject: d\r\n\r\n..\r\n...\r\n..x\r\nx.\r\n"
    r.cmd_ok("TOP 1 2")
    assert r.multiline_wire() == b"Subject: d\r\n\r\n..\r\n...\r\n"
    r.cmd_ok("QUIT")


def test_large_message(srv):
    body = b"".join(b"%08d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(60000))  # ~3.3 MB
    m = b"Subject: big\n\n" + body
    srv.deliver_ok("alice", m)
    check_list_retr(srv, [m])


def test_corpus_delivered(srv):
    msgs = msgcorpus.corpus(60)
    for m in msgs:
        srv.deliver_ok("alice", m)
    check_list_retr(srv, msgs)


def test_quit_deletes_exactly_the_deleted(srv):
    msgs = [simple_message(i) for i in range(1, 6)]
    for m in msgs:
        srv.deliver_ok("alice", m)
    before = uidls(srv)
    assert len(srv.message_files("alice")) == 5
    p = srv.login()
    p.dele(2)
    p.dele(4)
    assert p.quit().startswith(b"+OK")
    after = uidls(srv)
    assert after == [before[0], before[2], before[4]]
    assert len(srv.message_files("alice")) == 3
    check_list_retr(srv, [msgs[0], msgs[2], msgs[4]])


def test_drop_without_quit_deletes_nothing(srv):
    for i in range(3):
        srv.deliver_ok("alice", simple_message(i))
    before = uidls(srv)
    r = srv.raw()
    r.login()
    r.cmd_ok("DELE 1")
    r.cmd_ok("DELE 2")
    r.close()
    time.sleep(0.3)
    assert uidls(srv) == before
    assert len(srv.message_files("alice")) == 3


def test_rset_then_quit_deletes_nothing(srv):
    for i in range(2):
        srv.deliver_ok("alice", simple_message(i))
    p = srv.login()
    p.dele(1)
    p.rset()
    p.quit()
    assert len(uidls(srv)) == 2


def test_delete_all(srv):
    for i in range(4):
        srv.deliver_ok("alice", simple_message(i))
    p = srv.login()
    for n in range(1, 5):
        p.dele(n)
    assert p.stat() == (0, 0)
    p.quit()
    p = srv.login()
    assert p.stat() == (0, 0)
    p.quit()
    assert srv.message_files("alice") == []


def test_new_mail_during_session_not_shown_until_next(srv):
    srv.deliver_ok("alice", simple_message(1))
    p = srv.login()
    assert p.stat()[0] == 1
    srv.deliver_ok("alice", simple_message(2))
    assert p.stat()[0] == 1
    _, listing, _ = p.list()
    assert len(listing) == 1
    p.dele(1)
    p.quit()
    p = srv.login()
    _, lines, _ = p.retr(1)
    assert b"Subject: test message 2" in lines
    assert p.stat()[0] == 1
    p.quit()


def test_uidls_stable_across_sessions_and_restart(srv):
    for i in range(5):
        srv.deliver_ok("alice", simple_message(i))
    a = uidls(srv)
    assert uidls(srv) == a
    data = contents_by_uidl(srv)
    srv.restart()
    assert uidls(srv) == a
    assert contents_by_uidl(srv) == data


def _corrupt(path, how):
    if how == "delete":
        os.unlink(path)
    elif how == "truncate":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    elif how == "empty":
        with open(path, "r+b") as f:
            f.truncate(0)
    elif how == "garbage":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.seek(min(8, size // 3))
            f.write(bytes((i * 37 + 11) & 0xff for i in range(max(64, size))))
    elif how == "flip":
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            for i in range(0, len(data), 7):
                data[i] ^= 0x5a
            f.seek(0)
            f.write(bytes(data))
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["delete", "truncate", "empty", "garbage",
                                 "flip"])
def test_index_loss_keeps_mail_and_uidls(srv, how):
    msgs = [simple_message(i) for i in range(6)]
    for m in msgs:
        srv.deliver_ok("alice", m)
    p = srv.login()
    p.dele(3)
    p.quit()
    del msgs[2]
    before = uidls(srv)
    data = contents_by_uidl(srv)
    index = os.path.join(srv.maildir("alice"), "postern-index")
    assert os.path.exists(index), os.listdir(srv.maildir("alice"))
    srv.stop()
    _corrupt(index, how)
    srv.start()
    assert uidls(srv) == before
    assert contents_by_uidl(srv) == data
    check_list_retr(srv, msgs)
    # the store goes on working: delivery and deletion after the rebuild
    srv.deliver_ok("alice", simple_message(99))
    after = uidls(srv)
    assert after[:5] == before and len(after) == 6
    assert after[5] not in before
    p = srv.login()
    p.dele(1)
    p.quit()
    assert uidls(srv) == after[1:]


def test_index_deleted_while_running(srv):
    for i in range(3):
        srv.deliver_ok("alice", simple_message(i))
    before = uidls(srv)
    os.unlink(os.path.join(srv.maildir("alice"), "postern-index"))
    assert uidls(srv) == before
    srv.deliver_ok("alice", simple_message(3))
    after = uidls(srv)
    assert after[:3] == before and len(after) == 4


def test_file_dropped_into_new_appears(srv):
    srv.deliver_ok("alice", simple_message(1))
    before = uidls(srv)
    dropped = b"Subject: dropped by hand\nFrom: mta@example.org\n\nhello\n.\n"
    srv.drop_into_new("alice", "1700000000.M1P1.handdrop", dropped)
    after = uidls(srv)
    assert len(after) == 2 and after[0] == before[0] and after[1] not in before
    p = srv.login()
    _, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == to_crlf(dropped)
    assert p.list(2) == b"+OK 2 %d" % len(to_crlf(dropped))
    p.quit()
    assert uidls(srv) == after


def test_file_dropped_into_cur_appears(srv):
    srv.deliver_ok("alice", simple_message(1))
    md = srv.maildir("alice")
    uid, gid = srv.maildir_owner("alice")
    path = os.path.join(md, "cur", "1700000001.M2P2.handdrop:2,S")
    with open(path, "wb") as f:
        f.write(b"Subject: seen elsewhere\n\nbody\n")
    os.chown(path, uid, gid)
    p = srv.login()
    assert p.stat()[0] == 2
    p.quit()


def test_file_removed_behind_our_back(srv):
    for i in range(3):
        srv.deliver_ok("alice", simple_message(i))
    before = uidls(srv)
    files = srv.message_files("alice")
    # find and remove the file holding message 2
    victim = [f for f in files if b"test message 1\n" in open(f, "rb").read()
              or b"test message 1\r\n" in open(f, "rb").read()]
    assert len(victim) == 1, files
    os.unlink(victim[0])
    assert uidls(srv) == [before[0], before[2]]


def _hide_check(inst, user, pw):
    for i in range(3):
        inst.deliver_ok(user, simple_message(i))
    before = uidls(inst, user, pw)
    p = inst.login(user, pw)
    p.dele(2)
    p.quit()
    assert uidls(inst, user, pw) == [before[0], before[2]]
    files = inst.message_files(user)
    assert len(files) == 3, files  # still on disk
    # and it stays hidden across a restart
    inst.restart()
    assert uidls(inst, user, pw) == [before[0], before[2]]


def test_hide_mode_user_add(inst):
    inst.add_user("hider", "hider-pw", dele="hide")
    inst.start()
    _hide_check(inst, "hider", "hider-pw")


def test_hide_mode_user_set(inst):
    inst.add_user("hider", "hider-pw")
    inst.check(["user", "set", "hider", "--pop3-dele", "hide"])
    with open(inst.users_file) as f:
        assert "pop3_dele=hide" in f.read()
    inst.start()
    _hide_check(inst, "hider", "hider-pw")


def test_hide_mode_users_file_extra_field(inst):
    with open(inst.users_file, "a") as f:
        f.write("hider:{PLAIN}hider-pw::::::pop3_dele=hide\n")
    inst.start()
    _hide_check(inst, "hider", "hider-pw")


def test_hide_mode_global_default(inst):
    inst.configure(pop3_dele_mode="hide")
    inst.start()
    _hide_check(inst, "alice", PASSWORD)


def test_expunge_mode_is_default(srv):
    for i in range(2):
        srv.deliver_ok("alice", simple_message(i))
    p = srv.login()
    p.dele(1)
    p.quit()
    assert len(srv.message_files("alice")) == 1


def test_deliver_then_maildir_layout(srv):
    srv.deliver_ok("alice", b"Subject: x\n\nbody\n")
    md = srv.maildir("alice")
    for sub in ("cur", "new", "tmp"):
        assert os.path.isdir(os.path.join(md, sub)), sub
    assert os.listdir(os.path.join(md, "tmp")) == []
    files = srv.message_files("alice")
    assert len(files) == 1
    with open(files[0], "rb") as f:
        assert to_crlf(f.read()) == b"Subject: x\r\n\r\nbody\r\n"


def test_message_order_is_arrival_order(srv):
    """Message numbers (and UIDs) follow delivery order, also for messages
    delivered in the same second (Maildir names carry unpadded
    microseconds, so sorting names as strings is not arrival order)."""
    # start just before a second boundary so that some messages get
    # 4-, 5- and 6-digit microsecond fields within one second
    frac = time.time() % 1.0
    time.sleep((0.97 - frac) % 1.0)
    msgs = [simple_message(i) for i in range(1, 16)]
    for m in msgs:
        srv.deliver_ok("alice", m)
    p = srv.login()
    got = []
    for n in range(1, 16):
        subj = [l for l in p.top(n, 0)[1] if l.startswith(b"Subject:")]
        got.append(subj[0].decode())
    p.quit()
    assert got == ["Subject: test message %d" % i for i in range(1, 16)], \
        sorted(os.listdir(os.path.join(srv.maildir("alice"), "cur")) +
               os.listdir(os.path.join(srv.maildir("alice"), "new")))


def test_migration_from_dovecot_keeps_uidls(inst):
    """A Maildir copied from Dovecot, with its dovecot-uidlist: POP3
    clients see Dovecot's UIDLs (default %08Xu%08Xv) and re-download
    nothing; a message that arrived after the copy gets a new UID."""
    md = inst.maildir("alice")
    owner = os.stat(inst.mail_dir)
    dovecot = {  # file name as Dovecot left it -> (uid, subject)
        "1600000000.M11P22.old,S=40,W=42:2,S": (3, "first"),
        "1600000500.M12P22.old,S=41,W=43:2,": (17, "second"),
        "1600000900.M13P22.old,S=40,W=42:2,RS": (18, "third"),
    }
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    files = {}
    for name, (uid, subject) in dovecot.items():
        files[os.path.join(md, "cur", name)] = (
            "Subject: %s\n\nbody of %s\n" % (subject, subject)).encode()
    files[os.path.join(md, "new", "1600001000.M14P22.later")] = \
        b"Subject: later\n\nbody of later\n"
    files[os.path.join(md, "dovecot-uidlist")] = (
        "3 V1601234567 N19 G0123456789abcdef\n" +
        "".join("%d :%s\n" % (uid, name.split(":")[0])
                for name, (uid, _) in dovecot.items())).encode()
    for path, data in files.items():
        with open(path, "wb") as f:
            f.write(data)
    for dirpath, dirnames, filenames in os.walk(md):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            os.chown(n, owner.st_uid, owner.st_gid)
    inst.start()
    p = inst.login()
    subjects = []
    for i in range(1, 5):
        lines = p.top(i, 0)[1]
        subjects.append([l for l in lines if l.startswith(b"Subject:")][0][9:].decode())
    uidls = dict(l.decode().split() for l in p.uidl()[1])
    p.quit()
    got = {subjects[int(n) - 1]: u for n, u in uidls.items()}
    for name, (uid, subject) in dovecot.items():
        assert got[subject] == "%08X%08X" % (uid, 1601234567), (subject, got)
    assert got["later"] == "%08X%08X" % (19, 1601234567), got
    assert "event=dovecot_uidlist_imported" in inst.log()
