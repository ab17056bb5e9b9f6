"""Real IMAP clients against the daemon: mbsync (isync), offlineimap3 and
curl, over IMAPS, STARTTLS and loopback plaintext.

How each stores mail locally, so that comparisons can be exact:
  mbsync       Maildir files hold the message as the server sent it, with
               CRLF turned into LF (isync's "native line endings"); flags
               are the Maildir info suffix (":2,FS").
  offlineimap  the same on disk (it writes LF; older versions keep CRLF,
               so the comparison accepts either).
  curl         writes BODY[] exactly as FETCHed (CRLF) and APPENDs the
               uploaded file as is.
"""

import hashlib
import os
import re
import shutil
import ssl
import subprocess

import pytest

from conftest import PASSWORD, to_crlf, to_lf
# conftest's fixtures, wrapped: clients closed first, ports retried
from imaputil import inst, srv  # noqa: F401
from imaputil import logged_in

CLIENT_TIMEOUT = 60


def need(tool):
    path = shutil.which(tool)
    assert path, "%s is not installed (CI installs it; install it here)" % tool
    return path


def run_client(name, argv, env=None, cwd=None):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, cwd=cwd,
                           timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        raise AssertionError("%s hung for %ds\n%s" % (name, CLIENT_TIMEOUT,
                                                      out[-2000:]))
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, "%s exited %d\n%s" % (name, r.returncode,
                                                    out[-3000:])
    return out


def workdir(inst, name):
    d = os.path.join(inst.root, name)
    os.makedirs(d, exist_ok=True)
    return d


def cert_path(inst):
    return inst.path_setting("tls_cert", "tls/cert.pem")


def message(i, folder="INBOX"):
    return ("From: Sender %d <s%d@example.org>\r\n"
            "To: alice@example.org\r\n"
            "Subject: %s message %d\r\n"
            "Message-ID: <c%d.%s@example.org>\r\n"
            "Date: Mon, 02 Jan 2023 10:00:%02d +0000\r\n"
            "\r\n"
            "Body of %d in %s.\r\n"
            ".leading dot line\r\n"
            "From the start of a line\r\n"
            % (i, i, folder, i, i, folder.replace("/", "-"), i % 60, i,
               folder)).encode()


TREE = {"INBOX": 3, "Work": 2, "Work/Project": 2, "Archive": 1}


def load_tree(inst):
    """Server side: a small mailbox tree with flags; returns
    {folder: [message bytes]}."""
    c = logged_in(inst)
    out = {}
    n = 0
    for folder, count in TREE.items():
        if folder not in ("INBOX", "Archive"):
            c.ok('CREATE "%s"' % folder)
        out[folder] = []
        for k in range(count):
            n += 1
            m = message(n, folder)
            flags = "\\Seen" if k == 0 else ("\\Flagged" if k == 1 else "")
            assert c.append(folder, m, flags=flags).status == "OK"
            out[folder].append(m)
    c.logout()
    return out


def server_state(inst):
    """{folder: {Message-ID: (flags set, body bytes)}}."""
    c = logged_in(inst)
    out = {}
    for folder in list(TREE) + ["Work/New"]:
        r = c.cmd('SELECT "%s"' % folder)
        if r.status != "OK":
            continue
        out[folder] = {}
        if not r.data("EXISTS")[0]:
            continue
        f, _ = c.fetch("1:*", "(FLAGS BODY.PEEK[])")
        for d in f.values():
            body = untracked(d["BODY[]"])
            mid = re.search(rb"Message-ID: (<[^>]*>)", body, re.I)
            out[folder][mid.group(1) if mid else body] = (
                {x.decode().lower() for x in d["FLAGS"]}, body)
    c.logout()
    return out


def maildir_files(path):
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    return out


def maildir_flags(fname):
    m = re.search(r":2,([A-Za-z]*)$", fname)
    return set(m.group(1)) if m else set()


