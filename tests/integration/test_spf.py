"""SPF (RFC 7208): `postern spf` against Debian's python3-spf (pyspf).

A table of policies is served by the loopback test DNS server
(dnsserver.py); every case is evaluated by `postern spf IP SENDER --helo
NAME` (with dns_resolver pointing at that server) and by pyspf's
spf.check2 (with dnspython's default resolver pointing at the same
server: no query leaves the machine), and both must give the result the
table expects. The cases cover include, redirect, a, mx, ptr, exists,
macros, void lookups, the 10-lookup limit, ip4/ip6 with CIDR lengths,
temperror on SERVFAIL and timeouts, and permerror on syntax errors.
"""
import re

import pytest

from dnsserver import DNSServer

spf = pytest.importorskip("spf")
dns_resolver = pytest.importorskip("dns.resolver")

L = {"A": ["10.9.9.9"]}  # a name that exists, for lookup counting

ZONE = {
    # ip4 / ip6 with CIDR lengths
    "pass.test": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "ip6.test": {"TXT": ["v=spf1 ip6:2001:db8::/32 ~all"]},
    "cidr.test": {"TXT": ["v=spf1 ip4:192.0.2.128/25 ?all"]},
    "split.test": {"TXT": [["v=spf1 ip4:192.0.2.0/24", " -all"]]},
    # a
    "a.test": {"TXT": ["v=spf1 a -all"], "A": ["192.0.2.5"],
               "AAAA": ["2001:db8::5"]},
    "acidr.test": {"TXT": ["v=spf1 a:host.acidr.test/28 -all"]},
    "host.acidr.test": {"A": ["192.0.2.33"]},
    # mx
    "mx.test": {"TXT": ["v=spf1 mx -all"],
                "MX": [(10, "mx1.mx.test"), (20, "mx2.mx.test")]},
    "mx1.mx.test": {"A": ["192.0.2.21"], "AAAA": ["2001:db8::1"]},
    "mx2.mx.test": {"A": ["192.0.2.22"]},
    "mxcidr.test": {"TXT": ["v=spf1 mx:mx.test//64 -all"]},
    "mx11.test": {"TXT": ["v=spf1 mx ip4:192.0.2.0/24 -all"],
                  "MX": [(i, "m%d.mx11.test" % i) for i in range(11)]},
    # include and redirect
    "include.test": {"TXT": ["v=spf1 include:pass.test -all"]},
    "incnone.test": {"TXT": ["v=spf1 include:nospf.test -all"]},
    "incneutral.test": {"TXT": ["v=spf1 include:cidr.test ~all"]},
    "redirect.test": {"TXT": ["v=spf1 redirect=pass.test"]},
    "redirnone.test": {"TXT": ["v=spf1 redirect=nospf.test"]},
    "redirmatch.test": {"TXT": ["v=spf1 ip4:198.51.100.7 redirect=pass.test"]},
    # exists and macros
    "exists.test": {"TXT": ["v=spf1 exists:%{i}.ok.exists.test -all"]},
    "192.0.2.50.ok.exists.test": {"A": ["127.0.0.2"]},
    "macro.test": {"TXT": ["v=spf1 exists:%{ir}.%{l1r-}.lp.macro.test -all"]},
    "50.2.0.192.john.lp.macro.test": {"A": ["127.0.0.2"]},
    "macro2.test": {"TXT": ["v=spf1 exists:%{d2}.%{v}.%{h}.m2.test -all"]},
    "macro2.test.in-addr.helo.example.m2.test": {"A": ["127.0.0.2"]},
    "macro3.test": {"TXT": ["v=spf1 a:%{o}.h.%{d1} -all"]},
    "macro3.test.h.test": {"A": ["192.0.2.55"]},
    # ptr
    "ptr.test": {"TXT": ["v=spf1 ptr -all"]},
    "70.2.0.192.in-addr.arpa": {"PTR": ["h70.ptr.test"]},
    "h70.ptr.test": {"A": ["192.0.2.70"]},
    "71.2.0.192.in-addr.arpa": {"PTR": ["h71.ptr.test"]},
    "h71.ptr.test": {"A": ["192.0.2.99"]},
    "ptr2.test": {"TXT": ["v=spf1 ptr:other.test -all"]},
    # two names, the second one ours; and IPv6 (ip6.arpa nibbles)
    "73.2.0.192.in-addr.arpa": {"PTR": ["h73.elsewhere.test",
                                        "h73.ptr.test"]},
    "h73.elsewhere.test": {"A": ["192.0.2.73"]},
    "h73.ptr.test": {"A": ["192.0.2.73"]},
    ".".join(reversed("20010db8000000000000000000000070")) + ".ip6.arpa":
        {"PTR": ["h6.ptr.test"]},
    "h6.ptr.test": {"AAAA": ["2001:db8::70"]},
    # %{p}: the validated name, or "unknown"
    "pmacro.test": {"TXT": ["v=spf1 exists:%{p}.pm.test -all"]},
    "h70.ptr.test.pm.test": {"A": ["127.0.0.2"]},
    "pexp.test": {"TXT": ["v=spf1 -all exp=e.pexp.test"]},
    "e.pexp.test": {"TXT": ["%{p} may not send for %{d}"]},
    # void lookups: two are allowed, the third is a permerror
    "void2.test": {"TXT": [
        "v=spf1 a:n1.void.test a:n2.void.test ip4:192.0.2.80 -all"]},
    "void3.test": {"TXT": [
        "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test "
        "ip4:192.0.2.80 -all"]},
    # the 10-lookup limit
    "l10.test": {"TXT": ["v=spf1 " + " ".join(
        "a:h%d.l.test" % i for i in range(10)) + " ip4:192.0.2.90 -all"]},
    "l11.test": {"TXT": ["v=spf1 " + " ".join(
        "a:h%d.l.test" % i for i in range(11)) + " ip4:192.0.2.90 -all"]},
    "chain.test": {"TXT": ["v=spf1 include:c1.chain.test -all"]},
    # temporary errors
    "sf.test": {"TXT": ["v=spf1 a:broken.test -all"]},
    "broken.test": {"SERVFAIL": True},
    "tmo.test": {"TXT": ["v=spf1 a:slow.test -all"]},
    "slow.test": {"TIMEOUT": True},
    "incsf.test": {"TXT": ["v=spf1 include:broken.test -all"]},
    # syntax: permerror
    "syn1.test": {"TXT": ["v=spf1 ip4:192.0.2.300 -all"]},
    "syn2.test": {"TXT": ["v=spf1 foo -all"]},
    "syn3.test": {"TXT": ["v=spf1 redirect=a.test redirect=pass.test"]},
    "syn4.test": {"TXT": ["v=spf1 a:%{x}.test -all"]},
    "syn5.test": {"TXT": ["v=spf1 ip4:192.0.2.1/33 -all"]},
    "syn6.test": {"TXT": ["v=spf1 a:localhost -all"]},
    "syn7.test": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all:foo"]},
    "two.test": {"TXT": ["v=spf1 -all", "v=spf1 +all"]},
    "unknownmod.test": {"TXT": ["v=spf1 ip4:192.0.2.0/24 foo=bar%{d} -all"]},
    # none
    "nospf.test": {"TXT": ["hello", "v=spf10 -all"]},
    # exp=
    "exp.test": {"TXT": ["v=spf1 -all exp=explain.exp.test"]},
    "explain.exp.test": {"TXT": ["%{i} is not one of %{d}'s hosts"]},
}
for i in range(11):
    ZONE["h%d.l.test" % i] = L
    ZONE["m%d.mx11.test" % i] = {"A": ["10.9.9.%d" % i]}
