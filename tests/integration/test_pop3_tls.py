"""STLS (RFC 2595), POP3S, and the plaintext-authentication policy."""

import os
import poplib
import socket
import ssl
import subprocess

import pytest

from conftest import (PASSWORD, b64, capa_keywords, client_tls_context,
                      sasl_mechs, simple_message, to_crlf)


def test_stls_then_login(srv):
    m = simple_message(1)
    srv.deliver_ok("alice", m)
    p = srv.pop3()
    assert p.stls(context=client_tls_context()).startswith(b"+OK")
    assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
    p.user("alice")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == to_crlf(m)
    p.quit()


def test_pop3s(srv):
    m = simple_message(1)
    srv.deliver_ok("alice", m)
    p = srv.pop3(tls=True)
    assert p.welcome.startswith(b"+OK")
    assert p.sock.version() in ("TLSv1.2", "TLSv1.3")
    caps = p.capa()
    assert "STLS" not in caps, caps  # already TLS
    assert "USER" in caps, caps
    p.user("alice")
    p.pass_(PASSWORD)
    _, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == to_crlf(m)
    p.quit()


def test_pop3s_presents_configured_certificate(srv):
    r = srv.raw(tls=True)
    der = r.sock.getpeercert(binary_form=True)
    r.close()
    cert_path = srv.path_setting("tls_cert", "tls/cert.pem")
    with open(cert_path) as f:
        pem = f.read()
    first = pem[:pem.index("-----END CERTIFICATE-----") + 25]
    assert ssl.PEM_cert_to_DER_cert(first) == der


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_versions_accepted(srv, version):
    ctx = client_tls_context()
    v = getattr(ssl.TLSVersion, version)
    ctx.minimum_version = v
    ctx.maximum_version = v
    s = socket.create_connection(("127.0.0.1", srv.pop3s_port), timeout=10)
    s = ctx.wrap_socket(s)
    assert s.recv(100).startswith(b"+OK")
    s.close()


def test_old_tls_refused(srv):
    # TLS 1.0/1.1 must be refused; use openssl s_client (python's OpenSSL
    # may not offer them at all, in which case this proves nothing)
    r = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.pop3s_port,
         "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
        input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=20)
    out = r.stdout.decode("latin-1")
    assert "+OK" not in out, out


def test_capa_after_stls(srv):
    r = srv.raw()
    before = r.capa()
    assert "STLS" in capa_keywords(before)
    r.send(b"STLS\r\n")
    ok = r.line_unbuffered()
    assert ok.startswith(b"+OK"), ok
    r.sock = client_tls_context().wrap_socket(r.sock)
    after = r.capa()
    assert "STLS" not in capa_keywords(after), after
    assert r.cmd("STLS").startswith(b"-ERR")  # already in TLS
    r.login()
    r.cmd_ok("QUIT")


def test_stls_on_pop3s_refused(srv):
    r = srv.raw(tls=True)
    assert r.cmd("STLS").startswith(b"-ERR")
    r.login()
    r.cmd_ok("QUIT")


def test_stls_injection_discarded(srv):
    """Commands pipelined after STLS, before the handshake, are never run."""
    srv.deliver_ok("alice", simple_message(1))
    r = srv.raw()
    r.send(b"STLS\r\nCAPA\r\nUSER alice\r\nPASS " + PASSWORD.encode() +
           b"\r\nDELE 1\r\nQUIT\r\n")
    ok = r.line_unbuffered()
    assert ok.startswith(b"+OK"), ok
    r.sock = client_tls_context().wrap_socket(r.sock)
    r.sock.settimeout(1.5)
    try:
        leaked = r.sock.recv(4096)
    except socket.timeout:
        leaked = None
    assert leaked is None, "injected commands were answered: %r" % leaked
    r.sock.settimeout(10)
    # the session is in a clean AUTHORIZATION state
    assert r.cmd("STAT").startswith(b"-ERR")
    r.login()
    assert r.cmd("STAT").startswith(b"+OK 1 ")
    r.cmd_ok("QUIT")


def test_stls_in_transaction_refused(srv):
    r = srv.raw()
    r.login()
    assert r.cmd("STLS").startswith(b"-ERR")
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")


def test_garbage_instead_of_handshake(srv):
    r = srv.raw()
    r.send(b"STLS\r\n")
    assert r.line_unbuffered().startswith(b"+OK")
    r.send(b"USER alice\r\n" * 10)
    r.expect_eof(timeout=10)
    # server still fine
    r = srv.raw()
    r.login()
    r.cmd_ok("QUIT")


