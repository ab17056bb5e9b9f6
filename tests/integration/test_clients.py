"""Real POP3 clients (curl, fetchmail, mpop) against the real daemon.

A mailbox of 200 varied messages (msgcorpus) is downloaded and compared
with the originals.  Each tool's storage format is undone precisely:
  curl       writes the message as RETR sends it (CRLF, unstuffed): compared
             byte for byte with the CRLF form.
  fetchmail  with an MDA strips CRs (stripcr defaults on with an MDA);
             `set invisible` suppresses its Received header and `no rewrite`
             leaves addresses alone, so it adds nothing: compared with the
             LF form.
  mpop       maildir delivery stores LF line ends; `received_header off`
             suppresses its Received header: compared with the LF form.
             mbox delivery (mboxrd) adds a "From " separator line per message,
             a blank line after each message, and quotes ">*From " body lines
             with one more '>': those are undone before comparing.
"""

import getpass
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import msgcorpus
from conftest import PASSWORD, to_crlf, to_lf

N = 200


CLIENT_TIMEOUT = 45  # 200 messages take a few seconds even under ASan


def run_client(name, argv, env=None):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env,
                              timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        raise AssertionError("%s hung for %ds (server stopped answering?)\n%s"
                             % (name, CLIENT_TIMEOUT, out[-1500:]))


def need(tool):
    path = shutil.which(tool)
    assert path, "%s is not installed (CI installs it; install it here)" % tool
    return path


def wire_form(m):
    c = to_crlf(m)
    return c if c.endswith(b"\r\n") else c + b"\r\n"


def lf_form(m):
    c = to_lf(m)
    return c if c.endswith(b"\n") else c + b"\n"


def load_corpus(inst, n=N, user="alice"):
    """First message through `postern deliver`, the rest dropped into new/
    the way another MTA would (fast, and exercises the new/ scan)."""
    msgs = msgcorpus.corpus(n)
    inst.deliver_ok(user, msgs[0])
    for i, m in enumerate(msgs[1:], 1):
        inst.drop_into_new(user, "1700000000.M%dP%d.corpus" % (i, i), m)
    return msgs


def workdir(inst, name):
    d = os.path.join(inst.root, name)
    os.mkdir(d)
    return d


def compare(expected_msgs, got_msgs, form):
    want = msgcorpus.index_by_id(expected_msgs)
    got = msgcorpus.index_by_id(got_msgs)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, (missing[:5], extra[:5])
    bad = [mid for mid in want if got[mid] != form(want[mid])]
    if bad:
        mid = bad[0]
        a, b = form(want[mid]), got[mid]
        i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]),
                 min(len(a), len(b)))
        raise AssertionError(
            "%d of %d messages differ, first %s at offset %d:\n"
            "expected ...%r\n     got ...%r"
            % (len(bad), len(want), mid, i, a[max(0, i - 60):i + 60],
               b[max(0, i - 60):i + 60]))


def mailbox_count(inst):
    p = inst.login()
    n = p.stat()[0]
    p.quit()
    return n


# ---- curl --------------------------------------------------------------

