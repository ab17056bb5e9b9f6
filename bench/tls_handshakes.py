#!/usr/bin/python3
"""Full TLS handshakes per second against a postern binary (IMAPS), to
measure what the key process costs: `tls_handshakes.py BIN [BIN...]`.

For each binary and each key type (ECDSA P-256, RSA 2048) and TLS version
(1.2, 1.3): `postern init` in a temporary directory (run as root, so the
real split of uids), `serve`, then client processes (Python ssl, i.e. OpenSSL) doing full
handshakes (no session resumption) in a loop for SECONDS; prints
handshakes/s and the mean handshake time seen by one client. Loopback
only."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from multiprocessing import Process, Queue

SECONDS = float(os.environ.get("SECONDS_PER_RUN", "8"))
CLIENTS = int(os.environ.get("CLIENTS", "4"))
BASE = int(os.environ.get("PORT_BASE", "23000"))


def client(port, version, secs, q):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    n, errors, spent, end = 0, 0, 0.0, time.monotonic() + secs
    while time.monotonic() < end:
        t = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s = ctx.wrap_socket(s)  # full handshake: a fresh session
            s.recv(100)             # the greeting: the server is done
            s.close()
        except OSError:
            errors += 1
            continue
        spent += time.monotonic() - t
        n += 1
    q.put((n, spent, errors))


def run(binary, kind, version):
    d = tempfile.mkdtemp(prefix="postern-bench-tls-", dir="/tmp")
    os.chmod(d, 0o755)
    inst = os.path.join(d, "inst")
    subprocess.run([binary, "init", inst, "--port-base", str(BASE)],
                   check=True, stdout=subprocess.DEVNULL)
    conf = os.path.join(inst, "postern.conf")
    settings = {"workers": "2", "log_level": "warn"}
    if kind == "rsa":
        subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-newkey", "rsa:2048",
                        "-keyout", inst + "/rsa.key", "-out",
                        inst + "/rsa.crt"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        settings.update(tls_cert="rsa.crt", tls_key="rsa.key")
    with open(conf) as f:
        lines = [l for l in f.read().splitlines()
                 if l.split("=")[0].strip() not in settings]
    lines += ["%s = %s" % kv for kv in settings.items()]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(d, "log"), "wb")
    p = subprocess.Popen([binary, "-c", conf, "serve"], stdout=log,
                         stderr=log)
    port = BASE + 993
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            time.sleep(0.1)
    time.sleep(0.5)
    q = Queue()
    procs = [Process(target=client, args=(port, version, SECONDS, q))
             for _ in range(CLIENTS)]
    for pr in procs:
        pr.start()
    res = [q.get() for _ in procs]
    for pr in procs:
        pr.join()
    p.send_signal(signal.SIGTERM)
    p.wait()
    log.close()
    shutil.rmtree(d, ignore_errors=True)
    n = sum(r[0] for r in res)
    mean = sum(r[1] for r in res) / n * 1000 if n else 0
    return n / SECONDS, mean, sum(r[2] for r in res)


def main():
    bins = sys.argv[1:]
    print("clients=%d seconds=%g workers=2" % (CLIENTS, SECONDS))
    for kind in ("ec", "rsa"):
        for version, vname in ((ssl.TLSVersion.TLSv1_2, "1.2"),
                               (ssl.TLSVersion.TLSv1_3, "1.3")):
            for b in bins:
                rate, mean, errors = run(b, kind, version)
                print("%-5s TLS %s %-32s %7.1f handshakes/s  %6.2f ms each"
                      "  errors=%d" % (kind, vname, b, rate, mean, errors),
                      flush=True)


if __name__ == "__main__":
    main()
