"""The LMTP Unix socket's mode and owner are set without following a
symbolic link (issue 11): root must never chown, say, /etc/shadow for
whoever can write the directory the socket is in."""

import os
import pwd
import stat


def test_lmtp_socket_symlink_is_refused_target_untouched(inst):
    """A link planted where the LMTP socket goes (run_user can write the
    instance directory) is neither followed nor removed."""
    target = os.path.join(inst.root, "precious")
    with open(target, "w") as f:
        f.write("do not touch\n")
    os.chmod(target, 0o640)
    before = os.stat(target)
    sock = inst.path_setting("lmtp_socket", "lmtp.sock")
    os.symlink(target, sock)
    proc = inst.start(wait=False)
    rc = proc.wait(timeout=20)
    inst.proc = None
    inst.logf.close()
    assert rc != 0
    log = inst.log()
    assert "event=bind_failed proto=lmtp" in log, log
    assert "is a symbolic link" in log, log
    after = os.stat(target)
    assert (after.st_uid, after.st_gid, after.st_mode, after.st_ino) == (
        before.st_uid, before.st_gid, before.st_mode, before.st_ino)
    with open(target) as f:
        assert f.read() == "do not touch\n"
    assert os.path.islink(sock) and os.readlink(sock) == target


def test_lmtp_socket_owner_and_mode(srv):
    sock = srv.path_setting("lmtp_socket", "lmtp.sock")
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    if os.geteuid() == 0:
        run_user = pwd.getpwnam(srv.get("run_user").strip('"'))
        assert (st.st_uid, st.st_gid) == (run_user.pw_uid, run_user.pw_gid)
