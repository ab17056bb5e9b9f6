"""IMAP mailbox commands against the real daemon: CREATE, DELETE, RENAME
(INBOX too), SUBSCRIBE/UNSUBSCRIBE, LIST (LIST-EXTENDED, LIST-STATUS,
SPECIAL-USE, CHILDREN), LSUB, STATUS (SIZE), APPEND (flags, date,
APPENDUID, TRYCREATE, APPENDLIMIT/TOOBIG), and mailbox names (UTF-8,
modified UTF-7, names that try to leave the user's directory)."""

import os
import re

import pytest

from conftest import simple_message
# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import (crlf, deliver_n, list_names, logged_in, quote,
                      same_instant, start, status_of)


def test_missing_mailbox_nonexistent(srv):
    c = logged_in(srv)
    # RFC 9051 7.1: NONEXISTENT
    for cmd in ("SELECT nosuch", "EXAMINE nosuch", "STATUS nosuch (MESSAGES)",
                "DELETE nosuch", "RENAME nosuch other"):
        r = c.cmd(cmd)
        assert r.status == "NO", (cmd, r)
        assert r.code_named("NONEXISTENT"), (cmd, r)
    c.logout()


def test_create_delete_rename(srv):
    c = logged_in(srv)
    c.ok("CREATE Work")
    # RFC 9051 6.3.4: an existing name is NO; ALREADYEXISTS (7.1)
    r = c.cmd("CREATE Work")
    assert r.status == "NO" and r.code_named("ALREADYEXISTS"), r
    assert c.cmd("CREATE INBOX").status == "NO"
    # intermediate levels are created (6.3.4); trailing "/" is ignored
    c.ok("CREATE a/b/c")
    c.ok("CREATE d/")
    names = list_names(c.ok('LIST "" "*"'))
    for n in ("Work", "a", "a/b", "a/b/c", "d"):
        assert n in names, names
    assert "d/" not in names
    # the superiors are real mailboxes (RFC 9051 6.3.4 SHOULD)
    assert c.append("a/b", b"Subject: x\r\n\r\nbody\r\n").status == "OK"
    # RENAME moves the hierarchy (6.3.6)
    c.ok("RENAME a z")
    names = list_names(c.ok('LIST "" "*"'))
    assert "a" not in names and "a/b" not in names, names
    assert {"z", "z/b", "z/b/c"} <= set(names), names
    st = status_of(c.ok('STATUS "z/b" (MESSAGES)'))
    assert st["z/b"]["MESSAGES"] == 1
    # RENAME creates superiors (6.3.6 SHOULD)
    c.ok("RENAME Work p/q/Work")
    assert {"p", "p/q", "p/q/Work"} <= set(list_names(c.ok('LIST "" "*"')))
    r = c.cmd("RENAME z Sent")
    assert r.status == "NO" and r.code_named("ALREADYEXISTS"), r
    # not into itself (Dovecot refuses it as well); z is left as it was
    r = c.cmd("RENAME z z/inner")
    assert r.status == "NO" and r.code_named("CANNOT"), r
    st = status_of(c.ok('STATUS "z/b" (MESSAGES)'))
    assert st["z/b"]["MESSAGES"] == 1
    # DELETE: not INBOX; not the children (6.3.5)
    assert c.cmd("DELETE INBOX").status == "NO"
    r = c.cmd("DELETE z/b")
    if r.status == "NO":
        assert r.code_named("HASCHILDREN"), r
    names = list_names(c.ok('LIST "" "*"'))
    assert "z/b/c" in names, names
    if r.status == "OK":
        # RFC 9051 6.3.9.4: \NonExistent implies \Noselect
        assert "z/b" not in names or names["z/b"] & {"\\noselect",
                                                     "\\nonexistent"}, names
    c.ok("DELETE z/b/c")
    c.ok("DELETE d")
    names = list_names(c.ok('LIST "" "*"'))
    assert "z/b/c" not in names and "d" not in names, names
    c.logout()


