"""IMAP4rev2 (RFC 9051) / IMAP4rev1 (RFC 3501) commands and error paths,
state by state, against the real daemon.

Most tests use the byte-exact client of imaputil; test_imaplib_* show that
Python's stock imaplib works end to end.
"""

import base64
import datetime
import imaplib
import os
import re
import time

import pytest

from conftest import PASSWORD, client_tls_context, simple_message
# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import (CAPS_ALWAYS, CAPS_AUTH, CAPS_PRELOGIN, Lit, S,
                      connect, crlf, drop, logged_in, parse, quote, start)

# Capabilities a server may add to the list without a test here
# being wrong about it.
CAPS_OPTIONAL = {"CONDSTORE"}


def caps_check(caps, before_login, tls, plaintext_ok=True):
    """The exact extension list of issue #4 (RFC 9051 7.2.2 CAPABILITY)."""
    lit = {"LITERAL+", "LITERAL-"} & caps
    # RFC 7888 section 5: never both.
    assert len(lit) == 1, "need exactly one of LITERAL+/LITERAL-: %r" % caps
    appendlimit = {c for c in caps if c.startswith("APPENDLIMIT")}
    assert len(appendlimit) == 1, "APPENDLIMIT (RFC 7889): %r" % caps
    expected = set(CAPS_ALWAYS)
    if before_login:
        expected |= CAPS_AUTH | CAPS_PRELOGIN
        if not tls:
            expected.add("STARTTLS")
        if not plaintext_ok:
            expected.add("LOGINDISABLED")
            # RFC 9051 6.2.3 / 7.2.2: no plaintext mechanism before TLS
            expected.discard("AUTH=PLAIN")
            expected.discard("AUTH=LOGIN")
    missing = expected - caps
    assert not missing, "missing %r in %r" % (missing, caps)
    extra = caps - expected - lit - appendlimit - CAPS_OPTIONAL - \
        CAPS_PRELOGIN
    if not plaintext_ok and before_login:
        extra -= CAPS_AUTH
    assert not extra, "unexpected %r in %r" % (extra, caps)


def deliver_n(inst, n, user="alice"):
    msgs = [simple_message(i) for i in range(1, n + 1)]
    for m in msgs:
        inst.deliver_ok(user, m)
    return msgs


def list_names(r):
    """{name: set(attributes)} of the LIST/LSUB responses in r."""
    out = {}
    for kind in ("LIST", "LSUB"):
        for d in r.data(kind):
            attrs, delim, name = d[0], d[1], d[2]
            assert delim in (b"/", None), d
            out[bytes(name).decode("utf-8")] = {a.decode().lower()
                                                for a in attrs}
    return out


def status_of(r):
    out = {}
    for d in r.data("STATUS"):
        items = d[1]
        out[bytes(d[0]).decode("utf-8")] = {
            items[k].decode().upper(): int(items[k + 1])
            for k in range(0, len(items), 2)}
    return out


def same_instant(a, b):
    """INTERNALDATE: the zone it is shown in is the server's choice."""
    fmt = "%d-%b-%Y %H:%M:%S %z"
    return (datetime.datetime.strptime(a.decode().strip(), fmt) ==
            datetime.datetime.strptime(b, fmt))


def bad_or_no(r):
    return r.status in ("BAD", "NO")


# ---- not authenticated ---------------------------------------------------

def test_greeting_and_capability_plain(srv):
    c = connect(srv)
    # RFC 9051 7.1.1: the greeting is an untagged OK (or PREAUTH/BYE)
    assert c.greeting.startswith(b"* OK"), c.greeting
    caps = c.capabilities()
    caps_check(caps, before_login=True, tls=False)
    m = re.search(rb"\[CAPABILITY ([^\]]*)\]", c.greeting)
    if m:  # RFC 9051 7.1: the greeting's list must be the real one
        assert {x.upper() for x in m.group(1).decode().split()} == caps
    c.login()
    after = c.capabilities()
    caps_check(after, before_login=False, tls=False)
    c.logout()