def set_flags(path, flags):
    """What a local mail reader does: the file goes to cur/ with the info
    suffix ":2,<flags>" (flags in ASCII order)."""
    d = os.path.dirname(os.path.dirname(path))
    base = os.path.basename(path).split(":2,")[0]
    os.rename(path, os.path.join(d, "cur", base + ":2," +
                                 "".join(sorted(flags))))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def untracked(m):
    """Without the X-TUID header mbsync adds to find a message it stores
    or uploads again (isync's documented behaviour)."""
    return re.sub(rb"(?m)^X-TUID: [^\r\n]*\r?\n", b"", m, count=1)


# ---- mbsync ------------------------------------------------------------

def mbsync_config(inst, local, tls):
    lines = ["IMAPAccount t",
             "Host 127.0.0.1",
             "User alice",
             "Pass %s" % PASSWORD,
             "AuthMechs PLAIN LOGIN"]
    if tls == "imaps":
        lines += ["Port %d" % inst.port("imaps"), "SSLType IMAPS",
                  "CertificateFile %s" % cert_path(inst)]
    elif tls == "starttls":
        lines += ["Port %d" % inst.port("imap"), "SSLType STARTTLS",
                  "CertificateFile %s" % cert_path(inst)]
    else:
        lines += ["Port %d" % inst.port("imap"), "SSLType None"]
    lines += ["",
              "IMAPStore remote", "Account t", "",
              "MaildirStore local",
              "Path %s/" % local,
              "Inbox %s/INBOX" % local,
              "SubFolders Verbatim", "",
              "Channel ch",
              "Far :remote:",
              "Near :local:",
              "Patterns *",
              "Create Both",
              "Expunge Both",
              "SyncState *", ""]
    cfg = os.path.join(os.path.dirname(local), "mbsyncrc")
    with open(cfg, "w") as f:
        f.write("\n".join(lines))
    return cfg


def mbsync(cfg):
    return run_client("mbsync", [need("mbsync"), "-c", cfg, "-a"])


def local_state(local):
    """{folder: {Message-ID: (flags set, bytes)}} of a Maildir tree."""
    out = {}
    for root, dirs, files in os.walk(local):
        if os.path.basename(root) not in ("cur", "new"):
            continue
        folder = os.path.relpath(os.path.dirname(root), local)
        out.setdefault(folder, {})
        for n in files:
            body = untracked(read(os.path.join(root, n)))
            mid = re.search(rb"Message-ID: (<[^>]*>)", body, re.I)
            out[folder][mid.group(1) if mid else body] = (
                maildir_flags(n), body)
    return out


FLAGMAP = {"S": "\\seen", "F": "\\flagged", "R": "\\answered",
           "T": "\\deleted", "D": "\\draft"}


def imap_flags(md):
    return {FLAGMAP[x] for x in md if x in FLAGMAP}


@pytest.mark.parametrize("tls", ["imaps", "starttls", "plain"])
def test_mbsync_two_way(srv, tls):
    tree = load_tree(srv)
    base = workdir(srv, "mbsync")
    local = os.path.join(base, "mail")
    os.mkdir(local)
    cfg = mbsync_config(srv, local, tls)
    mbsync(cfg)
    check_first_sync(tree, local_state(local))
    if tls == "starttls":
        return  # the two-way part does not depend on the transport
    two_way(srv, cfg, local)


def check_first_sync(tree, loc):
    # every folder and message arrived, byte for byte (LF form), flags too
    for folder, msgs in tree.items():
        assert folder in loc, (folder, sorted(loc))
        assert len(loc[folder]) == len(msgs), (folder, loc[folder].keys())
        for k, m in enumerate(msgs):
            mid = re.search(rb"Message-ID: (<[^>]*>)", m).group(1)
            flags, body = loc[folder][mid]
            assert body in (to_lf(m), m), (folder, body[:200])
            want = {"\\seen"} if k == 0 else ({"\\flagged"} if k == 1
                                              else set())
            assert imap_flags(flags) == want, (folder, k, flags)