def test_delete_keeps_uids_unique(srv):
    """RFC 9051 6.3.5: a new mailbox by the same name must not reuse
    UIDs unless UIDVALIDITY changed."""
    c = logged_in(srv)
    c.ok("CREATE Box")
    r = c.append("Box", b"Subject: a\r\n\r\na\r\n")
    uv1, uid1 = r.code_named("APPENDUID").split()[1:3]
    c.ok("DELETE Box")
    c.ok("CREATE Box")
    r = c.append("Box", b"Subject: b\r\n\r\nb\r\n")
    uv2, uid2 = r.code_named("APPENDUID").split()[1:3]
    assert uv1 != uv2 or int(uid2) > int(uid1), (uv1, uid1, uv2, uid2)
    c.logout()


def test_rename_inbox(srv):
    deliver_n(srv, 2)
    c = logged_in(srv)
    # RFC 9051 6.3.6: messages move, INBOX stays and is empty
    c.ok("RENAME INBOX Old")
    st = status_of(c.ok("STATUS INBOX (MESSAGES)"))
    assert st["INBOX"]["MESSAGES"] == 0
    st = status_of(c.ok("STATUS Old (MESSAGES)"))
    assert st["Old"]["MESSAGES"] == 2
    srv.deliver_ok("alice", simple_message(9))
    st = status_of(c.ok("STATUS INBOX (MESSAGES)"))
    assert st["INBOX"]["MESSAGES"] == 1
    c.logout()


def test_subscribe_lsub(srv):
    c = logged_in(srv)
    c.ok("CREATE Lists/one")
    c.ok("CREATE Lists/two")
    c.ok("SUBSCRIBE Lists/one")
    r = c.ok('LSUB "" "*"')
    assert "Lists/one" in list_names(r), r
    assert "Lists/two" not in list_names(r), r
    # RFC 5258 3.1: SUBSCRIBED selection gives \Subscribed
    r = c.ok('LIST (SUBSCRIBED) "" "*"')
    names = list_names(r)
    assert "Lists/one" in names and "\\subscribed" in names["Lists/one"]
    assert "Lists/two" not in names
    # RECURSIVEMATCH: the parent reports CHILDINFO ("SUBSCRIBED")
    r = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert any(b"CHILDINFO" in u.upper() and b"Lists" in u
               for u in r.untagged), r
    c.ok("UNSUBSCRIBE Lists/one")
    assert "Lists/one" not in list_names(c.ok('LSUB "" "*"'))
    # RFC 9051 6.3.7: subscribing to a nonexistent name may succeed or
    # fail, but must not create it
    c.cmd("SUBSCRIBE Ghost")
    names = list_names(c.ok('LIST "" "Ghost"'))
    assert "Ghost" not in names or "\\nonexistent" in names["Ghost"] \
        or "\\noselect" in names["Ghost"], names
    c.logout()


def test_subscribed_child_of_missing_parent(srv):
    # A subscribed name whose parent exists in no form (not on disk, not
    # subscribed): the parent is still reported where a client walks
    # the tree level by level.
    c = logged_in(srv)
    c.ok("SUBSCRIBE Gone/child")
    # RFC 5258 3.5 (example A2): \NonExistent with CHILDINFO
    r = c.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert (b'* LIST (\\NonExistent) "/" "Gone" ("CHILDINFO" ("SUBSCRIBED"))'
            b"\r\n") in r.untagged, r
    # RFC 3501 6.3.9: LSUB with "%" returns the parent as \Noselect
    r = c.ok('LSUB "" "%"')
    assert b'* LSUB (\\Noselect) "/" "Gone"\r\n' in r.untagged, r
    # plain LIST knows neither
    names = list_names(c.ok('LIST "" "*"'))
    assert "Gone" not in names and "Gone/child" not in names, names
    c.logout()


