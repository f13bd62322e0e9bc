"""The in-process harness: PosixBackend against os, the graph and the driver, the shipped translators."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import sys
import uuid
import zlib
from pathlib import Path

import pytest

import glupy
from glupy import FopError, Xdata
from glupy.constants import EntrylkCmd, EntrylkType, Event, FileType, LockCmd, LockType, XattropFlag
from glupy.testing.fixtures import glupy_harness  # noqa: F401 - the fixture
from glupy.testing.harness import ROOT_GFID, Client, Harness, HarnessError, Node, gfid_to_ino
from glupy.testing.translators import STATS_XATTR, Faulty, LookupOnly, Probe
from glupy.translators.helloworld import HelloWorld
from glupy.translators.passthrough import COUNTS_XATTR, Passthrough

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from translator_suite import *  # noqa: E402,F401,F403 - the shared suite's tests, run in the harness
from translator_suite import HarnessVolume  # noqa: E402


def errno_of(fn, *args, **kw) -> int:
    with pytest.raises(FopError) as info:
        fn(*args, **kw)
    return info.value.errno


@pytest.fixture
def volume(glupy_harness):
    """The shared suite's volume: the passthrough over a PosixBackend."""
    return HarnessVolume(glupy_harness(Passthrough))


# ------------------------------------------------------------------ PosixBackend semantics


def test_the_harness_has_a_client_and_offers_its_calls(glupy_harness) -> None:
    """The harness is not a Client: it has one (``h.client``, uid 0) and offers every
    public Client method as that client's bound method, so ``h.create`` is
    ``h.client.create``; a new Client method that the harness does not offer fails here."""
    h = glupy_harness(Passthrough)
    assert isinstance(h.client, Client) and not isinstance(h, Client)
    assert (h.client.uid, h.client.gid, h.client.harness) == (0, 0, h)
    public = {n for n, v in vars(Client).items() if callable(v) and not n.startswith("_")}
    offered = {n for n, v in vars(Harness).items() if isinstance(v, type(vars(Harness)["create"]))}
    assert public == offered
    for name in public:
        bound = getattr(h, name)
        assert bound.__self__ is h.client and bound.__func__ is getattr(Client, name), name
        assert getattr(Harness, name).__doc__ == getattr(Client, name).__doc__
    h.create("/f", b"one")
    assert h.client.read("/f") == b"one" and h.read("/f") == b"one"
    user = h.as_user(4242, 4243)
    assert (user.uid, user.gid, user.harness) == (4242, 4243, h)
    assert h.stat("/f").gfid == user.stat("/f").gfid


def test_files_match_the_backing_directory(glupy_harness) -> None:
    h = glupy_harness()
    brick = glupy_harness.bricks[0]
    h.mkdir("/d", 0o750)
    h.create("/d/f", b"hello", 0o640)
    st = os.stat(brick / "d" / "f")
    ia = h.stat("/d/f")
    assert (brick / "d" / "f").read_bytes() == b"hello"
    assert (ia.size, ia.mode, ia.uid, ia.gid, ia.nlink) == (5, st.st_mode, st.st_uid, st.st_gid, 1)
    assert (ia.mtime, ia.mtime_nsec) == (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)
    assert ia.type == FileType.REG and ia.ino == gfid_to_ino(ia.gfid) and ia.blksize == st.st_blksize
    assert stat.S_IMODE(os.stat(brick / "d").st_mode) == 0o750
    root = h.lookup("/")
    assert root.buf.gfid == ROOT_GFID and root.buf.ino == 1 and root.inode.is_root


def test_gfids_are_stable_and_inodes_are_shared(glupy_harness) -> None:
    h = glupy_harness()
    inode = h.create("/f", b"x")
    gfid = inode.gfid
    assert h.lookup("/f").inode is inode and h.stat("/f").gfid == gfid
    h.mkdir("/d")
    h.rename("/f", "/d/g")
    assert h.lookup("/d/g").inode is inode and h.stat("/d/g").gfid == gfid
    h.link("/d/g", "/h")
    assert h.lookup("/h").inode is inode and h.stat("/h").nlink == 2
    # a fresh harness over the same directory mints new gfids (they live in memory) but keeps the root's
    h2 = glupy_harness(root=glupy_harness.bricks[0])
    assert h2.stat("/h").gfid == h2.stat("/d/g").gfid
    assert h2.stat("/").gfid == ROOT_GFID


