"""`postern deliver` through the recipient resolver: +tags, aliases, local
domains, -f; every delivered message is read back over POP3 byte-for-byte."""

import os

from conftest import PASSWORD, simple_message, to_crlf


def out_of(r):
    return (r.stdout + r.stderr).decode("utf-8", "replace")


def write_aliases(inst, text):
    with open(os.path.join(inst.dir, "aliases"), "w") as f:
        f.write(text)


def deliver_args(inst, args, data):
    return inst.run(["deliver"] + list(args), input=data)


def pop3_messages(inst, user):
    """Every message of user, as POP3 sends it (CRLF, unstuffed)."""
    p = inst.login(user, PASSWORD)
    try:
        count, _ = p.stat()
        msgs = []
        for i in range(1, count + 1):
            _, lines, _ = p.retr(i)
            msgs.append(b"".join(l + b"\r\n" for l in lines))
        return msgs
    finally:
        p.quit()


def test_plus_tag(inst):
    inst.start()
    m = simple_message(1, body="Tagged.\n.leading dot\n")
    for addr in ("alice+lists@localhost", "alice+@localhost", "ALICE+x"):
        r = inst.deliver(addr, m)
        assert r.returncode == 0, out_of(r)
    assert pop3_messages(inst, "alice") == [to_crlf(m)] * 3


def test_alias_to_several_users(inst):
    inst.add_user("bob@example.org", PASSWORD)
    write_aliases(inst, "# team\n"
                        "team: alice, bob@example.org\n"
                        "all@example.org: team, alice\n")
    inst.start()
    m = simple_message(2)
    r = inst.deliver("all@example.org", m)
    assert r.returncode == 0, out_of(r)
    r = inst.deliver("team+x@localhost", m)
    assert r.returncode == 0, out_of(r)
    # alice appears twice in the expansion but gets one copy per delivery
    assert pop3_messages(inst, "alice") == [to_crlf(m)] * 2
    assert pop3_messages(inst, "bob@example.org") == [to_crlf(m)] * 2


def test_unknown_user_and_foreign_domain(inst):
    inst.add_user("bob@example.org", PASSWORD)
    m = simple_message(3)
    for addr in ("nosuchuser", "nosuchuser@example.org", "bob@localhost",
                 "alice@not-ours.example", "bob"):
        r = inst.deliver(addr, m)
        assert r.returncode == 67, (addr, out_of(r))
    assert inst.message_files("alice") == []
    assert inst.message_files("bob@example.org") == []


def test_second_local_domain(inst):
    inst.add_user("carol@second.example", PASSWORD)
    inst.configure(local_domains="third.example, fourth.example")
    inst.start()
    m = simple_message(4)
    for addr in ("alice@Second.Example", "alice@third.example",
                 "alice@fourth.example."):
        r = inst.deliver(addr, m)
        assert r.returncode == 0, (addr, out_of(r))
    r = inst.deliver("carol+tag@SECOND.example", m)
    assert r.returncode == 0, out_of(r)
    assert inst.deliver("carol@third.example", m).returncode == 67
    assert pop3_messages(inst, "alice") == [to_crlf(m)] * 3
    assert pop3_messages(inst, "carol@second.example") == [to_crlf(m)]


def test_return_path_from_f(inst):
    inst.start()
    m = simple_message(5)
    r = deliver_args(inst, ["-f", "sender@example.net", "alice"], m)
    assert r.returncode == 0, out_of(r)
    r = deliver_args(inst, ["-f", "", "alice"], m)
    assert r.returncode == 0, out_of(r)
    assert pop3_messages(inst, "alice") == [
        b"Return-Path: <sender@example.net>\r\n" + to_crlf(m),
        b"Return-Path: <>\r\n" + to_crlf(m)]
    r = deliver_args(inst, ["-f", "a\nb", "alice"], m)
    assert r.returncode == 64, out_of(r)
    r = deliver_args(inst, ["-f"], m)
    assert r.returncode == 64, out_of(r)


def test_alias_loop_is_temporary(inst):
    write_aliases(inst, "a: b\nb: a\n")
    r = inst.deliver("a", simple_message(6))
    assert r.returncode == 75, out_of(r)
    assert "loop" in out_of(r)
    # a broken aliases file fails every delivery until it is fixed
    write_aliases(inst, "a b c\n")
    r = inst.deliver("alice", simple_message(6))
    assert r.returncode == 75, out_of(r)
    assert "aliases:1:" in out_of(r)
    os.unlink(os.path.join(inst.dir, "aliases"))
    assert inst.deliver("alice", simple_message(6)).returncode == 0


def test_partial_failure_is_temporary(inst):
    inst.add_user("bob", PASSWORD)
    write_aliases(inst, "both: alice, bob\n")
    # bob's Maildir cannot be created: its path is a file
    os.makedirs(inst.mail_dir, exist_ok=True)
    with open(inst.maildir("bob"), "w") as f:
        f.write("x")
    r = inst.deliver("both", simple_message(7))
    assert r.returncode == 75, out_of(r)
    # alice has it already: a retry by the sender will duplicate it
    assert len(inst.message_files("alice")) == 1