def test_list_special_use_children_delimiter(srv):
    c = logged_in(srv)
    # RFC 9051 6.3.9: the empty pattern returns the delimiter
    r = c.ok('LIST "" ""')
    d = r.data("LIST")
    assert len(d) == 1 and d[0][1] == b"/" and "\\noselect" in \
        {a.decode().lower() for a in d[0][0]}, r
    r = c.ok('LIST "" "*"')
    names = list_names(r)
    # RFC 6154 2: the default folders with their SPECIAL-USE attributes
    expect = {"Sent": "\\sent", "Drafts": "\\drafts", "Trash": "\\trash",
              "Junk": "\\junk", "Archive": "\\archive"}
    assert "INBOX" in names, names
    for n, a in expect.items():
        assert n in names and a in names[n], (n, names)
    # RFC 9051 7.3.1 / 3348: CHILDREN attributes
    c.ok("CREATE Parent/Kid")
    names = list_names(c.ok('LIST "" "*"'))
    assert "\\haschildren" in names["Parent"], names
    assert "\\hasnochildren" in names["Parent/Kid"], names
    assert not ({"\\haschildren", "\\hasnochildren"} <= names["Parent"])
    # "%" does not match the delimiter
    names = list_names(c.ok('LIST "" "%"'))
    assert "Parent" in names and "Parent/Kid" not in names, names
    names = list_names(c.ok('LIST "Parent/" "%"'))
    assert list(names) == ["Parent/Kid"], names
    # RFC 6154 5.1: SPECIAL-USE selection
    names = list_names(c.ok('LIST (SPECIAL-USE) "" "*"'))
    assert set(names) == set(expect), names
    names = list_names(c.ok('LIST "" "*" RETURN (SPECIAL-USE)'))
    assert "\\sent" in names["Sent"] and "Parent" in names
    # RFC 5258 3: several patterns
    names = list_names(c.ok('LIST "" ("INBOX" "Tr*")'))
    assert set(names) == {"INBOX", "Trash"}, names
    # INBOX is case-insensitive (RFC 9051 5.1)
    names = list_names(c.ok('LIST "" "inbox"'))
    assert list(names) == ["INBOX"], names
    c.logout()


def test_list_status(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    c.select()
    c.ok("STORE 1 +FLAGS (\\Seen)")
    # RFC 5819: STATUS after each LIST, for selectable mailboxes
    r = c.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN))')
    st = status_of(r)
    assert st["INBOX"] == {"MESSAGES": 3, "UNSEEN": 2}, r
    assert st["Sent"] == {"MESSAGES": 0, "UNSEEN": 0}, r
    assert set(st) == set(list_names(r)), r
    c.logout()


def test_list_extended_return_options(srv):
    c = logged_in(srv)
    c.ok("CREATE Top/Sub")
    c.ok("SUBSCRIBE Top/Sub")
    c.ok("SUBSCRIBE INBOX")
    # RFC 5258 4: RETURN (SUBSCRIBED) marks \Subscribed, lists all
    names = list_names(c.ok('LIST "" "*" RETURN (SUBSCRIBED CHILDREN)'))
    assert "\\subscribed" in names["Top/Sub"], names
    assert "\\subscribed" in names["INBOX"], names
    assert "\\subscribed" not in names["Top"], names
    assert "\\haschildren" in names["Top"], names
    assert "\\hasnochildren" in names["Top/Sub"], names
    # a bad selection option is BAD (RFC 5258 3)
    assert c.cmd('LIST (NOSUCHOPTION) "" "*"').status == "BAD"
    # RECURSIVEMATCH alone is BAD (RFC 5258 3)
    assert c.cmd('LIST (RECURSIVEMATCH) "" "*"').status == "BAD"
    # a deleted subscribed mailbox: \NonExistent \Subscribed (RFC 5258 3)
    c.ok("DELETE Top/Sub")
    names = list_names(c.ok('LIST (SUBSCRIBED) "" "*"'))
    assert names.get("Top/Sub", set()) >= {"\\subscribed", "\\nonexistent"}, \
        names
    c.logout()


def test_status_items(srv):
    msgs = deliver_n(srv, 3)
    c = logged_in(srv)
    c.select()
    c.ok("STORE 2 +FLAGS (\\Seen \\Deleted)")
    c.ok("UNSELECT")
    r = c.ok("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE "
             "DELETED)")
    st = status_of(r)["INBOX"]
    assert st["MESSAGES"] == 3 and st["UNSEEN"] == 2 and st["DELETED"] == 1
    # RFC 8438: SIZE is the total of RFC822.SIZE
    assert st["SIZE"] == sum(len(crlf(m)) for m in msgs), st
    assert st["UIDNEXT"] >= 4 and st["UIDVALIDITY"] > 0
    r = c.ok("STATUS INBOX (RECENT)")  # rev1 clients may still ask
    c.ok("ENABLE IMAP4rev2")
    assert c.cmd("STATUS INBOX (BOGUS)").status == "BAD"
    c.logout()


