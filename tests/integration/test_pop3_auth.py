"""Authentication: USER/PASS, APOP, SASL (RFC 5034), throttling, users file."""

import base64
import crypt
import ctypes
import hashlib
import hmac
import poplib
import re
import os
import time
import warnings

import pytest

from conftest import PASSWORD, b64, sasl_mechs, simple_message

warnings.filterwarnings("ignore", category=DeprecationWarning)


def test_user_pass_ok_and_wrong(srv):
    r = srv.raw()
    r.cmd_ok("USER alice")
    resp = r.cmd("PASS wrong-password")
    assert resp.startswith(b"-ERR"), resp
    # after a failed PASS the client may start over
    r.login()
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_failed_login_has_auth_resp_code(srv):
    r = srv.raw()
    r.cmd_ok("USER alice")
    resp = r.cmd("PASS nope")
    assert resp.startswith(b"-ERR [AUTH]"), resp
    r.close()


def test_password_is_case_sensitive(srv):
    p = srv.pop3()
    p.user("alice")
    with pytest.raises(poplib.error_proto):
        p.pass_(PASSWORD.upper())
    p.close()


def test_pass_without_user(srv):
    r = srv.raw()
    assert r.cmd("PASS " + PASSWORD).startswith(b"-ERR")
    r.login()
    r.cmd_ok("QUIT")


def test_password_with_spaces(inst):
    inst.add_user("spacey", "pass with  spaces ")
    inst.start()
    r = inst.raw()
    r.login("spacey", "pass with  spaces ")
    r.cmd_ok("QUIT")


def _timed(r, line):
    t = time.monotonic()
    resp = r.cmd(line)
    return resp, time.monotonic() - t


def test_failed_login_delay_and_identical_replies(inst):
    inst.configure(auth_fail_delay_ms=1000)
    inst.start()
    results = {}
    for user in ("alice", "nosuchuser", "alice", "nosuchuser"):
        r = inst.raw()
        u = r.cmd("USER " + user)
        p, t = _timed(r, "PASS wrong-" + PASSWORD)
        results.setdefault(user, []).append((r.greeting, u, p, t))
        r.close()
    a, n = results["alice"], results["nosuchuser"]
    for (ga, ua, pa, ta), (gn, un, pn, tn) in zip(a, n):
        assert ua == un, "USER replies differ: %r vs %r" % (ua, un)
        assert pa == pn, "PASS replies differ: %r vs %r" % (pa, pn)
        assert pa.startswith(b"-ERR")
        assert ta >= 0.95 and tn >= 0.95, (ta, tn)
        assert abs(ta - tn) < 0.4, (ta, tn)
    # the same through AUTH PLAIN
    replies = []
    for user in ("alice", "nosuchuser"):
        r = inst.raw()
        resp, t = _timed(r, "AUTH PLAIN " + b64("\0%s\0wrong" % user))
        assert t >= 0.95, t
        replies.append(resp)
        r.close()
    assert replies[0] == replies[1] and replies[0].startswith(b"-ERR")


def test_successful_login_is_fast(inst):
    inst.configure(auth_fail_delay_ms=3000)
    inst.start()
    r = inst.raw()
    r.cmd_ok("USER alice")
    resp, t = _timed(r, "PASS " + PASSWORD)
    assert resp.startswith(b"+OK")
    assert t < 2.5, t
    r.cmd_ok("QUIT")