def test_capability_after_starttls(srv):
    c = connect(srv)
    c.starttls()
    caps = c.capabilities()
    # RFC 9051 6.2.1: client MUST discard cached capabilities after TLS;
    # STARTTLS is not offered twice
    caps_check(caps, before_login=True, tls=True)
    c.login()
    caps_check(c.capabilities(), before_login=False, tls=True)
    c.logout()


def test_imaps(srv):
    c = connect(srv, tls=True)
    assert c.greeting.startswith(b"* OK"), c.greeting
    caps_check(c.capabilities(), before_login=True, tls=True)
    c.login()
    c.select("INBOX")
    c.logout()


def test_logindisabled_without_tls(inst):
    inst.configure(allow_plaintext_auth_loopback="no")
    start(inst)
    c = connect(inst)
    caps = c.capabilities()
    caps_check(caps, before_login=True, tls=False, plaintext_ok=False)
    # RFC 9051 6.2.3: LOGIN refused while LOGINDISABLED is advertised;
    # 7.1: PRIVACYREQUIRED
    r = c.cmd("LOGIN alice %s" % quote(PASSWORD))
    assert r.status == "NO", r
    assert r.code_named("PRIVACYREQUIRED"), r
    r = c.cmd("AUTHENTICATE PLAIN %s" % base64.b64encode(
        b"\0alice\0" + PASSWORD.encode()).decode())
    assert r.status in ("NO", "BAD"), r
    # still not authenticated
    assert bad_or_no(c.cmd("SELECT INBOX"))
    c.starttls()
    caps = c.capabilities()
    assert "LOGINDISABLED" not in caps, caps
    assert "AUTH=PLAIN" in caps, caps
    c.login()
    c.logout()
    # IMAPS is fine
    c = connect(inst, tls=True)
    assert "LOGINDISABLED" not in c.capabilities()
    c.login()
    c.logout()


def test_starttls_pipelined_plaintext_discarded(srv):
    """RFC 9051 6.2.1 / RFC 2595 3.1: whatever follows STARTTLS before the
    handshake is discarded, never executed (the CVE-2011-0411 class)."""
    c = connect(srv)
    c.send(b"s1 STARTTLS\r\ns2 LOGIN alice %s\r\ns3 NOOP\r\n"
           % quote(PASSWORD).encode())
    line = b""
    while not line.endswith(b"\r\n"):
        ch = c.sock.recv(1)
        assert ch, "closed after %r" % line
        line += ch
    assert line.startswith(b"s1 OK"), line
    c.sock = client_tls_context().wrap_socket(c.sock)
    r = c.cmd("CAPABILITY")
    assert r.status == "OK"
    for u in r.untagged:
        assert not u.startswith(b"s2") and not u.startswith(b"s3"), u
    caps = {x.decode().upper() for x in r.data("CAPABILITY")[0]}
    assert "AUTH=PLAIN" in caps, "s2 LOGIN was executed: %r" % caps
    r = c.cmd("SELECT INBOX")
    assert bad_or_no(r), "pipelined LOGIN ran: %r" % r
    c.login()
    r = c.cmd("NOOP")
    assert r.status == "OK"
    assert not c.drain(0.3), "late replies to discarded commands"
    c.logout()


def test_login_wrong_password_and_unknown_user(srv):
    c = connect(srv)
    for user, pw in (("alice", "wrong"), ("nobody", "wrong")):
        r = c.cmd("LOGIN %s %s" % (user, pw))
        # RFC 9051 7.1: AUTHENTICATIONFAILED; same reply for both
        assert r.status == "NO", r
        assert r.code_named("AUTHENTICATIONFAILED"), r
    c.login()
    c.logout()