def _curl(args, timeout=120):
    need("curl")
    return subprocess.run(["curl", "-sS", "--max-time", "60"] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


@pytest.mark.parametrize("mode", ["pop3", "pop3-stls", "pop3s"])
def test_curl_list_and_retrieve(inst, mode):
    inst.start()
    msgs = load_corpus(inst)
    if mode == "pop3s":
        base = "pop3s://127.0.0.1:%d/" % inst.pop3s_port
        tls = ["--insecure"]
    else:
        base = "pop3://127.0.0.1:%d/" % inst.pop3_port
        tls = ["--insecure", "--ssl-reqd"] if mode == "pop3-stls" else []
    user = ["--user", "alice:" + PASSWORD]
    r = _curl(tls + user + [base])
    assert r.returncode == 0, r.stderr
    listing = [l for l in r.stdout.split(b"\r\n") if l]
    assert len(listing) == N, r.stdout[:300]
    sizes = {int(a): int(b) for a, b in (l.split() for l in listing)}
    # retrieve all 200 over one connection (curl reuses it)
    out = workdir(inst, "curl-" + mode)
    cfg = os.path.join(out, "curl.cfg")
    with open(cfg, "w") as f:
        for n in range(1, N + 1):
            f.write('url = "%s%d"\noutput = "%s/%d.eml"\n' % (base, n, out, n))
    r = _curl(tls + user + ["-K", cfg], timeout=300)
    assert r.returncode == 0, r.stderr
    got = []
    by_id = msgcorpus.index_by_id(msgs)
    for n in range(1, N + 1):
        with open(os.path.join(out, "%d.eml" % n), "rb") as f:
            data = f.read()
        got.append(data)
        orig = by_id.get(msgcorpus.message_id_of(data))
        assert orig is not None, data[:300]
        if to_crlf(orig).endswith(b"\r\n"):
            assert sizes[n] == len(data), (n, sizes[n], len(data))
        else:
            assert sizes[n] in (len(data), len(data) - 2), (n, sizes[n],
                                                            len(data))
    compare(msgs, got, wire_form)
    assert mailbox_count(inst) == N  # nothing deleted


def test_curl_sizes_exact(inst):
    inst.start()
    msgs = load_corpus(inst, n=30)
    by_id = msgcorpus.index_by_id(msgs)
    base = "pop3://127.0.0.1:%d/" % inst.pop3_port
    user = ["--user", "alice:" + PASSWORD]
    r = _curl(user + [base])
    sizes = {int(a): int(b) for a, b in
             (l.split() for l in r.stdout.split(b"\r\n") if l)}
    for n in range(1, 31):
        r = _curl(user + [base + str(n)])
        assert r.returncode == 0, r.stderr
        orig = by_id[msgcorpus.message_id_of(r.stdout)]
        assert r.stdout == wire_form(orig)
        if to_crlf(orig).endswith(b"\r\n"):
            assert sizes[n] == len(r.stdout), n


def test_curl_wrong_password(srv):
    r = _curl(["--user", "alice:wrong",
               "pop3://127.0.0.1:%d/" % srv.pop3_port])
    assert r.returncode == 67, (r.returncode, r.stderr)  # login denied


def test_curl_dele(srv):
    for m in msgcorpus.corpus(3):
        srv.deliver_ok("alice", m)
    r = _curl(["--user", "alice:" + PASSWORD, "-X", "DELE", "-I",
               "pop3://127.0.0.1:%d/2" % srv.pop3_port])
    assert r.returncode == 0, r.stderr
    assert mailbox_count(srv) == 2


# ---- fetchmail -----------------------------------------------------------

SAVE_SH = """#!/bin/sh
# MDA: one file per message
f=$(mktemp "%s/msg.XXXXXXXX") || exit 75
cat > "$f" || exit 75
"""


def _fetchmail(inst, name, ssl_mode, keep):
    need("fetchmail")
    home = workdir(inst, name)
    out = os.path.join(home, "out")
    os.mkdir(out)
    save = os.path.join(home, "save.sh")
    with open(save, "w") as f:
        f.write(SAVE_SH % out)
    os.chmod(save, 0o755)
    if ssl_mode == "ssl":
        port, tls = inst.pop3s_port, "ssl no sslcertck"
    elif ssl_mode == "stls":
        port, tls = inst.pop3_port, "sslproto 'tls1.2+' no sslcertck"
    else:
        port, tls = inst.pop3_port, "sslproto '' no sslcertck"
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write(
            "set no bouncemail\n"
            "set no syslog\n"
            "set invisible\n"
            "poll 127.0.0.1 service %d protocol POP3 auth password timeout 20\n"
            "  user \"alice\" there with password \"%s\" is \"%s\" here\n"
            "  %s fetchall no rewrite %s\n"
            "  mda \"/bin/sh %s\"\n"
            % (port, PASSWORD, getpass.getuser(), "keep" if keep else "no keep",
               tls, save))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    r = run_client("fetchmail", ["fetchmail", "-f", rc, "--idfile",
                                 os.path.join(home, "ids"), "--pidfile",
                                 os.path.join(home, "pid"), "-v"], env=env)
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "fetchmail exit %d\n%s" % (r.returncode,
                                                          log[-1500:])
    got = []
    for fn in sorted(os.listdir(out)):
        with open(os.path.join(out, fn), "rb") as f:
            got.append(f.read())
    return got, log


@pytest.mark.parametrize("ssl_mode", ["plain", "stls", "ssl"])
def test_fetchmail_keep(inst, ssl_mode):
    inst.start()
    msgs = load_corpus(inst)
    got, log = _fetchmail(inst, "fm-keep-" + ssl_mode, ssl_mode, keep=True)
    assert len(got) == N, log[-3000:]
    compare(msgs, got, lf_form)
    assert mailbox_count(inst) == N
    assert PASSWORD not in inst.log()


def test_fetchmail_delete(inst):
    inst.start()
    msgs = load_corpus(inst)
    got, log = _fetchmail(inst, "fm-del", "stls", keep=False)
    compare(msgs, got, lf_form)
    assert mailbox_count(inst) == 0
    assert inst.message_files("alice") == []


# ---- mpop ----------------------------------------------------------------

def _mpop(inst, name, tls_mode, delivery, keep, auth="user"):
    need("mpop")
    home = workdir(inst, name)
    if delivery == "maildir":
        target = os.path.join(home, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(target, sub))
    else:
        target = os.path.join(home, "mbox")
        open(target, "wb").close()
    if tls_mode == "pop3s":
        port, tls = inst.pop3s_port, "tls on\ntls_starttls off\n"
    elif tls_mode == "stls":
        port, tls = inst.pop3_port, "tls on\ntls_starttls on\n"
    else:
        port, tls = inst.pop3_port, "tls off\n"
    conf = os.path.join(home, "mpoprc")
    with open(conf, "w") as f:
        f.write("defaults\n"
                "timeout 20\n"
                "account default\n"
                "host 127.0.0.1\n"
                "port %d\n"
                "user alice\n"
                "password %s\n"
                "auth %s\n"
                "%s"
                "tls_certcheck off\n"
                "delivery %s %s\n"
                "keep %s\n"
                "only_new off\n"
                "received_header off\n"
                "uidls_file %s\n"
                % (port, PASSWORD, auth, tls, delivery, target,
                   "on" if keep else "off", os.path.join(home, "uidls")))
    os.chmod(conf, 0o600)
    env = dict(os.environ, HOME=home)
    r = run_client("mpop", ["mpop", "-C", conf, "-q", "-a"], env=env)
    log = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "mpop exit %d\n%s" % (r.returncode, log[-1500:])
    got = []
    if delivery == "maildir":
        for sub in ("new", "cur"):
            d = os.path.join(target, sub)
            for fn in sorted(os.listdir(d)):
                with open(os.path.join(d, fn), "rb") as f:
                    got.append(f.read())
    else:
        with open(target, "rb") as f:
            got = split_mboxrd(f.read())
    return got, log


def split_mboxrd(data):
    """Undo mboxrd: "From " separator lines start messages; each message is
    followed by one blank line; ">From " quoting loses one '>'."""
    msgs = []
    cur = None
    lines = data.split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    for i, line in enumerate(lines):
        if line.startswith(b"From ") and (i == 0 or lines[i - 1] == b""):
            if cur is not None:
                assert cur and cur[-1] == b"", "no blank line before From_"
                msgs.append(cur[:-1])
            cur = []
            continue
        assert cur is not None, "mbox does not start with From_: %r" % line
        if re.match(rb">+From ", line):
            line = line[1:]
        cur.append(line)
    if cur is not None:
        assert cur and cur[-1] == b""
        msgs.append(cur[:-1])
    return [b"\n".join(m) + b"\n" for m in msgs]


@pytest.mark.parametrize("tls_mode", ["stls", "pop3s"])
def test_mpop_maildir_keep(inst, tls_mode):
    inst.start()
    msgs = load_corpus(inst)
    got, log = _mpop(inst, "mpop-" + tls_mode, tls_mode, "maildir", keep=True)
    compare(msgs, got, lf_form)
    assert mailbox_count(inst) == N


def test_mpop_mbox_delete_sasl_plain(inst):
    inst.start()
    msgs = load_corpus(inst)
    got, log = _mpop(inst, "mpop-mbox", "stls", "mbox", keep=False,
                     auth="plain")
    compare(msgs, got, lf_form)
    assert mailbox_count(inst) == 0


def test_mpop_plain_loopback_no_tls(inst):
    inst.start()
    msgs = load_corpus(inst, n=20)
    got, log = _mpop(inst, "mpop-plain", "none", "maildir", keep=True)
    compare(msgs, got, lf_form)