def test_slow_down_after_fail_limit(inst):
    # Past auth_fail_limit a login is slowed down, never refused: the
    # right password still works (tests/integration/test_auth_limits.py
    # has the rest of the policy).
    inst.configure(auth_fail_limit=3, auth_fail_window=600,
                   auth_fail_delay_max_ms=1000, auth_fail_delay_ms=50)
    inst.start()
    for i in range(3):
        r = inst.raw()
        r.cmd("USER alice")
        assert r.cmd("PASS bad%d" % i).startswith(b"-ERR")
        r.close()
    r = inst.raw()
    r.cmd_ok("USER alice")
    resp, t = _timed(r, "PASS " + PASSWORD)
    assert resp.startswith(b"+OK"), resp
    assert t >= 0.95, t
    r.cmd_ok("QUIT")
    # a success clears the count
    r = inst.raw()
    resp, t = _timed(r, "AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    assert resp.startswith(b"+OK"), resp
    assert t < 0.9, t
    r.close()


def test_failures_below_limit_do_not_block(inst):
    inst.configure(auth_fail_limit=5, auth_fail_delay_ms=50)
    inst.start()
    for i in range(3):
        r = inst.raw()
        r.cmd("USER alice")
        r.cmd("PASS bad")
        r.close()
    r = inst.raw()
    r.login()
    r.cmd_ok("QUIT")


# ---- SASL --------------------------------------------------------------

def test_auth_plain_initial_response(srv):
    r = srv.raw()
    r.cmd_ok("AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_auth_plain_with_challenge(srv):
    r = srv.raw()
    ch = r.cmd("AUTH PLAIN")
    assert ch.startswith(b"+") and not ch.startswith(b"+OK"), ch
    r.cmd_ok(b64("alice\0alice\0" + PASSWORD))  # authzid == authcid
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_auth_plain_lowercase_mech(srv):
    r = srv.raw()
    r.cmd_ok("auth plain " + b64("\0alice\0" + PASSWORD))
    r.cmd_ok("QUIT")


def test_auth_plain_failures(srv):
    r = srv.raw()
    resp = r.cmd("AUTH PLAIN " + b64("\0alice\0wrong"))
    assert resp.startswith(b"-ERR [AUTH]"), resp
    # other authorization identity: no master users here
    assert r.cmd("AUTH PLAIN " + b64("bob\0alice\0" + PASSWORD)) \
        .startswith(b"-ERR")
    # malformed base64 and malformed PLAIN messages
    for bad in ("!!!!", "YWxpY2U", b64("alice"), b64("\0alice"),
                b64("\0\0" + PASSWORD), b64("\0alice\0")):
        resp = r.cmd("AUTH PLAIN " + bad)
        assert resp.startswith(b"-ERR"), (bad, resp)
    # cancel with "*"
    ch = r.cmd("AUTH PLAIN")
    assert ch.startswith(b"+ ") or ch == b"+\r\n", ch
    assert r.cmd("*").startswith(b"-ERR")
    assert r.cmd("AUTH FOOBAR").startswith(b"-ERR")
    # still usable
    r.cmd_ok("AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    r.cmd_ok("QUIT")


def test_auth_login(srv):
    r = srv.raw()
    ch1 = r.cmd("AUTH LOGIN")
    assert ch1.startswith(b"+ "), ch1
    ch2 = r.cmd(b64("alice"))
    assert ch2.startswith(b"+ "), ch2
    r.cmd_ok(b64(PASSWORD))
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_auth_login_wrong_password(srv):
    r = srv.raw()
    r.cmd("AUTH LOGIN")
    r.cmd(b64("alice"))
    assert r.cmd(b64("nope")).startswith(b"-ERR")
    r.close()


def test_cram_md5_off_by_default(srv):
    r = srv.raw()
    assert "CRAM-MD5" not in sasl_mechs(r.capa())
    assert r.cmd("AUTH CRAM-MD5").startswith(b"-ERR")
    r.close()


def test_cram_md5(inst):
    inst.configure(auth_cram_md5="yes")
    inst.add_user("carol", "carol-plain-pw", scheme="plain")
    inst.start()
    r = inst.raw()
    assert "CRAM-MD5" in sasl_mechs(r.capa())
    ch = r.cmd("AUTH CRAM-MD5")
    assert ch.startswith(b"+ "), ch
    challenge = base64.b64decode(ch[2:].strip())
    assert re.fullmatch(rb"<[^<>@]+@[^<>]+>", challenge), challenge
    digest = hmac.new(b"carol-plain-pw", challenge, hashlib.md5).hexdigest()
    r.cmd_ok(b64("carol " + digest))
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")
    # wrong secret
    r = inst.raw()
    ch = r.cmd("AUTH CRAM-MD5")
    challenge = base64.b64decode(ch[2:].strip())
    digest = hmac.new(b"wrong", challenge, hashlib.md5).hexdigest()
    assert r.cmd(b64("carol " + digest)).startswith(b"-ERR")
    r.close()
    # a user with a hashed password cannot use CRAM-MD5
    r = inst.raw()
    ch = r.cmd("AUTH CRAM-MD5")
    if ch.startswith(b"+ "):
        challenge = base64.b64decode(ch[2:].strip())
        digest = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest()
        ch = r.cmd(b64("alice " + digest))
    assert ch.startswith(b"-ERR"), ch
    r.close()


# ---- APOP --------------------------------------------------------------

def test_apop(inst):
    inst.configure(pop3_apop="yes")
    inst.add_user("carol", "carol-plain-pw", scheme="plain")
    inst.deliver_ok("carol", simple_message(1))
    inst.start()
    p = inst.pop3()
    assert re.search(rb"<[^<>@]+@[^<>]+>", p.welcome), p.welcome
    assert p.apop("carol", "carol-plain-pw").startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()
    p = inst.pop3()
    with pytest.raises(poplib.error_proto):
        p.apop("carol", "wrong")
    p.close()
    # hashed-password users cannot use APOP
    p = inst.pop3()
    with pytest.raises(poplib.error_proto):
        p.apop("alice", PASSWORD)
    p.close()


def test_apop_timestamp_differs_per_connection(inst):
    inst.configure(pop3_apop="yes")
    inst.start()
    stamps = set()
    for _ in range(3):
        r = inst.raw()
        m = re.search(rb"<[^<>]+>", r.greeting)
        assert m, r.greeting
        stamps.add(m.group(0))
        r.close()
    assert len(stamps) == 3


def test_apop_disabled_by_default(inst):
    inst.add_user("carol", "carol-plain-pw", scheme="plain")
    inst.start()
    r = inst.raw()
    m = re.search(rb"<[^<>]+>", r.greeting)
    ts = m.group(0) if m else b"<x@y>"
    digest = hashlib.md5(ts + b"carol-plain-pw").hexdigest()
    assert r.cmd("APOP carol " + digest).startswith(b"-ERR")
    r.close()


# ---- mailbox locking, login delay, expire --------------------------------

def test_login_waits_briefly_for_a_quitting_session(srv):
    """A client that QUITs and reconnects at once may reach another worker
    before the first session has let go of the maildrop: the new login
    waits for the lock a moment instead of failing with [IN-USE]."""
    srv.deliver_ok("alice", simple_message(1))
    a = srv.raw()
    a.login()
    b = srv.raw()
    b.cmd_ok("USER alice")
    t0 = time.monotonic()
    b.send(("PASS %s\r\n" % PASSWORD).encode())
    time.sleep(0.3)
    a.cmd_ok("QUIT")
    resp = b.line()
    assert resp.startswith(b"+OK"), resp
    assert time.monotonic() - t0 < 2.0
    b.cmd_ok("STAT")
    b.cmd_ok("QUIT")


def test_in_use(srv):
    srv.deliver_ok("alice", simple_message(1))
    a = srv.raw()
    a.login()
    b = srv.raw()
    b.cmd_ok("USER alice")
    resp = b.cmd("PASS " + PASSWORD)
    assert resp.startswith(b"-ERR [IN-USE]"), resp
    b.close()
    b = srv.raw()
    resp = b.cmd("AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    assert resp.startswith(b"-ERR [IN-USE]"), resp
    b.close()
    assert a.cmd("STAT").startswith(b"+OK 1 ")
    a.cmd_ok("QUIT")
    a.expect_eof()
    p = srv.login()  # retries briefly while the lock is released
    p.quit()


def test_login_delay(inst):
    inst.configure(pop3_login_delay=3)
    inst.start()
    r = inst.raw()
    capa = r.capa()
    assert any(l.upper().startswith("LOGIN-DELAY 3") for l in capa), capa
    # The server counts whole seconds: log in just after a second starts,
    # so that "2 s later" and "3.3 s later" are 2 and 3 on its clock too
    # (a login at x.99 would make the 2 s attempt land on x+3).
    time.sleep(1.0 - time.time() % 1.0 + 0.02)
    r.login()
    t0 = time.monotonic()
    r.cmd_ok("QUIT")
    r.close()
    # Two refused attempts, the second close to the end of the delay:
    # a refused login is not a login, so it must not push the wait back.
    for wait in (0, 2.0):
        time.sleep(max(0, wait - (time.monotonic() - t0)))
        r = inst.raw()
        r.cmd("USER alice")
        resp = r.cmd("PASS " + PASSWORD)
        assert resp.startswith(b"-ERR [LOGIN-DELAY]"), resp
        r.close()
    time.sleep(max(0, 3.3 - (time.monotonic() - t0)))
    r = inst.raw()
    r.login()
    r.cmd_ok("QUIT")


def test_unreadable_maildir_is_sys_perm(inst):
    """RFC 3206: a fault only an administrator can fix is [SYS/PERM]."""
    inst.start()
    inst.deliver_ok("alice", b"Subject: x\n\nbody\n")
    md = inst.maildir("alice")
    os.chmod(md, 0)
    try:
        r = inst.raw()
        r.cmd("USER alice")
        resp = r.cmd("PASS " + PASSWORD)
        assert resp.startswith(b"-ERR [SYS/PERM]"), resp
        r.close()
    finally:
        os.chmod(md, 0o700)
    assert "reason=store" in inst.log()
    r = inst.raw()
    r.login()
    r.cmd_ok("QUIT")


def test_expire_capa_default_never(srv):
    r = srv.raw()
    capa = [l.upper() for l in r.capa()]
    assert any(l.startswith("EXPIRE NEVER") for l in capa), capa
    r.login()
    capa = [l.upper() for l in r.capa()]
    assert "EXPIRE NEVER" in capa, capa
    r.close()


def test_expire_days(inst):
    inst.configure(pop3_expire_days=1)
    for i in (1, 2):
        inst.deliver_ok("alice", simple_message(i))
    inst.start()
    r = inst.raw()
    capa = [l.upper() for l in r.capa()]
    assert any(re.match(r"EXPIRE 1(\s|$)", l) for l in capa), capa
    r.login()
    capa = [l.upper() for l in r.capa()]
    assert "EXPIRE 1" in capa, capa
    r.cmd_ok("RETR 1")
    r.multiline()
    r.cmd_ok("QUIT")
    r.close()
    # neither the retrieved (1 day not elapsed) nor the unread one is gone
    p = inst.login()
    assert p.stat()[0] == 2
    p.quit()


# ---- users files -------------------------------------------------------

def _yescrypt(password):
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = lib.crypt_gensalt(b"$y$", 0, None, 0)
    return lib.crypt(password.encode(), salt).decode()


DOVECOT_USERS = [
    # name, password, line template ({h} = hash)
    ("u512", "pw-512-Ü", "u512:{{SHA512-CRYPT}}{h}::::::"),
    ("u256", "pw-256", "u256:{{SHA256-CRYPT}}{h}:1000:1000::::"),
    ("ublf", "pw-blf", "ublf:{{BLF-CRYPT}}{h}"),
    ("uyes", "pw-yes", "uyes:{{CRYPT}}{h}:::User Yes::/bin/false:"),
    ("ucr6", "pw-crypt6", "ucr6:{{CRYPT}}{h}::::::"),
    ("uplain", "pw plain-x", "uplain:{{PLAIN}}pw plain-x::::::"),
]


def _hash_for(name, password):
    if name == "u512" or name == "ucr6":
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))
    if name == "u256":
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA256))
    if name == "ublf":
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if name == "uyes":
        return _yescrypt(password)
    return None


