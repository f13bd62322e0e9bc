"""Misbehaving translators of a seventh red-team session (glupy.testing.adversary3) on a
FUSE client over storage/posix: the client keeps its PID and serves other FOPs.

* One handler's log call whose message's ``__str__`` blocks held the lock of the log
  handler every translator shares: every FOP that logged waited (4.5 s).
* A handler closed at its deadline runs its ``finally`` (a Future never set): one that
  blocked there held the thread that delivers HandlerTimedOut, and no handler or hook of
  the process was ever interrupted again (a spinning one burnt a core for good).
* A lock a translator took for itself, with an owner of its own, and leaked: a later
  FOP waiting for it had no deadline (lock waits stopped it) and hung for good.
* A handler hoarding memory in a loop had the OOM killer end the client.
* (An eighth session.) A handler answered at its deadline while it waited for logging's
  module lock got HandlerTimedOut right after taking it, before the ``try`` that
  releases it: every later FOP that logged waited for good.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from glupy.testing.fixtures import assert_alive, assert_others_served, posix_mount, stop_mount
from glupy.testing.workload import cpu_seconds, in_thread, rss_bytes, timed_getxattr, timed_stat

MODULE = "glupy.testing.adversary3"


# state (this module's directory), mounted(label, cls, **options) and needs_fuse: tests/integration/conftest.py
pytestmark = pytest.mark.usefixtures("needs_fuse")


def test_a_log_call_that_blocks_holds_no_other_fop(mounted: Any) -> None:
    m = mounted("slowlog", "SlowLogger", block="4")
    mp, pid = m.mountpoint, m.pid
    thread, out = in_thread(timed_getxattr, mp / "f", "user.slowlog")
    time.sleep(0.5)  # its __str__ blocks now, inside the log call
    assert_others_served(mp / "other", 3)  # each stat logs its lookup and stat
    thread.join(10)
    assert out["result"][1] == errno.ENODATA
    assert_alive(m, pid)


def test_a_finally_that_blocks_at_the_deadline_leaves_deadlines_working(mounted: Any) -> None:
    m = mounted("finblock", "BlockingFinally", fop_timeout="2")
    mp, pid = m.mountpoint, m.pid
    assert timed_getxattr(mp / "f", "user.finblock")[1] == errno.ETIMEDOUT  # its finally now sleeps
    time.sleep(0.5)
    assert timed_getxattr(mp / "f", "user.spin")[1] == errno.ETIMEDOUT
    time.sleep(1)  # HandlerTimedOut raised in it by then
    before = cpu_seconds(pid)
    time.sleep(4)
    assert cpu_seconds(pid) - before < 1.0  # not spinning on (4 s of CPU before)
    assert_others_served(mp / "other")
    assert_alive(m, pid)


def test_a_lock_the_translator_leaked_does_not_stop_the_deadline(state: Path) -> None:
    brick = state / "brick-leaker"
    brick.mkdir(exist_ok=True)
    (brick / "f").write_bytes(b"x")
    (brick / "other").write_bytes(b"x")
    m = posix_mount(state, "leaker", ("features/locks", {}), (f"{MODULE}:LockLeaker", {"fop-timeout": "2"}),
                    brick=brick)
    try:
        mp, pid = m.mountpoint, m.pid
        assert timed_getxattr(mp / "f", "user.take-1")[1] == errno.ENODATA  # taken, never released
        thread, out = in_thread(timed_getxattr, mp / "f", "user.take-2")  # waits for it
        thread.join(8)
        assert "result" in out, "a FOP waiting for a lock its translator leaked was never answered"
        seconds, err = out["result"]
        assert err == errno.ETIMEDOUT and seconds < 4, out
        assert_others_served(mp / "other")
        assert_alive(m, pid)
    finally:
        stop_mount(m)


@pytest.mark.parametrize("where", ["hoard", "hoard-on-thread", "hoard-on-loop"])
def test_a_handler_that_hoards_memory_gets_memoryerror(mounted: Any, where: str) -> None:
    """In the handler, in its glupy.to_thread call or in its coroutine on glupy.on_loop's
    event loop (which the memory watch did not reach before: an eighth red-team session's
    OOM kill)."""
    m = mounted(where, "Hoarder", memory_limit="300", fop_timeout="30")
    mp, pid = m.mountpoint, m.pid
    seconds, err = timed_getxattr(mp / "f", f"user.{where}")  # 3000 MiB unless stopped
    assert err == errno.EIO, (seconds, err)  # MemoryError in the handler (or raised into it)
    assert rss_bytes(pid) < 1500 << 20
    assert "over its limit of 300 MiB (option memory-limit)" in m.log_file.read_text(errors="replace")
    assert_others_served(mp / "other")
    assert_alive(m, pid)


def test_one_allocation_past_the_memory_limit_is_refused(mounted: Any) -> None:
    """`b"x" * (3000 << 20)` is one C call, which no exception raised into its thread can
    stop: the allocation itself is refused (MemoryError, EIO) as it would take the process
    past memory-limit (before: the client's memory rose to 3 GB; the watch's MemoryError,
    raised once the call had ended, made the getxattr EIO)."""
    m = mounted("hoard-one-call", "Hoarder", memory_limit="300")
    mp, pid = m.mountpoint, m.pid
    seconds, err = timed_getxattr(mp / "f", "user.hoard-one-call")
    assert err == errno.EIO, (seconds, err)  # (the watch's MemoryError, raised once the call ended, too)
    status = Path(f"/proc/{pid}/status").read_text()
    peak = 1024 * next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    assert peak < 1500 << 20, f"the client's resident memory reached {peak >> 20} MiB"
    assert "MemoryError" in m.log_file.read_text(errors="replace")
    assert_others_served(mp / "other")
    assert_alive(m, pid)


def test_a_thread_a_translator_starts_that_hoards_memory_gets_memoryerror(mounted: Any) -> None:
    """A handler starts a thread that hoards and returns: the thread computes, so it gets
    MemoryError (before: it allocated its 3000 MiB, as a hoarder of a bigger cap would have
    until the OOM killer ended the client); the translator's other thread, waiting in a
    loop all along, gets nothing."""
    m = mounted("hoard-own-thread", "Hoarder", memory_limit="300")
    mp, pid = m.mountpoint, m.pid
    assert os.getxattr(mp / "f", "user.hoard-own-thread").rstrip(b"\0") == b"started"
    deadline = time.monotonic() + 60
    while (outcome := os.getxattr(mp / "f", "user.hoard-outcome").rstrip(b"\0").decode()).startswith("running"):
        assert time.monotonic() < deadline, outcome
        time.sleep(0.2)
    assert outcome == "MemoryError waiting", outcome
    assert rss_bytes(pid) < 1500 << 20
    assert "over its limit of 300 MiB (option memory-limit)" in m.log_file.read_text(errors="replace")
    assert_others_served(mp / "other")
    assert_alive(m, pid)


def test_a_deadline_inside_loggings_lock_does_not_keep_it(state: Path) -> None:
    brick = state / "brick-logging-lock"
    brick.mkdir(exist_ok=True)
    for name in ("f", "g"):
        (brick / name).write_bytes(b"1")
    m = posix_mount(state, "logging-lock", (f"{MODULE}:LogsEveryStat", {"fop-timeout": "2"}),
                    (f"{MODULE}:HoldsLoggingLock", {"block": "4"}), brick=brick)
    try:
        mp, pid = m.mountpoint, m.pid
        assert timed_stat(mp / "f")[1] == 0
        holder, _ = in_thread(timed_getxattr, mp / "g", "user.slowlogger")
        time.sleep(0.3)
        waiting = [in_thread(timed_stat, mp / "f") for _ in range(2)]  # wait for the lock past 2 s
        holder.join(10)
        for thread, _ in waiting:
            thread.join(10)
        time.sleep(3)
        after = [timed_stat(mp / "f") for _ in range(3)]
        assert all(err == 0 for _, err in after) and max(t for t, _ in after) < 1.0, after
        assert_alive(m, pid)
    finally:
        stop_mount(m)


def _fds(pid: int) -> dict[int, str]:
    """The open fds of process `pid` and what each refers to."""
    found = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed since
            continue
    return found


def _meddle(path: Path, what: str) -> str:
    return os.getxattr(path, f"user.meddle-{what}").rstrip(b"\0").decode()


def test_process_wide_changes_from_handlers_are_refused(mounted: Any) -> None:
    """A ninth red-team session changed the process from handlers, each time for every FOP
    of the client: unblocked signals on a worker took GlusterFS's next SIGUSR2 after a
    statedump (the process ended); a lowered RLIMIT_CPU killed it; setuid, chroot and
    umask broke every FOP (ENODATA, ESTALE, files of mode 000); closerange and dup2 closed
    or replaced /dev/fuse (the process ended); a NaN sleep spun the timers' thread and held
    every glupy.sleep; a replaced os._exit let a forked child live on. Each is refused (or
    ended) now, and the client serves as before. Also refused: os.close of the process's
    own fds, closerange written out as a loop (it closed posix's .glusterfs directories of
    this client's brick: every create EBADF)."""
    m = mounted("meddle", "ProcessMeddler")
    mp, pid = m.mountpoint, m.pid
    (mp / "f").write_bytes(b"x")
    assert _meddle(mp / "f", "sigmask") == "SIGHUP,SIGTERM,SIGUSR1,SIGUSR2"  # (GlusterFS leaves INT unblocked)
    for what in ("setuid", "chroot", "umask", "rlimit-cpu", "rlimit-as", "closerange", "dup2"):
        assert _meddle(mp / "f", what) == "refused:PermissionError", what
    assert _meddle(mp / "f", "nan-sleep") == "refused:ValueError"
    assert _meddle(mp / "f", "recursion") == "thread:RecursionError,handler:RecursionError"  # (before: a crash)
    assert _meddle(mp / "f", "switch-interval") == "0.005"  # (100 s: a spinning handler held the GIL that long)
    assert _meddle(mp / "f", "fork") == "child:70"
    before = _fds(pid)
    for what in ("close-all", "fdopen-all"):  # os.close of every fd (closerange written out), os.fdopen's close
        thread, out = in_thread(_meddle, mp / "f", what)
        thread.join(30)  # (a closed /dev/fuse: the answer never comes)
        assert "result" in out, f"{what}: no answer in 30 s"
        assert set(before.items()) <= set(_fds(pid).items()), f"{what}: an fd of the process's own was closed"
    # GlusterFS's own signals still reach GlusterFS's thread: a statedump and a SIGUSR2 at once
    dumps = set(Path("/var/run/gluster").glob(f"glusterdump.{pid}.dump.*"))
    try:
        for _ in range(5):
            os.kill(pid, signal.SIGUSR1)
            os.kill(pid, signal.SIGUSR2)
            time.sleep(0.1)
        time.sleep(1)
    finally:
        for dump in set(Path("/var/run/gluster").glob(f"glusterdump.{pid}.dump.*")) - dumps:
            dump.unlink(missing_ok=True)
    # and the process is as it was for every FOP
    made = mp / "made"
    made.write_bytes(b"new")
    ours = os.umask(0)
    os.umask(ours)
    assert os.stat(made).st_mode & 0o777 == 0o666 & ~ours  # (a changed umask made it 000)
    assert made.read_bytes() == b"new" and os.stat(mp / "f").st_uid == os.getuid()
    assert_others_served(mp / "f")
    assert_alive(m, pid)


def test_a_listing_far_bigger_than_any_caller_asks_for_is_refused(mounted: Any) -> None:
    """HugeListing answers readdirp of huge/ with 15,000 entries of 200-byte names (about 7 MB
    counted as posix counts them): the listing fails with EIO instead (a brick's reply of
    60,000 such entries ended every FUSE client that listed the directory); other
    directories list as before and the client lives."""
    m = mounted("hugelist", "HugeListing")
    mp, pid = m.mountpoint, m.pid
    for name in ("huge", "small"):
        (mp / name).mkdir()
        for i in range(3):
            (mp / name / f"f{i}").write_bytes(b"x")
    with pytest.raises(OSError) as info:
        os.listdir(mp / "huge")
    assert info.value.errno == errno.EIO
    assert sorted(os.listdir(mp / "small")) == ["f0", "f1", "f2"]
    assert "entries take about" in m.log_file.read_text(errors="replace")
    assert_alive(m, pid)
