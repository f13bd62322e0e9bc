"""A notify hook that is slow on every upcall does not stall its client.

protocol/client's epoll thread brings upcalls between the bricks' replies. A hook
that takes 50 ms on each, on a client whose files another client keeps changing,
held that thread for 50 ms per upcall: a burst of 100 upcalls left the mount's other
FOPs waiting seconds (a fifth red-team session measured over 5 s with a 0.3 s hook).
The bridge now waits for upcall hooks only within a share of that thread's time;
the other upcalls go on at once and reach the hook later, every one, in order.

Real GlusterFS: a volume with ``features.cache-invalidation`` (the bricks send
upcalls), a client with two Probes (a quick one below, counting what arrives, and a
slow one above it), and a plain client that changes the files.
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
from glupy.testing.fixtures import bridge_under_test
from glupy.testing.translators import STATS_XATTR
from glupy.testing.workload import timed_stat

SLOW = 0.05  # seconds the slow hook takes on every upcall
FILES = 100
QUICK_XATTR = "glupy.test.stats.quick"
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
        state = gluster_state_dir / "slow-notify-clients"
        state.mkdir(exist_ok=True)
        graph = Volfile.read(vol.client_volfile())
        md_cache = graph.find_type("performance/md-cache")[0]
        graph.insert_above(md_cache.subvolumes[0], glupy_xlator("quick", "glupy.testing.translators:Probe",
                                                                {"stats-xattr": QUICK_XATTR}, xlator_type=BRIDGE))
        graph.insert_above("quick", glupy_xlator("slow", "glupy.testing.translators:Probe",
                                                 {"upcall-seconds": str(SLOW)}, xlator_type=BRIDGE))
        graph.write(state / "slow.vol")
        Volfile.read(vol.client_volfile()).write(state / "plain.vol")
        for label in ("slow", "plain"):
            m = FuseMount.from_volfile(state / f"{label}.vol", gluster_state_dir / "mnt" / f"slow-notify-{label}",
                                       log_file=state / f"{label}.log", extra_args=MOUNT_ARGS)
            m.mount()
            made.append(m)
        yield made[0], made[1].mountpoint
    finally:
        logs = [m.log_tail(400) for m in made]
        for m in reversed(made):
            m.unmount()
        vol.delete()
        for log in logs:
            assert "signal received" not in log, log


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
    quick_before, slow_before = upcalls(busy, QUICK_XATTR), upcalls(busy, STATS_XATTR)

    churned = threading.Event()

    def churn() -> None:
        try:
            for round_ in range(3):
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
    sent = upcalls(busy, QUICK_XATTR) - quick_before
    assert sent >= FILES, f"the churn brought {sent} upcalls: too few to hold anything"
    assert all(err == 2 for _, err in stats), stats
    slowest = max(t for t, _ in stats)
    assert slowest < 1.0, (f"a stat took {slowest:.2f} s while {sent} upcalls came, {SLOW} s of hook each; "
                           f"{len(stats)} stats")
    # every upcall reaches the slow hook, later (the last ones SLOW seconds apart)
    deadline = time.monotonic() + 30 + sent * SLOW
    while time.monotonic() < deadline:
        seen = upcalls(busy, STATS_XATTR) - slow_before
        if seen >= upcalls(busy, QUICK_XATTR) - quick_before:
            break
        time.sleep(0.5)
    quick_after, slow_after = upcalls(busy, QUICK_XATTR), upcalls(busy, STATS_XATTR)
    assert slow_after - slow_before == quick_after - quick_before, (slow_after, quick_after)
    log = Path(busy.log_file).read_text()
    assert "goes on at once, unchanged, and the hook gets it later" in log
