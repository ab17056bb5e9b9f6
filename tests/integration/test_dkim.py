"""DKIM (dkim/, `postern dkim ...`) checked against implementations no one
here wrote: Debian's python3-dkim (dkimpy) and OpenDKIM (opendkim-testmsg)
verify what we sign, for every message in tests/mime-corpus, and we verify
what dkimpy and OpenDKIM sign; tampered messages fail with the right
reason. No DNS leaves the machine: the key records go to dkimpy through
dnsfunc, to us through a file, and to OpenDKIM from a loopback server."""
import base64
import glob
import os
import re
import random
import shutil
import stat
import subprocess
import threading

import pytest

import dkim

from conftest import inst  # noqa: F401

CORPUS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..",
                      "mime-corpus")
DOMAIN = "example.org"


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def corpus():
    """The corpus messages that have a From: field (a signature must
    cover one, RFC 6376 5.4), in CRLF form."""
    files = sorted(glob.glob(os.path.join(CORPUS, "*.eml")))
    assert len(files) >= 20
    for path in files:
        with open(path, "rb") as f:
            msg = crlf(f.read())
        head = msg.split(b"\r\n\r\n", 1)[0]
        if re.search(rb"(?im)^from:", head):
            yield os.path.basename(path), msg


def parse_records(text):
    """keygen's zone-file output -> {qname: record text}."""
    recs = {}
    for m in re.finditer(r'^(\S+)\. IN TXT \((.*?)\)', text, re.S | re.M):
        strings = re.findall(r'"([^"]*)"', m.group(2))
        assert all(len(s) <= 255 for s in strings)
        recs[m.group(1)] = "".join(strings)
    return recs


class Keys:
    def __init__(self, inst):
        self.inst = inst
        r = inst.check(["dkim", "keygen", DOMAIN, "--selector", "sel"])
        self.records = parse_records(r.stdout.decode())
        assert set(self.records) == {"selr._domainkey." + DOMAIN,
                                     "sele._domainkey." + DOMAIN}
        self.dir = os.path.join(inst.dir, "dkim", DOMAIN)
        self.rec_file = os.path.join(inst.root, "records")
        self.write_records(self.records)

    def write_records(self, recs):
        with open(self.rec_file, "w") as f:
            for name, text in recs.items():
                f.write("%s %s\n" % (name, text))

    def key_pem(self, sel):
        with open(os.path.join(self.dir, sel + ".key"), "rb") as f:
            return f.read()

    def ed_seed(self):
        """dkimpy's Ed25519 private key: the base64 32-byte seed."""
        der = subprocess.run(["openssl", "pkey", "-outform", "DER"],
                             input=self.key_pem("sele"), check=True,
                             capture_output=True).stdout
        return base64.b64encode(der[-32:])

    def dnsfunc(self, name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return self.records.get(name.rstrip(".")).encode()

    def sign(self, msg, *selectors):
        args = ["dkim", "sign", "--domain", DOMAIN]
        for s in selectors:
            args += ["--selector", s]
        return self.inst.check(args, input=msg).stdout

    def verify(self, msg):
        r = self.inst.run_raw(["dkim", "verify", "--key-records",
                               self.rec_file], input=msg)
        return r.returncode, r.stdout.decode().splitlines()


@pytest.fixture
def keys(inst):  # noqa: F811
    return Keys(inst)


def py_verify(keys, msg, n):
    res = []
    for i in range(n):
        try:
            res.append(dkim.DKIM(msg).verify(idx=i, dnsfunc=keys.dnsfunc))
        except dkim.DKIMException:
            res.append(False)
    return res


def test_keygen_files_and_list(inst, keys):  # noqa: F811
    top = os.path.join(inst.dir, "dkim")
    assert stat.S_IMODE(os.stat(top).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(keys.dir).st_mode) == 0o700
    for sel in ("selr", "sele"):
        st = os.stat(os.path.join(keys.dir, sel + ".key"))
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()
    rsa = keys.records["selr._domainkey." + DOMAIN]
    assert rsa.startswith("v=DKIM1; k=rsa; p=MII")
    ed = keys.records["sele._domainkey." + DOMAIN]
    assert re.fullmatch(r"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", ed)
    # The public key in the record is the private key's.
    pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                         input=keys.key_pem("selr"), check=True,
                         capture_output=True).stdout
    assert rsa.split("p=")[1] == base64.b64encode(pub).decode()
    out = inst.check(["dkim", "list"]).stdout.decode().splitlines()
    assert sorted(l.split()[:4] for l in out) == [
        [DOMAIN, "sele", "ed25519-sha256", "256"],
        [DOMAIN, "selr", "rsa-sha256", "2048"]]
    assert parse_records(inst.check(["dkim", "list", "--dns"]).stdout.decode()) \
        == keys.records
    # An existing key is never overwritten.
    r = inst.run(["dkim", "keygen", DOMAIN, "--selector", "sel"])
    assert r.returncode != 0 and b"File exists" in r.stderr
    assert parse_records(inst.check(["dkim", "list", "--dns"]).stdout.decode()) \
        == keys.records
    # Default selectors: YYYYMM + r/e.
    out = inst.check(["dkim", "keygen", "other.example", "--type",
                      "ed25519"]).stdout.decode()
    assert re.match(r"^\d{6}e\._domainkey\.other\.example\. IN TXT", out)
    r = inst.run(["dkim", "keygen", "bad/../name"])
    assert r.returncode == 64