for i in range(1, 11):
    nxt = ("include:c%d.chain.test" % (i + 1)) if i < 10 else "a:h0.l.test"
    ZONE["c%d.chain.test" % i] = {"TXT": ["v=spf1 %s -all" % nxt]}

# (client IP, MAIL FROM, HELO, expected result)
CASES = [
    ("192.0.2.10", "u@pass.test", "helo.example", "pass"),
    ("198.51.100.1", "u@pass.test", "helo.example", "fail"),
    ("2001:db8::1", "u@ip6.test", "helo.example", "pass"),
    ("2001:dba::1", "u@ip6.test", "helo.example", "softfail"),
    ("192.0.2.1", "u@ip6.test", "helo.example", "softfail"),
    ("192.0.2.200", "u@cidr.test", "helo.example", "pass"),
    ("192.0.2.1", "u@cidr.test", "helo.example", "neutral"),
    ("192.0.2.9", "u@split.test", "helo.example", "pass"),
    ("192.0.2.5", "u@a.test", "helo.example", "pass"),
    ("2001:db8::5", "u@a.test", "helo.example", "pass"),
    ("192.0.2.6", "u@a.test", "helo.example", "fail"),
    ("192.0.2.40", "u@acidr.test", "helo.example", "pass"),
    ("192.0.2.48", "u@acidr.test", "helo.example", "fail"),
    ("192.0.2.22", "u@mx.test", "helo.example", "pass"),
    ("192.0.2.23", "u@mx.test", "helo.example", "fail"),
    ("2001:db8::77", "u@mxcidr.test", "helo.example", "pass"),
    ("2001:db8:0:1::77", "u@mxcidr.test", "helo.example", "fail"),
    ("192.0.2.1", "u@mx11.test", "helo.example", "permerror"),
    ("192.0.2.10", "u@include.test", "helo.example", "pass"),
    ("203.0.113.1", "u@include.test", "helo.example", "fail"),
    ("192.0.2.10", "u@incnone.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@incneutral.test", "helo.example", "softfail"),
    ("192.0.2.10", "u@redirect.test", "helo.example", "pass"),
    ("203.0.113.1", "u@redirect.test", "helo.example", "fail"),
    ("192.0.2.10", "u@redirnone.test", "helo.example", "permerror"),
    ("198.51.100.7", "u@redirmatch.test", "helo.example", "pass"),
    ("192.0.2.50", "u@exists.test", "helo.example", "pass"),
    ("192.0.2.51", "u@exists.test", "helo.example", "fail"),
    ("192.0.2.50", "john-smith@macro.test", "helo.example", "pass"),
    ("192.0.2.50", "jane@macro.test", "helo.example", "fail"),
    ("192.0.2.1", "x@macro2.test", "helo.example", "pass"),
    ("192.0.2.55", "x@macro3.test", "helo.example", "pass"),
    ("192.0.2.70", "u@ptr.test", "helo.example", "pass"),
    ("192.0.2.71", "u@ptr.test", "helo.example", "fail"),
    ("192.0.2.72", "u@ptr.test", "helo.example", "fail"),
    ("192.0.2.70", "u@ptr2.test", "helo.example", "fail"),
    ("192.0.2.73", "u@ptr.test", "helo.example", "pass"),
    ("2001:db8::70", "u@ptr.test", "helo.example", "pass"),
    ("2001:db8::71", "u@ptr.test", "helo.example", "fail"),
    ("192.0.2.80", "u@void2.test", "helo.example", "pass"),
    ("192.0.2.80", "u@void3.test", "helo.example", "permerror"),
    ("192.0.2.90", "u@l10.test", "helo.example", "pass"),
    ("192.0.2.90", "u@l11.test", "helo.example", "permerror"),
    ("192.0.2.90", "u@chain.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@sf.test", "helo.example", "temperror"),
    ("192.0.2.1", "u@broken.test", "helo.example", "temperror"),
    ("192.0.2.1", "u@incsf.test", "helo.example", "temperror"),
    ("192.0.2.1", "u@tmo.test", "helo.example", "temperror"),
    ("192.0.2.1", "u@syn1.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn2.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn3.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn4.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn5.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn6.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@syn7.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@two.test", "helo.example", "permerror"),
    ("192.0.2.1", "u@unknownmod.test", "helo.example", "pass"),
    ("192.0.2.1", "u@nospf.test", "helo.example", "none"),
    ("192.0.2.1", "u@nowhere.test", "helo.example", "none"),
    # the null sender: postmaster@HELO (RFC 7208 2.4)
    ("192.0.2.5", "", "a.test", "pass"),
    ("192.0.2.6", "", "a.test", "fail"),
    ("192.0.2.1", "u@exp.test", "helo.example", "fail"),
    ("192.0.2.70", "u@pmacro.test", "helo.example", "pass"),
    ("192.0.2.71", "u@pmacro.test", "helo.example", "fail"),
    ("192.0.2.70", "u@pexp.test", "helo.example", "fail"),
]


