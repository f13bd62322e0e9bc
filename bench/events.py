"""Change events: what glupy.translators.events costs the bricks, and how fast and
how completely a watcher hears of changes.

Two replica-2 volumes on one glusterd: "evplain" (plain GlusterFS: no glupy in any
graph) and "evbench" (glupy.translators.events on both bricks, checked to serve
events before anything is measured). Reported:

* small-file create throughput (create, write 4 KiB, close; one process), rounds
  interleaved between the two volumes, medians, as a ratio to plain; and the CPU
  time the two bricks of each volume spent per file in those rounds (all their
  threads, the events translator's own included), the measure that a shared
  machine's load moves least;
* event latency: from the start of a create on client A (a FUSE mount) to its
  ``create`` event at a watcher (glupy.events.watch, another client of the bricks),
  and from the start of a write+close on client A to its ``close_write`` event;
  p50 and p99;
* a burst of ``--events-burst`` creates (default 10,000) with one watcher that
  keeps up (events lost: target 0, counted as creates never reported) and one
  subscriber that reads nothing during the burst and everything after it (lost
  events as the bricks count and report them, plus those never reported).

This benchmark runs its own glusterd on 127.1.1.17 (bricks on ports 27800-27899).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._common import cpu_seconds, run_alone, tear_down
from glupy import events as ev
from glupy.gluster import FuseMount, GlusterNode, Volume, xlators

NAME = "evbench"
PLAIN, EVENTS = "evplain", "evbench"
MOUNT_ARGS = ["--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events-rounds", type=int, default=5, help="events benchmark: interleaved rounds")
    parser.add_argument("--events-files", type=int, default=400, help="events benchmark: files per round")
    parser.add_argument("--events-latency", type=int, default=300, help="events benchmark: latency samples")
    parser.add_argument("--events-burst", type=int, default=10000, help="events benchmark: creates in the burst")
    parser.add_argument("--events-node", type=int, default=17, help="events benchmark: glusterd on 127.1.1.N")


def creates(root: Path, count: int) -> float:
    d = root / f"c-{time.monotonic_ns()}"
    d.mkdir()
    payload = os.urandom(4096)
    t = time.perf_counter()
    for i in range(count):
        fd = os.open(d / f"f{i:05d}", os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, payload)
        os.close(fd)
    return count / (time.perf_counter() - t)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Listener(threading.Thread):
    """Records when each (event, path) first reached the watcher."""

    def __init__(self, watcher: ev.Watcher) -> None:
        super().__init__(daemon=True)
        self.watcher = watcher
        self.arrived: dict[tuple[str, str | None], float] = {}
        self.counts: dict[str, int] = {}
        self.lost = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                e = self.watcher.get(timeout=0.2)
            except StopIteration:
                return
            if e is None:
                continue
            if e.event == "lost":
                self.lost += e.fields.get("count") or 0
            self.arrived.setdefault((e.event, e.path), time.time())
            self.counts[e.event] = self.counts.get(e.event, 0) + 1

    def wait_for(self, key: tuple[str, str], timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        while key not in self.arrived:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {key} event in {timeout} s")
            time.sleep(0.0005)
        return self.arrived[key]


def silent_subscribers(node: GlusterNode, volume: Volume) -> list[tuple[socket.socket, object]]:
    """One connection per brick of `volume` that reads its hello and then nothing."""
    bricks = {str(b.path) for b in volume.info().bricks}
    found = ev.subscribe_volume(node.address, volume.name, timeout=60)
    for s, f, hello in found:
        if hello.get("brick") not in bricks:
            f.close()
            s.close()
    return [(s, f) for s, f, hello in found if hello.get("brick") in bricks]


def drain(subscriber: tuple[socket.socket, object], last_path: str) -> tuple[set[str], int]:
    """(paths of create events, lost count reported) read until `last_path`'s create."""
    s, f = subscriber
    paths: set[str] = set()
    lost = 0
    s.settimeout(10)
    try:
        while True:
            line = f.readline()  # type: ignore[attr-defined]
            if not line:
                break
            data = json.loads(line)
            if "lost" in data and "seq" not in data:
                lost += data["lost"]
            elif data.get("event") == "overflow":
                lost += data.get("lost", 0)
            elif data.get("event") == "create":
                paths.add(data["path"])
                if data["path"] == last_path:
                    break
    except (socket.timeout, OSError):
        pass
    s.close()
    return paths, lost


