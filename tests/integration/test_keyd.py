"""The key process (keyd): TLS private keys live in one small process that
signs for the workers; no other process holds them. SIGHUP reloads a
certificate and key that only root can read."""

import hashlib
import imaplib
import os
import poplib
import re
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import PASSWORD, children_of, proc_uid

ROOT = os.geteuid() == 0


# ---- helpers -------------------------------------------------------------

def make_pair(directory, name, kind):
    """A self-signed certificate and key (PEM) for localhost."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    newkey = {"rsa": ["-newkey", "rsa:2048"],
              "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
              "ed25519": ["-newkey", "ed25519"]}[kind]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert] + newkey,
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def cert_fingerprint(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def tls_context(version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def peer_fingerprint(sslsock):
    return hashlib.sha256(sslsock.getpeercert(binary_form=True)).hexdigest()


def imaps(inst, version=None):
    """(negotiated version, fingerprint) of an IMAPS session that logs in."""
    m = imaplib.IMAP4_SSL("127.0.0.1", inst.port("imaps"),
                          ssl_context=tls_context(version), timeout=10)
    try:
        m.login("alice", PASSWORD)
        return m.sock.version(), peer_fingerprint(m.sock)
    finally:
        m.logout()


def pop3s(inst, version=None):
    p = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"),
                        context=tls_context(version), timeout=10)
    try:
        p.user("alice")
        p.pass_(PASSWORD)
        return p.sock.version(), peer_fingerprint(p.sock)
    finally:
        p.quit()


def smtp_starttls(inst, version=None):
    s = smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10)
    try:
        s.ehlo("client.example")
        s.starttls(context=tls_context(version))
        s.ehlo("client.example")
        return s.sock.version(), peer_fingerprint(s.sock)
    finally:
        s.quit()


def handshake_ok(inst, fn=imaps):
    try:
        fn(inst)
        return True
    except (OSError, ssl.SSLError, imaplib.IMAP4.error, poplib.error_proto,
            smtplib.SMTPException, EOFError):
        return False


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def keyd_pid(inst, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in inst.children() if comm(p) == "postern-keyd"]
        if pids or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(pids) == 1, "no key process among %r\n%s" % (
        inst.children(), inst.log()[-3000:])
    return pids[0]


def use_pair(inst, cert, key):
    inst.configure(tls_cert=cert, tls_key=key)


def reload_and_wait(inst, marker):
    """SIGHUP; waits for a reload line after it; returns the log after."""
    before = len(inst.log())
    inst.signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        tail = inst.log()[before:]
        if re.search(r"event=(reloaded|reload_incomplete)\b", tail):
            return tail
        time.sleep(0.05)
    raise AssertionError("no reload line\n" + inst.log()[-3000:])


# ---- (a) handshakes go through keyd --------------------------------------

@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_handshakes_through_keyd(inst, kind):
    cert, key = make_pair(inst.root, "pair", kind)
    use_pair(inst, cert, key)
    inst.start()
    keyd = keyd_pid(inst)
    want = cert_fingerprint(cert)
    for fn in (imaps, pop3s, smtp_starttls):
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                              (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            got, fp = fn(inst, version)
            assert got == name, (fn.__name__, got)
            assert fp == want, fn.__name__
    if kind == "rsa":
        # TLS 1.2 with PKCS #1 v1.5 signatures (the other RSA operation)
        r = subprocess.run(["openssl", "s_client", "-connect",
                            "127.0.0.1:%d" % inst.port("imaps"), "-tls1_2",
                            "-sigalgs", "RSA+SHA256", "-brief"],
                           input=b"a LOGOUT\r\n", stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        assert b"CONNECTION ESTABLISHED" in r.stdout, r.stdout
        assert re.search(rb"\nSignature type: RSA\r?\n", r.stdout), \
            r.stdout.decode("latin-1")
    # With keyd stopped no handshake can complete: the workers hold no key.
    os.kill(keyd, signal.SIGSTOP)
    try:
        time.sleep(0.2)
        t = time.monotonic()
        assert not handshake_ok(inst)
        assert time.monotonic() - t < 5
    finally:
        os.kill(keyd, signal.SIGCONT)
    assert inst.wait_log("event=keyd_request_failed reason=timeout")
    assert handshake_ok(inst)


def test_unsupported_key_type_refused(inst):
    cert, key = make_pair(inst.root, "ed", "ed25519")
    use_pair(inst, cert, key)
    r = inst.run(["check-config"])
    assert r.returncode != 0
    assert b"unsupported key type ED25519" in r.stdout + r.stderr, r
    inst.start(wait=False)
    rc = inst.proc.wait(timeout=30)
    inst.proc = None
    inst.logf.close()
    assert rc != 0
    log = inst.log()
    assert "event=tls_failed" in log, log
    assert "unsupported key type ED25519" in log, log
    assert cert in log, log


# ---- (b) SIGHUP ------------------------------------------------------------

@pytest.mark.skipif(not ROOT, reason="a root-only key needs root")
def test_sighup_takes_root_only_key(srv):
    old = cert_fingerprint(srv.path_setting("tls_cert", "tls/cert.pem"))
    assert imaps(srv)[1] == old
    # Let's Encrypt's layout: a directory and a key only root can read
    le = os.path.join(srv.root, "letsencrypt")
    os.mkdir(le, 0o700)
    cert, key = make_pair(le, "new", "rsa")
    os.chmod(key, 0o600)
    os.chown(key, 0, 0)
    use_pair(srv, cert, key)
    tail = reload_and_wait(srv, "reloaded")
    assert "event=reloaded" in tail, tail
    assert "reload_failed" not in tail, tail
    new = cert_fingerprint(cert)
    assert new != old
    for fn in (imaps, pop3s, smtp_starttls):
        assert fn(srv)[1] == new, fn.__name__


@pytest.mark.parametrize("how", ["garbage", "other_key", "missing",
                                 "unreadable"])
def test_sighup_bad_key_keeps_old_pair(srv, how):
    old = cert_fingerprint(srv.path_setting("tls_cert", "tls/cert.pem"))
    cert, key = make_pair(srv.root, "new", "ec")
    if how == "garbage":
        with open(key, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n"
                    "-----END PRIVATE KEY-----\n")
        why = "not an unencrypted PEM private key"
    elif how == "other_key":
        _, key = make_pair(srv.root, "other", "ec")
        why = "does not match the certificate"
    elif how == "missing":
        key = os.path.join(srv.root, "nonexistent.key")
        why = "No such file or directory"
    else:
        if ROOT:
            pytest.skip("root reads every file")
        os.chmod(key, 0)
        why = "Permission denied"
    use_pair(srv, cert, key)
    tail = reload_and_wait(srv, "reload_incomplete")
    line = [l for l in tail.splitlines() if "event=reload_failed" in l]
    assert line, tail
    assert key in line[0] and why in line[0], line[0]
    assert "event=reload_incomplete failed=tls" in tail, tail
    assert "event=reloaded" not in tail, tail
    assert imaps(srv)[1] == old
    assert smtp_starttls(srv)[1] == old
    # and a later good reload still works
    cert2, key2 = make_pair(srv.root, "good", "rsa")
    use_pair(srv, cert2, key2)
    tail = reload_and_wait(srv, "reloaded")
    assert "event=reloaded" in tail, tail
    assert imaps(srv)[1] == cert_fingerprint(cert2)


# ---- (c) nobody else holds the key -----------------------------------------

def key_needles(key_path):
    """Byte strings any process holding the key would have in memory: 32
    octets from the middle of each secret number, big-endian (as in DER)
    and little-endian (OpenSSL's BIGNUM words on this machine), and of
    the DER itself."""
    from cryptography.hazmat.primitives import serialization
    with open(key_path, "rb") as f:
        pem = f.read()
    k = serialization.load_pem_private_key(pem, password=None)
    nums = k.private_numbers()
    secrets = [nums.p, nums.q, nums.d]
    der = k.private_bytes(serialization.Encoding.DER,
                          serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption())
    needles = []
    for n in secrets:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        mid = len(b) // 2
        needles.append(b[mid - 16:mid + 16])
        r = b[::-1]
        needles.append(r[mid - 16:mid + 16])
    needles.append(der[len(der) // 2:len(der) // 2 + 32])
    # a line of the PEM file
    lines = pem.split(b"\n")
    needles.append(lines[len(lines) // 2])
    return needles


def scan_memory(pid, needles, limit=1 << 32):
    """The needles found in pid's readable, resident memory."""
    found = set()
    rss = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if m:
                cur = (int(m.group(1), 16), int(m.group(2), 16), m.group(3))
                continue
            if line.startswith("Rss:") and cur:
                rss[cur] = int(line.split()[1])
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for (lo, hi, perms), kb in rss.items():
            if kb == 0 or "r" not in perms or hi - lo > limit:
                continue
            pos, tail = lo, b""
            while pos < hi:
                n = min(1 << 22, hi - pos)
                try:
                    mem.seek(pos)
                    chunk = mem.read(n)
                except OSError:
                    chunk = b""
                data = tail + chunk
                for nd in needles:
                    if nd in data:
                        found.add(nd)
                tail = data[-64:]
                pos += n
    return found


@pytest.mark.skipif(not ROOT, reason="reading other processes' memory needs root")
def test_only_keyd_holds_the_key(inst):
    cert, key = make_pair(inst.root, "pair", "rsa")
    use_pair(inst, cert, key)
    inst.start()
    for fn in (imaps, pop3s, smtp_starttls):
        fn(inst)
    needles = key_needles(key)
    # (before this change every process held it, the supervisor too)
    others = [p for p in children_of(inst.pid)
              if comm(p) != "postern-keyd"] + [inst.pid]
    assert len(others) >= 3
    for pid in others:
        found = scan_memory(pid, needles)
        assert not found, "pid %d (%s) holds the private key" % (
            pid, comm(pid))
    # the scan works: keyd has the key's numbers
    keyd = keyd_pid(inst)
    assert scan_memory(keyd, needles), "the key is not in keyd's memory"
    # After a reload too: the new key reaches keyd only.
    cert2, key2 = make_pair(inst.root, "pair2", "rsa")
    use_pair(inst, cert2, key2)
    assert "event=reloaded" in reload_and_wait(inst, "reloaded")
    imaps(inst)
    needles2 = key_needles(key2)
    assert scan_memory(keyd, needles2)
    for pid in [p for p in children_of(inst.pid) if p != keyd] + [inst.pid]:
        assert not scan_memory(pid, needles2), pid


@pytest.mark.skipif(not ROOT, reason="the uid split needs root")
def test_keyd_jail(srv):
    keyd = keyd_pid(srv)
    workers_uid = {proc_uid(p) for p in srv.children() if p != keyd}
    uid = proc_uid(keyd)
    assert uid != 0 and workers_uid == {uid}
    # chrooted into an empty directory that no longer exists
    root = os.readlink("/proc/%d/root" % keyd)
    assert root != "/" and root.endswith("(deleted)"), root
    # not dumpable: its /proc files belong to root, so run_user's other
    # processes can neither ptrace it nor read its memory
    assert os.stat("/proc/%d/mem" % keyd).st_uid == 0
    # the supervisor stays root; every other child left it
    assert proc_uid(srv.pid) == 0


@pytest.mark.skipif(not ROOT, reason="needs a uid other than run_user's")
def test_keyd_refuses_other_uids(srv):
    keyd_pid(srv)
    names = []
    with open("/proc/net/unix") as f:
        for line in f:
            m = re.search(r"@(postern-keyd-%d-[0-9a-f]+)$" % srv.pid,
                          line.strip())
            if m:
                names.append(m.group(1))
    assert names, "no keyd socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(5)
    s.connect("\0" + names[0])
    req = struct.pack("<BBHIQ", 1, 3, 32, 1, 1) + b"\x11" * 32
    try:
        s.send(req)
        assert s.recv(4096) == b""
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
    assert srv.wait_log("event=keyd_conn_refused reason=peer_uid uid=0")


# ---- (d) keyd dies -----------------------------------------------------------

def test_kill_keyd_is_restarted(srv):
    old = keyd_pid(srv)
    assert handshake_ok(srv)
    os.kill(old, signal.SIGKILL)
    assert srv.wait_log("event=keyd_exit pid=%d signal=9 action=restart" % old,
                        timeout=10), srv.log()[-3000:]
    assert srv.wait_log("event=keyd_restarted", timeout=10), srv.log()[-3000:]
    new = keyd_pid(srv)
    assert new != old
    deadline = time.monotonic() + 10
    while not handshake_ok(srv):
        assert time.monotonic() < deadline, srv.log()[-3000:]
        time.sleep(0.2)
    for fn in (imaps, pop3s, smtp_starttls):
        assert handshake_ok(srv, fn), fn.__name__
    assert srv.proc.poll() is None
