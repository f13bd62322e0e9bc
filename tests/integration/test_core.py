"""The core bridge on real GlusterFS: a replica-2 volume with Python on both bricks and on the client.

Server side: ``passthrough`` inserted above posix on both bricks (user.xlator).
Client side (a FUSE mount of a local volfile built from glusterd's): under the
top io-stats, FopDriver -> passthrough -> Responder, so that each FOP a user
triggers goes through Python on the client and (for the FOPs that reach posix)
on both bricks. Every test checks the user-visible result and that the client's
passthrough counted the FOP; one test reads the bricks' counts from statedumps.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy import gfapi
from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster import xlators
from glupy.gluster.volfile import Volfile, glupy_xlator

COUNTS = "glupy.passthrough.counts"
SERVER_XLATOR = "gptest-pt"


def statedump_counts(volume: Volume, dump_dir: Path, section_name: str) -> list[dict[str, int]]:
    """{fop: count} of the glupy translator `section_name` in each brick's statedump."""
    for old in dump_dir.glob("*.dump.*"):
        old.unlink()
    volume.node.gluster("volume", "statedump", volume.name)
    deadline = time.monotonic() + 20
    bricks = len(volume.info().bricks)
    while time.monotonic() < deadline:
        dumps = sorted(dump_dir.glob("*.dump.*"))
        if len(dumps) >= bricks and all("DUMP-END-TIME" in d.read_text() for d in dumps):
            break
        time.sleep(0.2)
    result = []
    for dump in sorted(dump_dir.glob("*.dump.*")):
        text = dump.read_text()
        section = re.search(rf"\[xlator\.glupy\.{re.escape(section_name)}\.priv\]\n(.*?)(?:\n\[|\Z)", text, re.S)
        assert section, f"no glupy section {section_name} in {dump}"
        counts = dict(re.findall(r"^count\.(\w+)=(\d+)$", section.group(1), re.M))
        result.append({k: int(v) for k, v in counts.items()})
    assert len(result) == bricks, f"expected {bricks} statedumps in {dump_dir}"
    return result


@pytest.fixture(scope="module")
def core_volume(module_node: GlusterNode, gluster_state_dir: Path) -> Iterator[Volume]:
    gluster_node = module_node
    xlators.ensure_alias(SERVER_XLATOR)
    dump_dir = gluster_state_dir / "dumps-core"
    dump_dir.mkdir(exist_ok=True)
    vol = Volume.create(gluster_node, "core", [gluster_node.brick("core", 0), gluster_node.brick("core", 1)],
                        replica=2)
    try:
        vol.set(f"user.xlator.{SERVER_XLATOR}", "posix")
        vol.set(f"user.xlator.{SERVER_XLATOR}.module", "glupy.translators.passthrough")
        vol.set("server.statedump-path", str(dump_dir))
        vol.set("features.leases", "on")
        vol.start()
        yield vol
    finally:
        vol.delete()
        xlators.remove_alias(SERVER_XLATOR)


def client_volfile(volume: Volume, path: Path) -> Path:
    graph = Volfile.read(volume.client_volfile())
    graph.insert_below_top(glupy_xlator("c-responder", "glupy.testing.translators:Responder"))
    graph.insert_above("c-responder", glupy_xlator("c-pt", "glupy.translators.passthrough"))
    graph.insert_above("c-pt", glupy_xlator("c-driver", "glupy.testing.translators:FopDriver"))
    # A translator that takes locks on fds must sit below open-behind (which delays
    # opens): right above the replicate translator.
    replicate = graph.find_type("cluster/replicate")[0].name
    graph.insert_above(replicate, glupy_xlator("c-pt-low", "glupy.translators.passthrough"))
    graph.insert_above("c-pt-low", glupy_xlator("c-locker", "glupy.testing.translators:LockingWriter"))
    graph.write(path)
    return path