@pytest.fixture(scope="module")
def dnssrv():
    with DNSServer(ZONE) as d:
        yield d


@pytest.fixture(scope="module")
def pyspf_at(dnssrv):
    """pyspf with dnspython asking only the test server."""
    r = dns_resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = dnssrv.port
    r.timeout = 2
    r.lifetime = 6
    old = dns_resolver.default_resolver
    dns_resolver.default_resolver = r
    yield
    dns_resolver.default_resolver = old


def postern_spf(inst, ip, sender, helo, *extra):
    args = ["spf", ip, sender or "<>"]
    if helo:
        args += ["--helo", helo]
    r = inst.run(args + list(extra), timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    m = re.search(r"^result: (\S+)$", out, re.M)
    assert m, out
    expl = re.search(r"^explanation: (.*)$", out, re.M).group(1)
    return m.group(1), expl, out


@pytest.mark.parametrize("ip,sender,helo,expected", CASES,
                         ids=["%s-%s" % (c[1] or "null:" + c[2], c[0])
                              for c in CASES])
def test_spf_agrees_with_pyspf(inst, dnssrv, pyspf_at, ip, sender, helo,
                               expected):
    inst.configure(dns_resolver=dnssrv.address, hostname="mx.receiver.test")
    ours, expl, out = postern_spf(inst, ip, sender, helo)
    theirs, their_expl = spf.check2(i=ip, s=sender, h=helo, querytime=6,
                                    receiver="mx.receiver.test")
    assert theirs == expected, "pyspf: %s %s" % (theirs, their_expl)
    assert ours == expected, out
    if sender.endswith("@exp.test"):
        assert expl == their_expl == \
            "192.0.2.1 is not one of exp.test's hosts", out
    if sender.endswith("@pexp.test"):
        assert expl == their_expl == \
            "h70.ptr.test may not send for pexp.test", out


def test_spf_helo_identity_and_chain(inst, dnssrv):
    """--identity helo checks postmaster@HELO whatever MAIL FROM says,
    and the chain names each record and lookup."""
    inst.configure(dns_resolver=dnssrv.address)
    r = inst.run(["spf", "192.0.2.5", "u@pass.test", "--helo", "a.test",
                  "--identity", "helo"])
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "result: pass" in out
    assert "identity: helo postmaster@a.test" in out
    r = inst.run(["spf", "192.0.2.10", "u@include.test"])
    out = r.stdout.decode()
    assert "include:pass.test" in out
    assert '"v=spf1 ip4:192.0.2.0/24 -all"' in out
    assert "lookups: 1, void lookups: 0" in out


def test_spf_usage(inst):
    r = inst.run(["spf", "not-an-ip", "u@pass.test"])
    assert r.returncode == 64
    r = inst.run(["spf", "--help"])
    assert r.returncode == 0 and b"RFC 7208" in r.stdout