def test_dovecot_users_file(inst):
    lines = ["# users file written for Dovecot's passwd-file driver", ""]
    for name, pw, tmpl in DOVECOT_USERS:
        if name == "uplain":
            lines.append(tmpl.replace("{{", "{").replace("}}", "}"))
        else:
            lines.append(tmpl.format(h=_hash_for(name, pw)))
    with open(inst.users_file) as f:
        existing = f.read()
    with open(inst.users_file, "w") as f:
        f.write(existing + "\n".join(lines) + "\n")
    inst.deliver_ok("u512", simple_message(1))
    inst.start()
    for name, pw, _ in DOVECOT_USERS:
        r = inst.raw()
        r.cmd_ok("USER " + name)
        resp = r.cmd("PASS " + pw)
        assert resp.startswith(b"+OK"), "%s: %r" % (name, resp)
        # a user without a maildir yet sees an empty mailbox
        stat = r.cmd("STAT")
        assert stat.startswith(b"+OK %d " % (1 if name == "u512" else 0)), \
            (name, stat)
        r.cmd_ok("QUIT")
        r.close()
        r = inst.raw()
        r.cmd("USER " + name)
        assert r.cmd("PASS " + pw + "x").startswith(b"-ERR"), name
        r.close()
    # the original user still works
    r = inst.raw()
    r.login()
    r.cmd_ok("QUIT")


