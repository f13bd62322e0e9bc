"""trace and mirror on real GlusterFS: FUSE clients over this module's own glusterd.

* trace under io-stats of a one-brick volume's client: one parseable line per
  operation the test makes, with the right FOP, path and result.
* mirror over the two protocol/client translators of a two-brick plain volume
  (bricks A and B; see two_bricks for why not two volumes): everything written
  through the mount lands identically on both bricks (same gfid); B's brick is
  stopped (the mirror gets CHILD_DOWN, the mount keeps
  working, the status xattr counts B's missed writes) and started again (B is
  reported up and stale).

Everything runs on 127.1.1.13 (brick ports 28800-28899).
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator, join_under
from glupy.translators.mirror import RESYNCED_XATTR, STATUS_XATTR

#: a completed FOP in trace's text format (see glupy.translators.trace)
TRACE_LINE = re.compile(r"<- (?P<fop>\w+) #(?P<id>\d+) \((?P<args>.*)\) = (?:-1 (?P<errno>E\w+)|(?P<ret>\d+))"
                        r"(?: \{(?P<reply>.*)\})? (?P<us>\d+)us \[uid=(?P<uid>\d+) gid=(?P<gid>\d+) "
                        r"pid=(?P<pid>-?\d+) client=(?P<client>\S+)\]")


@pytest.fixture(scope="module")
def node(module_node: GlusterNode) -> GlusterNode:
    return module_node


def one_brick_volume(node: GlusterNode, name: str) -> Iterator[Volume]:
    with Volume.running(node, name, [node.brick(name, 0)]) as vol:
        yield vol


@pytest.fixture(scope="module")
def trace_volume(node: GlusterNode) -> Iterator[Volume]:
    yield from one_brick_volume(node, "mttrace")


@pytest.fixture(scope="module")
def two_bricks(node: GlusterNode) -> Iterator[Volume]:
    """A plain (distribute) volume of two bricks, A and B: the mirror replaces its DHT.

    Two separate volumes cannot be used: a GlusterFS 10.3 client process
    accepts bricks of one volume-id only (client_setvolume_cbk keeps the first
    volume-id in the process's ctx and refuses any other: "volume-id changed,
    can't connect to server. Needs remount").
    """
    vol = Volume.create(node, "mtmirror", [node.brick("mtmirror", 0), node.brick("mtmirror", 1)])
    try:
        vol.start()
        yield vol
    finally:
        vol.delete()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll until predicate() is true; an OSError (ENOTCONN while children reconnect) counts as false."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def uncached_read(path: Path) -> bytes:
    with open(path, "rb") as fh:
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # from GlusterFS, not the page cache
        return fh.read()


# ------------------------------------------------------------------ trace


def test_trace_logs_one_line_per_operation(trace_volume: Volume, gluster_state_dir: Path) -> None:
    state = gluster_state_dir / "mirror_trace"
    log = state / "trace" / "trace.log"
    graph = Volfile.read(trace_volume.client_volfile())
    graph.insert_below_top(glupy_xlator("trace", "glupy.translators.trace", {"path": str(log)}))
    # a second one, above it, writing a few FOPs to the client's GlusterFS log
    graph.insert_below_top(glupy_xlator("tracelog", "glupy.translators.trace", {"fops": "mkdir,rmdir",
                                                                                 "log-entry": "on"}))
    volfile = state / "trace.vol"
    graph.write(volfile)
    m = FuseMount.from_volfile(volfile, state / "mnt-trace", log_file=state / "trace-client.log")
    m.mount()
    content = b"hello trace"
    try:
        mp = m.mountpoint
        umask = os.umask(0)
        os.umask(umask)
        perm = f"{0o777 & ~umask:04o}"  # what mkdir gives tdir (FUSE passes the umask applied)
        (mp / "tdir").mkdir()
        (mp / "tdir" / "f").write_bytes(content)
        assert uncached_read(mp / "tdir" / "f") == content
        os.rename(mp / "tdir" / "f", mp / "tdir" / "g")
        os.setxattr(mp / "tdir" / "g", "user.colour", b"blue")
        with pytest.raises(FileNotFoundError):
            os.stat(mp / "tdir" / "missing")
        os.unlink(mp / "tdir" / "g")
        os.rmdir(mp / "tdir")
        wait_for(lambda: log.exists() and "rmdir" in log.read_text(), 15, "the rmdir line")
    finally:
        m.unmount()

    lines = log.read_text().splitlines()
    records = []
    for line in lines:
        match = TRACE_LINE.fullmatch(line)
        assert match, f"unparseable trace line: {line!r}"
        records.append(match.groupdict())
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "one completion line per FOP"

    def find(fop: str, arg: str, *, errno_name: str | None = None) -> dict:
        hits = [r for r in records if r["fop"] == fop and arg in r["args"] and r["errno"] == errno_name]
        assert hits, f"no {fop} line with {arg!r} and result {errno_name or 'OK'}; lines:\n" + "\n".join(lines)
        return hits[0]

    client_log = (state / "trace-client.log").read_text(errors="replace")
    in_log = re.findall(r"\] 0-glupy\.tracelog: ((?:->|<-) .*)$", client_log, re.M)
    assert [line.split(" (")[0].split(" #")[0] for line in in_log] == ["-> mkdir", "<- mkdir", "-> rmdir",
                                                                       "<- rmdir"], in_log
    assert "loc=/tdir " in in_log[1] and f"= 0 {{buf={{DIR {perm}" in in_log[1]

    mkdir = find("mkdir", "loc=/tdir ")
    assert f" mode={perm} " in f' {mkdir["args"]} ', mkdir["args"]  # the permission bits only: no S_IFDIR
    assert int(mkdir["uid"]) == 0 and int(mkdir["pid"]) == os.getpid() and "{DIR " in mkdir["reply"]
    create = find("create", "loc=/tdir/f ")
    assert "|WRONLY|CREAT|" in create["args"] and "xdata={" in create["args"]  # gfid-req
    writev = find("writev", "fd=/tdir/f ")
    assert int(writev["ret"]) == len(content) and f"data=<{len(content)} bytes>" in writev["args"]
    readv = find("readv", "fd=/tdir/f ")
    assert int(readv["ret"]) == len(content)
    rename = find("rename", "oldloc=/tdir/f")
    assert "newloc=/tdir/g" in rename["args"]
    setxattr = find("setxattr", "loc=/tdir/g")
    assert "dict={user.colour}" in setxattr["args"]
    find("lookup", "loc=/tdir/missing", errno_name="ENOENT")
    find("unlink", "loc=/tdir/g")
    find("rmdir", "loc=/tdir")
    # the order of the operations is kept
    order = [records.index(r) for r in (mkdir, create, writev, rename, setxattr)]
    assert order == sorted(order)
    assert all(int(r["us"]) >= 0 for r in records)


# ------------------------------------------------------------------ mirror


def gfid(path: Path) -> bytes:
    return os.getxattr(path, "trusted.gfid", follow_symlinks=False)


def status(mp: Path) -> dict:
    return json.loads(os.getxattr(mp, STATUS_XATTR))


def child(st: dict, name: str) -> dict:
    return next(c for c in st["children"] if c["name"] == name)


def test_mirror_writes_both_bricks_and_survives_one_going_down(two_bricks: Volume,
                                                              gluster_state_dir: Path) -> None:
    state = gluster_state_dir / "mirror_trace"
    graph = Volfile.read(two_bricks.client_volfile())
    clients = graph.find_type("protocol/client")
    assert len(clients) == 2
    volfile = state / "mirror.vol"
    join_under(glupy_xlator("mirror", "glupy.translators.mirror"),
               [graph.subgraph(c.name) for c in clients]).write(volfile)
    name_a, name_b = (c.name for c in clients)
    bricks = two_bricks.info().bricks
    brick_a, brick_b = (Path(b.path) for b in bricks)
    assert clients[1].options["remote-subvolume"] == str(brick_b)
    m = FuseMount.from_volfile(volfile, state / "mnt-mirror", log_file=state / "mirror-client.log")
    m.mount()
    payload = os.urandom(200_000)
    b_pid = None
    try:
        mp = m.mountpoint
        st = status(mp)
        assert [c["state"] for c in st["children"]] == ["up", "up"], st

        # ---- both up: every change reaches both bricks, with the same gfid
        d = mp / "d"
        d.mkdir()
        (d / "f").write_bytes(payload)
        os.symlink("f", d / "l")
        os.setxattr(d / "f", "user.colour", b"blue")
        os.chmod(d / "f", 0o640)
        (d / "gone").write_bytes(b"x")
        os.rename(d / "gone", d / "moved")
        os.unlink(d / "moved")
        (d / "sub").mkdir()
        for brick in (brick_a, brick_b):
            assert (brick / "d" / "f").read_bytes() == payload
            assert os.stat(brick / "d" / "f").st_mode & 0o777 == 0o640
            assert os.readlink(brick / "d" / "l") == "f"
            assert os.getxattr(brick / "d" / "f", "user.colour") == b"blue"
            assert not (brick / "d" / "moved").exists() and not (brick / "d" / "gone").exists()
            assert (brick / "d" / "sub").is_dir()
        for rel in ("d", "d/f", "d/l", "d/sub"):
            assert gfid(brick_a / rel) == gfid(brick_b / rel), rel
        assert gfid(brick_a / "d/f") != gfid(brick_a / "d")
        assert uncached_read(d / "f") == payload
        assert sorted(os.listdir(d)) == ["f", "l", "sub"]
        assert os.readlink(d / "l") == "f"
        st = status(mp)
        assert all(not c["stale"] and c["missed_writes"] == 0 for c in st["children"]), st

        # ---- B's brick goes away: CHILD_DOWN; the mount keeps reading and writing through A
        b_pid = two_bricks.brick_pids()[bricks[1]]
        os.kill(b_pid, signal.SIGTERM)
        wait_for(lambda: child(status(mp), name_b)["state"] != "up", 30, "the mirror to see B down")
        (d / "after").write_bytes(b"written while B is down")
        (d / "sub2").mkdir()
        os.chmod(d / "f", 0o600)
        assert uncached_read(d / "f") == payload
        assert uncached_read(d / "after") == b"written while B is down"
        assert sorted(os.listdir(d)) == ["after", "f", "l", "sub", "sub2"]
        down = status(mp)
        b = child(down, name_b)
        assert b["state"] in ("down", "connecting") and b["stale"] and b["downs"] == 1, down
        assert b["missed_writes"] >= 4, down  # create, writev, mkdir, setattr at least
        a = child(down, name_a)
        assert a["state"] == "up" and not a["stale"] and a["missed_writes"] == 0, down
        dump = m.statedump()["xlator.glupy.mirror.priv"]
        assert dump["children-up"] == "1/2" and dump["child.1.name"] == name_b, dump
        assert dump["child.1.state"] == b["state"] and dump["child.1.stale"] == "True"
        assert int(dump["child.1.missed-writes"]) >= b["missed_writes"] and dump["child.0.state"] == "up"
        assert (brick_a / "d" / "after").exists() and not (brick_b / "d" / "after").exists()
        assert os.stat(brick_b / "d" / "f").st_mode & 0o777 == 0o640  # B kept the old mode

        # ---- B comes back: up again, still stale (no self-heal); new writes reach it again
        two_bricks.start(force=True)  # starts the brick that is down
        wait_for(lambda: child(status(mp), name_b)["state"] == "up", 60, "the mirror to see B up again")
        back = status(mp)
        b = child(back, name_b)
        assert b["stale"] and b["missed_writes"] == child(down, name_b)["missed_writes"], back
        (d / "late").write_bytes(b"both again")
        for brick in (brick_a, brick_b):
            assert (brick / "d" / "late").read_bytes() == b"both again"
        assert gfid(brick_a / "d/late") == gfid(brick_b / "d/late")
        # reads still come from the fresh child: B has no d/after
        assert uncached_read(d / "after") == b"written while B is down"
        # an administrator who resynced B clears the mark
        os.setxattr(mp, RESYNCED_XATTR, name_b.encode())
        b = child(status(mp), name_b)
        assert not b["stale"] and b["missed_writes"] == 0
        with pytest.raises(OSError) as e:
            os.setxattr(mp, RESYNCED_XATTR, b"no-such-child")
        assert e.value.errno == errno.EINVAL

        # ---- now A goes away: reads and writes are served by B
        a_pid = two_bricks.brick_pids()[bricks[0]]
        os.kill(a_pid, signal.SIGTERM)
        wait_for(lambda: child(status(mp), name_a)["state"] != "up", 30, "the mirror to see A down")
        assert uncached_read(d / "f") == payload and uncached_read(d / "late") == b"both again"
        (d / "only-b").write_bytes(b"b")
        assert (brick_b / "d" / "only-b").exists() and not (brick_a / "d" / "only-b").exists()
        st = status(mp)
        assert child(st, name_a)["stale"] and not child(st, name_b)["stale"] and st["up"] == 1
        two_bricks.start(force=True)
        wait_for(lambda: status(mp)["up"] == 2, 60, "both children up again")
    finally:
        m.unmount()
        if b_pid is not None and len(two_bricks.brick_pids()) < 2:
            two_bricks.start(force=True)  # leave the volume as the fixture made it
    log = (state / "mirror-client.log").read_text(errors="replace")
    assert f"child {name_b} is down" in log and "missed a write" in log and f"child {name_b} is up" in log
    # FUSE was told CHILD_UP once, and never CHILD_DOWN while A was up
    until_unmount = log.split("initiating unmount")[0]
    told = re.findall(r"children up: telling the parent (\w+)", until_unmount)
    assert told == ["CHILD_UP"], told
    assert "signal received" not in log


def test_mirror_mounts_while_a_brick_is_down(two_bricks: Volume, gluster_state_dir: Path) -> None:
    """The second brick is down when the client starts: FUSE must still be released, and the mount
    works on the first brick. Then the first goes too: the parent is told CHILD_DOWN, then CHILD_UP."""
    state = gluster_state_dir / "mirror_trace"
    graph = Volfile.read(two_bricks.client_volfile())
    clients = graph.find_type("protocol/client")
    volfile = state / "mirror-degraded.vol"
    join_under(glupy_xlator("mirror", "glupy.translators.mirror"),
               [graph.subgraph(c.name) for c in clients]).write(volfile)
    bricks = two_bricks.info().bricks
    brick_a, brick_b = (Path(b.path) for b in bricks)
    os.kill(two_bricks.brick_pids()[bricks[1]], signal.SIGTERM)
    wait_for(lambda: bricks[1] not in two_bricks.brick_pids(), 30, "brick B to stop")
    log_file = state / "mirror-degraded-client.log"
    m = FuseMount.from_volfile(volfile, state / "mnt-mirror-degraded", log_file=log_file)
    try:
        m.mount(timeout=60)
        mp = m.mountpoint
        (mp / "degraded").write_bytes(b"only A")
        assert uncached_read(mp / "degraded") == b"only A"
        assert (brick_a / "degraded").exists() and not (brick_b / "degraded").exists()
        st = status(mp)
        b = child(st, clients[1].name)
        assert b["state"] in ("down", "connecting") and b["stale"] and b["missed_writes"] >= 2, st
        assert child(st, clients[0].name)["state"] == "up"
        # A goes too: no child left, the parent is told CHILD_DOWN; FOPs fail with ENOTCONN
        os.kill(two_bricks.brick_pids()[bricks[0]], signal.SIGTERM)
        wait_for(lambda: status(mp)["up"] == 0, 30, "both children down")
        with pytest.raises(OSError) as e:
            os.stat(mp / "never-created")
        assert e.value.errno == errno.ENOTCONN
        two_bricks.start(force=True)
        wait_for(lambda: status(mp)["up"] == 2, 60, "both children up again")
        assert uncached_read(mp / "degraded") == b"only A"
    finally:
        m.unmount()
        if len(two_bricks.brick_pids()) < 2:
            two_bricks.start(force=True)
    log = log_file.read_text(errors="replace")
    told = re.findall(r"children up: telling the parent (\w+)", log.split("initiating unmount")[0])
    assert len(told) == 3 and told[0] in ("CHILD_UP", "CHILD_DOWN") and told[1:] == ["CHILD_DOWN", "CHILD_UP"], told
