"""Adversarial translators on real GlusterFS (issue 11), beyond test_hostile and the chaos suite.

The translators are in glupy.testing.adversary. Each test makes one FOP (or one event)
misbehave and checks the contract: the glusterfs process keeps its PID, is not a
zombie and logs no crash, other FOPs of the same client are served in well under a
second, and the bad FOP is answered with an errno within its fop-timeout.

The tests under "bridge bugs found" each crashed the process before the fix their
docstring names.

FUSE clients over a local storage/posix (no glusterd), as test_hostile mounts them; the
brick-side test runs a glusterd of this module's own (node 27, 127.1.1.27, brick ports
26700-26799: no other module uses them).
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume, xlators
from glupy.gluster._proc import pid_alive
from glupy.testing.fixtures import assert_alive, assert_others_served, crash_lines, stop_mount
from glupy.testing.workload import log_lines, timed_getxattr, timed_stat

MODULE = "glupy.testing.adversary"
NAME = "gpadversary"  # the brick-side translator's name (user.xlator.NAME)
NODE_INDEX, NODE_PORTS = 27, (26700, 26799)


# state (this module's directory), mounted(label, cls, **options) and needs_fuse: tests/integration/conftest.py
pytestmark = pytest.mark.usefixtures("needs_fuse")


# ------------------------------------------------------------------ what holds


def test_handlers_that_are_not_async_methods(mounted: Any) -> None:
    """OddHandlers: a descriptor object, a staticmethod, a class, a functools.partial from
    a property, a lambda from a property answering another FOP's reply, an object that
    quacks like a coroutine (junk yields, swallows throws, close() raises), a property
    that raises, a handler replaced per instance in init, an async generator, a
    generator yielding two winds, __getattr__ on the class, __init__ without super():
    each FOP answered (a result or an errno), the client lives and serves others."""
    m = mounted("odd", "OddHandlers", fop_timeout="4")
    mp, pid = m.mountpoint, m.pid
    assert timed_stat(mp / "other")[1] == 0  # the descriptor's coroutine winds the stat
    took, err = timed_stat(mp / "fake-1")
    assert err in (errno.EIO, errno.ETIMEDOUT, errno.ENOENT) and took < 10.0, (took, err)
    assert_others_served(mp / "other")
    assert timed_stat(mp / "property-1")[1] == errno.EIO
    assert os.statvfs(mp).f_bsize > 0  # the partial from a property
    with pytest.raises(OSError) as e:
        os.readlink(mp / "other")  # a staticmethod: arguments shifted
    assert e.value.errno in (errno.EIO, errno.EINVAL)
    with pytest.raises(OSError) as e:
        os.listdir(mp / "d")  # opendir answered with a stat's reply
    assert e.value.errno == errno.EIO
    assert timed_getxattr(mp / "other", "user.nothing")[1] == errno.ENODATA  # the per-instance lambda
    for cmd in (["setfattr", "-n", "user.a", "-v", "1", str(mp / "other")],
                ["setfattr", "-x", "user.a", str(mp / "other")]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        assert done.returncode != 0 or not done.stderr, done.stderr  # answered, one way or the other
    assert_others_served(mp / "g")
    assert_alive(m, pid)


def test_handlers_that_tamper_with_glupy_internals(mounted: Any) -> None:
    """Internals: self.child / self.children / self.name / self.log / self._glupy_xlator /
    option values replaced with junk, the private _glupy.unwind called on the handler's own
    frame (then a reply returned too), the frame's coroutine replaced by a decoy whose
    close() blocks, 80 blocking calls handed to the private _glupy.submit: each getxattr
    answered within its deadline, other FOPs served, the client lives."""
    m = mounted("internals", "Internals", fop_timeout="3", stall="10")
    mp, pid = m.mountpoint, m.pid
    f = mp / "other"
    for step in ("child-junk", "x", "child-back", "children-junk", "x", "child-back", "name-hash", "name-hash",
                 "child-back", "log-junk", "x", "child-back", "xlator-junk", "child-back", "values-junk", "x",
                 "child-back", "unwind-direct", "unwind-junk", "coro-decoy", "coro-decoy", "x"):
        took, err = timed_getxattr(f, f"user.{step}")
        assert err != 0 and took < 4.5, (step, took, err)
        assert_others_served(mp / "g", 2)
        assert_alive(m, pid)
    assert timed_getxattr(f, "user.submit-block")[1] == errno.ENODATA
    assert_others_served(mp / "g", 2)  # lookups stay in C: no worker needed
    took, err = timed_getxattr(f, "user.x")  # needs a worker: the pool grows past the blocked ones
    assert err == errno.ENODATA and took < 3.5, (took, err)
    assert_alive(m, pid)


# ------------------------------------------------------------------ bridge bugs found


@pytest.mark.parametrize("how", ["selfwind", "selftail"])
def test_winding_to_its_own_xlator(mounted: Any, how: str) -> None:
    """A wind or tail call to the translator's own xlator recursed in C on a worker until the
    stack overflowed (SIGSEGV, a zombie client, nothing logged); task.c gp_child_xl now
    refuses a wind to anything but a child: TypeError in the handler, EIO."""
    m = mounted(f"self-{how}", "SelfWinder", fop_timeout="3")
    mp, pid = m.mountpoint, m.pid
    assert timed_stat(mp / "other")[1] == 0
    took, err = timed_stat(mp / f"{how}-1")
    time.sleep(0.3)
    assert_alive(m, pid)
    assert err == errno.EIO and took < 1.0, (took, err)
    assert_others_served(mp / "other")


@pytest.mark.parametrize("turn", [1, 19])
def test_notify_turning_child_up_into_another_kind_of_event(mounted: Any, turn: int) -> None:
    """CHILD_UP turned into PARENT_UP (1), which posix answers with CHILD_UP...: endless
    recursion at start-up (SIGSEGV); into UPCALL (19), with the child's xlator as the
    upcall's data: the mount hung. bridge.c gp_event_family: only an event going the same
    way with the same data may replace one; these are refused (logged), CHILD_UP goes on."""
    m = mounted(f"twist-{turn}", "EventTwister", turn=str(turn))
    assert_alive(m, m.pid)
    assert timed_stat(m.mountpoint / "other")[1] == 0
    assert log_lines(m.log_file, f"answered event 5 with {turn}, which cannot replace it"), \
        log_lines(m.log_file, "notify")


FORGED_FOPS = ("stat lookup access readlink truncate open opendir mkdir mknod create symlink unlink rmdir link rename "
               "setxattr getxattr removexattr setattr statfs xattrop inodelk entrylk").split()
FORGED_VARIANTS = ("empty", "path", "entry", "wrong")
#: (fop, variant) winds with a hand-made Loc that crashed storage/posix below the translator
FORGED_CRASHES = {("lookup", "entry"), ("unlink", "entry"), ("rename", "entry"), ("xattrop", "empty"),
                  ("xattrop", "path"), ("xattrop", "entry"), ("xattrop", "wrong")}


def test_winds_with_hand_made_locs_that_posix_survives(mounted: Any) -> None:
    """LocForger: every FOP that takes a Loc, wound to storage/posix with a Loc built by hand
    (glupy.Loc(): nothing; a path only; a parent gfid and a name without inodes; the path of
    one file with the inode of another), except the combinations in FORGED_CRASHES: each
    wind answered (an error the handler sees), the client lives."""
    m = mounted("forge", "LocForger", fop_timeout="3")
    mp, pid = m.mountpoint, m.pid
    for fop in FORGED_FOPS:
        for variant in FORGED_VARIANTS:
            if (fop, variant) in FORGED_CRASHES:
                continue
            took, err = timed_getxattr(mp / "other", f"user.forge-{fop}-{variant}")
            assert err == errno.ENODATA and took < 3.5, (fop, variant, took, err)
            assert_alive(m, pid)
    assert_others_served(mp / "g")


@pytest.mark.parametrize("fop,variant", sorted(FORGED_CRASHES))
def test_winds_with_hand_made_locs_that_crash_posix(mounted: Any, fop: str, variant: str) -> None:
    """Hand-made Locs without the inode (and parent) GlusterFS's callers always set crashed
    storage/posix (lookup/unlink/rename: uuid_is_null on a NULL inode); the generated winders
    now check them (types.c gp_loc_check, from fop_table.ENTRY_LOCS): the handler gets a
    ValueError and answers ENODATA."""
    m = mounted(f"forge-{fop}-{variant}", "LocForger", fop_timeout="3")
    mp, pid = m.mountpoint, m.pid
    took, err = timed_getxattr(mp / "other", f"user.forge-{fop}-{variant}")
    time.sleep(0.2)
    assert_alive(m, pid)
    assert err == errno.ENODATA and took < 3.5, (took, err)


# ------------------------------------------------------------------ on the bricks of a replica-2 volume


@pytest.fixture(scope="module")
def node(gluster_state_dir: Path) -> Iterator[GlusterNode]:
    """A glusterd of this module's own (127.1.1.27), with user/NAME.so loading the bridge."""
    made = not xlators.alias_path(NAME).exists()
    if made:
        xlators.ensure_alias(NAME)
    n = GlusterNode(gluster_state_dir / "adversary-node", NODE_INDEX, port_range=NODE_PORTS)
    n.start()
    try:
        yield n
    finally:
        n.stop()
        if made:
            xlators.remove_alias(NAME)