def test_our_signatures_verify_with_dkimpy(keys):
    """Every message shape in the corpus, signed with RSA and Ed25519 by
    us, verifies with dkimpy and with us."""
    for name, msg in corpus():
        signed = keys.sign(msg, "selr", "sele")
        assert signed.endswith(msg)
        head = signed[:len(signed) - len(msg)]
        assert head.count(b"DKIM-Signature:") == 2
        assert all(len(l) < 78 for l in head.split(b"\r\n")), name
        assert py_verify(keys, signed, 2) == [True, True], name
        rc, lines = keys.verify(signed)
        assert rc == 0 and len(lines) == 2, (name, lines)
        assert lines[0] == ("dkim=pass header.d=example.org header.s=selr "
                            "header.a=rsa-sha256")
        assert lines[1].startswith("dkim=pass header.d=example.org header.s=sele")


def test_lf_messages_keep_lf(keys):
    """A message with LF line ends gets LF-ended signature fields; the
    signature is over the CRLF form it will have on the wire."""
    msg = b"From: a@example.org\nTo: b@example.net\nSubject: x\n\nbody\n"
    signed = keys.sign(msg, "sele")
    assert b"\r" not in signed
    assert py_verify(keys, crlf(signed), 1) == [True]
    assert keys.verify(signed)[0] == 0


def dkimpy_sign(keys, msg, alg, canon=(b"relaxed", b"relaxed"), **kw):
    if alg == "rsa":
        sig = dkim.sign(msg, b"selr", DOMAIN.encode(), keys.key_pem("selr"),
                        canonicalize=canon, **kw)
    else:
        sig = dkim.sign(msg, b"sele", DOMAIN.encode(), keys.ed_seed(),
                        canonicalize=canon,
                        signature_algorithm=b"ed25519-sha256", **kw)
    return sig + msg


@pytest.mark.parametrize("alg", ["rsa", "ed25519"])
def test_dkimpy_signatures_verify_with_ours(keys, alg):
    canons = [(b"relaxed", b"relaxed"), (b"simple", b"simple"),
              (b"relaxed", b"simple"), (b"simple", b"relaxed")]
    for i, (name, msg) in enumerate(corpus()):
        canon = canons[i % len(canons)]
        signed = dkimpy_sign(keys, msg, alg, canon, length=(i % 3 == 0))
        rc, lines = keys.verify(signed)
        assert rc == 0 and lines[0].startswith("dkim=pass "), (name, canon, lines)