def test_gfid_req_names_the_new_file(glupy_harness) -> None:
    h = glupy_harness()
    wanted = uuid.uuid4()
    parent = h.loc("/")
    loc = glupy.Loc(path="/n", parent=parent.inode, inode=glupy.Inode())
    reply = h.fop("mkdir", loc, 0o40755, 0o022, Xdata({"gfid-req": wanted}))
    assert reply.buf.gfid == wanted and h.stat("/n").gfid == wanted


def test_errnos_are_the_systems(glupy_harness) -> None:
    h = glupy_harness()
    h.mkdir("/d")
    h.create("/d/f", b"1")
    assert errno_of(h.lookup, "/missing") == errno.ENOENT
    assert errno_of(h.stat, "/d/f/x") == errno.ENOTDIR
    assert errno_of(h.mkdir, "/d") == errno.EEXIST
    assert errno_of(h.rmdir, "/d") == errno.ENOTEMPTY
    assert errno_of(h.rmdir, "/d/f") == errno.ENOTDIR
    assert errno_of(h.unlink, "/d") == errno.EISDIR
    assert errno_of(h.read, "/nothing") == errno.ENOENT
    assert errno_of(h.readlink, "/d/f") == errno.EINVAL
    assert errno_of(h.getxattr, "/d/f", "user.none") == errno.ENODATA
    assert errno_of(h.create, "/d/f", exclusive=True) == errno.EEXIST
    assert errno_of(h.create, "/d") == errno.EISDIR
    # posix itself, not only the client's checks: mkdir of an existing name sent directly
    loc = glupy.Loc(path="/d", parent=h.itable.root, inode=glupy.Inode())
    assert errno_of(h.fop, "mkdir", loc, 0o755, 0, None) == errno.EEXIST
    # a failed lookup carries postparent, as posix's does
    with pytest.raises(FopError) as info:
        h.lookup("/d/none")
    assert info.value.reply.postparent.gfid == h.stat("/d").gfid


def test_rename_semantics(glupy_harness) -> None:
    h = glupy_harness()
    h.create("/a", b"A")
    h.create("/b", b"BB")
    old_b = h.lookup("/b").inode
    forgotten = []
    h.itable.harness._forget_ctx = lambda inode: forgotten.append(inode)  # observe forgets
    h.rename("/a", "/b")
    assert h.read("/b") == b"A" and not h.exists("/a")
    assert forgotten == [old_b]
    h.mkdir("/full")
    h.create("/full/x")
    h.mkdir("/empty")
    assert errno_of(h.rename, "/empty", "/full") == errno.ENOTEMPTY
    assert errno_of(h.rename, "/b", "/empty") == errno.EISDIR
    h.rename("/full", "/empty")  # a directory over an empty one
    assert h.listdir("/empty") == ["x"] and h.read("/empty/x") == b""


def test_readdir_pages_with_offsets(glupy_harness) -> None:
    h = glupy_harness()
    names = [f"file-{i:03}" for i in range(40)]
    h.mkdir("/d")
    for n in names:
        h.create(f"/d/{n}")
    assert h.listdir("/d") == sorted(os.listdir(glupy_harness.bricks[0] / "d")) == names
    entries = h.readdir("/d", plus=False, size=256)
    assert [e.name for e in entries] == [".", ".."] + names
    assert [e.off for e in entries] == list(range(1, 43))
    with h.opendir("/d") as d:
        page = h.fop("readdirp", d.fd, 1000, 0)
        assert 1 < len(page.entries) < 42
        rest = h.fop("readdirp", d.fd, 1 << 20, page.entries[-1].off)
        assert [e.name for e in page.entries + rest.entries] == [".", ".."] + names
        assert all(e.stat.gfid == h.stat(f"/d/{e.name}").gfid for e in rest.entries)
        assert rest.entries[0].type == 8  # DT_REG