def test_user_add_schemes(inst):
    for scheme in ("yescrypt", "sha512-crypt", "plain"):
        inst.add_user("s_" + scheme.replace("-", ""), "pw-" + scheme,
                      scheme=scheme)
    with open(inst.users_file) as f:
        text = f.read()
    assert re.search(r"^s_yescrypt:\{(CRYPT|YESCRYPT)\}\$y\$", text, re.M), text
    assert re.search(r"^s_sha512crypt:\{(SHA512-CRYPT|CRYPT)\}\$6\$", text,
                     re.M), text
    assert re.search(r"^s_plain:\{PLAIN\}pw-plain(:|$)", text, re.M), text
    assert PASSWORD not in text  # alice's default scheme is hashed
    inst.start()
    for scheme in ("yescrypt", "sha512-crypt", "plain"):
        r = inst.raw()
        r.login("s_" + scheme.replace("-", ""), "pw-" + scheme)
        r.cmd_ok("QUIT")


def test_log_has_login_event_and_no_password(srv):
    secret_wrong = "Wrong-Secret-55231"
    r = srv.raw()
    r.login()
    r.cmd_ok("QUIT")
    r = srv.raw()
    r.cmd("USER alice")
    r.cmd("PASS " + secret_wrong)
    r.close()
    r = srv.raw()
    r.cmd_ok("AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    r.cmd_ok("QUIT")
    r = srv.raw()
    r.cmd("AUTH LOGIN")
    r.cmd(b64("alice"))
    r.cmd(b64(secret_wrong))
    r.close()
    time.sleep(0.5)
    log = srv.log()
    assert re.search(r"event=login\b.*user=alice|user=alice.*event=login\b",
                     log), log
    for secret in (PASSWORD, secret_wrong, b64(secret_wrong),
                   b64("\0alice\0" + PASSWORD)):
        assert secret not in log, "log contains %r" % secret
    # a refusal is logged with the user and a reason
    fails = [l for l in log.splitlines()
             if "user=alice" in l and re.search(r"event=\S*(fail|refus|denied|reject)", l)]
    assert fails, log
