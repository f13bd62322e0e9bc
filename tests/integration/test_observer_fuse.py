"""Observers (glupy.observer) inside GlusterFS: a FUSE client over a local posix directory
(no glusterd) with glupy.testing.translators:Observing on top of posix.

The FOPs go to posix and back in C; the observer sees each one afterwards, with its
arguments, its reply and its caller, on the bridge's observer thread. An observer that
blocks or raises delays and fails no FOP."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount
from glupy.testing.fixtures import posix_mount
from glupy.testing.translators import Observing


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("observer")


@pytest.fixture(scope="module")
def mount(state: Path) -> Iterator[FuseMount]:
    m = posix_mount(state, "observer", ("Observing", {"block": "5"}))
    try:
        yield m
    finally:
        m.unmount()


def observed(mount: FuseMount) -> list[list]:
    return json.loads(os.getxattr(mount.mountpoint, Observing.OBSERVED_XATTR).rstrip(b"\0"))


def wait_for(mount: FuseMount, entry: list, timeout: float = 5.0) -> list[list]:
    deadline = time.monotonic() + timeout
    while True:
        seen = observed(mount)
        if entry in seen or time.monotonic() > deadline:
            return seen
        time.sleep(0.02)


def client_log(mount: FuseMount) -> str:
    return mount.log_file.read_text(errors="replace") if mount.log_file else ""


def test_an_observer_sees_each_fop_its_reply_and_its_caller(mount: FuseMount) -> None:
    mp = mount.mountpoint
    pid, uid = os.getpid(), os.getuid()
    fd = os.open(mp / "new", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    assert os.write(fd, b"hello") == 5
    os.close(fd)
    assert os.stat(mp / "new").st_size == 5
    assert (mp / "new").read_bytes() == b"hello"  # the FOPs were answered as posix answered them
    with pytest.raises(FileNotFoundError):
        os.stat(mp / "missing")
    seen = wait_for(mount, ["lookup", "/missing", -1, errno.ENOENT, uid, pid])
    assert ["create", "/new", 0, 0, uid, pid] in seen, seen
    assert ["writev", [0, 5], 5, 0, uid, pid] in seen, seen
    assert ["lookup", "/missing", -1, errno.ENOENT, uid, pid] in seen, seen  # failures are observed too
    # in the order the replies came
    assert seen.index(["create", "/new", 0, 0, uid, pid]) < seen.index(["writev", [0, 5], 5, 0, uid, pid])


def test_an_observer_that_blocks_delays_no_fop(mount: FuseMount) -> None:
    mp = mount.mountpoint
    (mp / "other").write_bytes(b"x")
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):
        os.stat(mp / "block-1")  # its observer sleeps 5 s
    assert time.monotonic() - started < 1.0
    slowest = 0.0
    for _ in range(20):  # meanwhile: the FOPs of this client go on
        t = time.monotonic()
        os.stat(mp / "other")
        (mp / "other").read_bytes()
        slowest = max(slowest, time.monotonic() - t)
    assert slowest < 1.0, slowest
    assert time.monotonic() - started < 4.0  # all of that while the observer still slept
    # a stuck observer keeps its thread, not the others: later observations are seen
    # (on another observer thread, after about 1 s) while it still sleeps
    fd = os.open(mp / "while-blocked", os.O_CREAT | os.O_WRONLY, 0o644)
    os.close(fd)
    entry = ["create", "/while-blocked", 0, 0, os.getuid(), os.getpid()]
    assert entry in wait_for(mount, entry, timeout=3.0)
    assert time.monotonic() - started < 4.5
    # and the sleeping one is seen once it wakes
    seen = wait_for(mount, ["lookup", "/block-1", -1, errno.ENOENT, os.getuid(), os.getpid()], timeout=10)
    assert ["lookup", "/block-1", -1, errno.ENOENT, os.getuid(), os.getpid()] in seen


def test_an_observer_that_raises_is_logged_and_fails_nothing(mount: FuseMount) -> None:
    mp = mount.mountpoint
    for i in range(30):
        with pytest.raises(FileNotFoundError):
            os.stat(mp / f"raise-{i}")
    (mp / "after").write_bytes(b"fine")
    assert (mp / "after").read_bytes() == b"fine"
    deadline = time.monotonic() + 5
    while "observer fails by design" not in client_log(mount) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = client_log(mount)
    assert "observer lookup failed" in log and "observer fails by design on raise-0" in log
    assert log.count("observer fails by design") < 30  # rate-limited
    assert "signal received" not in log
    os.kill(mount.pid, 0)  # the client lives


def observer_threads(pid: int) -> int:
    tasks = Path(f"/proc/{pid}/task")
    return sum((t / "comm").read_text().strip() == "glupy-observe" for t in tasks.iterdir())


def test_contexts_that_never_end_hold_only_their_translators_line(state: Path) -> None:
    """A context whose __del__ never returns holds the thread that runs it. One
    translator's contexts take at most 4 of those threads (then its own later releases
    wait); the observers of another translator of the process go on. The bridge before
    this rule gave each stuck release a thread, up to 16, and then stopped every
    translator's observers and releases for good (a sixth red-team session)."""
    (state / "stuck-brick").mkdir(exist_ok=True)
    (state / "stuck-brick" / "stuck-f").write_bytes(b"x")
    m = posix_mount(state, "stuck", ("StuckContexts", {}), ("Observing", {}), brick=state / "stuck-brick")
    try:
        mp = m.mountpoint
        for _ in range(8):  # eight releases whose __del__ never returns, queued at once
            os.close(os.open(mp / "stuck-f", os.O_RDONLY))
        deadline = time.monotonic() + 12
        entered = 0
        while time.monotonic() < deadline and entered < 8:
            entered = int(os.getxattr(mp, "glupy.stuck").rstrip(b"\0"))
            if entered == 4 and observer_threads(m.pid) == 5:
                time.sleep(2.5)  # two more stuck seconds: no fifth thread for it
                entered = int(os.getxattr(mp, "glupy.stuck").rstrip(b"\0"))
                break
            time.sleep(0.1)
        assert entered == 4, f"{entered} of the 8 never-ending __del__ started"
        assert observer_threads(m.pid) == 5  # its 4, and one for everyone else
        fd = os.open(mp / "after-the-jam", os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        entry = ["create", "/after-the-jam", 0, 0, os.getuid(), os.getpid()]
        assert entry in wait_for(m, entry, timeout=5.0)  # the other translator's observer goes on
        log = m.log_file.read_text(errors="replace")
        assert "an observer or a context release has run for" in log
        assert "that translator's next ones wait" in log
    finally:
        m.unmount()


def test_many_translators_with_contexts_that_never_end_stop_no_other(state: Path) -> None:
    """Twenty translators whose contexts' __del__ never returns, 4 each (80 stuck items,
    more than 64 threads), below another translator's observer: its observations are
    seen within seconds. The bridge before counted every translator's stuck threads
    against one cap of 64 (then every line waited: the create was never seen) and served
    the lines in turn, a second per stuck translator (an eighth red-team session: 7 s
    with four of them, 55 s with sixteen)."""
    brick = state / "manystuck-brick"
    brick.mkdir(exist_ok=True)
    (brick / "stuck-f").write_bytes(b"x")
    m = posix_mount(state, "manystuck", *[("StuckContexts", {})] * 20, ("Observing", {}), brick=brick)
    try:
        mp = m.mountpoint
        for _ in range(4):  # each of the 20 gets 4 releases whose __del__ never returns
            os.close(os.open(mp / "stuck-f", os.O_RDONLY))
        time.sleep(0.5)
        for name in ("during-the-jam", "after-the-jam"):
            started = time.monotonic()
            os.close(os.open(mp / name, os.O_CREAT | os.O_WRONLY, 0o644))
            entry = ["create", f"/{name}", 0, 0, os.getuid(), os.getpid()]
            seen = wait_for(m, entry, timeout=8.0)
            took = time.monotonic() - started
            assert entry in seen, f"{name} not seen after {took:.1f} s ({observer_threads(m.pid)} observer threads)"
            deadline = time.monotonic() + 60
            while observer_threads(m.pid) <= 64 and time.monotonic() < deadline:
                time.sleep(0.2)  # until the stuck ones hold more threads than the old cap
            assert observer_threads(m.pid) > 64
    finally:
        m.unmount()