def test_xattrs(glupy_harness) -> None:
    h = glupy_harness()
    h.create("/f")
    h.setxattr("/f", "user.a", b"1")
    h.setxattr("/f", "user.b", "two")
    assert h.getxattr("/f", "user.a") == b"1"
    assert h.listxattr("/f") == ["user.a", "user.b"]
    assert dict(h.fop("getxattr", "/f", None).dict) == {"user.a": b"1", "user.b": b"two"}
    assert os.getxattr(glupy_harness.bricks[0] / "f", "user.b") == b"two"
    assert errno_of(h.fop, "setxattr", "/f", Xdata({"user.a": b"x"}), os.XATTR_CREATE) == errno.EEXIST
    h.removexattr("/f", "user.a")
    assert h.listxattr("/f") == ["user.b"]
    assert errno_of(h.removexattr, "/f", "user.a") == errno.ENODATA
    with h.open("/f") as f:
        f.setxattr("user.c", b"3")
        assert f.getxattr("user.c") == b"3"


def test_sizes_attributes_and_space(glupy_harness) -> None:
    h = glupy_harness()
    h.create("/f", b"0123456789")
    h.truncate("/f", 4)
    assert h.read("/f") == b"0123"
    with h.open("/f", os.O_RDWR) as f:
        f.truncate(8)
        assert f.fstat().size == 8
        assert f.write(b"xy", 8) == 2
        f.fsync()
    assert h.read("/f") == b"0123\0\0\0\0xy"
    assert h.read("/f", 3, 2) == b"23\0"
    assert stat.S_IMODE(h.chmod("/f", 0o600).mode) == 0o600
    assert h.utime("/f", 10**9, 2 * 10**9).mtime == 2
    h.symlink("f", "/link")
    assert h.readlink("/link") == "f" and h.lookup("/link").buf.type == FileType.LNK
    h.mknod("/fifo")
    assert h.stat("/fifo").type == FileType.FIFO
    assert h.statfs().f_bsize > 0
    h.fop("fallocate", "/f", 0, 0, 4096)
    assert h.stat("/f").size == 4096
    h.fop("zerofill", "/f", 0, 2)
    assert h.read("/f", 4) == b"\0\x0023"
    assert h.fop("seek", "/f", 0, 0).offset == 0  # SEEK_DATA
    h.fop("discard", "/f", 0, 4096)
    assert h.stat("/f").size == 4096 and h.read("/f", 4) == b"\0" * 4
    assert errno_of(h.fop, "seek", "/f", 0, 0) == errno.ENXIO  # no data left, as lseek says
    data = h.read("/f", 100)
    r = h.fop("rchecksum", "/f", 0, 100)
    assert r.weak_checksum == zlib.adler32(data, 0) and r.strong_checksum == hashlib.sha256(data).digest()


def test_xattrop_adds_arrays(glupy_harness) -> None:
    h = glupy_harness()
    h.create("/f")
    one = (1).to_bytes(4, "big") * 3
    r1 = h.fop("xattrop", "/f", XattropFlag.ADD_ARRAY, Xdata({"user.pending": one}))
    r2 = h.fop("fxattrop", "/f", XattropFlag.ADD_ARRAY, Xdata({"user.pending": one}))
    assert r1.dict["user.pending"] == one
    assert r2.dict["user.pending"] == (2).to_bytes(4, "big") * 3
    minus = (0xFFFFFFFE).to_bytes(4, "big") * 3  # -2
    assert h.fop("xattrop", "/f", XattropFlag.ADD_ARRAY, Xdata({"user.pending": minus})).dict["user.pending"] == bytes(12)


def test_locks_conflict_between_owners(glupy_harness) -> None:
    h = glupy_harness()
    h.create("/f")
    alice = h.as_user(0, 0)
    alice.lk_owner = b"alice"
    bob = h.as_user(0, 0)
    bob.lk_owner = b"bob"
    wr = glupy.Flock(type=LockType.WRLCK, start=0, len=0)
    alice.fop("inodelk", "dom", "/f", LockCmd.SETLK, wr)
    assert errno_of(bob.fop, "inodelk", "dom", "/f", LockCmd.SETLK, wr) == errno.EAGAIN
    assert errno_of(bob.fop, "inodelk", "dom", "/f", LockCmd.SETLKW, wr) == errno.EAGAIN
    bob.fop("inodelk", "other-domain", "/f", LockCmd.SETLK, wr)
    alice.fop("inodelk", "dom", "/f", LockCmd.SETLK, glupy.Flock(type=LockType.UNLCK, start=0, len=0))
    bob.fop("inodelk", "dom", "/f", LockCmd.SETLK, wr)
    alice.fop("entrylk", "dom", "/", "name", EntrylkCmd.LOCK_NB, EntrylkType.WRLCK)
    assert errno_of(bob.fop, "entrylk", "dom", "/", "name", EntrylkCmd.LOCK_NB, EntrylkType.WRLCK) == errno.EAGAIN
    bob.fop("entrylk", "dom", "/", "other", EntrylkCmd.LOCK_NB, EntrylkType.WRLCK)
    alice.fop("entrylk", "dom", "/", "name", EntrylkCmd.UNLOCK, EntrylkType.WRLCK)
    with alice.open("/f", os.O_RDWR) as f:
        got = alice.fop("lk", f.fd, LockCmd.SETLK, glupy.Flock(type=LockType.WRLCK, start=0, len=10, owner=b"a"))
        assert got.lock.type == LockType.WRLCK
        probe = bob.fop("lk", f.fd, LockCmd.GETLK, glupy.Flock(type=LockType.RDLCK, start=5, len=1, owner=b"b"))
        assert probe.lock.type == LockType.WRLCK and probe.lock.len == 10


