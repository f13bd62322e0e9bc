"""Live reload: FOP latency on a busy volume while `glupy reload` switches the code.

One replica-2 volume with glupy.translators.passthrough on both bricks and one in
the FUSE client graph (attached as `glupy attach --side client` does: the volfile
filter), one FUSE mount, one process doing small-file operations on it without
pause (each a write of 4 KiB to one of 50 files, a read of it back and a stat;
every system call timed). First ``--reload-steady`` seconds of steady state, then
``--reload-count`` reloads of each side, bricks and client in turn
(admin.reload_translator, what `glupy reload` runs: a trial start, the option
change, then waiting for each brick, or the client, to log that it switched),
with a second of steady state between them. Reported: p50, p99 and the maximum of
the operations' latency in steady state and of those that started while a reload
of either side was under way, their ratio, how long a reload took, and the errors
(which must be none).

This benchmark runs its own glusterd on 127.1.1.16 (bricks on ports 28600-28699).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from glupy import admin
from glupy import volfile_filter as gfilter
from glupy.gluster import FuseMount, GlusterNode, Volume, xlators

from bench._common import run_alone, tear_down

VOLUME = "reloadbench"
NAME = "rbench"  # on the bricks
CLIENT_NAME = "rbench-client"  # in the client graph


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reload-count", type=int, default=8, help="reload benchmark: reloads of each side")
    parser.add_argument("--reload-steady", type=float, default=10.0, help="reload benchmark: steady seconds")
    parser.add_argument("--reload-node", type=int, default=16, help="reload benchmark: glusterd on 127.1.1.N")


class Workload(threading.Thread):
    """Small-file operations without pause; (start time, seconds) of every system call."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.samples: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def timed(self, fn, *args):
        t = time.monotonic()
        result = fn(*args)
        self.samples.append((t, time.monotonic() - t))
        return result

    def run(self) -> None:
        n = 0
        block = os.urandom(4096)
        while not self.stop.is_set():
            path = self.root / f"f{n % 50}"
            try:
                fd = self.timed(os.open, path, os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    self.timed(os.pwrite, fd, block, 0)
                    if self.timed(os.pread, fd, 4096, 0) != block:
                        self.errors.append(f"{path}: read back other data")
                finally:
                    self.timed(os.close, fd)
                self.timed(os.stat, path)
            except OSError as error:
                self.errors.append(f"{path}: {error}")
            n += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> None:
    count = getattr(args, "reload_count", 8)
    steady_s = getattr(args, "reload_steady", 10.0)
    state = Path(tempfile.mkdtemp(prefix="glupy-bench-reload-"))
    node = GlusterNode(state, getattr(args, "reload_node", 16), port_range=(28600, 28699))
    node.start()
    xlators.ensure_alias(NAME)
    had_filter = gfilter.filter_installed()
    mounts: list[FuseMount] = []
    try:
        vol = Volume.create(node, VOLUME, [node.brick(VOLUME, 0), node.brick(VOLUME, 1)], replica=2)
        vol.set(f"user.xlator.{NAME}", "posix")
        vol.set(f"user.xlator.{NAME}.module", "glupy.translators.passthrough")
        vol.start()
        admin.apply_attach(node, admin.plan_attach(node, VOLUME, "glupy.translators.passthrough",
                                                   name=CLIENT_NAME, side="client"))
        m = FuseMount.from_volume(vol, state / "mnt", log_file=state / "client.log")
        m.mount()
        mounts.append(m)
        if CLIENT_NAME not in m.graph_xlators():
            raise RuntimeError(f"the client graph has no {CLIENT_NAME}")
        work = Workload(m.mountpoint)
        work.start()
        time.sleep(2)  # warm-up, not counted
        begin = time.monotonic()
        time.sleep(steady_s)
        steady_end = time.monotonic()
        windows: dict[str, list[tuple[float, float]]] = {NAME: [], CLIENT_NAME: []}
        refused: list[str] = []
        for i in range(count):
            for name in windows:
                print(f"reload: {name} {i + 1}/{count}", file=sys.stderr)
                t = time.monotonic()
                result = admin.reload_translator(node, VOLUME, name)
                windows[name].append((t, time.monotonic()))
                if len(result.processes) != (2 if name == NAME else 1):
                    refused.append(f"{name}: waited for {sorted(result.processes)}")
                refused += [f"{p}: {why}" for p, why in result.refused.items()]
                time.sleep(1)
        work.stop.set()
        work.join(30)
        steady = [d for t, d in work.samples if begin <= t < steady_end]
        rows = [("steady state", steady)]
        for name, label in ((NAME, "while reloading bricks"), (CLIENT_NAME, "while reloading the client")):
            rows.append((label, [d for t, d in work.samples if any(a <= t < b for a, b in windows[name])]))
        print(f"\nLive reload: replica-2 volume, passthrough on both bricks and in the client, one process doing "
              f"4 KiB write/read/stat without pause; {count} reloads of each (glupy reload: trial start, option "
              f"change, the bricks or the client switched)")
        header = f"{'system call latency':28}{'calls':>8}{'p50 (ms)':>10}{'p99 (ms)':>10}{'max (ms)':>10}"
        print(header)
        print("-" * len(header))
        for label, values in rows:
            print(f"{label:28}{len(values):>8}{percentile(values, 0.5) * 1e3:>10.2f}"
                  f"{percentile(values, 0.99) * 1e3:>10.2f}{max(values) * 1e3:>10.2f}")
        for name, (label, values) in zip(windows, rows[1:]):
            took = [b - a for a, b in windows[name]]
            print(f"{label} p99 / steady: {percentile(values, 0.99) / percentile(steady, 0.99):.2f}x; a reload "
                  f"took {statistics.median(took):.2f} s (median; max {max(took):.2f} s)")
        print(f"errors: {len(work.errors)}; processes that refused or did not answer: {len(refused)}")
        for line in (work.errors + refused)[:10]:
            print(f"  {line}")
        if work.errors or refused:
            raise RuntimeError("FOPs failed or processes refused during the reloads")
    finally:
        tear_down(mounts, node, [VOLUME], state)
        xlators.remove_alias(NAME)
        if not had_filter:
            gfilter.remove_filter()


def main() -> None:
    run_alone(__doc__, add_arguments, run)


if __name__ == "__main__":
    main()
