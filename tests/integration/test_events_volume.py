"""Change events on real volumes: glupy.translators.events on the bricks, two FUSE
clients making changes, a watcher (glupy.events.watch, and `glupy watch`) seeing each
operation once.

This module runs its own glusterd (127.1.1.16, brick ports 27900-27999); the bricks'
event servers take the translator's default listen address (24100 and up).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy import events as ev
from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster import xlators

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from redis_server import running_redis  # noqa: E402

NAME = "gpevents"
MODULE = "glupy.translators.events"


@pytest.fixture(scope="module")
def node(module_node: GlusterNode) -> Iterator[GlusterNode]:
    xlators.ensure_alias(NAME)
    try:
        yield module_node
    finally:
        xlators.remove_alias(NAME)


def events_volume(node: GlusterNode, name: str, count: int, replica: int, **options: str) -> Volume:
    vol = Volume.create(node, name, [node.brick(name, i) for i in range(count)], replica=replica if replica > 1 else None)
    try:
        vol.set(f"user.xlator.{NAME}", "posix")
        vol.set(f"user.xlator.{NAME}.module", MODULE)
        for key, value in options.items():
            vol.set(f"user.xlator.{NAME}.{key}", value)
        vol.start()
    except BaseException:
        vol.delete()
        raise
    return vol


@pytest.fixture(scope="module")
def replica2(node: GlusterNode) -> Iterator[Volume]:
    vol = events_volume(node, "evrep", 2, 2)
    try:
        yield vol
    finally:
        vol.delete()


def mount(vol: Volume, state: Path, label: str) -> FuseMount:
    m = FuseMount.from_volume(vol, state / "mnt" / f"ev-{label}", log_file=state / f"ev-{label}-client.log")
    m.mount()
    return m


class Collector:
    """Events of a watcher, read until a predicate holds."""

    def __init__(self, watcher: ev.Watcher) -> None:
        self.watcher = watcher
        self.events: list[ev.ChangeEvent] = []

    def until(self, predicate, timeout: float = 30.0) -> list[ev.ChangeEvent]:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; got {[str(e) for e in self.events]}"
            e = self.watcher.get(timeout=min(left, 1.0))
            if e is not None:
                self.events.append(e)
        return self.events

    def settle(self, quiet: float = 1.5) -> list[ev.ChangeEvent]:
        """Everything until nothing came for `quiet` seconds (duplicates would come by then)."""
        while (e := self.watcher.get(timeout=quiet)) is not None:
            self.events.append(e)
        return self.events


@contextlib.contextmanager
def watched_mount(vol: Volume, state: Path, label: str, path: str = "/") -> Iterator[tuple[Path, Collector]]:
    """A FUSE mount of `vol` and a Collector of a watcher of `path` (recursive), ready."""
    m = mount(vol, state, label)
    try:
        with ev.watch(vol.name, vol.node.address, path, recursive=True) as w:
            assert w.wait_ready(30)
            yield m.mountpoint, Collector(w)
    finally:
        m.unmount()


def ours(events: list[ev.ChangeEvent], top: str) -> list[tuple]:
    return [(e.event, e.path, e.newpath) for e in events
            if (e.path or "").startswith(top) or (e.newpath or "").startswith(top) or e.event in ("lost", "gap")]


def test_two_clients_every_operation_once_with_who_did_it(replica2: Volume, gluster_state_dir: Path) -> None:
    a, b = mount(replica2, gluster_state_dir, "a"), mount(replica2, gluster_state_dir, "b")
    try:
        with ev.watch(replica2.name, replica2.node.address, "/", recursive=True) as w:
            assert w.wait_ready(30)
            c = Collector(w)
            ma, mb = a.mountpoint, b.mountpoint
            pid_a, pid_b = a.pid, b.pid
            (ma / "t1").mkdir()
            (mb / "t1" / "sub").mkdir()
            (ma / "t1" / "f").write_bytes(b"from a")
            (mb / "t1" / "g").write_bytes(b"from b")
            os.rename(ma / "t1" / "f", ma / "t1" / "sub" / "f2")  # across directories
            os.chmod(mb / "t1" / "g", 0o600)
            os.setxattr(ma / "t1" / "g", "user.tag", b"x")
            os.removexattr(mb / "t1" / "g", "user.tag")
            os.symlink("g", ma / "t1" / "s")
            os.link(mb / "t1" / "g", mb / "t1" / "h")
            os.unlink(mb / "t1" / "h")
            os.truncate(ma / "t1" / "g", 2)  # (with two names, a path is one of them)
            os.unlink(ma / "t1" / "s")
            os.unlink(mb / "t1" / "g")
            os.unlink(ma / "t1" / "sub" / "f2")
            os.rmdir(mb / "t1" / "sub")
            os.rmdir(ma / "t1")
            c.until(lambda evs: any(e.event == "rmdir" and e.path == "/t1" for e in evs))
            got = ours(c.settle(), "/t1")
    finally:
        a.unmount()
        b.unmount()
    expected = [
        ("mkdir", "/t1", None), ("mkdir", "/t1/sub", None),
        ("create", "/t1/f", None), ("modify", "/t1/f", None), ("close_write", "/t1/f", None),
        ("create", "/t1/g", None), ("modify", "/t1/g", None), ("close_write", "/t1/g", None),
        ("rename", "/t1/f", "/t1/sub/f2"), ("attrib", "/t1/g", None), ("setxattr", "/t1/g", None),
        ("removexattr", "/t1/g", None), ("symlink", "/t1/s", None), ("link", "/t1/h", None),
        ("unlink", "/t1/h", None), ("modify", "/t1/g", None), ("unlink", "/t1/s", None), ("unlink", "/t1/g", None),
        ("unlink", "/t1/sub/f2", None), ("rmdir", "/t1/sub", None), ("rmdir", "/t1", None),
    ]
    # each operation once; in order per file (writes to a file are coalesced over 0.2 s, so a
    # modify may come after a later change of another file)
    assert sorted(got, key=repr) == sorted(expected, key=repr), got
    per_file = {}
    for e in c.events:
        if (e.path or "").startswith("/t1"):
            per_file.setdefault(e.gfid, []).append((e.event, e.path, e.newpath))
    for sequence in per_file.values():
        assert sequence == [x for x in expected if x in sequence], sequence
    # who did it: the two clients are two processes
    by = {e.path: e.by for e in c.events if e.event == "create"}
    assert by["/t1/f"]["client_pid"] == pid_a and by["/t1/g"]["client_pid"] == pid_b, by
    assert by["/t1/f"]["uid"] == 0 and by["/t1/f"]["pid"] == os.getpid() and by["/t1/f"]["host"] == socket.gethostname()


def test_writes_through_an_fd_after_its_directory_was_renamed_have_the_new_path(replica2: Volume,
                                                                                  gluster_state_dir: Path) -> None:
    """The brick knows an fd's file by gfid: its path comes from the name the file was
    created under, or from the brick's handles once a directory above it moved."""
    with watched_mount(replica2, gluster_state_dir, "mv") as (mp, c):
        (mp / "mv1").mkdir()
        (mp / "mv1" / "f").write_bytes(b"")  # created, nothing written
        fd = os.open(mp / "mv1" / "f", os.O_WRONLY)
        try:
            os.write(fd, b"before")
            os.fsync(fd)
            os.rename(mp / "mv1", mp / "mv2")
            os.write(fd, b"after")
        finally:
            os.close(fd)
        c.until(lambda evs: any(e.event == "close_write" for e in evs))
        got = ours(c.settle(), "/mv")
    # the writes are one modify, under the path the file had at the first one (it is held for
    # the coalescing window, so it may come after the directory's rename)
    assert sorted(got, key=repr) == sorted([("mkdir", "/mv1", None), ("create", "/mv1/f", None),
                                            ("modify", "/mv1/f", None), ("rename", "/mv1", "/mv2"),
                                            ("close_write", "/mv2/f", None)], key=repr), got
    assert got[-1] == ("close_write", "/mv2/f", None), got