def tamper_cases(signed):
    body_at = signed.index(b"\r\n\r\n") + 4
    yield "body", signed[:body_at] + b"X" + signed[body_at:], \
        "body hash mismatch"
    m = re.search(rb"\r\nSubject:[^\r]*", signed)
    yield "subject", signed[:m.end()] + b" (changed)" + signed[m.end():], \
        "signature mismatch"
    yield "added From", b"From: Mallory <ceo@example.org>\r\n" + signed, \
        "signature mismatch"


@pytest.mark.parametrize("who", ["ours-rsa", "ours-ed25519", "dkimpy-rsa",
                                 "dkimpy-ed25519"])
def test_tampered_messages_fail_with_reason(keys, who):
    for name, msg in list(corpus())[:3]:
        if who.startswith("ours"):
            signed = keys.sign(msg, "selr" if who.endswith("rsa") else "sele")
        else:
            # dkimpy oversigns From by default (frozen headers)
            signed = dkimpy_sign(keys, msg, who.split("-")[1])
        assert keys.verify(signed)[0] == 0
        for what, bad, reason in tamper_cases(signed):
            rc, lines = keys.verify(bad)
            assert rc == 1, (name, what)
            assert lines[0].startswith("dkim=fail (%s) " % reason), \
                (name, what, lines)
            assert py_verify(keys, bad, 1) == [False], (name, what)


def test_key_problems(keys):
    msg = next(corpus())[1]
    signed = keys.sign(msg, "selr")
    good = dict(keys.records)
    cases = [
        ({}, "permerror (no key for signature)"),
        ({"selr._domainkey." + DOMAIN: "v=DKIM1; k=rsa; p="},
         "permerror (key revoked)"),
        ({"selr._domainkey." + DOMAIN: good["sele._domainkey." + DOMAIN]},
         "permerror (key type does not match the algorithm)"),
    ]
    small = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA",
                            "-pkeyopt", "rsa_keygen_bits:768"],
                           capture_output=True, check=True).stdout
    pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"],
                         input=small, capture_output=True, check=True).stdout
    cases.append(({"selr._domainkey." + DOMAIN: "v=DKIM1; p=" +
                   base64.b64encode(pub).decode()},
                  "permerror (RSA key too small)"))
    for recs, want in cases:
        keys.write_records(recs)
        rc, lines = keys.verify(signed)
        assert rc == 1 and lines[0].startswith("dkim=" + want), (want, lines)
    keys.write_records(good)
    rc, lines = keys.verify(msg)
    assert (rc, lines) == (1, ["dkim=none"])


def test_expiry(keys, inst):  # noqa: F811
    msg = next(corpus())[1]
    signed = inst.check(["dkim", "sign", "--domain", DOMAIN, "--selector",
                         "sele", "--expire", "60"], input=msg).stdout
    t = int(re.search(rb"x=(\d+)", signed).group(1))
    assert keys.verify(signed)[0] == 0
    r = inst.run_raw(["dkim", "verify", "--key-records", keys.rec_file,
                      "--now", str(t + 1)], input=signed)
    assert r.returncode == 1
    assert r.stdout.decode().startswith("dkim=fail (signature expired)")


def test_opendkim_rsa_sha1_is_refused(keys, inst):  # noqa: F811
    """opendkim-testmsg signs with rsa-sha1, which dkimpy still accepts;
    RFC 8301 says it must not count as valid."""
    msg = next(corpus())[1].replace(b"\r\n", b"\n")
    r = subprocess.run(["opendkim-testmsg", "-d", DOMAIN, "-s", "selr",
                        "-k", os.path.join(keys.dir, "selr.key")],
                       input=msg, capture_output=True)
    assert r.returncode == 0, r.stderr
    # opendkim-testmsg 2.11 writes a few stray bytes after the b= value
    # (the tail of its buffer again); an RSA-2048 signature's base64 ends
    # in "==", so cut there.
    signed = re.sub(rb"(b=[^;]*?==)[A-Za-z0-9+/=]*\n", rb"\1\n", r.stdout, 1)
    assert b"a=rsa-sha1" in signed
    assert py_verify(keys, crlf(signed), 1) == [True]
    rc, lines = keys.verify(signed)
    assert rc == 1
    assert lines[0].startswith("dkim=permerror (rsa-sha1 is not accepted "
                               "(RFC 8301)) header.d=example.org")


