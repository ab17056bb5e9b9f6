"""The selected state (RFC 9051 6.3.2-6.4) against the real daemon:
SELECT/EXAMINE responses, CHECK, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE,
STORE, COPY/MOVE with COPYUID, UID commands, pipelining and long replies.
FETCH and SEARCH items are in test_imap_fetch_search.py."""

import re


# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import (bad_or_no, deliver_n, drop, list_names, logged_in,
                      parse)


def test_select_rev1_responses(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    r = c.select("INBOX")
    assert r.data("EXISTS") == [3], r
    # RFC 3501 6.3.1: RECENT is required for IMAP4rev1
    assert len(r.data("RECENT")) == 1, r
    flags = r.data("FLAGS")
    assert len(flags) == 1, r
    fl = {f.decode().lower() for f in flags[0][0]}
    assert {"\\answered", "\\flagged", "\\deleted", "\\seen",
            "\\draft"} <= fl, fl
    perm = r.code_named("PERMANENTFLAGS")
    assert perm and "\\*" in perm, r  # keywords can be created
    uv = r.code_named("UIDVALIDITY")
    assert uv and int(uv.split()[1]) > 0, r
    un = r.code_named("UIDNEXT")
    assert un and int(un.split()[1]) >= 4, r
    assert r.code.upper() == "READ-WRITE", r
    # EXAMINE: read-only (RFC 9051 6.3.3)
    r = c.select("INBOX", examine=True)
    assert r.code.upper() == "READ-ONLY", r
    assert c.cmd("STORE 1 +FLAGS (\\Flagged)").status == "NO"
    c.logout()


def test_select_rev2_responses_and_closed(srv):
    deliver_n(srv, 2)
    c = logged_in(srv)
    c.ok("ENABLE IMAP4rev2")
    r = c.select("INBOX")
    assert r.data("EXISTS") == [2], r
    assert not r.data("RECENT"), "RFC 9051 has no RECENT response: %r" % r
    # RFC 9051 6.3.2: SELECT returns a LIST response with the name
    lists = list_names(r)
    assert list(lists) == ["INBOX"], r
    assert r.code_named("UIDVALIDITY") and r.code_named("UIDNEXT")
    # RFC 9051 6.3.2: deselecting by SELECT sends OK [CLOSED]
    r = c.select("Sent")
    assert r.code_named("CLOSED"), r
    assert r.data("EXISTS") == [0]
    # a failed SELECT leaves no mailbox selected
    r = c.cmd("SELECT nosuch")
    assert r.status == "NO" and r.code_named("NONEXISTENT"), r
    assert bad_or_no(c.cmd("FETCH 1 FLAGS"))
    c.logout()


def test_check_close_unselect_expunge(srv):
    deliver_n(srv, 5)
    c = logged_in(srv)
    c.select()
    assert c.ok("CHECK")
    c.ok("STORE 2,4 +FLAGS.SILENT (\\Deleted)")
    # UNSELECT does not expunge (RFC 3691 / RFC 9051 6.4.2)
    r = c.ok("UNSELECT")
    assert not r.data("EXPUNGE")
    r = c.select()
    assert r.data("EXISTS") == [5]
    # CLOSE expunges silently (RFC 9051 6.4.1)
    r = c.ok("CLOSE")
    assert not r.data("EXPUNGE"), r
    assert bad_or_no(c.cmd("FETCH 1 FLAGS"))
    r = c.select()
    assert r.data("EXISTS") == [3]
    # CLOSE after EXAMINE expunges nothing
    c.ok("STORE 1 +FLAGS (\\Deleted)")
    c.select(examine=True)
    c.ok("CLOSE")
    r = c.select()
    assert r.data("EXISTS") == [3]
    # EXPUNGE reports each message, sequence numbers as they shift
    # (RFC 9051 7.5.1): deleting 1,2,3 gives "1 1 1" or "3 2 1"
    c.ok("STORE 2:3 +FLAGS (\\Deleted)")
    r = c.ok("EXPUNGE")
    ex = r.data("EXPUNGE")
    assert sorted(ex) in ([1, 1, 1], [1, 2, 3]) and len(ex) == 3, r
    if ex != [1, 1, 1]:
        assert ex == [3, 2, 1], ex
    r = c.ok("NOOP")
    assert c.cmd("FETCH 1 FLAGS").status in ("BAD", "NO")
    c.logout()


def test_uid_expunge(srv):
    deliver_n(srv, 4)
    c = logged_in(srv)
    c.select()
    f, _ = c.fetch("1:*", "(UID)")
    uids = [int(f[i]["UID"]) for i in sorted(f)]
    c.ok("STORE 1:* +FLAGS (\\Deleted)")
    # RFC 4315 2.1: only the listed UIDs that are \Deleted go
    r = c.ok("UID EXPUNGE %d" % uids[1])
    assert r.data("EXPUNGE") == [2], r
    f, _ = c.fetch("1:*", "(UID)")
    assert [int(f[i]["UID"]) for i in sorted(f)] == \
        [uids[0], uids[2], uids[3]]
    c.logout()


def test_copy_move_copyuid(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    c.select()
    f, _ = c.fetch("1:*", "(UID)")
    uids = [int(f[i]["UID"]) for i in sorted(f)]
    c.ok("STORE 1 +FLAGS (\\Flagged $Kw)")
    r = c.ok("COPY 1:2 Archive")
    cu = r.code_named("COPYUID")  # RFC 4315 3
    assert cu, r
    _, uv, src, dst = cu.split()
    assert src == "%d:%d" % (uids[0], uids[1]) or src == "%d,%d" % (
        uids[0], uids[1]), cu
    # the copies are there with the UIDs COPYUID named, and their flags
    # (RFC 9051 6.4.7 SHOULD)
    c2 = logged_in(srv)
    r2 = c2.select("Archive", examine=True)
    assert r2.data("EXISTS") == [2], r2
    assert r2.code_named("UIDVALIDITY").split()[1] == uv, (r2, cu)
    f2, _ = c2.fetch("1:2", "(UID FLAGS)")
    assert {x.decode().lower() for x in f2[1]["FLAGS"]} >= {"\\flagged",
                                                            "$kw"}
    got = [int(f2[i]["UID"]) for i in (1, 2)]
    assert got == expand_uidset(dst), (got, cu)
    c2.logout()
    # COPY to a missing mailbox: TRYCREATE (6.4.7)
    r = c.cmd("COPY 1 Nowhere")
    assert r.status == "NO" and r.code_named("TRYCREATE"), r
    # ... but not to a name that can never exist: CREATE would fail the
    # same way, so CANNOT (RFC 5530), as APPEND says
    for name in ('""', '"a.b"', '"a//b"'):
        for verb in ("COPY", "MOVE"):
            r = c.cmd("%s 1 %s" % (verb, name))
            assert r.status == "NO" and r.code_named("CANNOT") and \
                not r.code_named("TRYCREATE"), (verb, name, r)
    # MOVE (RFC 6851 3.3, 4.3): untagged OK [COPYUID], EXPUNGEs, tagged OK
    r = c.ok("MOVE 3 Trash")
    assert any(re.match(rb"\* OK \[COPYUID \d+ %d \d+\]" % uids[2], u)
               for u in r.untagged), r
    assert r.data("EXPUNGE") == [3], r
    r = c.ok("UID MOVE %d Trash" % uids[0])
    assert r.data("EXPUNGE") == [1], r
    r = c.select()
    assert r.data("EXISTS") == [1]
    r = c.select("Trash")
    assert r.data("EXISTS") == [2], r
    c.logout()


def test_copy_and_move_into_the_selected_mailbox(srv):
    """COPY and MOVE may name the selected mailbox itself (RFC 9051
    6.4.7; RFC 6851 section 3 does not forbid it, and Dovecot does it):
    the messages get new UIDs (COPYUID), keep flags and body, and MOVE
    expunges the originals; both the session and another one see it."""
    deliver_n(srv, 2)
    c = logged_in(srv)
    c.select()
    watcher = logged_in(srv)
    watcher.select()
    f, _ = c.fetch("1:*", "(UID BODY.PEEK[])")
    uids = [int(f[i]["UID"]) for i in sorted(f)]
    bodies = [bytes(f[i]["BODY[]"]) for i in sorted(f)]
    c.ok("STORE 1 +FLAGS (\\Flagged)")
    r = c.ok("COPY 1 INBOX")
    _, _, src, dst = r.code_named("COPYUID").split()
    assert int(src) == uids[0] and int(dst) > uids[1], r
    assert r.data("EXISTS") == [3], r
    r = c.ok("UID MOVE %d INBOX" % uids[1])
    cu = [u for u in r.untagged if b"COPYUID" in u]
    assert cu, r
    moved_to = int(re.search(rb"COPYUID \d+ \d+ (\d+)\]", cu[0]).group(1))
    assert r.data("EXPUNGE") == [2], r
    assert r.data("EXISTS") == [3], r
    f, _ = c.fetch("1:*", "(UID FLAGS BODY.PEEK[])")
    got = {int(f[i]["UID"]): (bytes(f[i]["BODY[]"]),
                              {x.decode().lower() for x in f[i]["FLAGS"]})
           for i in f}
    assert sorted(got) == [uids[0], int(dst), moved_to], got
    assert got[int(dst)][0] == bodies[0]
    assert "\\flagged" in got[int(dst)][1]
    assert got[moved_to][0] == bodies[1]
    r = watcher.ok("NOOP")
    f, _ = watcher.fetch("1:*", "(UID)")
    assert sorted(int(v["UID"]) for v in f.values()) == sorted(got)
    watcher.logout()
    c.logout()


def expand_uidset(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out += range(int(a), int(b or a) + 1)
    return out


def fetch_flags(c, seqs="1:*"):
    f, _ = c.fetch(seqs, "(FLAGS)")
    return {k: {x.decode().lower() for x in v["FLAGS"]} - {"\\recent"}
            for k, v in f.items()}


def test_store_variants(srv):
    deliver_n(srv, 3)
    c = logged_in(srv)
    c.select()
    # RFC 9051 6.4.6: FLAGS replaces, +FLAGS adds, -FLAGS removes; the
    # new flags come back in untagged FETCH unless .SILENT
    r = c.ok("STORE 1 FLAGS (\\Seen \\Answered)")
    assert {x.decode().lower() for x in r.fetch()[1]["FLAGS"]} - \
        {"\\recent"} == {"\\seen", "\\answered"}, r
    r = c.ok("STORE 1 +FLAGS (\\Flagged Custom1)")
    assert {x.decode().lower() for x in r.fetch()[1]["FLAGS"]} - \
        {"\\recent"} == {"\\seen", "\\answered", "\\flagged", "custom1"}
    r = c.ok("STORE 1 -FLAGS (\\Answered)")
    assert r.fetch()[1]
    r = c.ok("STORE 2:3 +FLAGS.SILENT (\\Draft)")
    assert not r.data("FETCH"), "FETCH after .SILENT: %r" % r
    # a single flag without parentheses (RFC 9051 9: flag-list / 1*flag)
    c.ok("STORE 3 +FLAGS \\Deleted")
    assert fetch_flags(c) == {1: {"\\seen", "\\flagged", "custom1"},
                              2: {"\\draft"},
                              3: {"\\draft", "\\deleted"}}
    # UID STORE reports UID in each FETCH (RFC 9051 6.4.9)
    f, _ = c.fetch("2", "(UID)")
    uid = int(f[2]["UID"])
    r = c.ok("UID STORE %d +FLAGS (\\Seen)" % uid)
    (d,) = r.fetch().values()
    assert int(d["UID"]) == uid, r
    # \Recent cannot be stored (RFC 3501 2.3.2); unknown \Xxx is BAD
    assert c.cmd("STORE 1 +FLAGS (\\Recent)").status == "BAD"
    assert c.cmd("STORE 1 +FLAGS (\\Bogus)").status == "BAD"
    assert c.cmd("STORE 1 XFLAGS (\\Seen)").status == "BAD"
    # keywords persist (issue #4) and are in FLAGS / PERMANENTFLAGS
    c.logout()
    c = logged_in(srv)
    r = c.select()
    flags_line = [u for u in r.untagged if u.startswith(b"* FLAGS")][0]
    assert b"Custom1" in flags_line, flags_line
    assert fetch_flags(c, "1")[1] == {"\\seen", "\\flagged", "custom1"}
    c.logout()



def test_new_keyword_announced_in_flags(srv):
    # A keyword new to the mailbox is announced with FLAGS before the
    # FETCH that carries it, to this session and to another one; .SILENT
    # suppresses FETCH, not FLAGS (RFC 9051 7.3.5; Dovecot does the same)
    deliver_n(srv, 1)
    a = logged_in(srv)
    a.select()
    b = logged_in(srv)
    b.select()
    r = a.ok("STORE 1 +FLAGS (Fresh1)")
    assert re.match(rb"\* FLAGS \(.*\bFresh1\)\r\n$", r.untagged[0]), r
    assert r.untagged[1].startswith(b"* OK [PERMANENTFLAGS (") and \
        b"Fresh1 \\*)]" in r.untagged[1], r
    assert r.untagged[2].startswith(b"* 1 FETCH"), r
    # the same list again: nothing new to say
    r = a.ok("STORE 1 -FLAGS (Fresh1)")
    assert not [u for u in r.untagged if u.startswith(b"* FLAGS")], r
    r = a.ok("STORE 1 +FLAGS.SILENT (Fresh2)")
    assert [u for u in r.untagged if u.startswith(b"* FLAGS")], r
    assert not r.data("FETCH"), r
    r = b.ok("NOOP")
    flags = [i for i, u in enumerate(r.untagged) if u.startswith(b"* FLAGS")]
    fetch = [i for i, u in enumerate(r.untagged) if b" FETCH " in u]
    assert flags and fetch and flags[0] < fetch[0], r
    assert b"Fresh2" in r.untagged[flags[0]], r
    # RFC 9051 7.1 PERMANENTFLAGS: once no more keywords can be made, a
    # new PERMANENTFLAGS without \* MUST be sent (the store has 26)
    kws = " ".join("Kw%d" % i for i in range(24))
    r = a.ok("STORE 1 +FLAGS (%s)" % kws)
    perm = [u for u in r.untagged if b"PERMANENTFLAGS" in u]
    assert len(perm) == 1 and b"\\*" not in perm[0], r
    assert a.cmd("STORE 1 +FLAGS (OneTooMany)").status == "NO"
    a.logout()
    b.logout()


def test_uid_commands_ignore_missing_uids(srv):
    deliver_n(srv, 2)
    c = logged_in(srv)
    c.select()
    # RFC 9051 6.4.9: a non-existent UID is ignored without error
    r = c.ok("UID FETCH 9000:9999 (FLAGS)")
    assert not r.data("FETCH"), r
    r = c.ok("UID STORE 9000 +FLAGS (\\Seen)")
    assert not r.data("FETCH"), r
    r = c.ok("UID SEARCH UID 9000:9999")
    assert r.data("SEARCH") in ([[]], []), r
    # n:* with n past the end matches the last message (RFC 9051 6.4.9)
    r = c.ok("UID FETCH 9000:* (UID)")
    assert list(r.fetch()) == [2], r
    r = c.ok("UID COPY 9000 Trash")
    assert not r.code_named("COPYUID"), r  # nothing was copied
    c.select("Drafts")  # provisioned and empty
    r = c.ok("UID FETCH 1:* (FLAGS)")
    assert not r.data("FETCH"), r
    c.logout()


def test_pipelined_commands_in_order(srv):
    c = logged_in(srv)
    msg = b"Subject: piped\r\n\r\npipelined\r\n"
    # RFC 9051 5.5: the client may send several commands without waiting;
    # results come in order here as every command depends on the previous
    c.send(b"p1 APPEND INBOX {%d+}\r\n%s\r\np2 SELECT INBOX\r\n"
           b"p3 FETCH 1 (BODY.PEEK[])\r\np4 NOOP\r\n" % (len(msg), msg)
           if "LITERAL+" in c.capabilities() else
           b"p2 SELECT INBOX\r\np3 FETCH 1 (BODY.PEEK[])\r\np4 NOOP\r\n")
    seen = []
    fetched = None
    while True:
        line = c.read_resp()
        m = re.match(rb"(p\d) (OK|NO|BAD)", line)
        if m:
            seen.append((m.group(1).decode(), m.group(2).decode()))
            if m.group(1) == b"p4":
                break
        elif b"FETCH" in line:
            fetched = parse(line[2:])
    tags = [t for t, _ in seen]
    assert tags == sorted(tags), seen
    assert all(s == "OK" for _, s in seen), seen
    if "p1" in tags:
        assert fetched[2][1] == msg, fetched
    c.logout()


def test_large_fetch_plain_and_tls(srv):
    """A long reply pauses and resumes as the client reads (STYLE 3): 6 MB
    of body over plain and TLS, byte-exact."""
    big = (b"Subject: big\r\n\r\n" +
           b"".join(b"%07d " % i + b"y" * 70 + b"\r\n"
                    for i in range(80000)))
    drop(srv, big)
    for tls in (False, True):
        c = logged_in(srv, tls=tls)
        c.select()
        f, _ = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        assert int(f[1]["RFC822.SIZE"]) == len(big)
        assert f[1]["BODY[]"] == big
        assert c.cmd("NOOP").status == "OK"
        c.logout()