def test_permissions_of_other_users(glupy_harness) -> None:
    h = glupy_harness()
    h.mkdir("/private", 0o700)
    h.mkdir("/open", 0o777, umask=0)
    user = h.as_user(4242, 4242)
    assert errno_of(user.create, "/private/x") == errno.EACCES
    assert errno_of(user.listdir, "/private") == errno.EACCES
    user.create("/open/mine", b"1")
    h.create("/open/roots", b"2", 0o644)
    assert errno_of(user.write, "/open/roots", b"x") == errno.EACCES
    assert user.read("/open/roots") == b"2"
    assert errno_of(user.chmod, "/open/roots", 0o777) == errno.EPERM
    if os.geteuid() == 0:
        assert (h.stat("/open/mine").uid, h.stat("/open/mine").gid) == (4242, 4242)


def test_unsupported_fops_and_bad_arguments(glupy_harness) -> None:
    h = glupy_harness()
    assert errno_of(h.fop, "ipc", 1) == errno.ENOSYS
    assert errno_of(h.fop, "getspec", "x", 0) == errno.ENOSYS
    with pytest.raises(TypeError, match="loc must be Loc"):
        h.fop("stat", 42)
    with pytest.raises(TypeError, match="xdata must be glupy.Xdata"):
        h.fop("stat", "/", {"a": 1})


# ------------------------------------------------------------------ the graph and the driver


def test_passthrough_counts_and_helloworld_logs(glupy_harness, caplog) -> None:
    h = glupy_harness(Passthrough, HelloWorld)
    caplog.set_level(logging.INFO, logger="glupy")
    h.create("/f", b"data")
    assert h.read("/f") == b"data"
    counts = json.loads(h.getxattr("/", COUNTS_XATTR))
    assert counts["create"] == 1 and counts["writev"] == 1 and counts["readv"] >= 1 and counts["lookup"] >= 2
    assert h.translator().snapshot() == {**counts, "getxattr": counts["getxattr"]}
    assert any("hello: lookup /f -> gfid" in r.getMessage() for r in caplog.records)
    assert any("hello: lookup /f -> ENOENT" in r.getMessage() for r in caplog.records)
    # FOPs helloworld does not handle fall through to posix, as in C
    assert h.seen("helloworld")["readv"] >= 1 and h.seen("posix")["readv"] >= 1
    assert dict(h.statedump())["count.create"] == "1"


def test_faulty_translator_answers_like_on_a_volume(glupy_harness) -> None:
    h = glupy_harness(Faulty)
    assert errno_of(h.stat, "/boom-1") == errno.EIO
    assert errno_of(h.stat, "/eperm-1") == errno.EPERM
    assert errno_of(h.stat, "/wrongtype-1") == errno.EIO
    h.create("/fine.txt", b"still serving")
    assert errno_of(h.create, "/bad.txt", b"crash now") == errno.EIO
    assert h.read("/fine.txt") == b"still serving"
    logged = [(d, type(e).__name__) for d, _, e in h.logged]
    assert ("faulty", "ZeroDivisionError") in logged and ("faulty", "RuntimeError") in logged
    assert ("faulty", "ReplyError") in logged  # the wrong reply type
    assert "expected LookupReply" in str(h.logged[[n for _, n in logged].index("ReplyError")][2])