@pytest.fixture(scope="module")
def mount(core_volume: Volume, gluster_state_dir: Path) -> Iterator[Path]:
    vf = client_volfile(core_volume, gluster_state_dir / "core-client.vol")
    m = FuseMount.from_volfile(vf, gluster_state_dir / "mnt" / "core", log_file=gluster_state_dir / "core-client.log")
    m.mount()
    try:
        yield m.mountpoint
    finally:
        log = m.log_tail(400)
        m.unmount()
        assert "signal received" not in log, log


def counts(mp: Path) -> dict[str, int]:
    return json.loads(os.getxattr(mp, COUNTS))


class Delta:
    """FOP counts of the client passthrough before and after a block."""

    def __init__(self, mp: Path) -> None:
        self.mp = mp

    def __enter__(self) -> "Delta":
        self.before = counts(self.mp)
        return self

    def __exit__(self, *exc: object) -> None:
        after = counts(self.mp)
        self.counts = {k: after[k] - self.before.get(k, 0) for k in after if after[k] != self.before.get(k, 0)}

    def saw(self, *fops: str) -> None:
        missing = [f for f in fops if self.counts.get(f, 0) < 1]
        assert not missing, f"Python did not see {missing}; it saw {self.counts}"


def test_namespace_fops(mount: Path) -> None:
    d = mount / "ns"
    with Delta(mount) as dl:
        d.mkdir()
    dl.saw("mkdir")
    with Delta(mount) as dl:
        (d / "a").write_bytes(b"hello")
    dl.saw("create", "writev", "flush")
    with Delta(mount) as dl:
        os.link(d / "a", d / "hard")
    dl.saw("link")
    assert os.stat(d / "a").st_nlink == 2
    with Delta(mount) as dl:
        os.symlink("a", d / "sym")
    dl.saw("symlink")
    with Delta(mount) as dl:
        assert os.readlink(d / "sym") == "a"
    dl.saw("readlink")
    with Delta(mount) as dl:
        os.rename(d / "hard", d / "moved")
    dl.saw("rename")
    assert (d / "moved").read_bytes() == b"hello"
    with Delta(mount) as dl:
        os.mkfifo(d / "fifo")
    dl.saw("mknod")
    assert stat.S_ISFIFO(os.lstat(d / "fifo").st_mode)
    with Delta(mount) as dl:
        names = sorted(os.listdir(d))
    dl.saw("opendir", "readdirp")
    assert names == ["a", "fifo", "moved", "sym"]
    with Delta(mount) as dl:
        for n in names:
            os.unlink(d / n)
        os.rmdir(d)
    dl.saw("unlink", "rmdir")
    assert not d.exists()


def test_data_and_attribute_fops(mount: Path) -> None:
    f = mount / "data.bin"
    with Delta(mount) as dl:
        fd = os.open(f, os.O_CREAT | os.O_RDWR, 0o600)
        os.pwrite(fd, b"x" * 100_000, 0)
        os.fsync(fd)
        os.fdatasync(fd)
        os.ftruncate(fd, 50_000)
        st = os.fstat(fd)
        os.close(fd)
    dl.saw("create", "writev", "fsync", "ftruncate")
    assert st.st_size == 50_000
    with Delta(mount) as dl:
        fd = os.open(f, os.O_RDONLY)
        data = os.pread(fd, 60_000, 0)
        os.close(fd)
    dl.saw("open", "readv")
    assert data == b"x" * 50_000
    with Delta(mount) as dl:
        os.chmod(f, 0o640)
        os.chown(f, 1234, 5678)
        os.utime(f, (1_000_000, 2_000_000))
    dl.saw("setattr")
    st = os.stat(f)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o640, 1234, 5678, 2_000_000)
    with Delta(mount) as dl:
        os.truncate(f, 10)
    assert dl.counts.get("truncate", 0) + dl.counts.get("ftruncate", 0) >= 1, dl.counts
    assert os.stat(f).st_size == 10
    with Delta(mount) as dl:
        sv = os.statvfs(mount)
    dl.saw("statfs")
    assert sv.f_blocks > 0
    os.unlink(f)