def test_authenticate_plain_continuation_and_sasl_ir(srv):
    creds = base64.b64encode(b"\0alice\0" + PASSWORD.encode())
    c = connect(srv)
    c.send(b"a1 AUTHENTICATE PLAIN\r\n")
    cont = c.read_resp()
    # RFC 9051 6.2.2: empty challenge is "+ " (or "+" with nothing)
    assert cont.startswith(b"+"), cont
    c.send(creds + b"\r\n")
    r = c.finish("a1")
    assert r.status == "OK", r
    assert c.ok("SELECT INBOX")
    c.logout()
    # RFC 4959: SASL-IR, the initial response in the command
    c = connect(srv)
    r = c.cmd(b"AUTHENTICATE PLAIN " + creds)
    assert r.status == "OK", r
    c.logout()
    # bad credentials
    c = connect(srv)
    r = c.cmd(b"AUTHENTICATE PLAIN " +
              base64.b64encode(b"\0alice\0nope"))
    assert r.status == "NO" and r.code_named("AUTHENTICATIONFAILED"), r
    c.logout()


def test_authenticate_login_and_cancel(srv):
    c = connect(srv)
    c.send(b"a1 AUTHENTICATE LOGIN\r\n")
    assert c.read_resp().startswith(b"+")
    c.send(base64.b64encode(b"alice") + b"\r\n")
    assert c.read_resp().startswith(b"+")
    c.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert c.finish("a1").status == "OK"
    c.logout()
    # RFC 9051 6.2.2: "*" cancels; the server MUST reply BAD
    c = connect(srv)
    c.send(b"a2 AUTHENTICATE PLAIN\r\n")
    assert c.read_resp().startswith(b"+")
    c.send(b"*\r\n")
    r = c.finish("a2")
    assert r.status == "BAD", r
    c.login()
    c.logout()
    # an unknown mechanism is NO (RFC 9051 6.2.2)
    c = connect(srv)
    r = c.cmd("AUTHENTICATE X-UNKNOWN")
    assert r.status in ("NO", "BAD"), r
    c.logout()


def test_noop_logout(srv):
    c = connect(srv)
    assert c.cmd("NOOP").status == "OK"
    c.send(b"z LOGOUT\r\n")
    # RFC 9051 6.1.3: untagged BYE, then the tagged OK, then close
    bye = c.read_resp()
    assert bye.startswith(b"* BYE"), bye
    ok = c.read_resp()
    assert ok.startswith(b"z OK"), ok
    assert c.expect_eof() == b""


def test_unknown_command_and_bad_syntax_go_on(srv):
    c = connect(srv)
    # RFC 9051 7.1.5: BAD for unknown commands and syntax errors
    assert c.cmd("FROBNICATE").status == "BAD"
    assert c.cmd('LOGIN "unterminated').status == "BAD"
    assert c.cmd("NOOP").status == "OK"
    c.login()
    assert c.cmd("LIST").status == "BAD"
    c.send(b"\r\n")  # an empty line: BAD (untagged or tagged "*")
    line = c.read_resp()
    assert b"BAD" in line, line
    assert c.cmd("SELECT").status == "BAD"
    assert c.cmd("NOOP").status == "OK"
    c.logout()


def test_wrong_state(srv):
    deliver_n(srv, 1)
    # RFC 9051 3: commands valid only in later states are refused; one
    # connection per command so that no bad-command limit interferes
    for cmd in ("SELECT INBOX", "LIST \"\" *", "CREATE x", "STATUS INBOX "
                "(MESSAGES)", "FETCH 1 FLAGS", "EXPUNGE", "CLOSE",
                "ENABLE IMAP4rev2", "NAMESPACE", "IDLE", "APPEND INBOX {1+}"
                "\r\nx"):
        c = connect(srv)
        r = c.cmd(cmd)
        assert bad_or_no(r), "%s before login: %r" % (cmd, r)
        c.close()
    cmds = ["LOGIN alice %s" % quote(PASSWORD), "STARTTLS",
            "FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL",
            "EXPUNGE", "CLOSE", "UNSELECT", "COPY 1 Trash", "MOVE 1 Trash",
            "UID FETCH 1 FLAGS", "CHECK"]
    for i in range(0, len(cmds), 3):
        c = logged_in(srv)
        # RFC 9051 6.2: LOGIN/AUTHENTICATE/STARTTLS only when not
        # authenticated; 6.4: the rest only with a selected mailbox
        for cmd in cmds[i:i + 3]:
            r = c.cmd(cmd)
            assert bad_or_no(r), "%s when authenticated: %r" % (cmd, r)
        c.close()
    c = logged_in(srv)
    c.select()
    assert bad_or_no(c.cmd("AUTHENTICATE PLAIN"))
    assert c.cmd("FETCH 1 FLAGS").status == "OK"
    # a bad sequence number is BAD (RFC 9051 6.4.5 / 7.1.5)
    assert c.cmd("FETCH 5 FLAGS").status in ("BAD", "NO")
    c.logout()


