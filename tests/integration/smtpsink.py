"""A scripted SMTP server for the outbound-queue tests.

It plays the other side of postern's SMTP client: it listens on loopback,
answers from a script (greeting, EHLO extensions, STARTTLS, AUTH PLAIN,
replies to RCPT and to the end of DATA, delays), and records everything it
saw, so that a test can assert what postern sent and when.

    with Sink(rcpt=lambda a: "550 5.1.1 no such user") as sink:
        ... sink.port, sink.transactions, sink.connections ...
"""

import base64
import socket
import ssl
import threading
import time


class Transaction:
    def __init__(self, sender):
        self.sender = sender
        self.mail_line = ""
        self.rcpts = []        # accepted recipients
        self.refused = []      # refused recipients
        self.data = None       # bytes after un-dot-stuffing, CRLF kept
        self.wire = None       # the DATA bytes exactly as received
        self.accepted = False  # we answered 250 to the end of DATA
        self.tls = False
        self.auth = None
        self.time = time.time()


class Sink:
    def __init__(self, host="127.0.0.1", port=0, greeting="220 sink ESMTP",
                 extensions=("PIPELINING", "8BITMIME", "SIZE 100000000"),
                 starttls=None, auth=None, rcpt=None, data=None,
                 data_delay=0.0, mail=None, helo_name="sink.test"):
        self.host = host
        self.greeting = greeting
        self.extensions = list(extensions)
        self.starttls = starttls      # (certfile, keyfile) or None
        self.auth = auth              # (user, password) or None
        self.rcpt_fn = rcpt           # addr -> reply line or None (= 250)
        self.data_fn = data           # Transaction -> reply line or None
        self.mail_fn = mail           # sender -> reply line or None
        self.data_delay = data_delay  # float or fn(Transaction) -> float
        self.helo_name = helo_name
        self.lock = threading.Lock()
        self.connections = 0
        self.connect_times = []
        self.transactions = []
        self.commands = []            # every command line, in order
        self.in_data = threading.Event()  # set when DATA content arrives
        self.sock = socket.socket(socket.AF_INET6 if ":" in host
                                  else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    # ---- what the tests read -------------------------------------------
    def accepted(self):
        with self.lock:
            return [t for t in self.transactions if t.accepted]

    def wait_accepted(self, n, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.accepted()) >= n:
                return self.accepted()
            time.sleep(0.05)
        raise AssertionError("sink: %d messages accepted, wanted %d; "
                             "commands: %r" % (len(self.accepted()), n,
                                               self.commands[-30:]))

    # ---- the server ----------------------------------------------------
    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.connect_times.append(time.time())
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(30)
        try:
            _Session(self, conn).run()
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


class _Session:
    def __init__(self, sink, conn):
        self.sink = sink
        self.conn = conn
        self.rfile = conn.makefile("rb")
        self.tls = False
        self.auth = None
        self.tx = None

    def send(self, line):
        self.conn.sendall(line.encode() + b"\r\n")

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise ValueError("eof")
        return line

    def run(self):
        self.send(self.sink.greeting)
        if not self.sink.greeting.startswith("220"):
            # RFC 5321 3.1: after a 554 greeting the server waits for QUIT
            self.readline()
            self.send("221 bye")
            return
        while True:
            raw = self.readline()
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            with self.sink.lock:
                self.sink.commands.append(line)
            verb = line.split(" ", 1)[0].upper()
            handler = getattr(self, "do_" + verb, None)
            if handler is None:
                self.send("502 5.5.2 not implemented")
                continue
            if handler(line) == "quit":
                return

    def do_EHLO(self, line):
        ext = list(self.sink.extensions)
        if self.sink.starttls and not self.tls:
            ext.append("STARTTLS")
        if self.sink.auth and self.tls:
            ext.append("AUTH PLAIN")
        lines = [self.sink.helo_name] + ext
        for l in lines[:-1]:
            self.send("250-" + l)
        self.send("250 " + lines[-1])

    def do_HELO(self, line):
        self.send("250 " + self.sink.helo_name)

    def do_STARTTLS(self, line):
        if not self.sink.starttls or self.tls:
            self.send("502 5.5.1 no")
            return
        self.send("220 2.0.0 go ahead")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.sink.starttls)
        self.conn = ctx.wrap_socket(self.conn, server_side=True)
        self.rfile = self.conn.makefile("rb")
        self.tls = True

    def do_AUTH(self, line):
        parts = line.split()
        if not self.sink.auth or len(parts) < 2 or parts[1].upper() != "PLAIN":
            self.send("504 5.5.4 mechanism not supported")
            return
        if len(parts) >= 3:
            resp = parts[2]
        else:
            self.send("334 ")
            resp = self.readline().strip().decode()
        try:
            _, user, pw = base64.b64decode(resp).split(b"\0")
        except ValueError:
            self.send("501 5.5.2 bad")
            return
        if (user.decode(), pw.decode()) == tuple(self.sink.auth):
            self.auth = user.decode()
            self.send("235 2.7.0 ok")
        else:
            self.send("535 5.7.8 bad credentials")

    def do_MAIL(self, line):
        sender = line[line.find("<") + 1:line.find(">")]
        reply = self.sink.mail_fn(sender) if self.sink.mail_fn else None
        if reply:
            self.send(reply)
            return
        if self.sink.auth and not self.auth:
            self.send("530 5.7.0 authentication required")
            return
        self.tx = Transaction(sender)
        self.tx.mail_line = line
        self.tx.tls = self.tls
        self.tx.auth = self.auth
        self.send("250 2.1.0 ok")

    def do_RCPT(self, line):
        addr = line[line.find("<") + 1:line.find(">")]
        if self.tx is None:
            self.send("503 5.5.1 MAIL first")
            return
        reply = self.sink.rcpt_fn(addr) if self.sink.rcpt_fn else None
        if reply and not reply.startswith("2"):
            self.tx.refused.append(addr)
            self.send(reply)
            return
        self.tx.rcpts.append(addr)
        self.send(reply or "250 2.1.5 ok")

    def do_DATA(self, line):
        if self.tx is None or not self.tx.rcpts:
            self.send("554 5.5.1 no valid recipients")
            return
        self.send("354 go ahead")
        wire, data = [], []
        while True:
            l = self.readline()
            wire.append(l)
            if l == b".\r\n":
                break
            data.append(l[1:] if l.startswith(b".") else l)
        self.tx.wire = b"".join(wire)
        self.tx.data = b"".join(data)
        with self.sink.lock:
            self.sink.transactions.append(self.tx)
        self.sink.in_data.set()
        delay = self.sink.data_delay
        if callable(delay):
            delay = delay(self.tx)
        if delay:
            time.sleep(delay)
            if self._peer_closed():
                # the client died while we waited: it never got a reply,
                # so the message is not ours (tests count only accepted)
                raise ValueError("peer gone")
        reply = self.sink.data_fn(self.tx) if self.sink.data_fn else None
        reply = reply or "250 2.0.0 queued"
        self.send(reply)
        if reply.startswith("2"):
            with self.sink.lock:
                self.tx.accepted = True
        self.tx = None

    def _peer_closed(self):
        try:
            self.conn.setblocking(False)
            try:
                return self.conn.recv(1, socket.MSG_PEEK) == b""
            finally:
                self.conn.setblocking(True)
                self.conn.settimeout(30)
        except (BlockingIOError, ssl.SSLWantReadError):
            return False
        except OSError:
            return True

    def do_RSET(self, line):
        self.tx = None
        self.send("250 2.0.0 ok")

    def do_NOOP(self, line):
        self.send("250 2.0.0 ok")

    def do_QUIT(self, line):
        self.send("221 2.0.0 bye")
        return "quit"