def two_way(srv, cfg, local):
    # local changes: flag, delete, new message, new folder
    files = maildir_files(os.path.join(local, "INBOX"))
    third = [f for f in files if b"INBOX message 3" in read(f)][0]
    first = [f for f in files if b"INBOX message 1" in read(f)][0]
    set_flags(third, "FS")
    os.unlink(first)
    newmsg = to_lf(message(99, "Work/New"))
    os.makedirs(os.path.join(local, "Work", "New", "tmp"))
    os.makedirs(os.path.join(local, "Work", "New", "cur"))
    os.makedirs(os.path.join(local, "Work", "New", "new"))
    with open(os.path.join(local, "Work", "New", "new",
                           "1700000000.1.local"), "wb") as f:
        f.write(newmsg)
    mbsync(cfg)
    srv_state = server_state(srv)
    ib = srv_state["INBOX"]
    assert len(ib) == 2, ib.keys()  # message 1 expunged on the server
    m3 = [v for k, v in ib.items() if b"INBOX message 3" in v[1]][0]
    assert m3[0] == {"\\seen", "\\flagged"}, m3[0]
    assert "Work/New" in srv_state, sorted(srv_state)
    (got,) = srv_state["Work/New"].values()
    assert got[1] == to_crlf(newmsg), got[1]
    # server-side change comes back
    c = logged_in(srv)
    c.select("Work/Project")
    c.ok("STORE 1 +FLAGS (\\Answered)")
    assert c.append("Work/Project",
                    message(100, "Work/Project")).status == "OK"
    c.logout()
    mbsync(cfg)
    loc = local_state(local)["Work/Project"]
    assert len(loc) == 3, loc.keys()
    answered = [v for v in loc.values() if "R" in v[0]]
    assert len(answered) == 1, loc
    assert b"Work/Project message 6" in answered[0][1], answered
    # and a no-op sync changes nothing
    before, srv_before = local_state(local), server_state(srv)
    mbsync(cfg)
    assert local_state(local) == before
    assert server_state(srv) == srv_before


# ---- offlineimap3 --------------------------------------------------------

def cert_fingerprint(inst):
    with open(cert_path(inst)) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha512(der).hexdigest()


def offlineimap_config(inst, base, tls):
    local = os.path.join(base, "mail")
    os.makedirs(local, exist_ok=True)
    remote = ["[Repository R]", "type = IMAP",
              "remotehost = 127.0.0.1",
              "remoteuser = alice",
              "remotepass = %s" % PASSWORD]
    if tls == "imaps":
        remote += ["remoteport = %d" % inst.port("imaps"), "ssl = yes",
                   "cert_fingerprint = %s" % cert_fingerprint(inst)]
    else:
        remote += ["remoteport = %d" % inst.port("imap"), "ssl = no",
                   "starttls = no"]
    lines = ["[general]", "accounts = t",
             "metadata = %s/meta" % base, "ui = quiet", "",
             "[Account t]", "localrepository = L",
             "remoterepository = R", "", "[Repository L]",
             "type = Maildir", "localfolders = %s" % local,
             "sep = /", ""] + remote + [""]
    cfg = os.path.join(base, "offlineimaprc")
    with open(cfg, "w") as f:
        f.write("\n".join(lines))
    return cfg, local


def offlineimap(cfg):
    return run_client("offlineimap", [need("offlineimap"), "-c", cfg, "-o",
                                      "-u", "quiet"])