def run(args: argparse.Namespace) -> None:
    rounds = getattr(args, "events_rounds", 5)
    files = getattr(args, "events_files", 400)
    samples = getattr(args, "events_latency", 300)
    burst = getattr(args, "events_burst", 10000)
    state = Path(tempfile.mkdtemp(prefix="glupy-bench-events-"))
    node = GlusterNode(state, getattr(args, "events_node", 17), port_range=(27800, 27899))
    node.start()
    xlators.ensure_alias(NAME)
    mounts: list[FuseMount] = []
    try:
        plain = Volume.create(node, PLAIN, [node.brick(PLAIN, 0), node.brick(PLAIN, 1)], replica=2)
        plain.start()
        vol = Volume.create(node, EVENTS, [node.brick(EVENTS, 0), node.brick(EVENTS, 1)], replica=2)
        vol.set(f"user.xlator.{NAME}", "posix")
        vol.set(f"user.xlator.{NAME}.module", "glupy.translators.events")
        vol.start()
        for v in (plain, vol):
            m = FuseMount.from_volume(v, state / f"mnt-{v.name}", log_file=state / f"{v.name}.log",
                                      extra_args=MOUNT_ARGS)
            m.mount()
            mounts.append(m)
        mp_plain, mp_events = mounts[0].mountpoint, mounts[1].mountpoint
        served = silent_subscribers(node, vol)
        if len(served) != 2:
            raise RuntimeError(f"the events translator serves {len(served)} of 2 bricks of {EVENTS}")
        for s, f in served:  # the file too: it holds the connection open (and the brick serving it)
            f.close()
            s.close()

        # ---- throughput, and the bricks' CPU time per file
        creates(mp_plain, 50), creates(mp_events, 50)  # warm-up
        bricks = {v.name: list(v.brick_pids().values()) for v in (plain, vol)}
        results: dict[str, list[float]] = {PLAIN: [], EVENTS: []}
        cpu: dict[str, list[float]] = {PLAIN: [], EVENTS: []}
        for r in range(rounds):
            order = [(PLAIN, mp_plain), (EVENTS, mp_events)][:: 1 if r % 2 == 0 else -1]
            for name, mp in order:
                before = sum(cpu_seconds(pid) for pid in bricks[name])
                results[name].append(creates(mp, files))
                time.sleep(0.3)  # what the events translator publishes after the last file
                cpu[name].append((sum(cpu_seconds(pid) for pid in bricks[name]) - before) / files * 1e6)
        p, e = statistics.median(results[PLAIN]), statistics.median(results[EVENTS])
        cpu_p, cpu_e = statistics.median(cpu[PLAIN]), statistics.median(cpu[EVENTS])

        # ---- latency, and the burst with a watcher that keeps up
        with ev.watch(EVENTS, node.address, "/", recursive=True) as w:
            if not w.wait_ready(30):
                raise RuntimeError("the watcher did not reach the bricks")
            listener = Listener(w)
            listener.start()
            lat_dir = mp_events / "latency"
            lat_dir.mkdir()
            create_lat, write_lat = [], []
            for i in range(samples):
                path = lat_dir / f"l{i}"
                t0 = time.time()
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
                create_lat.append(listener.wait_for(("create", f"/latency/l{i}")) - t0)
                t1 = time.time()
                os.write(fd, b"x" * 4096)
                os.close(fd)
                write_lat.append(listener.wait_for(("close_write", f"/latency/l{i}")) - t1)
            silent = silent_subscribers(node, vol)
            burst_dir = mp_events / "burst"
            burst_dir.mkdir()
            t = time.perf_counter()
            for i in range(burst):
                os.close(os.open(burst_dir / f"b{i:05d}", os.O_CREAT | os.O_WRONLY, 0o644))
            burst_rate = burst / (time.perf_counter() - t)
            last = f"/burst/b{burst - 1:05d}"
            try:
                listener.wait_for(("create", last), 60)
            except RuntimeError:
                pass
            time.sleep(2)
            listener.stop.set()
            listener.join(5)
            seen = {path for (kind, path) in listener.arrived if kind == "create" and (path or "").startswith("/burst/")}
            keeping_up_lost = burst - len(seen)
            silent_results = [drain(sub, last) for sub in silent]
        silent_paths = set().union(*(paths for paths, _ in silent_results)) if silent_results else set()
        silent_reported = sum(lost for _, lost in silent_results)
        silent_missing = burst - len({p for p in silent_paths if p.startswith("/burst/")})

        print(f"\nChange events: replica-2 volume, glupy.translators.events on both bricks, against plain GlusterFS "
              f"(no glupy); {rounds} interleaved rounds of {files} files (create + 4 KiB write + close), medians")
        header = f"{'':34}{'plain':>12}{'events':>12}{'ratio':>8}"
        print(header)
        print("-" * len(header))
        print(f"{'small-file creates (files/s)':34}{p:>12.1f}{e:>12.1f}{e / p:>8.2f}")
        print(f"{'brick CPU per file (us, 2 bricks)':34}{cpu_p:>12.0f}{cpu_e:>12.0f}{cpu_e / cpu_p:>8.2f}"
              f"   (+{cpu_e - cpu_p:.0f} us a file)")
        print(f"event latency, create -> create event: p50 {percentile(create_lat, 0.5) * 1e3:.1f} ms, "
              f"p99 {percentile(create_lat, 0.99) * 1e3:.1f} ms ({samples} samples)")
        print(f"event latency, write+close -> close_write event: p50 {percentile(write_lat, 0.5) * 1e3:.1f} ms, "
              f"p99 {percentile(write_lat, 0.99) * 1e3:.1f} ms")
        print(f"burst of {burst} creates ({burst_rate:.0f}/s): a watcher that keeps up lost {keeping_up_lost}; "
              f"a subscriber that read nothing during the burst: {len(silent_paths & {f'/burst/b{i:05d}' for i in range(burst)})} "
              f"delivered afterwards from the bricks' buffers, {silent_reported} reported lost by the bricks, "
              f"{silent_missing} missing in all (per brick: one of the two replicas suffices)")
        if keeping_up_lost:
            print(f"  watcher notices of loss: {listener.lost}", file=sys.stderr)
    finally:
        tear_down(mounts, node, [PLAIN, EVENTS], state)
        xlators.remove_alias(NAME)


def main() -> None:
    run_alone(__doc__, add_arguments, run)


if __name__ == "__main__":
    main()