def test_append_flags_date_appenduid(srv):
    c = logged_in(srv)
    msg = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    r = c.append("INBOX", msg, flags="\\Seen $Label1",
                 date="05-Mar-2021 13:14:15 +0200")
    assert r.status == "OK", r
    au = r.code_named("APPENDUID")  # RFC 4315 3
    assert au, r
    _, uv, uid = au.split()
    r = c.select()
    assert int(r.code_named("UIDVALIDITY").split()[1]) == int(uv)
    f, _ = c.fetch(uid, "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
                   uid=True)
    (item,) = f.values()
    flags = {x.decode().lower() for x in item["FLAGS"]} - {"\\recent"}
    assert flags == {"\\seen", "$label1"}, item
    assert same_instant(item["INTERNALDATE"], "05-Mar-2021 13:14:15 +0200")
    assert int(item["RFC822.SIZE"]) == len(msg)
    assert item["BODY[]"] == msg
    # keyword shows in FLAGS/PERMANENTFLAGS (RFC 9051 2.3.2: persist)
    r = c.select()
    assert b"$Label1" in b"".join(r.untagged), r
    # LITERAL+ / LITERAL- (4096 bytes) non-synchronizing
    r = c.append("INBOX", b"Subject: plus\r\n\r\nx\r\n", plus=True)
    assert r.status == "OK", r
    # RFC 9051 6.3.12: TRYCREATE for a missing mailbox
    r = c.append("Nowhere", b"Subject: x\r\n\r\nx\r\n")
    assert r.status == "NO" and r.code_named("TRYCREATE"), r
    # \Recent cannot be set (RFC 9051 2.3.2); a bad date is BAD
    r = c.append("INBOX", b"Subject: x\r\n\r\nx\r\n", date="31-Foo-2021 "
                 "00:00:00 +0000")
    assert r.status == "BAD", r
    c.logout()


def test_append_too_big(inst):
    inst.configure(max_message_size=20000)
    start(inst)
    c = logged_in(inst)
    caps = c.capabilities()
    lim = [x for x in caps if x.startswith("APPENDLIMIT")][0]
    if "=" in lim:  # RFC 7889 3.1
        assert lim == "APPENDLIMIT=20000", caps
    c.send(b"a1 APPEND INBOX {30000}\r\n")
    r = c.read_resp()
    assert not r.startswith(b"+"), "server invited an over-limit APPEND"
    assert r.startswith(b"a1 NO") or r.startswith(b"a1 BAD"), r
    assert b"[TOOBIG]" in r.upper(), r  # RFC 7889 4 / RFC 4469 4.2
    assert c.cmd("NOOP").status == "OK"
    assert c.append("INBOX", b"Subject: ok\r\n\r\nsmall\r\n").status == "OK"
    c.logout()


def test_utf8_names_rev2_and_mutf7_rev1(srv):
    c = logged_in(srv)
    c.ok("ENABLE UTF8=ACCEPT")
    name = "Café/日本語"
    c.ok("CREATE %s" % quote(name))
    names = list_names(c.ok('LIST "" "*"'))
    assert "Café" in names and name in names, names
    c.append(name, b"Subject: u\r\n\r\nu\r\n")
    c.logout()
    # an IMAP4rev1 client without UTF8=ACCEPT sees modified UTF-7
    # (RFC 3501 5.1.3)
    c = logged_in(srv)
    names = list_names(c.ok('LIST "" "*"'))
    assert "Caf&AOk-" in names and "Caf&AOk-/&ZeVnLIqe-" in names, names
    st = status_of(c.ok('STATUS "Caf&AOk-/&ZeVnLIqe-" (MESSAGES)'))
    assert st["Caf&AOk-/&ZeVnLIqe-"]["MESSAGES"] == 1
    c.ok('CREATE "&AMk-t&AOk-"')  # "Été"
    # "&" itself is "&-"
    c.ok('CREATE "R&-D"')
    c.logout()
    c = logged_in(srv)
    c.ok("ENABLE IMAP4rev2")
    names = list_names(c.ok('LIST "" "*"'))
    assert "Été" in names and "R&D" in names, names
    c.logout()
    # a malformed modified UTF-7 name is refused, not created (5.1.3)
    c = logged_in(srv)
    for bad in ('"&Jjo"', '"&U,BTFw-&ZeVnLIqe-"', '"a&AGE-"'):
        r = c.cmd("CREATE %s" % bad)
        assert r.status in ("NO", "BAD"), (bad, r)
    c.logout()