@pytest.mark.parametrize("tls", ["imaps", "plain"])
def test_offlineimap_two_way(srv, tls):
    tree = load_tree(srv)
    base = workdir(srv, "offlineimap")
    cfg, local = offlineimap_config(srv, base, tls)
    offlineimap(cfg)
    loc = local_state(local)
    for folder, msgs in tree.items():
        assert folder in loc, (folder, sorted(loc))
        assert len(loc[folder]) == len(msgs), (folder, loc[folder].keys())
        for k, m in enumerate(msgs):
            mid = re.search(rb"Message-ID: (<[^>]*>)", m).group(1)
            flags, body = loc[folder][mid]
            # offlineimap may add an X-OfflineIMAP header on upload only
            assert body in (to_lf(m), m), (folder, body[:200])
            want = {"\\seen"} if k == 0 else ({"\\flagged"} if k == 1
                                              else set())
            assert imap_flags(flags) == want, (folder, k, flags)
    # local: flag message 3 of INBOX; server: flag Archive's message
    files = maildir_files(os.path.join(local, "INBOX"))
    third = [f for f in files if b"INBOX message 3" in read(f)][0]
    set_flags(third, "".join(maildir_flags(third) | {"F"}))
    c = logged_in(srv)
    c.select("Archive")
    c.ok("STORE 1 +FLAGS (\\Answered)")
    c.logout()
    offlineimap(cfg)
    st = server_state(srv)
    m3 = [v for v in st["INBOX"].values() if b"INBOX message 3" in v[1]][0]
    assert "\\flagged" in m3[0], m3[0]
    (arch,) = local_state(local)["Archive"].values()
    assert "R" in arch[0], arch[0]


# ---- curl ----------------------------------------------------------------

def curl(args):
    return run_client("curl", [need("curl"), "-sS", "--max-time", "30"] +
                      args)


@pytest.mark.parametrize("mode", ["imap", "imaps", "starttls"])
def test_curl_list_fetch_upload(srv, mode):
    tree = load_tree(srv)
    if mode == "imaps":
        url = "imaps://127.0.0.1:%d" % srv.port("imaps")
        extra = ["-k"]
    else:
        url = "imap://127.0.0.1:%d" % srv.port("imap")
        extra = ["-k", "--ssl-reqd"] if mode == "starttls" else []
    auth = ["-u", "alice:%s" % PASSWORD]
    out = curl(extra + auth + [url + "/"])
    # curl prints the LIST responses
    for folder in ("INBOX", "Work", "Work/Project", "Sent", "Trash"):
        assert re.search(r'^\* LIST \([^)]*\) "/" "?%s"?\r?$'
                         % re.escape(folder), out, re.M), out
    # fetch by UID: the message exactly as stored (CRLF)
    c = logged_in(srv)
    c.select("Work/Project")
    f, _ = c.fetch("2", "(UID)")
    uid = int(f[2]["UID"])
    c.logout()
    dest = os.path.join(workdir(srv, "curl"), "m.eml")
    curl(extra + auth + ["-o", dest, url + "/Work/Project;UID=%d" % uid])
    assert read(dest) == tree["Work/Project"][1]
    # by sequence number (MAILINDEX) and a section
    curl(extra + auth + ["-o", dest, url + "/INBOX;MAILINDEX=1"])
    assert read(dest) == tree["INBOX"][0]
    curl(extra + auth + ["-o", dest,
                         url + "/INBOX;MAILINDEX=2;SECTION=HEADER"])
    assert read(dest) == tree["INBOX"][1].split(b"\r\n\r\n")[0] + \
        b"\r\n\r\n"
    # upload (APPEND)
    up = os.path.join(workdir(srv, "curl"), "up.eml")
    msg = message(500, "Upload")
    with open(up, "wb") as f:
        f.write(msg)
    curl(extra + auth + ["-T", up, url + "/Archive"])
    st = server_state(srv)["Archive"]
    assert st[b"<c500.Upload@example.org>"][1] == msg
    # a custom command: SEARCH
    out = curl(extra + auth + ["-X", "SEARCH FROM s2", url + "/INBOX"])
    assert re.search(r"^\* SEARCH 2\r?$", out, re.M), out


def test_curl_wrong_password(srv):
    r = subprocess.run([need("curl"), "-sS", "--max-time", "30", "-u",
                        "alice:wrong", "imap://127.0.0.1:%d/"
                        % srv.port("imap")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=CLIENT_TIMEOUT)
    assert r.returncode == 67, (r.returncode, r.stderr)  # login denied