def test_a_brick_killed_and_restarted_loses_nothing_while_its_partner_is_up(replica2: Volume,
                                                                           gluster_state_dir: Path) -> None:
    with watched_mount(replica2, gluster_state_dir, "k", "/k") as (mp, c):
        (mp / "k").mkdir()
        for i in range(20):
            (mp / "k" / f"before{i}").write_bytes(b"x")
        pids = replica2.brick_pids()
        first = sorted(pids, key=str)[0]
        os.kill(pids[first], 9)
        for _ in range(200):  # gone, reaped too: else glusterd "discovers" it still running
            if not Path(f"/proc/{pids[first]}").exists():
                break
            time.sleep(0.05)
        for i in range(20):
            (mp / "k" / f"during{i}").write_bytes(b"y")
            if i == 10:
                replica2.start(force=True)  # the killed brick comes back mid-run
        replica2.wait_bricks_online()
        for i in range(20):
            (mp / "k" / f"after{i}").write_bytes(b"z")
        c.until(lambda evs: sum(1 for e in evs if e.event == "create") == 60)
        got = c.settle(3.0)
    creates = sorted(e.path for e in got if e.event == "create")
    assert creates == sorted(f"/k/{w}{i}" for w in ("before", "during", "after") for i in range(20))
    closes = [e.path for e in got if e.event == "close_write"]
    assert sorted(closes) == creates  # each once
    assert not [e for e in got if e.event == "gap"]  # the partner was up all along