def test_a_brick_translator_winding_to_itself(node: GlusterNode, state: Path) -> None:
    """On the bricks as on a client: a lookup handler winding to its own xlator killed both
    bricks (stack overflow); now refused (EIO from both bricks)."""
    vol = Volume.create(node, "adv2", [node.brick("adv2", 0), node.brick("adv2", 1)], replica=2)
    m: FuseMount | None = None
    try:
        vol.set(f"user.xlator.{NAME}", "posix")
        vol.set(f"user.xlator.{NAME}.module", f"{MODULE}:SelfWinder")
        vol.set(f"user.xlator.{NAME}.fop-timeout", "3")
        vol.start()
        vol.wait_bricks_online()
        bricks = vol.brick_pids()
        assert len(bricks) == 2
        m = FuseMount.from_volume(vol, state / "mnt-adv2", log_file=state / "adv2-client.log")
        m.mount()
        mp = m.mountpoint
        (mp / "other").write_bytes(b"x")
        took, err = timed_stat(mp / "selfwind-1")
        time.sleep(0.5)
        assert all(pid_alive(pid) for pid in bricks.values()), "a brick died"
        assert vol.brick_pids() == bricks, "a brick restarted"
        for log in vol.brick_logs().values():
            assert not crash_lines(log), f"{log}: {crash_lines(log)[:3]}"
        assert err == errno.EIO and took < 2.0, (took, err)
        assert (mp / "other").read_bytes() == b"x"
    finally:
        if m is not None:
            stop_mount(m)
        if vol.exists():
            vol.delete(remove_bricks=True)