def test_sign_needs_from_and_a_key(keys, inst):  # noqa: F811
    r = inst.run(["dkim", "sign", "--domain", DOMAIN, "--selector", "sele"],
                 input=b"To: x@example.net\r\n\r\nhi\r\n")
    assert r.returncode == 65 and b"no From" in r.stderr
    r = inst.run(["dkim", "sign", "--domain", DOMAIN, "--selector", "nope"],
                 input=b"From: x@example.org\r\n\r\nhi\r\n")
    assert r.returncode == 66


class TxtServer:
    """A TXT-only DNS server on port 53 of a random 127.x address (all of
    127/8 is loopback), for opendkim-testmsg, which asks the resolver of
    /etc/resolv.conf: the test gives it one naming this server inside a
    private mount namespace (unshare -m), so the machine's is untouched."""

    def __init__(self, records):
        from dnslib import QTYPE, RCODE, RR, TXT
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        class Resolver(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                name = str(request.q.qname).rstrip(".").lower()
                if name not in records:
                    reply.header.rcode = RCODE.NXDOMAIN
                elif QTYPE[request.q.qtype] == "TXT":
                    t = records[name].encode()
                    reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=60,
                                        rdata=TXT([t[i:i + 255] for i in
                                                   range(0, len(t), 255)])))
                return reply

        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
        for _ in range(20):
            self.addr = "127.53.%d.%d" % (random.randrange(256),
                                          random.randrange(1, 255))
            try:
                self.servers = [DNSServer(Resolver(), port=53, address=self.addr,
                                          tcp=tcp, logger=quiet)
                                for tcp in (False, True)]
                break
            except OSError:
                continue
        for srv in self.servers:
            srv.start_thread()

    def stop(self):
        for srv in self.servers:
            srv.stop()


def opendkim_verify(resolv, msg):
    """opendkim-testmsg's verdict on msg (0 = every signature good)."""
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount --bind "$0" /etc/resolv.conf && exec opendkim-testmsg',
         resolv], input=msg, capture_output=True, timeout=30)
    return r.returncode, r.stderr.decode()


def test_our_signatures_verify_with_opendkim(keys, inst):  # noqa: F811
    """OpenDKIM's verifier (opendkim-testmsg, libopendkim) accepts our RSA
    and Ed25519 signatures on every corpus message and refuses a tampered
    one; its key lookups go to a loopback DNS server."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or \
            subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs root and unshare -m (a private /etc/resolv.conf)")
    dns = TxtServer(keys.records)
    resolv = os.path.join(inst.root, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver %s\n" % dns.addr)
    try:
        checked = 0
        for name, msg in corpus():
            # libopendkim refuses a message without the fields RFC 5322
            # 3.6 requires (Date: among them) before it looks at any
            # signature ("dkim_chunk(): Syntax error", signed or not):
            # 12 corpus messages are dkimpy's alone.
            if "Syntax error" in opendkim_verify(resolv, msg)[1]:
                continue
            checked += 1
            signed = keys.sign(msg, "selr", "sele")
            head = signed[:len(signed) - len(msg)]
            sigs = [b"DKIM-Signature:" + x
                    for x in head.split(b"DKIM-Signature:")[1:]]
            assert len(sigs) == 2
            for sig in sigs:  # each algorithm on its own
                rc, err = opendkim_verify(resolv, sig + msg)
                assert rc == 0, (name, sig[:60], err)
            bad = signed.replace(b"\r\n\r\n", b"\r\n\r\nX", 1)
            rc, err = opendkim_verify(resolv, bad)
            assert rc != 0 and "Bad signature" in err, (name, err)
        assert checked >= 15
    finally:
        dns.stop()