def test_plaintext_refused_without_tls(inst):
    inst.configure(allow_plaintext_auth_loopback="no")
    inst.start()
    r = inst.raw()
    capa = r.capa()
    kw = capa_keywords(capa)
    assert "USER" not in kw, capa
    assert "PLAIN" not in sasl_mechs(capa) and "LOGIN" not in sasl_mechs(capa), capa
    assert "STLS" in kw, capa
    resp = r.cmd("USER alice")
    if resp.startswith(b"+OK"):
        resp = r.cmd("PASS " + PASSWORD)
    assert resp.startswith(b"-ERR"), resp
    assert r.cmd("AUTH PLAIN " + b64("\0alice\0" + PASSWORD)).startswith(b"-ERR")
    resp = r.cmd("AUTH LOGIN")
    assert resp.startswith(b"-ERR"), resp
    # now upgrade: the same commands work
    r.send(b"STLS\r\n")
    assert r.line_unbuffered().startswith(b"+OK")
    r.sock = client_tls_context().wrap_socket(r.sock)
    capa = r.capa()
    assert "USER" in capa_keywords(capa), capa
    assert "PLAIN" in sasl_mechs(capa), capa
    r.login()
    assert r.cmd("STAT").startswith(b"+OK")
    r.cmd_ok("QUIT")
    r.close()
    r = inst.raw(tls=True)
    r.cmd_ok("AUTH PLAIN " + b64("\0alice\0" + PASSWORD))
    r.cmd_ok("QUIT")


def test_plaintext_refusal_does_not_count_as_password_check(inst):
    """A refused plaintext login must not reveal whether the password was
    right: the reply is the same for right and wrong passwords."""
    inst.configure(allow_plaintext_auth_loopback="no")
    inst.start()
    replies = []
    for pw in (PASSWORD, "wrong"):
        r = inst.raw()
        replies.append(r.cmd("AUTH PLAIN " + b64("\0alice\0" + pw)))
        r.close()
    assert replies[0] == replies[1] and replies[0].startswith(b"-ERR")


def _stls(r):
    r.send(b"STLS\r\n")
    assert r.line_unbuffered().startswith(b"+OK")
    r.sock = client_tls_context().wrap_socket(r.sock)


@pytest.mark.parametrize("how", ["stls", "pop3s"])
def test_pipelined_retr_over_tls(srv, how):
    """Many RETRs in one write over TLS all get answered (mpop does this)."""
    import msgcorpus
    msgs = msgcorpus.corpus(120)
    srv.deliver_ok("alice", msgs[0])
    for k, m in enumerate(msgs[1:], 1):
        srv.drop_into_new("alice", "1700000000.M%06dP%d.pipe" % (k, k), m)
    if how == "stls":
        r = srv.raw()
        _stls(r)
    else:
        r = srv.raw(tls=True)
    r.login()
    r.settimeout(10)
    r.send("".join("RETR %d\r\n" % n for n in range(1, 121)))
    got = 0
    try:
        for n in range(120):
            assert r.line().startswith(b"+OK")
            r.multiline()
            got += 1
    except socket.timeout:
        pass
    assert got == 120, "only %d of 120 pipelined RETR answered" % got
    r.cmd_ok("QUIT")


@pytest.mark.parametrize("how", ["stls", "pop3s"])
def test_quit_ends_tls_with_close_notify(srv, how):
    """fetchmail and mpop report an error when the server drops the TCP
    connection after QUIT without a TLS close_notify."""
    s = socket.create_connection(("127.0.0.1", srv.port(how if how ==
                                                         "pop3s" else "pop3")),
                                 timeout=10)
    ctx = client_tls_context()
    if how == "stls":
        f = b""
        while not f.endswith(b"\r\n"):
            f += s.recv(1)
        s.sendall(b"STLS\r\n")
        f = b""
        while not f.endswith(b"\r\n"):
            f += s.recv(1)
        assert f.startswith(b"+OK")
        t = ctx.wrap_socket(s, suppress_ragged_eofs=False)
    else:
        t = ctx.wrap_socket(s, suppress_ragged_eofs=False)
        data = b""
        while not data.endswith(b"\r\n"):
            data += t.recv(100)
    t.sendall(b"QUIT\r\n")
    data = b""
    while True:
        try:
            chunk = t.recv(1000)
        except ssl.SSLEOFError as e:
            raise AssertionError("no close_notify after QUIT (%r); got %r"
                                 % (e, data))
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"+OK"), data
    t.close()