def test_xattr_fops(mount: Path) -> None:
    f = mount / "x.txt"
    f.write_text("x")
    with Delta(mount) as dl:
        os.setxattr(f, "user.colour", b"blue")
        assert os.getxattr(f, "user.colour") == b"blue"
        assert "user.colour" in os.listxattr(f)
        os.removexattr(f, "user.colour")
    dl.saw("setxattr", "getxattr", "removexattr")
    with pytest.raises(OSError) as e:
        os.getxattr(f, "user.colour")
    assert e.value.errno == errno.ENODATA
    # FUSE sends xattr calls on an fd by inode: f*xattr FOPs come from gfapi (test_gfapi_...)
    f.unlink()


def test_space_seek_lock_and_copy_fops(mount: Path) -> None:
    f = mount / "sparse"
    fd = os.open(f, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        with Delta(mount) as dl:
            os.posix_fallocate(fd, 0, 1 << 20)
        dl.saw("fallocate")
        os.pwrite(fd, b"d" * 4096, 0)
        with Delta(mount) as dl:
            _punch_hole(fd, 0, 4096)
        dl.saw("discard")
        assert os.pread(fd, 4096, 0) == b"\0" * 4096
        os.pwrite(fd, b"z" * 4096, 512 * 1024)
        with Delta(mount) as dl:
            data_at = os.lseek(fd, 0, os.SEEK_DATA)
        dl.saw("seek")
        assert data_at <= 512 * 1024
        with Delta(mount) as dl:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
            fcntl.lockf(fd, fcntl.LOCK_UN, 100, 0)
        dl.saw("lk")
        out = mount / "copy"
        ofd = os.open(out, os.O_CREAT | os.O_RDWR, 0o644)
        with Delta(mount) as dl:
            copied = os.copy_file_range(fd, ofd, 4096, 512 * 1024, 0)
        os.close(ofd)
        assert copied == 4096 and out.read_bytes() == b"z" * 4096
        # GlusterFS 10.3's FUSE bridge has no copy_file_range: the kernel copies by reads and
        # writes (the FOP itself goes through the passthrough in test_fops_no_user_call_triggers)
        assert dl.counts.get("copy_file_range", 0) == 0 and dl.counts.get("writev", 0) >= 1, dl.counts
        out.unlink()
        dirfd = os.open(mount, os.O_RDONLY)
        with Delta(mount) as dl:
            os.fsync(dirfd)
        os.close(dirfd)
        dl.saw("fsyncdir")
    finally:
        os.close(fd)
        f.unlink()


def _punch_hole(fd: int, offset: int, length: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.fallocate(fd, 0x02 | 0x01, ctypes.c_long(offset), ctypes.c_long(length)) != 0:
        raise OSError(ctypes.get_errno(), "fallocate")


def test_the_passthroughs_pass_on_what_glusterfs_sends(mount: Path, gluster_state_dir: Path) -> None:
    """A Loc GlusterFS gave with a FOP goes on with that FOP unchecked (types.c gp_loc_check):
    DHT's statfs (at mount and for df) carries only the root's gfid, no inode, which a wind of
    a hand-made Loc would be refused; the passthroughs below DHT answered it EIO before."""
    os.statvfs(mount)
    (mount / "statfs-probe").write_bytes(b"x")
    os.statvfs(mount / "statfs-probe")
    log = (gluster_state_dir / "core-client.log").read_text()
    failed = [line for line in log.splitlines()
              if "the handler failed" in line and ("0-glupy.c-pt:" in line or "0-glupy.c-pt-low:" in line)]
    assert not failed, failed[:3]
    (mount / "statfs-probe").unlink()


DRIVEN = ["rchecksum", "seek", "zerofill", "ipc", "put", "getactivelk", "setactivelk", "icreate", "namelink",
          "getspec", "inodelk", "finodelk", "entrylk", "fentrylk", "copy_file_range"]


def test_fops_no_user_call_triggers(mount: Path) -> None:
    """rchecksum, getactivelk, put, icreate, ...: issued from Python by FopDriver, seen by the passthrough."""
    f = mount / "driven"
    f.write_bytes(b"0123456789" * 100)
    with Delta(mount) as dl, open(f, "r+b"):  # an fd the client opened, for finodelk, fentrylk, copy_file_range
        for fop in DRIVEN:
            os.setxattr(f, "glupy.test.drive", fop.encode())
    results = json.loads(os.getxattr(f, "glupy.test.drive.result"))
    dl.saw(*DRIVEN)
    assert results["rchecksum"]["op_ret"] == 0 and results["rchecksum"]["weak"]
    assert results["zerofill"]["op_ret"] == 0
    assert results["copy_file_range"] == {"op_ret": 0, "op_errno": 0, "copied": 16, "size": 2016}
    assert results["icreate"]["error"] == "ENOTSUP"  # answered in Python by Responder
    assert results["getactivelk"]["op_ret"] == 0  # answered by the bricks' features/locks
    # locks: taken, refused to a second lock owner (they are real), given back. Through AFR
    # 10.3 an unlock by fd fails EINVAL: afr_handle_inodelk/afr_handle_entrylk keep the fd
    # only for lock requests (afr-common.c: `if (fd && (cmd != ENTRYLK_UNLOCK))`), so the
    # unlock reaches protocol/client with a NULL fd
    lock_ok = {"op_ret": 0, "op_errno": 0, "lock": None, "contended": "EAGAIN"}
    assert results["inodelk"] == {**lock_ok, "unlock": None}
    assert results["entrylk"] == {**lock_ok, "unlock": None}
    assert results["finodelk"] == {**lock_ok, "unlock": "EINVAL"}
    assert results["fentrylk"] == {**lock_ok, "unlock": "EINVAL"}
    assert f.read_bytes()[:16] == b"\0" * 16
    f.unlink()


def check_stand_ins_match_the_native_types(native) -> None:
    """glupy._pytypes (what handlers get in the harness) has the attributes of the bridge's
    types (what they get inside GlusterFS), no more and no fewer: a translator tested in
    the harness meets the same objects on a volume."""
    from glupy import _pytypes

    inode = _pytypes.Inode()
    samples = {"Iatt": _pytypes.Iatt(), "Statvfs": _pytypes.Statvfs(), "Flock": _pytypes.Flock(),
               "Lease": _pytypes.Lease(), "Loc": _pytypes.Loc(), "Inode": inode, "Fd": _pytypes.Fd(inode),
               "Caller": _pytypes.Caller()}
    differences = {}
    for name, sample in samples.items():
        stand_in = {a for a in set(vars(sample)) | set(dir(type(sample))) if not a.startswith("_")}
        bridge = {a for a in dir(getattr(native, name)) if not a.startswith("_")}
        if stand_in != bridge:
            differences[name] = {"only in _pytypes": sorted(stand_in - bridge), "only native": sorted(bridge - stand_in)}
    assert not differences, differences


def test_gfapi_host_runs_python_translators_in_this_interpreter(core_volume: Volume, gluster_state_dir: Path) -> None:
    """gfapi in this (Python) process: the graph's glupy xlators use this interpreter, not a second one."""
    vf = client_volfile(core_volume, gluster_state_dir / "core-gfapi.vol")
    with gfapi.Volume(core_volume.name, volfile=vf, log_file=gluster_state_dir / "core-gfapi.log") as v:
        import sys

        assert "glupy._glupy" in sys.modules
        from glupy._glupy import EMBEDDED  # type: ignore[import-not-found]

        assert EMBEDDED == 0
        check_stand_ins_match_the_native_types(sys.modules["glupy._glupy"])
        v.write_file("/g.txt", b"through gfapi")
        assert v.read_file("/g.txt") == b"through gfapi"
        before = json.loads(v.getxattr("/", COUNTS))
        with v.open("/g.txt", os.O_RDWR) as fh:
            fh.zerofill(0, 4)
        v.access("/g.txt", os.R_OK)
        with v.open("/g.txt", os.O_RDWR) as fh:
            fh.fchmod(0o600)  # FUSE sends chmod on an open file as setattr, not fsetattr
        assert stat.S_IMODE(v.stat("/g.txt").st_mode) == 0o600
        after = json.loads(v.getxattr("/", COUNTS))
        assert after.get("fsetattr", 0) == before.get("fsetattr", 0) + 1
        with v.open("/g.txt", os.O_RDWR) as fh:
            fh.fsetxattr("user.shape", b"round")
            assert fh.fgetxattr("user.shape") == b"round"
            fh.fremovexattr("user.shape")
        final = json.loads(v.getxattr("/", COUNTS))
        for fop in ("fsetxattr", "fgetxattr", "fremovexattr"):
            assert final.get(fop, 0) > after.get(fop, 0), (fop, final)
        assert after.get("zerofill", 0) == before.get("zerofill", 0) + 1
        assert after.get("access", 0) == before.get("access", 0) + 1
        assert v.read_file("/g.txt") == b"\0" * 4 + b"ugh gfapi"
        v.unlink("/g.txt")


def test_bricks_run_python_too(core_volume: Volume, mount: Path, gluster_state_dir: Path) -> None:
    (mount / "b.txt").write_text("brick")
    assert (mount / "b.txt").read_text() == "brick"
    per_brick = statedump_counts(core_volume, gluster_state_dir / "dumps-core", f"core-{SERVER_XLATOR}")
    for c in per_brick:
        for fop in ("lookup", "create", "writev", "xattrop" if "xattrop" in c else "fxattrop", "setxattr"):
            assert c.get(fop, 0) > 0, (fop, c)
    (mount / "b.txt").unlink()


def test_random_operations_match_a_model(mount: Path, gluster_state_dir: Path) -> None:
    """Writes at random offsets and sizes, truncates, renames; every read compared with a model."""
    rng = random.Random(1234)
    root = mount / "integrity"
    root.mkdir()
    model: dict[str, bytearray] = {}
    for step in range(1500):
        op = rng.random()
        if not model or op < 0.1:
            name = f"f{step}"
            (root / name).write_bytes(b"")
            model[name] = bytearray()
            continue
        name = rng.choice(sorted(model))
        path = root / name
        if op < 0.55:
            offset = rng.randrange(0, 300_000)
            data = rng.randbytes(rng.randrange(1, 70_000))
            with open(path, "r+b") as fh:
                fh.seek(offset)
                fh.write(data)
            buf = model[name]
            if len(buf) < offset:
                buf.extend(b"\0" * (offset - len(buf)))
            buf[offset:offset + len(data)] = data
        elif op < 0.7:
            size = rng.randrange(0, 400_000)
            os.truncate(path, size)
            buf = model[name]
            del buf[size:]
            buf.extend(b"\0" * (size - len(buf)))
        elif op < 0.8:
            new = f"r{step}"
            os.rename(path, root / new)
            model[new] = model.pop(name)
        elif op < 0.85:
            path.unlink()
            del model[name]
        else:
            offset = rng.randrange(0, max(1, len(model[name])))
            with open(path, "rb") as fh:
                fh.seek(offset)
                got = fh.read(rng.randrange(1, 100_000))
            want = bytes(model[name][offset:offset + len(got)])
            assert got == want and len(got) == min(len(model[name]) - offset, len(got)), (name, step)
    for name, buf in model.items():
        assert (root / name).read_bytes() == bytes(buf), name
    assert sorted(os.listdir(root)) == sorted(model)
    # LockingWriter wrapped every write in inodelk lock/unlock, seen by the passthrough below it
    low = json.loads(os.getxattr(mount, "glupy.passthrough.counts.c-pt-low"))
    assert low["inodelk"] >= 2 * low["writev"] > 0, low
    # ...each with a lock owner of its own: protocol/client asserts on locks with FUSE's empty owner
    client_log = (gluster_state_dir / "core-client.log").read_text()
    assert "client_inodelk" not in client_log, "inodelk reached protocol/client without a lock owner"
    subprocess.run(["rm", "-rf", str(root)], check=True)
