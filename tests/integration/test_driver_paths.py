"""The bridge's own semantics in a real FUSE client over a local posix directory.

Every way a handler can leave the bridge's C fast path, and notify passing on
another event than it received.

The bridge drives the common path of a handler in C (native/task.c) and hands
the rest to the Python driver (glupy._driver.make_takeover). The unit tests run
the Python driver alone in the harness; this module checks the hand-over inside
GlusterFS: a FUSE client over a local posix directory (no glusterd needed) with
glupy.testing.translators:DriverPaths on top of posix.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount
from glupy.testing.fixtures import bridge_under_test, posix_mount
from glupy.testing.translators import LOOKUPS_XATTR, PATHS_XATTR, STATS_XATTR
from glupy.testing.workload import timed_stat


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("driver-paths")


@pytest.fixture(scope="module")
def mount(state: Path) -> Iterator[FuseMount]:
    m = posix_mount(state, "paths", ("DriverPaths", {}))
    try:
        yield m
    finally:
        m.unmount()


def ask(mount: FuseMount, case: str):
    return json.loads(os.getxattr(mount.mountpoint / "f", PATHS_XATTR + case))


def fails(mount: FuseMount, case: str) -> int:
    with pytest.raises(OSError) as info:
        os.getxattr(mount.mountpoint / "f", PATHS_XATTR + case)
    return info.value.errno


def test_paths_that_succeed(mount: FuseMount) -> None:
    assert ask(mount, "plain") == "plain"
    assert ask(mount, "gather") == [5, 5]
    assert ask(mount, "caught") == ["ENODATA", 5]
    assert ask(mount, "chain") == [5, 5, 5]
    assert ask(mount, "caller") == os.getpid()
    assert os.access(mount.mountpoint / "f", os.R_OK)  # a plain `def` handler


def test_paths_that_fail(mount: FuseMount) -> None:
    assert fails(mount, "raise-fop") == errno.EACCES
    assert fails(mount, "raise-bug") == errno.EIO
    assert fails(mount, "wrong") == errno.EIO
    assert fails(mount, "unknown-case") == errno.EINVAL
    # the client keeps serving, and the bug's traceback is in its log
    assert (mount.mountpoint / "f").read_bytes() == b"12345"
    log = Path(mount.log_file).read_text()
    assert "DriverPaths raise-bug by design" in log
    assert "expected GetxattrReply" in log


def test_a_handler_returning_none_where_a_reply_is_required_answers_eio(mount: FuseMount) -> None:
    # a successful getxattr must carry its dict: None is refused with a clear line
    assert fails(mount, "none") == errno.EIO
    assert "returned None, but a successful getxattr reply must carry dict" in Path(mount.log_file).read_text()
    assert (mount.mountpoint / "f").read_bytes() == b"12345"


def test_notify_can_pass_on_another_event(state: Path) -> None:
    m = posix_mount(state, "events", ("EventMap", {"events": "CHILD_UP=CHILD_DOWN"}), ("Probe", {}))
    try:
        events = json.loads(os.getxattr(m.mountpoint / "f", STATS_XATTR))["events"]
    finally:
        m.unmount()
    # posix said CHILD_UP; the Probe above EventMap heard CHILD_DOWN instead
    assert "CHILD_DOWN" in events and "CHILD_UP" not in events, events


def lookups(m: FuseMount) -> dict:
    return json.loads(os.getxattr(m.mountpoint / "f", LOOKUPS_XATTR))


def test_named_lookups_only_keeps_the_others_in_c(state: Path) -> None:
    # zero kernel timeouts: every stat of the root becomes a nameless lookup in FUSE
    m = posix_mount(state, "named", ("LookupFilters", {"named-only": "on"}))
    try:
        for _ in range(20):
            os.stat(m.mountpoint)
            os.stat(m.mountpoint / "f")
        (m.mountpoint / "g").write_bytes(b"x")
        seen = lookups(m)
    finally:
        m.unmount()
    assert seen["nameless"] == 0 and seen["named"] >= 1, seen


def test_fresh_lookups_only_keeps_revalidations_in_c(state: Path) -> None:
    m = posix_mount(state, "fresh", ("LookupFilters", {"fresh-only": "on"}))
    try:
        (state / "brick" / "fresh-name").write_bytes(b"x")  # not listed by the mount yet
        for _ in range(20):
            os.stat(m.mountpoint)
            os.stat(m.mountpoint / "fresh-name")  # only the first is fresh
        seen = lookups(m)
    finally:
        m.unmount()
    # FUSE's first resolution of a name may look it up twice before its inode is linked;
    # the other stats are revalidations
    assert seen["nameless"] == 0 and 1 <= seen["names"].count("fresh-name") <= 2, seen


def test_missing_names_are_answered_in_c(state: Path) -> None:
    brick = state / "brick"
    for name in ("ghost", "late"):
        (brick / name).write_bytes(b"on disk")
    # the table says ghost and made are missing (ten minutes), late only until the past
    m = posix_mount(state, "missing", ("LookupFilters", {"missing": "ghost,made", "expired": "late"}))
    try:
        report = lookups(m)
        assert report["selftest"] == [], report["selftest"]  # the C type behaves as its specification
        for _ in range(5):
            with pytest.raises(FileNotFoundError):  # though it is on disk: the bridge answered
                os.stat(m.mountpoint / "ghost")
        assert (m.mountpoint / "late").read_bytes() == b"on disk"  # expired: looked up for real
        # the create links an inode for "made" (the kernel's lookup before it was answered
        # from the table): the next lookup is a revalidation, which the bridge never
        # answers from the table (and drops the name from it)
        (m.mountpoint / "made").write_bytes(b"new")
        assert os.stat(m.mountpoint / "made").st_size == 3
        report = lookups(m)
    finally:
        m.unmount()
    assert "ghost" not in report["names"] and "late" in report["names"], report["names"]
    assert report["hits"] >= 5 and report["entries"] == 1, report  # only ghost is left


def _hammer_missing(root: str, names: list[str], seconds: float) -> int:
    """Stat names that are missing most of the time until `seconds` pass; how many stats."""
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for name in names:
            try:
                os.stat(os.path.join(root, name))
            except FileNotFoundError:
                pass
            count += 1
    return count


def test_negative_cache_under_concurrent_creates(state: Path) -> None:
    # A stress test of the C table against Python's invalidations: negative over posix,
    # two FUSE reader threads; while other processes probe the same names (mostly
    # answered from the table in C, without the GIL), this one creates and removes them
    # (Python drops and stores entries under the GIL). No crash, no deadlock (GIL vs the
    # table's mutex), both paths really taken, and this client's creates always visible.
    from concurrent.futures import ProcessPoolExecutor

    brick = state / "brick"
    brick.mkdir(exist_ok=True)
    lines = ["volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume",
             "volume neg", f"    type user/{bridge_under_test()}", "    option module glupy.translators.negative",
             "    option ttl 600", "    subvolumes posix", "end-volume"]
    vf = state / "neg-race.vol"
    vf.write_text("\n".join(lines) + "\n")
    m = FuseMount.from_volfile(vf, state / "mnt-neg-race", log_file=state / "neg-race-client.log",
                               extra_args=["--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0",
                                           "--reader-thread-count=2"])
    m.mount()
    try:
        root = m.mountpoint / "race"
        root.mkdir()
        names = [f"n{i}" for i in range(20)]
        with ProcessPoolExecutor(2) as pool:
            probes = [pool.submit(_hammer_missing, str(root), names, 6.0) for _ in range(2)]
            rounds = 0
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                for name in names:
                    p = root / name
                    p.write_bytes(b"x")
                    assert p.stat().st_size == 1, f"{name} created by this client but not visible"
                    p.unlink()
                    assert not p.exists()
                rounds += 1
            stats = sum(f.result() for f in probes)
        report = m.statedump().get("xlator.glupy.neg.priv", {})
    finally:
        m.unmount()
    assert rounds >= 3 and stats > 1000, (rounds, stats)
    assert int(report.get("hits", 0)) > 0 and int(report.get("invalidations", 0)) > 0, report
    assert "signal received" not in Path(m.log_file).read_text()



@pytest.mark.parametrize("kind", ["sleep", "spin"])
def test_a_blocked_handler_does_not_stall_other_fops(state: Path, kind: str) -> None:
    m = posix_mount(state, f"stalls-{kind}", ("Stalls", {"block": "5"}))
    try:
        mp = m.mountpoint
        (mp / "other").write_bytes(b"x")
        done: dict[str, tuple[float, int]] = {}
        blocked = threading.Thread(target=lambda: done.setdefault("blocked", timed_stat(mp / f"{kind}-1")))
        blocked.start()
        time.sleep(0.5)
        others = [timed_stat(mp / "other") for _ in range(5)]  # each a lookup through the same translator
        blocked.join(30)
        assert all(err == 0 for _, err in others)
        assert max(t for t, _ in others) < 1.0, others
        assert done["blocked"][0] >= 4.0  # it really blocked (and then answered: ENOENT, no such file)
        assert done["blocked"][1] == errno.ENOENT
    finally:
        m.unmount()


def test_a_blocking_release_hook_does_not_stall_other_fops(state: Path) -> None:
    """Closing a file whose release hook sleeps 5 s: the FOPs after it are served at once
    (the hook runs on a bridge worker, not on the FUSE reader thread that released the fd)."""
    m = posix_mount(state, "stalls-release", ("Stalls", {"block": "5"}))
    try:
        mp = m.mountpoint
        (mp / "other").write_bytes(b"x")
        (mp / "sleep-f").write_bytes(b"x")
        start = time.monotonic()
        with open(mp / "sleep-f", "rb") as f:
            f.read()
        closed = time.monotonic() - start
        time.sleep(0.2)  # the kernel sends RELEASE after close(2) returns
        others = [timed_stat(mp / "other") for _ in range(5)]
        assert all(err == 0 for _, err in others)
        assert max(t for t, _ in others) < 1.0, others
        assert closed < 10.0, closed  # the close itself may wait for its own hook, not for ever
        time.sleep(5)  # the hook has slept its time on a worker, and the client lives
        assert timed_stat(mp / "other")[1] == 0
    finally:
        m.unmount()


def test_a_blocking_notify_hook_does_not_hold_the_thread_that_brought_the_event(state: Path) -> None:
    """A notify hook that sleeps 20 s on every event (PARENT_UP, CHILD_UP while mounting):
    the first event goes on after the bridge's 1 s wait, so the mount comes up and serves at
    once (the hook sleeps on a bridge worker); while that hook still sleeps, the next event
    goes on at once and waits in line for the hook (a hook blocked for good cost the epoll
    thread a second per upcall, and a worker each)."""
    start = time.monotonic()
    m = posix_mount(state, "stalls-notify", ("Stalls", {"notify-block": "20"}))
    try:
        mounted = time.monotonic() - start
        others = [timed_stat(m.mountpoint / "f") for _ in range(5)]
        assert all(err == 0 for _, err in others)
        assert max(t for t, _ in others) < 1.0, others
        assert mounted < 15.0, mounted  # without the hand-over: 20 s for each event on the way up
        log = Path(m.log_file).read_text()
        assert log.count("still running after 1 s: the event goes on unchanged") == 1, log
        assert ("glupy: notify(5) goes on at once, unchanged, and the hook gets it later: earlier events wait "
                "for it") in log
    finally:
        m.unmount()


def test_a_handler_that_never_answers_gets_etimedout_and_its_stack_logged(state: Path) -> None:
    m = posix_mount(state, "stalls-hang", ("Stalls", {"fop-timeout": "1"}))
    try:
        seconds, err = timed_stat(m.mountpoint / "hang-1")
        assert err == errno.ETIMEDOUT
        assert 0.9 <= seconds < 5.0
        assert timed_stat(m.mountpoint / "f")[1] == 0  # and it keeps serving
        log = Path(m.log_file).read_text()
        assert "lookup: the handler did not answer within 1 s (option fop-timeout): answered ETIMEDOUT" in log
        assert "in lookup" in log and "translators.py" in log  # where it is stuck
    finally:
        m.unmount()


# Fixed bridge bug this guards (native: an Xdata's uuid.UUID value was set with is_static, so
# the dict kept a pointer into the setter's stack frame: a gfid-req set from Python went out as
# garbage and storage/posix refused the mkdir or create, "gfid is null"; a third red-team session)
def test_a_gfid_set_in_an_xdata_is_the_gfid_the_new_entry_gets(state: Path) -> None:
    from glupy.testing.translators import GfidChooser

    brick = state / "brick-gfids"
    m = posix_mount(state, "gfids", ("GfidChooser", {}), brick=brick)
    try:
        (m.mountpoint / "dir").mkdir()
        (m.mountpoint / "file").write_bytes(b"x")
        for name in ("dir", "file"):
            assert os.getxattr(brick / name, "trusted.gfid") == GfidChooser.chosen(name).bytes, name
        # the root's gfid for a new directory: refused in the handler (posix would move the
        # root's handle to it, and the volume would not start again)
        with pytest.raises(OSError) as refused:
            (m.mountpoint / "root-dir").mkdir()
        assert refused.value.errno == errno.EIO and not (brick / "root-dir").exists()
        (m.mountpoint / "dir2").mkdir()
        assert os.getxattr(brick, "trusted.gfid") == uuid.UUID(int=1).bytes
    finally:
        m.unmount()


# Fixed bridge bug this guards (native: only a leaf right below the translator was checked; a wind
# of a FOP storage/posix lacks, through any C translator passing it on, reached posix's missing
# child and crashed the process: a third red-team session ended bricks so from a client)
@pytest.mark.parametrize("between", ["performance/io-threads", "features/access-control"])
def test_winds_of_fops_no_translator_below_implements_are_answered_enosys(state: Path, between: str) -> None:
    m = posix_mount(state, f"lacking-{between.rpartition('/')[2]}", (between, {}), ("FopDriver", {}))
    try:
        f = m.mountpoint / "f"
        pid = m.pid
        for fop in ("namelink", "icreate", "getspec", "getactivelk", "setactivelk"):
            os.setxattr(f, "glupy.test.drive", fop.encode())
        results = json.loads(os.getxattr(f, "glupy.test.drive.result"))
        assert {fop: r.get("error") for fop, r in results.items()} == {
            fop: "ENOSYS" for fop in ("namelink", "icreate", "getspec", "getactivelk", "setactivelk")}, results
        assert m.pid == pid and timed_stat(f)[1] == 0
    finally:
        m.unmount()