def test_probe_contexts_forget_release_reconfigure_notify(glupy_harness) -> None:
    h = glupy_harness(Probe, label="first")

    def stats(client=h):
        return json.loads(client.getxattr("/", STATS_XATTR))

    probe = h.translator()
    assert stats()["events"][:2] == ["PARENT_UP", "CHILD_UP"]
    inode = h.create("/f", b"abc")
    h.lookup("/f")
    assert probe.inode_ctx(inode) == {"path": "/f"}
    assert stats()["inode_ctx_set"] >= 1
    with h.open("/f") as f:
        assert probe.fd_ctx(f.fd) == {"path": "/f", "flags": os.O_RDONLY}
        assert stats()["releases"] == 0
    assert stats()["releases"] == 1 and probe.fd_ctx(f.fd) is None
    before = stats()["forgets"]
    assert h.forget_all() >= 1
    assert stats()["forgets"] > before and probe.inode_ctx(inode) is None
    # unlink forgets the inode once its last link is gone
    h.create("/g")
    h.lookup("/g")
    n = stats()["forgets"]
    h.unlink("/g")
    assert stats()["forgets"] == n + 1
    assert h.reconfigure("probe", label="second", limit="20") == {"label": ("first", "second"),
                                                                   "limit": (10, 20)}
    s = stats()
    assert (s["label"], s["limit"], s["reconfigured"]) == ("second", 20, [{"label": "second", "limit": 20}])
    with pytest.raises(glupy.OptionError, match="less than the minimum"):
        h.reconfigure("probe", limit="-1")
    assert stats()["limit"] == 20
    h.notify(Event.CHILD_DOWN)
    assert stats()["events"][-1] == "CHILD_DOWN"
    assert stats(h.as_user(7, 8))["caller"]["uid"] == 7


def test_bad_options_fail_like_init(glupy_harness) -> None:
    with pytest.raises(glupy.OptionError, match="unknown option colour"):
        glupy_harness(Probe, colour="blue")
    with pytest.raises(glupy.OptionError, match="less than the minimum 0"):
        glupy_harness(Probe, limit="-5")
    with pytest.raises(HarnessError, match="no children"):
        Harness.graph(Node(Probe))


def test_pass_through_option_keeps_fops_out_of_python(glupy_harness) -> None:
    h = glupy_harness((Passthrough, {"pass-through": "on"}))
    h.create("/f", b"x")
    assert h.translator().snapshot() == {}
    h.reconfigure(pass_through="off")
    h.stat("/f")
    assert h.translator().snapshot()["stat"] == 1


def test_module_strings_and_plain_handlers(glupy_harness) -> None:
    class Plain(glupy.Translator):
        def statfs(self, loc, xdata):  # a plain def answers directly
            return glupy.StatfsReply(buf=glupy.Statvfs(f_bsize=512))

        async def stat(self, loc, xdata):
            reply = await self.child.stat(loc, xdata)
            return glupy.StatReply(buf={"size": reply.buf.size})  # wrong type: EIO, as the bridge does

    h = glupy_harness(Plain, "glupy.testing.translators:LookupOnly")
    assert h.statfs().f_bsize == 512
    assert isinstance(h["lookuponly"], LookupOnly)
    h.create("/f")
    assert errno_of(h.stat, "/f") == errno.EIO
    assert "StatReply.buf must be Iatt" in str(h.logged[-1][2])


# ------------------------------------------------------------------ a cluster translator