def test_too_many_bad_commands_bye(srv):
    c = connect(srv)
    got_bye = False
    for i in range(100):
        try:
            c.send(b"x%d GARBAGE\r\n" % i)
            line = c.read_resp()
        except (EOFError, ConnectionResetError, BrokenPipeError):
            break
        if line.startswith(b"* BYE"):
            got_bye = True
            break
        assert b"BAD" in line, line
    assert got_bye, "no BYE after 100 bad commands"
    c.expect_eof()


def test_oversized_literal_toobig(srv):
    c = connect(srv)
    # RFC 7888 4/5, RFC 4469 4.2: a literal over the limit is refused
    # before the client sends it (no "+" continuation)
    c.send(b"a1 LOGIN {200000000}\r\n")
    r = c.read_resp()
    assert not r.startswith(b"+"), "server invited a 200 MB login literal"
    if r.startswith(b"* BYE"):  # RFC 7888 4: BYE is allowed, too
        return
    assert r.startswith(b"a1 BAD") or r.startswith(b"a1 NO"), r
    assert b"[TOOBIG]" in r.upper(), r
    # the session goes on (the literal was never sent)
    assert c.cmd("NOOP").status == "OK"
    # a non-synchronizing literal over 4096 (LITERAL-) or over the limit
    # (LITERAL+) is refused with TOOBIG and its bytes are discarded
    caps = c.capabilities()
    size = 5000 if "LITERAL-" in caps else 200000
    c.send(b"a2 LOGIN {%d+}\r\n" % size + b"x" * size + b" pw\r\n")
    r = c.read_resp()
    assert b"TOOBIG" in r.upper() and (r.startswith(b"a2 BAD") or
                                       r.startswith(b"* BYE")), r
    if r.startswith(b"a2"):
        assert c.cmd("NOOP").status == "OK"
    c.close()


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


# ---- authenticated state ---------------------------------------------------

def test_enable_id_namespace(srv):
    c = connect(srv)
    # RFC 2971 3.1: ID in any state
    r = c.ok('ID ("name" "pytest" "version" "1")')
    ids = r.data("ID")
    assert len(ids) == 1, r
    assert ids[0][0] is None or isinstance(ids[0][0], list), ids
    c.login()
    r = c.ok("ID NIL")
    assert len(r.data("ID")) == 1
    # RFC 5161 3.1: ENABLED lists what got enabled; unknown ones ignored
    r = c.ok("ENABLE X-NO-SUCH-EXTENSION")
    en = r.data("ENABLED")
    assert all(x == [] for x in en), r
    r = c.ok("ENABLE UTF8=ACCEPT")
    assert [b"UTF8=ACCEPT"] in [[x.upper() for x in e]
                                for e in r.data("ENABLED")], r
    r = c.ok("ENABLE IMAP4rev2")
    assert [b"IMAP4REV2"] in [[x.upper() for x in e]
                              for e in r.data("ENABLED")], r
    # RFC 2342 5 / RFC 9051 6.3.10: one personal namespace, "" with "/"
    r = c.ok("NAMESPACE")
    ns = r.data("NAMESPACE")
    assert ns == [[[[S(b""), S(b"/")]], None, None]], r
    c.logout()


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
    assert "\\recent" not in fl or True  # rev1 may list \Recent
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


