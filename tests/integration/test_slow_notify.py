"""A notify hook that is slow on every upcall does not stall its client.

protocol/client's epoll thread brings upcalls between the bricks' replies. A hook
that takes 50 ms on each, on a client whose files another client keeps changing,
held that thread for 50 ms per upcall: a burst of 100 upcalls left the mount's other
FOPs waiting seconds (a fifth red-team session measured over 5 s with a 0.3 s hook).
The bridge now waits for upcall hooks only within a share of that thread's time (one
share for all the translators of the process); the other upcalls go on at once and reach
the hooks later, every one, in order.

Real GlusterFS: a volume with ``features.cache-invalidation`` (the bricks send
upcalls), a client with nine Probes (a quick one below, counting what arrives, and eight
slow ones above it), and a plain client that changes the files.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator
from glupy.testing.fixtures import bridge_under_test, mounts_with_and_without, unmount_checked
from glupy.testing.translators import STATS_XATTR
from glupy.testing.workload import timed_stat

SLOW = 0.05  # seconds the slow hook takes on every upcall
FILES = 100
QUICK_XATTR = "glupy.test.stats.quick"
# eight slow hooks stacked: the epoll thread's share of time for hooks is the process's, not each translator's
# (per translator, eight such translators held it 1.6 s of every second: stats took 4 s)
SLOW_NAMES = [f"slow-{i}" for i in range(1, 8)] + ["slow"]
SLOW_XATTRS = [f"{STATS_XATTR}.slow-{i}" for i in range(1, 8)] + [STATS_XATTR]
PACE = 20  # changes a second in the first round: each hook could keep up with them alone
BRIDGE = f"user/{bridge_under_test()}"
MOUNT_ARGS = ["--negative-timeout=0", "--entry-timeout=0", "--attribute-timeout=0"]


@pytest.fixture(scope="module")
def upcall_mounts(gluster_node: GlusterNode, gluster_state_dir: Path) -> Iterator[tuple[FuseMount, Path]]:
    """(the client with the slow hook, the plain client's mount point)."""
    vol = Volume.create(gluster_node, "slow-notify", [gluster_node.brick("slow-notify", 0)])
    made: list[FuseMount] = []
    try:
        vol.set_options({"features.cache-invalidation": "on", "features.cache-invalidation-timeout": "600"})
        vol.start()
        graph = Volfile.read(vol.client_volfile())
        md_cache = graph.find_type("performance/md-cache")[0]
        graph.insert_above(md_cache.subvolumes[0], glupy_xlator("quick", "glupy.testing.translators:Probe",
                                                                {"stats-xattr": QUICK_XATTR}, xlator_type=BRIDGE))
        below = "quick"
        for name, xattr in zip(SLOW_NAMES, SLOW_XATTRS):  # the top one answers STATS_XATTR
            graph.insert_above(below, glupy_xlator(name, "glupy.testing.translators:Probe",
                                                   {"upcall-seconds": str(SLOW), "stats-xattr": xattr},
                                                   xlator_type=BRIDGE))
            below = name
        made = mounts_with_and_without(vol, graph, gluster_state_dir / "slow-notify-clients",
                                       gluster_state_dir / "mnt", "slow-notify", MOUNT_ARGS)
        yield made[0], made[1].mountpoint
    finally:
        try:
            unmount_checked(made)
        finally:
            vol.delete()


def upcalls(mount: FuseMount, xattr: str) -> int:
    return len(json.loads(os.getxattr(mount.mountpoint, xattr)).get("upcalls", []))


def test_a_hook_slow_on_every_upcall_does_not_stall_the_client(upcall_mounts: tuple[FuseMount, Path]) -> None:
    busy, plain = upcall_mounts
    d = f"churn-{time.monotonic_ns()}"
    (plain / d).mkdir()
    names = [plain / d / f"f{i}" for i in range(FILES)]
    for path in names:
        path.write_bytes(b"x")
    for path in names:  # the busy client looks them up: the brick sends it upcalls when they change
        os.stat(busy.mountpoint / d / path.name)
    time.sleep(0.5)  # upcalls of the creates are in
    quick_before = upcalls(busy, QUICK_XATTR)
    slow_before = {x: upcalls(busy, x) for x in SLOW_XATTRS}

    churned = threading.Event()

    def churn() -> None:
        try:
            for path in names:  # paced: between upcalls each hook catches up, and the next is waited for
                os.utime(path, (1, 1))
                time.sleep(1 / PACE)
            for round_ in (2, 3):  # a burst: the hooks fall behind and get these later
                for path in names:
                    os.utime(path, (round_, round_))
        finally:
            churned.set()

    changer = threading.Thread(target=churn)
    changer.start()
    stats: list[tuple[float, int]] = []
    until = time.monotonic() + 60
    while not churned.is_set() and time.monotonic() < until:
        stats.append(timed_stat(busy.mountpoint / d / f"missing-{len(stats)}"))
    stats += [timed_stat(busy.mountpoint / d / f"after-{i}") for i in range(10)]
    changer.join(30)
    sent, last = upcalls(busy, QUICK_XATTR) - quick_before, -1
    while sent != last:  # the quick hook may get the last ones late too: until its count holds still
        time.sleep(0.5)
        sent, last = upcalls(busy, QUICK_XATTR) - quick_before, sent
    assert sent >= FILES, f"the churn brought {sent} upcalls: too few to hold anything"
    assert all(err == 2 for _, err in stats), stats
    slowest = max(t for t, _ in stats)
    assert slowest < 1.0, (f"a stat took {slowest:.2f} s while {sent} upcalls came, {SLOW} s of hook each; "
                           f"{len(stats)} stats")
    # every upcall reaches each slow hook, later (the last ones SLOW seconds apart)
    deadline = time.monotonic() + 30 + sent * SLOW
    while time.monotonic() < deadline:
        if all(upcalls(busy, x) - slow_before[x] >= sent for x in SLOW_XATTRS):
            break
        time.sleep(0.5)
    seen = {x: upcalls(busy, x) - slow_before[x] for x in SLOW_XATTRS}
    assert seen == {x: sent for x in SLOW_XATTRS}, (sent, seen)
    assert upcalls(busy, QUICK_XATTR) - quick_before == sent  # and no more came meanwhile
    log = Path(busy.log_file).read_text()
    assert "goes on at once, unchanged, and the hook gets it later" in log
