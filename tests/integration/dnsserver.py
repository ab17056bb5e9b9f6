"""A tiny authoritative DNS server for tests (python3-dnslib).

It answers from a zone given as a dict, on UDP and TCP at 127.0.0.1 and
one free port:

    zone = {
        "b.test": {"MX": [(10, "mx1.b.test")]},
        "mx1.b.test": {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        "null.test": {"MX": [(0, ".")]},      # null MX (RFC 7505)
        "nomx.test": {"A": ["127.0.0.1"]},    # no MX: implicit MX
        "broken.test": {"SERVFAIL": True},    # every query: SERVFAIL
        "slow.test": {"TIMEOUT": True},       # every query: no answer
        "spf.test": {"TXT": ["v=spf1 mx -all"]},  # one string each
        "long.test": {"TXT": [["v=spf1 ", "-all"]]},  # several strings
        "2.0.0.127.in-addr.arpa": {"PTR": ["host.spf.test"]},
    }
    with DNSServer(zone) as dns:
        ... dns_resolver = f"127.0.0.1:{dns.port}" ...
        dns.zone["b.test"]["MX"] = [(5, "mx2.b.test")]   # live change
        assert dns.queries > 0

A name in the zone with no record of the asked type gets an empty
NOERROR answer (NODATA); a name not in the zone gets NXDOMAIN. Names are
matched without case and without the trailing dot. Answers too big for
UDP are truncated (TC) by dnslib, so clients retry over TCP.

Run alone (the C unit test tests/unit/test_dns.c does):
    python3 dnsserver.py --port 0 --zone '{"b.test": {"MX": [[10, "mx"]]}}'
prints "ready PORT" once both sockets listen, then serves until killed.
"""
import argparse
import json
import sys
import threading

from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSError
from dnslib.server import DNSLogger
from dnslib.server import DNSServer as _DNSServer

TTL = 60


class _Resolver:
    def __init__(self, owner):
        self.owner = owner

    def resolve(self, request, handler):
        owner = self.owner
        with owner.lock:
            owner.queries += 1
            # normalized per query, so a test may change the zone
            # freely while the server runs
            zone = {k.rstrip(".").lower(): v for k, v in owner.zone.items()}
            qname = request.q.qname
            name = str(qname).rstrip(".").lower()
            qtype = QTYPE[request.q.qtype]
            reply = request.reply()
            reply.header.aa = 1
            node = zone.get(name)
            if node is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            if node.get("SERVFAIL"):
                reply.header.rcode = RCODE.SERVFAIL
                return reply
            if node.get("TIMEOUT"):
                # the handler sends nothing after a DNSError
                raise DNSError("no answer (test zone TIMEOUT)")
            for value in node.get(qtype, []):
                if qtype == "MX":
                    pref, host = value
                    rdata = MX(host, pref)
                elif qtype == "A":
                    rdata = A(value)
                elif qtype == "AAAA":
                    rdata = AAAA(value)
                elif qtype == "CNAME":
                    rdata = CNAME(value)
                elif qtype == "PTR":
                    rdata = PTR(value)
                elif qtype == "TXT":
                    strings = [value] if isinstance(value, str) else value
                    rdata = TXT([x.encode() for x in strings])
                else:
                    continue
                reply.add_answer(RR(qname, QTYPE.reverse[qtype], rdata=rdata,
                                    ttl=TTL))
            return reply


class DNSServer:
    """The server; a context manager. zone may be changed while it runs
    (replace entries or the whole dict); queries counts the queries."""

    def __init__(self, zone=None, port=0):
        self.zone = dict(zone or {})
        self.queries = 0
        self.lock = threading.Lock()
        self.port = port
        self._servers = []

    def start(self):
        quiet = DNSLogger(logf=lambda s: None)
        resolver = _Resolver(self)
        # UDP picks the port (0 = free one); TCP must get the same one:
        # retry with a new port if it is taken for TCP.
        for _ in range(50):
            udp = _DNSServer(resolver, "127.0.0.1", self.port, logger=quiet)
            port = udp.server.server_address[1]
            try:
                tcp = _DNSServer(resolver, "127.0.0.1", port, tcp=True,
                                 logger=quiet)
            except OSError:
                udp.server.server_close()
                if self.port:
                    raise
                continue
            self.port = port
            self._servers = [udp, tcp]
            for s in self._servers:
                s.start_thread()
            return self
        raise OSError("dnsserver: no free port for both UDP and TCP")

    def stop(self):
        for s in self._servers:
            s.stop()
            s.server.server_close()
        self._servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        """The value for postern's dns_resolver."""
        return f"127.0.0.1:{self.port}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--zone", default="{}", help="the zone as JSON")
    args = ap.parse_args()
    server = DNSServer(json.loads(args.zone), args.port).start()
    print(f"ready {server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    sys.exit(main())
