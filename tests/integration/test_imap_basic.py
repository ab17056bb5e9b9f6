"""IMAP4rev2 (RFC 9051) / IMAP4rev1 (RFC 3501) session commands and error
paths against the real daemon: greeting, CAPABILITY, STARTTLS, IMAPS,
LOGIN/AUTHENTICATE, NOOP/LOGOUT, ENABLE/ID/NAMESPACE, wrong states, bad
syntax, limits and timeouts.  Mailbox commands are in test_imap_mailbox.py,
the selected state in test_imap_selected.py.

Most tests use the byte-exact client of imaputil; test_imaplib_* show that
Python's stock imaplib works end to end.
"""

import base64
import imaplib
import re
import time

from conftest import PASSWORD, client_tls_context

# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import (CAPS_ALWAYS, CAPS_AUTH, CAPS_PRELOGIN, Lit, S,
                      bad_or_no, connect, crlf, deliver_n, logged_in, quote,
                      start)


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
    # the same line, tagged back, ending in a non-synchronizing literal
    # (RFC 7888): its octets are skipped with the rest of the command, so
    # a "command" hidden inside them is never run
    hidden = b"L4 LOGOUT\r\n"
    c.send(b"L3 APPEND INBOX " + b"x" * 200000 + b" {%d+}\r\n" % len(hidden)
           + hidden + b"\r\n")
    line = c.read_resp()
    assert line.startswith(b"L3 BAD"), line[:200]
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