def expand_uidset(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out += range(int(a), int(b or a) + 1)
    return out


# ---- mailbox names ------------------------------------------------------

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


# ---- Python's imaplib, end to end -------------------------------------

def test_imaplib_session(srv):
    msgs = deliver_n(srv, 3)
    M = imaplib.IMAP4("127.0.0.1", srv.port("imap"), timeout=15)
    M.starttls(ssl_context=client_tls_context())
    typ, _ = M.login("alice", PASSWORD)
    assert typ == "OK"
    typ, data = M.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    typ, data = M.fetch("2", "(RFC822)")
    assert typ == "OK"
    assert data[0][1] == crlf(msgs[1])
    typ, data = M.search(None, "SUBJECT", '"test message 3"')
    assert data == [b"3"]
    typ, data = M.uid("SEARCH", "ALL")
    assert len(data[0].split()) == 3
    typ, _ = M.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK"
    typ, data = M.expunge()
    assert data == [b"1"]
    typ, data = M.list()
    assert typ == "OK" and any(b"INBOX" in d for d in data)
    typ, _ = M.create("Imaplib")
    assert typ == "OK"
    typ, data = M.append("Imaplib", "(\\Seen)", None,
                         b"Subject: a\r\n\r\nb\r\n")
    assert typ == "OK"
    typ, data = M.status("Imaplib", "(MESSAGES)")
    assert data[0].endswith(b"(MESSAGES 1)"), data
    typ, _ = M.close()
    assert typ == "OK"
    typ, _ = M.logout()
    assert typ == "BYE"


def test_imaplib_imaps_authenticate(srv):
    M = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                          ssl_context=client_tls_context(), timeout=15)
    typ, _ = M.authenticate("PLAIN", lambda _: b"\0alice\0" +
                            PASSWORD.encode())
    assert typ == "OK"
    typ, data = M.namespace()
    assert typ == "OK"
    M.logout()


# ---- STORE, UID, pipelining --------------------------------------------

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


def test_login_timeout_bye(inst):
    """RFC 9051 5.4: a server may log out an idle client; before login
    postern's login_timeout applies (and says so with BYE)."""
    inst.configure(login_timeout=1)
    start(inst)
    c = connect(inst)
    t0 = time.monotonic()
    rest = c.expect_eof(timeout=6)
    assert time.monotonic() - t0 < 4
    assert rest == b"" or rest.startswith(b"* BYE"), rest
    # a logged-in client is not subject to it (>= 30 min, RFC 9051 5.4)
    c = logged_in(inst)
    c.select()
    time.sleep(2)
    assert c.cmd("NOOP").status == "OK"
    c.logout()


def test_login_with_literals(srv):
    c = connect(srv)
    pw = PASSWORD.encode()
    # RFC 9051 4.3: synchronizing literals, "+" after each
    r = c.cmd("LOGIN ", Lit(b"alice"), " ", Lit(pw))
    assert r.status == "OK", r
    c.logout()
    c = connect(srv)
    caps = c.capabilities()
    # LITERAL+ / LITERAL- (RFC 7888): no "+" waited for
    r = c.cmd("LOGIN ", Lit(b"alice", plus=True), " ", Lit(pw, plus=True))
    assert r.status == "OK", (caps, r)
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


def test_line_and_nesting_limits(srv):
    c = logged_in(srv)
    c.select()
    # issue #4 Robustness: a line over the limit is BAD and the session
    # goes on (the rest of the line is discarded, not executed)
    c.send(b"L1 NOOP " + b"x" * 200000 + b" L2 LOGOUT\r\n")
    line = c.read_resp()
    assert b"BAD" in line.split(b"\r\n")[0], line[:200]
    r = c.cmd("NOOP")
    assert r.status == "OK", r
    assert all(b"BYE" not in u for u in r.untagged), r
    # deep nesting of search keys: BAD (a named limit), not a crash
    r = c.cmd("SEARCH " + "(" * 500 + "ALL" + ")" * 500)
    assert r.status == "BAD", r
    assert c.cmd("NOOP").status == "OK"
    c.logout()


def test_idle_timeout_minimum(inst):
    """RFC 9051 5.4: the autologout timer after login is at least 30
    minutes: a shorter imap_idle_timeout is refused."""
    inst.configure(imap_idle_timeout=60)
    r = inst.run(["check-config"])
    assert r.returncode != 0, r
    assert b"imap_idle_timeout" in r.stderr + r.stdout, r
    inst.configure(imap_idle_timeout=1800)
    assert inst.run(["check-config"]).returncode == 0
