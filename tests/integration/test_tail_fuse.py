"""Tail calls inside GlusterFS: a handler returning ``self.child.<fop>(...)`` unawaited
passes the FOP on and the child's reply goes back to the caller in C. A FUSE client over a
local posix directory (no glusterd) with glupy.testing.translators:TailPassthrough (every
FOP so) or TailMistakes (wrong tail calls) on top of posix."""

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
from glupy.translators.passthrough import COUNTS_XATTR


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tail")


@pytest.fixture
def mounted(state: Path) -> Iterator:
    made: list[FuseMount] = []

    def mount(label: str, cls: str) -> FuseMount:
        m = posix_mount(state, label, (cls, {}), brick=state / f"brick-{label}")
        made.append(m)
        return m

    yield mount
    for m in made:
        m.unmount()


def test_every_fop_passed_on_by_a_tail_call(mounted) -> None:
    m = mounted("tail", "TailPassthrough")
    mp = m.mountpoint
    (mp / "d").mkdir()
    (mp / "d" / "f").write_bytes(b"hello")
    os.setxattr(mp / "d" / "f", "user.k", b"v")
    assert os.getxattr(mp / "d" / "f", "user.k") == b"v"
    os.rename(mp / "d" / "f", mp / "d" / "g")
    assert sorted(os.listdir(mp / "d")) == ["g"]
    assert (mp / "d" / "g").read_bytes() == b"hello" and os.stat(mp / "d" / "g").st_size == 5
    with pytest.raises(FileNotFoundError):
        os.stat(mp / "missing")  # the child's failure goes back as it is
    os.truncate(mp / "d" / "g", 2)
    assert (mp / "d" / "g").read_bytes() == b"he"
    os.unlink(mp / "d" / "g")
    os.rmdir(mp / "d")
    counts = json.loads(os.getxattr(mp, COUNTS_XATTR).rstrip(b"\0"))
    for fop in ("mkdir", "create", "writev", "setxattr", "rename", "readdirp", "readv", "unlink", "rmdir"):
        assert counts.get(fop, 0) >= 1, (fop, counts)  # each entered Python
    os.kill(m.pid, 0)


def test_wrong_tail_calls_are_answered_eio_and_logged(mounted) -> None:
    m = mounted("mistakes", "TailMistakes")
    mp = m.mountpoint
    (m.mountpoint / "f").write_bytes(b"x")
    for name in ("other-1", "owner-1", "badarg-1"):
        with pytest.raises(OSError) as info:
            os.stat(mp / name)
        assert info.value.errno == errno.EIO, name
    with pytest.raises(FileNotFoundError):
        os.stat(mp / "missing")
    assert (mp / "f").read_bytes() == b"x"
    log = m.log_file.read_text(errors="replace")
    assert "must be the same FOP" in log and "lk_owner needs await" in log and "lookup() argument loc" in log
    assert "signal received" not in log
    os.kill(m.pid, 0)


@pytest.mark.parametrize("below", ["posix", "io-threads"])
def test_return_await_replies_are_checked_as_answers_from_python(state: Path, below: str) -> None:
    # AwaitMistakes' lookup only ever does `return await`: its replies may go back in C,
    # but one that is not the request's (the lookup of another name) is still EIO. Through
    # io-threads the reply comes on another thread, mostly after the handler has ended
    # (the FOP was passed on): Python answers it then.
    stack = [("performance/io-threads", {})] if below == "io-threads" else []
    m = posix_mount(state, f"await-mistakes-{below}", *stack, ("AwaitMistakes", {}),
                    brick=state / f"brick-await-mistakes-{below}")
    try:
        mp = m.mountpoint
        (mp / "crossed-1").write_bytes(b"2")  # before `first` is known: passed on
        (mp / "first").write_bytes(b"1")
        os.stat(mp / "first")
        for _ in range(5):
            with pytest.raises(OSError) as info:
                os.stat(mp / "crossed-1")
            assert info.value.errno == errno.EIO
        with pytest.raises(FileNotFoundError):
            os.stat(mp / "missing")  # an error reply goes back as the child gave it
        assert (mp / "first").read_bytes() == b"1"
        log = m.log_file.read_text(errors="replace")
        assert "is not the inode of the request's loc" in log
        assert "signal received" not in log
        os.kill(m.pid, 0)
    finally:
        m.unmount()


def test_return_await_coroutines_are_finished_with_no_fop_coming(state: Path) -> None:
    # The replies come on io-threads' threads and go to the caller in C there; each
    # handler's coroutine is finished by the worker that wound it (native/task.c: "tail
    # awaits"). Once the FOPs stop, none may be left waiting (and what they hold).
    files = state / "finish-probe"
    m = posix_mount(state, "finish", ("performance/io-threads", {}),
                    ("FinishedCoroutines", {"files": str(files)}))
    try:
        for _ in range(300):
            os.stat(m.mountpoint / "f")
        started = Path(f"{files}.started").stat().st_size
        finished = Path(f"{files}.finished")
        deadline = time.monotonic() + 3
        while finished.stat().st_size < started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started >= 300 and finished.stat().st_size == started, (started, finished.stat().st_size)
        assert "signal received" not in m.log_file.read_text(errors="replace")
    finally:
        m.unmount()


def test_return_await_passes_the_fop_on_and_its_handler_ends_at_once(state: Path) -> None:
    # FinishedCoroutines' stat is a `return await` of its own FOP's wind: once wound, the
    # FOP is the child's (as after a tail call) and the handler is finished at once. Its
    # child answers 3 s later: meanwhile nothing of the handler is left, and its own
    # fop-timeout of 1 s does not apply (the child's does). The bridge before kept the
    # coroutine until the reply (for ever, if none came) and answered ETIMEDOUT at 1 s.
    files = state / "passed-probe"
    brick = state / "brick-passed"
    brick.mkdir()
    (brick / "slow-f").write_bytes(b"12345")
    m = posix_mount(state, "passed", ("SlowStat", {"seconds": "3"}),
                    ("FinishedCoroutines", {"files": str(files), "fop-timeout": "1"}), brick=brick)
    try:
        os.stat(m.mountpoint / "slow-f")  # (the first lookups, and a first slow stat)
        started, finished = Path(f"{files}.started"), Path(f"{files}.finished")
        before = started.stat().st_size
        result: dict = {}

        def stat() -> None:
            t = time.monotonic()
            try:
                result["size"] = os.stat(m.mountpoint / "slow-f").st_size
            except OSError as e:
                result["errno"] = e.errno
            result["seconds"] = time.monotonic() - t

        worker = threading.Thread(target=stat)
        worker.start()
        time.sleep(1.5)  # the child still waits
        assert started.stat().st_size > before
        assert finished.stat().st_size == started.stat().st_size  # every handler ended already
        worker.join(10)
        assert result.get("size") == 5, result  # the child's answer, after its 3 s
        assert result["seconds"] >= 2.5
        assert "signal received" not in m.log_file.read_text(errors="replace")
    finally:
        m.unmount()