@pytest.mark.parametrize("name", ["../x", "a/../../b", ".hidden", "..",
                                  "a/./b", "x/.y", "/abs", "a//b",
                                  "a\\b/../../c"],
                         ids=["dotdot-x", "a-up-up-b", "hidden", "dotdot",
                              "a-dot-b", "x-dotted", "leading-slash",
                              "double-slash", "backslash-up"])
def test_escaping_names_refused(srv, name):
    c = logged_in(srv)
    c.ok("ENABLE UTF8=ACCEPT")
    before = set(os.listdir(srv.mail_dir))
    alice_before = set(os.listdir(srv.maildir("alice")))
    r = c.cmd("CREATE %s" % quote(name))
    assert r.status in ("NO", "BAD"), (name, r)
    r = c.append(name, b"Subject: x\r\n\r\nx\r\n")
    assert r.status in ("NO", "BAD"), (name, r)
    r = c.cmd("RENAME Trash %s" % quote(name))
    assert r.status in ("NO", "BAD"), (name, r)
    assert set(os.listdir(srv.mail_dir)) == before
    # nothing new inside the user's Maildir either, nothing outside it
    assert set(os.listdir(srv.maildir("alice"))) - alice_before <= \
        {"dovecot-uidlist"}, os.listdir(srv.maildir("alice"))
    assert not os.path.exists(os.path.join(srv.mail_dir, "x"))
    assert not os.path.exists(os.path.join(srv.mail_dir, "b"))
    assert not os.path.exists(os.path.join(srv.mail_dir, "c"))
    c.logout()


def test_list_patterns_of_unusual_atom_chars(srv):
    """Every ATOM-CHAR is legal in a LIST pattern (RFC 3501/9051
    list-mailbox), '[' '}' '!#$&'+' included; one that is not modified
    UTF-7 ("&'+") is taken as spelt, and finds the name spelt so."""
    c = logged_in(srv)
    c.ok('CREATE "!#$&-\'+"')
    for pat in ("[", "}", "a]b", "*[*", "%}%", "~x", "&"):
        r = c.cmd('LIST "" %s' % pat)
        assert r.status == "OK", (pat, r)
    for pat in ("!#$&'+", "!#$&-'+", "*&*"):
        names = list_names(c.ok('LIST "" %s' % pat))
        assert list(names) == ["!#$&-'+"], (pat, names)  # mUTF-7
    assert c.cmd("NOOP").status == "OK"  # the session goes on
    c.logout()


def test_recursivematch_childinfo_rfc5258_example_9(srv):
    """RFC 5258 section 5, example 9: CHILDINFO on every listed name
    with a subscribed descendant, whether or not the name is subscribed
    itself ("eps2") or its children match the pattern ("foo2")."""
    c = logged_in(srv)
    for m in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22",
              "baz2/bar222", "eps2/mamba", "qux2/bar2"):
        c.ok('CREATE "%s"' % m)
    c.ok('DELETE "qux2"')
    for m in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22",
              "baz2/bar222", "eps2", "eps2/mamba", "qux2/bar2"):
        c.ok('SUBSCRIBE "%s"' % m)
    r = c.ok('LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"')
    got = {}
    for u in r.untagged:
        m = re.match(rb'\* LIST \(([^)]*)\) "/" "([^"]+)"(.*)\r\n', u)
        assert m, u
        got[m.group(2).decode()] = (b"\\Subscribed" in m.group(1),
                                    b"CHILDINFO" in m.group(3))
    want = {"foo2": (False, True), "foo2/bar2": (True, False),
            "baz2/bar2": (True, False), "baz2/bar22": (True, False),
            "baz2/bar222": (True, False), "eps2": (True, True),
            "qux2/bar2": (True, False)}
    # the RFC allows the redundant "baz2" and "qux2" with CHILDINFO too
    for extra in ("baz2", "qux2"):
        if extra in got:
            assert got.pop(extra) == (False, True), r
    assert got == want, r
    c.logout()
