"""Misbehaving translators on a real replica-2 volume, on both bricks and on a FUSE client.

The safety contract of issue 11, checked where a user would meet it: glusterd,
two bricks (glusterfsd processes) with a glupy translator above posix, and a FUSE
client with one below its top.

* Chaos (glupy.testing.chaos) on both bricks and on the client, spoiling a share of
  the FOPs in every non-blocking way, under a mixed workload of system calls: every
  process keeps its PID, no log shows a crash, every call returns in time with a
  result or an errno, and once Chaos is disarmed the volume serves a clean file.
* Stalls (glupy.testing.translators) on both bricks and on the client: while one
  lookup blocks its handler for 5 s on every one of them, lookups of other names
  from the same client finish in well under a second.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pytest

from glupy.admin import build_client_graph, fetch_client_volfile
from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.testing.chaos import set_armed
from glupy.testing.workload import Run, crash_report, log_lines, release, supervise, timed_stat

NAME = "gpchaos"
SECONDS = float(os.environ.get("GLUPY_CHAOS_SECONDS", "20"))
OP_TIMEOUT = 15.0  # a system call taking longer is a stall
CHAOS = "glupy.testing.chaos:Chaos"


@pytest.fixture(scope="module")
def node(aliased_node: GlusterNode) -> GlusterNode:
    return aliased_node


def replica_volume(node: GlusterNode, name: str, module: str, options: dict[str, str]) -> Volume:
    """A started replica-2 volume whose bricks run `module` above posix with `options`."""
    vol = Volume.create(node, name, [node.brick(name, 0), node.brick(name, 1)], replica=2)
    vol.set(f"user.xlator.{NAME}", "posix")
    vol.set(f"user.xlator.{NAME}.module", module)
    for key, value in options.items():
        vol.set(f"user.xlator.{NAME}.{key}", value)
    vol.start()
    vol.wait_bricks_online()
    return vol


def client_with(node: GlusterNode, vol: Volume, state: Path, label: str, module: str,
                options: dict[str, str]) -> FuseMount:
    """A FUSE client of `vol` with `module` inserted below the top of its graph."""
    graph = fetch_client_volfile(node, vol.name)
    build_client_graph(graph, [(module, options)])
    volfile = state / f"{label}-client.vol"
    graph.write(volfile)
    m = FuseMount.from_volfile(volfile, state / "mnt" / label, log_file=state / "clients" / f"{label}.log")
    m.mount()
    return m


def all_logs(m: FuseMount, vol: Volume) -> list[Path]:
    return [Path(m.log_file), *vol.brick_logs().values()]


def crashed_logs(logs: list[Path]) -> list[str]:
    return [str(log) for log in logs if log_lines(log, "signal received")]


def test_chaos_on_both_bricks_and_the_client(node: GlusterNode, gluster_state_dir: Path) -> None:
    seed, rate = 20241205, 0.1
    options = {"seed": str(seed), "rate": str(rate), "armed": "off", "log-decisions": "on", "fop-timeout": "5"}
    vol = replica_volume(node, "chaos2", CHAOS, options)
    m: FuseMount | None = None
    run: Run | None = None
    try:
        bricks = vol.brick_pids()
        assert len(bricks) == 2
        m = client_with(node, vol, gluster_state_dir, "chaos2", CHAOS, {**options, "seed": str(seed + 1)})
        client = m.pid
        vol.set(f"user.xlator.{NAME}.armed", "on")  # reconfigured live on both bricks
        set_armed(m.mountpoint, True)
        watched = {"the client": client, **{f"brick {b.path}": pid for b, pid in bricks.items()}}
        run = supervise(m.mountpoint, seed, SECONDS, watched, OP_TIMEOUT)
        logs = all_logs(m, vol)
        context = f"calls {dict(run.calls)}; errnos {dict(run.errnos.most_common(8))}; logs {[str(p) for p in logs]}"
        assert run.crashed is None, f"{run.crashed} ({context})\n{crash_report(logs)}"
        assert not crashed_logs(logs), f"a process caught a signal ({context})\n{crash_report(logs)}"
        assert not run.stalls, f"system calls stalled ({context}):\n  " + "\n  ".join(run.stalls)
        assert not run.bad_failures, f"calls failed without an errno ({context}):\n  " + "\n  ".join(run.bad_failures[:20])
        assert vol.brick_pids() == bricks, "a brick restarted"
        assert m.pid == client
        # Chaos really spoiled FOPs on each side: its decisions are in every log
        for log in logs:
            assert log_lines(log, "chaos #"), f"no chaos decision in {log}"
        assert run.calls["ok"] > 0 and run.calls["errno"] > 0, context
        # disarmed everywhere, the volume serves a clean file end to end, on both bricks
        vol.set(f"user.xlator.{NAME}.armed", "off")
        set_armed(m.mountpoint, False)
        payload = b"after the chaos " * 4096
        (m.mountpoint / "clean").write_bytes(payload)
        assert (m.mountpoint / "clean").read_bytes() == payload
        for brick in vol.brick_pids():
            assert (brick.path / "clean").read_bytes() == payload
    finally:
        if m is not None:
            release(m, run)
        vol.delete()



def test_a_blocked_handler_on_bricks_and_client_stalls_nothing_else(node: GlusterNode,
                                                                    gluster_state_dir: Path) -> None:
    stalls = "glupy.testing.translators:Stalls"
    vol = replica_volume(node, "stalls2", stalls, {"block": "5"})
    m: FuseMount | None = None
    try:
        bricks = vol.brick_pids()
        m = client_with(node, vol, gluster_state_dir, "stalls2", stalls, {"block": "5"})
        (m.mountpoint / "other").write_bytes(b"x")
        (m.mountpoint / "d").mkdir()
        done: dict[str, tuple[float, int]] = {}
        blocked = threading.Thread(target=lambda: done.setdefault("blocked", timed_stat(m.mountpoint / "sleep-1")))
        blocked.start()
        time.sleep(0.5)
        # New names, each looked up through the client's translator and on both bricks'.
        # In another directory: the kernel itself holds the root directory's lock while it
        # looks up a new name there (FUSE without parallel directory operations), so a new
        # name in the root would wait for sleep-1 whatever glupy does.
        others = [timed_stat(m.mountpoint / "d" / f"new-{i}") for i in range(5)]
        others.append(timed_stat(m.mountpoint / "other"))  # and a known name next to the blocked one
        blocked.join(60)
        assert [err for _, err in others] == [errno.ENOENT] * 5 + [0], others
        assert max(t for t, _ in others) < 1.0, others
        # it really blocked, on the client and then on the bricks, and was then answered
        assert done["blocked"][0] >= 9.0 and done["blocked"][1] == errno.ENOENT, done
        assert vol.brick_pids() == bricks
    finally:
        if m is not None:
            m.unmount()
        vol.delete()