class Mirror(glupy.Translator):
    """Test-only replication: entry and write FOPs go to every child (gather), reads to the first."""

    def init(self) -> None:
        self.events: list[tuple[str, str]] = []

    def notify(self, event, source):
        self.events.append((event.name, source.name if source is not None else "-"))
        if event == Event.CHILD_UP:
            return len([e for e in self.events if e[0] == "CHILD_UP"]) == len(self.children) or False

    async def _all(self, fop, *args):
        replies = await glupy.gather(*(getattr(c, fop)(*args) for c in self.children))
        return replies[0]

    async def lookup(self, loc, xdata):
        return await self._all("lookup", loc, xdata)

    async def create(self, loc, flags, mode, umask, fd, xdata):
        return await self._all("create", loc, flags, mode, umask, fd, xdata)

    async def open(self, loc, flags, fd, xdata):
        return await self._all("open", loc, flags, fd, xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        return await self._all("writev", fd, data, offset, flags, xdata)

    async def flush(self, fd, xdata):
        return await self._all("flush", fd, xdata)

    async def unlink(self, loc, flags, xdata):
        return await self._all("unlink", loc, flags, xdata)

    async def mkdir(self, loc, mode, umask, xdata):
        return await self._all("mkdir", loc, mode, umask, xdata)


def test_two_child_graph_writes_both_and_reads_the_first(glupy_harness) -> None:
    h = glupy_harness.graph(Mirror, children=2)
    b0, b1 = glupy_harness.bricks
    mirror = h.translator()
    assert [e for e in mirror.events if e[0] == "CHILD_UP"] == [("CHILD_UP", "posix-0"), ("CHILD_UP", "posix-1")]
    h.mkdir("/d")
    h.create("/d/f", b"both")
    assert (b0 / "d/f").read_bytes() == (b1 / "d/f").read_bytes() == b"both"
    # both children took the gfid-req: the same gfid on both
    assert h["posix-0"].gfid_of("/d/f") == h["posix-1"].gfid_of("/d/f") == h.stat("/d/f").gfid
    h.write("/d/f", b"BOTH")
    (b1 / "d/f").write_bytes(b"only on the second")
    assert h.read("/d/f") == b"BOTH"  # reads fall through to the first child
    assert h.seen("posix-1")["readv"] == 0 and h.seen("posix-0")["readv"] >= 1
    h.unlink("/d/f")
    assert not (b0 / "d/f").exists() and not (b1 / "d/f").exists()
    h.notify(Event.CHILD_DOWN, "posix-1")
    assert mirror.events[-1] == ("CHILD_DOWN", "posix-1")


def test_graph_with_nested_nodes_and_paths(tmp_path) -> None:
    with Harness.graph(Node(Passthrough, children=[Node(Mirror, children=[tmp_path / "x", tmp_path / "y"])])) as h:
        h.create("/f", b"1")
        assert (tmp_path / "x/f").read_bytes() == (tmp_path / "y/f").read_bytes() == b"1"
        assert sorted(h.nodes) == ["mirror", "passthrough", "posix", "posix-2"]


class Relabel(glupy.Translator):
    """Passes CHILD_DOWN on as CHILD_CONNECTING (a notify returning another Event)."""

    def notify(self, event, source):
        return Event.CHILD_CONNECTING if event == Event.CHILD_DOWN else None


class Recorder(glupy.Translator):
    def init(self) -> None:
        self.events: list[str] = []

    def notify(self, event, source):
        self.events.append(event.name)


def test_notify_returning_another_event_passes_that_on(tmp_path) -> None:
    with Harness.graph(Node(Recorder, children=[Node(Relabel, children=[tmp_path / "b"])])) as h:
        recorder = h.translator()
        recorder.events.clear()
        h.notify(Event.CHILD_DOWN)
        assert recorder.events == ["CHILD_CONNECTING"]
        h.notify(Event.CHILD_UP)
        assert recorder.events == ["CHILD_CONNECTING", "CHILD_UP"]


class OwnLocks(glupy.Translator):
    """Takes an inodelk around each write as itself (lk_owner), as a read-modify-write translator must."""

    async def writev(self, fd, data, offset, flags, xdata):
        loc = glupy.Loc(inode=fd.inode)
        lock = glupy.Flock(type=glupy.LockType.WRLCK, whence=0, start=0, len=0)
        await self.child.inodelk("own", loc, glupy.LockCmd.SETLK, lock, None, lk_owner=b"own-1")
        try:
            # the same domain, another owner: conflicts; the caller's own owner (empty) too
            with pytest.raises(glupy.FopError) as info:
                await self.child.inodelk("own", loc, glupy.LockCmd.SETLK, lock, None, lk_owner=b"own-2")
            assert info.value.errno == errno.EAGAIN
            return await self.child.writev(fd, data, offset, flags, xdata)
        finally:
            lock.type = glupy.LockType.UNLCK
            await self.child.inodelk("own", loc, glupy.LockCmd.SETLK, lock, None, lk_owner=b"own-1")


def test_winds_with_a_lock_owner_of_the_translators_own(glupy_harness) -> None:
    h = glupy_harness(OwnLocks)
    h.create("/f", b"data")
    assert h.read("/f") == b"data"
    assert not h.logged


def _lookup_report(h) -> dict:
    from glupy.testing.translators import LOOKUPS_XATTR

    return json.loads(h.getxattr("/f", LOOKUPS_XATTR))


def test_lookup_filters_act_before_the_handler_as_in_the_bridge(glupy_harness) -> None:
    # the same checks as tests/integration/test_driver_paths.py makes in a real FUSE client
    from glupy.testing.translators import LookupFilters

    h = glupy_harness(LookupFilters, named_only="on")
    brick = glupy_harness.bricks[-1]
    (brick / "f").write_bytes(b"12345")
    for _ in range(3):
        h.lookup("/")
    assert _lookup_report(h)["nameless"] == 0

    h = glupy_harness(LookupFilters, fresh_only="on")
    (glupy_harness.bricks[-1] / "f").write_bytes(b"12345")
    for _ in range(5):
        h.lookup("/f")  # only the first is fresh: then the client holds its inode
    report = _lookup_report(h)
    assert report["names"].count("f") == 1 and report["nameless"] == 0, report

    h = glupy_harness(LookupFilters, missing="ghost,made", expired="late")
    brick = glupy_harness.bricks[-1]
    for name in ("f", "ghost", "late"):
        (brick / name).write_bytes(b"on disk")
    report = _lookup_report(h)
    assert report["selftest"] == []  # the stand-in behaves as the scenario says
    for _ in range(3):
        with pytest.raises(FopError) as info:  # on disk, but answered from the table
            h.lookup("/ghost")
        assert info.value.errno == errno.ENOENT
    assert h.read("/late") == b"on disk"  # expired: looked up for real
    h.create("/made", b"new")  # the lookup before the create is answered ENOENT; create links it
    assert h.lookup("/made").buf.size == 3  # a revalidation: passes, and drops the name
    report = _lookup_report(h)
    assert "ghost" not in report["names"] and "late" in report["names"], report["names"]
    assert report["hits"] >= 4 and report["entries"] == 1, report


def test_a_readlink_wound_with_a_size_posix_would_put_on_its_stack_is_refused(glupy_harness) -> None:
    """storage/posix (10.3) puts readlink's buffer on the stack: a wind asking for 1 GiB
    ended both bricks of a volume. The wind is refused in the handler (ValueError, EIO
    for the FOP), as in the bridge; PATH_MAX is wound."""

    class BigReadlink(glupy.Translator):
        async def readlink(self, loc, size, xdata):
            return await self.child.readlink(loc, 1 << 30 if loc.name == "big" else 4096, xdata)

    h = glupy_harness(BigReadlink)
    h.create("/f", b"x")
    h.symlink("f", "/big")
    h.symlink("f", "/small")
    assert h.readlink("/small") == "f"
    with pytest.raises(FopError) as info:
        h.readlink("/big")
    assert info.value.errno == errno.EIO


def test_a_lock_wound_with_an_empty_domain_is_refused(glupy_harness) -> None:
    """A lock domain is never empty in GlusterFS's own winds (a run of lock winds ending with
    an empty one crashed a client's replicate translator): refused, as in the bridge."""

    class EmptyDomain(glupy.Translator):
        async def stat(self, loc, xdata):
            lock = glupy.Flock(type=glupy.LockType.WRLCK, whence=0, start=0, len=0)
            await self.child.inodelk("" if loc.name == "empty" else "mine", loc, glupy.LockCmd.SETLK, lock, None)
            return await self.child.stat(loc, xdata)

    h = glupy_harness(EmptyDomain)
    h.create("/empty", b"x")
    h.create("/named", b"x")
    assert errno_of(h.stat, "/empty") == errno.EIO
    h.stat("/named")


def test_a_mkdir_wound_with_the_roots_gfid_is_refused(glupy_harness) -> None:
    """storage/posix gives its handle of a gfid-req to the new entry: the root's left bricks
    that never started again. Refused in the handler (EIO), as in the bridge."""
    import uuid

    class RootGfid(glupy.Translator):
        async def mkdir(self, loc, mode, umask, xdata):
            mine = Xdata(dict(xdata.items()) if xdata is not None else {})
            mine["gfid-req"] = uuid.UUID(int=1) if loc.name == "bad" else uuid.uuid4()
            return await self.child.mkdir(loc, mode, umask, mine)

    h = glupy_harness(RootGfid)
    assert errno_of(h.mkdir, "/bad") == errno.EIO
    h.mkdir("/good")