def test_glupy_watch_command_prints_inotifywait_lines(replica2: Volume, gluster_state_dir: Path) -> None:
    m = mount(replica2, gluster_state_dir, "cli")
    proc = subprocess.Popen([sys.executable, "-m", "glupy.cli", "watch", replica2.name, "/cli", "--server",
                             replica2.node.address, "-c", "3", "-t", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # the watcher finds the bricks
        (m.mountpoint / "cli").mkdir()
        (m.mountpoint / "cli" / "new").write_bytes(b"")
        os.rename(m.mountpoint / "cli" / "new", m.mountpoint / "cli" / "old")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        m.unmount()
    assert proc.returncode == 0, err
    # PATH itself and its entries; an empty write_bytes writes nothing: no close after write
    assert out.splitlines() == ["/cli MKDIR", "/cli/new CREATE", "/cli/new RENAME /cli/old"], out


def test_a_watcher_that_stops_reading_does_not_slow_fops_and_is_told_what_it_lost(node: GlusterNode,
                                                                                  gluster_state_dir: Path) -> None:
    vol = events_volume(node, "evslow", 1, 1, buffer="256")
    try:
        m = mount(vol, gluster_state_dir, "slow")
        try:
            # a subscriber that reads its hello, then nothing for a while
            found = ev.subscribe_volume(node.address, vol.name, timeout=30)
            assert len(found) == 1, found
            s, f, _ = found[0]
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            d = m.mountpoint / "many"
            d.mkdir()
            for i in range(3000):
                (d / f"f{i}").write_bytes(b"")
            assert len(os.listdir(d)) == 3000  # every FOP finished while the watcher slept
            lost = 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                data = json.loads(f.readline())
                if "lost" in data and "seq" not in data:
                    lost += data["lost"]
                if data.get("path") == "/many/f2999" and data.get("event") == "create":
                    break
            s.close()
            assert lost > 0  # the brick told it how many events it had lost
        finally:
            m.unmount()
    finally:
        vol.delete()


def test_distributed_replicated_each_operation_once_across_subvolumes(node: GlusterNode,
                                                                      gluster_state_dir: Path) -> None:
    """DHT makes directories on every subvolume and renames with link files on a second
    one: the watcher still gets each operation once, with both paths of a rename."""
    vol = events_volume(node, "evdist", 4, 2)
    try:
        m, m2 = mount(vol, gluster_state_dir, "dist"), mount(vol, gluster_state_dir, "dist2")
        try:
            with ev.watch(vol.name, node.address, "/", recursive=True) as w:
                assert w.wait_ready(30)
                c = Collector(w)
                mp, mp2 = m.mountpoint, m2.mountpoint  # two clients share the work
                (mp / "src").mkdir()
                (mp2 / "dst").mkdir()
                names = [f"file{i}" for i in range(24)]
                for i, n in enumerate(names):
                    ((mp, mp2)[i % 2] / "src" / n).write_bytes(n.encode())
                for i, n in enumerate(names):
                    os.rename((mp2, mp)[i % 2] / "src" / n, (mp2, mp)[i % 2] / "dst" / f"moved-{n}")
                for i, n in enumerate(names[:12]):
                    os.unlink((mp, mp2)[i % 2] / "dst" / f"moved-{n}")
                (mp2 / "src" / "sub").mkdir()
                os.rmdir(mp / "src" / "sub")
                c.until(lambda evs: any(e.event == "rmdir" and e.path == "/src/sub" for e in evs))
                got = c.settle(2.0)
        finally:
            m.unmount()
            m2.unmount()
    finally:
        vol.delete()
    seen = sorted((e.event, e.path, e.newpath) for e in got if e.event not in ("modify", "close_write"))
    expected = sorted([("mkdir", "/src", None), ("mkdir", "/dst", None), ("mkdir", "/src/sub", None),
                       ("rmdir", "/src/sub", None)]
                      + [("create", f"/src/{n}", None) for n in names]
                      + [("rename", f"/src/{n}", f"/dst/moved-{n}") for n in names]
                      + [("unlink", f"/dst/moved-{n}", None) for n in names[:12]])
    assert seen == expected
    writes = sorted(e.path for e in got if e.event == "close_write")
    assert writes == sorted(f"/src/{n}" for n in names)
    assert {e.type for e in got if e.event in ("mkdir", "rmdir")} == {"dir"}
    assert {e.type for e in got if e.event in ("create", "rename", "unlink", "close_write")} == {"file"}
    assert len({e.by["client_pid"] for e in got if e.event == "create"}) == 2  # both clients seen


def test_redis_stream_once_per_volume_and_a_consumer_that_was_away_misses_nothing(node: GlusterNode,
                                                                                   gluster_state_dir: Path,
                                                                                   tmp_path: Path) -> None:
    """The optional durable sink: both bricks append to one Redis stream (started here),
    each operation once; `glupy watch --redis --group` resumes where it stopped."""
    with running_redis(tmp_path) as url:
        vol = events_volume(node, "evredis", 2, 2, redis=url)
        try:
            m = mount(vol, gluster_state_dir, "redis")
            try:
                mp = m.mountpoint
                (mp / "r").mkdir()
                for i in range(5):
                    (mp / "r" / f"f{i}").write_bytes(b"")
                watch = [sys.executable, "-m", "glupy.cli", "watch", vol.name, "/r", "--redis", url, "--group", "g",
                         "--consumer", "one", "-t", "5"]
                first = subprocess.run(watch + ["-c", "3"], capture_output=True, text=True, timeout=60)
                for i in range(5):  # while no consumer is there
                    os.unlink(mp / "r" / f"f{i}")
                os.rmdir(mp / "r")
                rest = subprocess.run(watch, capture_output=True, text=True, timeout=60)
            finally:
                m.unmount()
        finally:
            vol.delete()
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["/r MKDIR", "/r/f0 CREATE", "/r/f1 CREATE"]
    assert rest.returncode == 2, rest.stderr  # ended by -t: nothing more for 5 s
    lines = rest.stdout.splitlines()
    # at least once: the last line the first consumer printed was not acknowledged
    assert lines == ["/r/f1 CREATE", "/r/f2 CREATE", "/r/f3 CREATE", "/r/f4 CREATE"] + \
        [f"/r/f{i} UNLINK" for i in range(5)] + ["/r RMDIR"], lines


def test_the_watcher_follows_a_brick_added_to_the_volume(node: GlusterNode, gluster_state_dir: Path) -> None:
    """A graph change: add-brick while watching. The watcher reads the volume's bricks
    from glusterd again and subscribes to the new one; changes landing there are seen."""
    vol = events_volume(node, "evgrow", 1, 1)
    try:
        m = mount(vol, gluster_state_dir, "grow")
        try:
            with ev.watch(vol.name, node.address, "/", recursive=True, refresh=1.0) as w:
                assert w.wait_ready(30)
                c = Collector(w)
                new_brick = node.brick(vol.name, 1)
                node.gluster("volume", "add-brick", vol.name, str(new_brick), "force")
                vol.wait_bricks_online()
                time.sleep(3)  # the client's graph switch, the watcher's next look at the volfile
                (m.mountpoint / "after").mkdir()
                names = [f"n{i}" for i in range(30)]
                for n in names:
                    (m.mountpoint / "after" / n).write_bytes(b"")
                c.until(lambda evs: {e.path for e in evs if e.event == "create"} >=
                        {f"/after/{n}" for n in names})
                got = c.settle(2.0)
        finally:
            m.unmount()
        on_new = [n for n in names if (Path(new_brick.path) / "after" / n).exists()]
        assert on_new, "no file landed on the new brick: the test proves nothing"
    finally:
        vol.delete()
    creates = sorted(e.path for e in got if e.event == "create")
    assert creates == sorted(f"/after/{n}" for n in names)
