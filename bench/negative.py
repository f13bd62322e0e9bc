"""Negative-lookup caching: the include-path workload.

1000 files spread over 10 directories (100 each). Each request looks for one
file by trying the directories in order (``stat dir0/NAME``, ``stat dir1/NAME``,
...) until it finds it, as a compiler searches its include path, so most probes
fail with ENOENT. 80% of the requests go to 10% of the files. The same sequence
of requests (fixed seed) runs through a FUSE mount of one replica-2 volume for
each configuration. In each round the configurations take turns every
``--neg-chunk`` requests (250), the order rotating between rounds, so that a slow
spell of this shared VM falls on all of them alike; the median of the rounds is
reported:

* plain GlusterFS (the client graph without nl-cache);
* GlusterFS's C negative-lookup cache, nl-cache, set up as its volume group
  ``extras/group-nl-cache`` does (features.cache-invalidation on with timeout 600
  so that the bricks' upcall translator tells clients about changes,
  performance.nl-cache on, performance.nl-cache-timeout 600,
  network.inode-lru-limit 200000), in its place right below md-cache;
* glupy.translators.negative with no options at all, where ``glupy mount VOL MNT
  --with glupy.translators.negative`` puts it (right under io-stats): it chooses
  its ttl and watching itself (module doc, "What it chooses by itself"): 60 s
  once a cache-invalidation upcall has shown that the bricks send them, which
  here comes while the files are created through another mount (this mount has
  looked up the root), before any request is timed; the bench prints what it chose;
* glupy.translators.negative set up by hand for such a volume: ttl 600 (the
  volume's cache-invalidation timeout, as nl-cache's) and watch-directories off,
  right under io-stats (``glupy attach`` without ``--after``: a hit skips md-cache
  too).

The volume options are the same for every configuration (upcall runs on the
bricks for all of them); only the client graph differs: nl-cache is taken out
of the other configurations' volfiles. Mounts use --negative-timeout=0
--entry-timeout=0 --attribute-timeout=0 so that every probe reaches GlusterFS.

This benchmark runs its own glusterd on 127.1.1.11 (bricks on ports 29100-29199).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from glupy.gluster import FuseMount, GlusterError, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator

from bench._common import client_instructions, cpu_seconds, run_alone, tear_down

MOUNT_ARGS = ["--negative-timeout=0", "--entry-timeout=0", "--attribute-timeout=0"]
DIRS = 10
FILES_PER_DIR = 100
NL_CACHE_OPTIONS = {  # extras/group-nl-cache of GlusterFS 10.3
    "features.cache-invalidation": "on",
    "features.cache-invalidation-timeout": "600",
    "performance.nl-cache": "on",
    "performance.nl-cache-timeout": "600",
    "network.inode-lru-limit": "200000",
}
VOLUME = "negbench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--neg-rounds", type=int, default=3, help="negative-lookup benchmark: rounds (median)")
    parser.add_argument("--neg-requests", type=int, default=10000, help="negative-lookup benchmark: requests per round")
    parser.add_argument("--neg-chunk", type=int, default=250,
                        help="negative-lookup benchmark: requests each configuration runs in turn")
    parser.add_argument("--neg-callgrind", type=int, default=300,
                        help="negative-lookup benchmark: requests counted under callgrind per configuration "
                             "(0: skip)")
    parser.add_argument("--neg-node", type=int, default=11, help="negative-lookup benchmark: glusterd on 127.1.1.N")


def requests(count: int, seed: int = 1) -> list[int]:
    """File numbers: 80% of the requests to the first 10% of the files (shuffled), 20% uniform over the rest."""
    rng = random.Random(seed)
    files = list(range(DIRS * FILES_PER_DIR))
    rng.shuffle(files)
    hot, cold = files[: len(files) // 10], files[len(files) // 10:]
    return [rng.choice(hot) if rng.random() < 0.8 else rng.choice(cold) for _ in range(count)]


def file_name(n: int) -> str:
    return f"inc{n:04d}.h"


def populate(root: Path) -> None:
    """dir0..dir9, 100 files each; file n lives in dir n % 10 (so hot files are spread over all dirs)."""
    for d in range(DIRS):
        (root / f"dir{d}").mkdir(exist_ok=True)
    for n in range(DIRS * FILES_PER_DIR):
        (root / f"dir{n % DIRS}" / file_name(n)).write_bytes(b"/* header */\n")


def search(root: Path, reqs: list[int]) -> tuple[float, int]:
    """Run the requests; (seconds, probes)."""
    dirs = [str(root / f"dir{d}") + "/" for d in range(DIRS)]
    stat = os.stat
    probes = 0
    t = time.perf_counter()
    for n in reqs:
        name = file_name(n)
        for d in dirs:
            probes += 1
            try:
                stat(d + name)
                break
            except FileNotFoundError:
                continue
        else:
            raise RuntimeError(f"{name} not found under {root}")
    return time.perf_counter() - t, probes


def client_volfile(volume: Volume, path: Path, config: str, options: dict[str, str] | None = None,
                   where: str = "top") -> Path:
    """The client graph of a configuration; glupy's cache, with `options`, under io-stats ("top") or
    right below md-cache ("md-cache", where nl-cache sits)."""
    graph = Volfile.read(volume.client_volfile())
    nl = graph.find_type("performance/nl-cache")
    if config == "nl-cache":
        if not nl:
            raise RuntimeError("glusterd's client volfile has no nl-cache translator")
    else:
        for x in nl:
            graph.remove(x.name)
    if config == "glupy":
        xl = glupy_xlator("neg", "glupy.translators.negative", dict(options or {}))
        if where == "md-cache":
            md = graph.find_type("performance/md-cache")[0]
            graph.insert_above(md.subvolumes[0], xl)
        else:
            graph.insert_below_top(xl)
    graph.write(path)
    return path


def glupy_counters(mount: FuseMount, section_name: str = "xlator.glupy.neg.priv") -> dict[str, int]:
    """hits/misses/... of the glupy cache in the client (from a statedump), or the counters of
    another statedump section (e.g. nl-cache's); {} if unavailable."""
    try:
        section = mount.statedump(timeout=10).get(section_name, {})
    except GlusterError:
        return {}
    return {k: int(v) for k, v in section.items() if re.fullmatch(r"\w+", k) and v.isdigit()}


def glupy_choice(mount: FuseMount, section_name: str = "xlator.glupy.neg.priv") -> str:
    """What the glupy cache of `mount` runs with (ttl, how chosen, watching), from a statedump."""
    try:
        section = mount.statedump(timeout=10).get(section_name, {})
    except GlusterError as error:
        return f"unknown ({error})"
    return (f"ttl {section.get('ttl', '?')} s ({section.get('ttl-chosen-by', '?')}), "
            f"watching {section.get('watching', '?')}")


def after_a_change_elsewhere(other: Path, work: Callable[[Path], object]) -> Callable[[Path], object]:
    """`work`, the first time preceded by a change of the root through another client
    (`other`, a mount point): the client being measured has looked the root up, so on a
    volume with cache-invalidation the bricks tell it (an upcall), as they told the timed
    mount while the files were created; a cache without options then chooses as it did there."""
    done: list[bool] = []

    def run(mp: Path) -> object:
        if not done:
            os.stat(mp)
            d = other / f".upcall-{time.monotonic_ns()}"
            d.mkdir()
            d.rmdir()
            time.sleep(1.0)
            done.append(True)
        return work(mp)

    return run


def run(args: argparse.Namespace) -> None:
    rounds = getattr(args, "neg_rounds", 3)
    count = getattr(args, "neg_requests", 10000)
    chunk = getattr(args, "neg_chunk", 250)
    counted = getattr(args, "neg_callgrind", 300)
    node_index = getattr(args, "neg_node", 11)
    state = Path(tempfile.mkdtemp(prefix="glupy-bench-neg-"))
    node = GlusterNode(state, node_index, port_range=(29100, 29199))
    node.start()
    mounts: dict[str, FuseMount] = {}
    try:
        vol = Volume.create(node, VOLUME, [node.brick(VOLUME, 0), node.brick(VOLUME, 1)], replica=2)
        vol.set_options(NL_CACHE_OPTIONS)
        vol.start()
        configs: dict[str, tuple[str, dict[str, str] | None, str]] = {
            "plain GlusterFS": ("plain", None, ""),
            "nl-cache (C), timeout 600": ("nl-cache", None, ""),
            "glupy, no options": ("glupy", {}, "top"),
            "glupy, ttl 600, watch off": ("glupy", {"ttl": "600", "watch-directories": "off"}, "top"),
        }
        for i, (label, (config, options, where)) in enumerate(configs.items()):
            vf = client_volfile(vol, state / f"client-{i}.vol", config, options, where)
            m = FuseMount.from_volfile(vf, state / f"mnt-{i}", log_file=state / f"client-{i}.log",
                                       extra_args=MOUNT_ARGS)
            m.mount()
            mounts[label] = m
        first = next(iter(mounts.values())).mountpoint
        populate(first)
        reqs = requests(count)
        warm = requests(max(count // 10, 100), seed=2)
        for m in mounts.values():  # warm-up, not counted
            search(m.mountpoint, warm)
        # what the caches without options chose by themselves, before the timed rounds
        choices = {label: glupy_choice(m) for label, m in mounts.items()
                   if configs[label][0] == "glupy" and not configs[label][1]}
        samples: dict[str, list[float]] = {k: [] for k in configs}
        cpu: dict[str, list[float]] = {k: [] for k in configs}  # client process CPU, µs per request
        probes = 0
        labels = list(configs)
        loads: list[float] = []
        chunks = [reqs[i:i + chunk] for i in range(0, len(reqs), chunk)]
        for rnd in range(rounds):
            order = labels[rnd % len(labels):] + labels[:rnd % len(labels)]
            print(f"negative: round {rnd + 1}/{rounds}: {', '.join(order)}", file=sys.stderr)
            loads.append(os.getloadavg()[0])
            seconds = dict.fromkeys(labels, 0.0)
            cpu0 = {label: cpu_seconds(mounts[label].pid) for label in labels}
            probes = 0
            # every configuration runs the same requests, a chunk at a time in turn, so that
            # a slow spell of the machine falls on all of them alike
            for part in chunks:
                for label in order:
                    took, n = search(mounts[label].mountpoint, part)
                    seconds[label] += took
                probes += n
            for label in labels:
                samples[label].append(count / seconds[label])
                cpu[label].append((cpu_seconds(mounts[label].pid) - cpu0[label]) / count * 1e6)
        # the deterministic measure: instructions of each configuration's client per request
        instructions: dict[str, int | None] = {}
        if counted:
            sample = requests(counted, seed=3)
            for i, label in enumerate(labels):
                print(f"negative: counting instructions of {label} (callgrind)", file=sys.stderr)
                work: Callable[[Path], object] = lambda mp: search(mp, sample)  # noqa: E731
                if configs[label][0] == "glupy" and not configs[label][1]:
                    work = after_a_change_elsewhere(mounts["plain GlusterFS"].mountpoint, work)
                total = client_instructions(state / f"client-{i}.vol", state / f"callgrind-{i}",
                                            state / f"callgrind-{i}.log", MOUNT_ARGS, work)
                instructions[label] = total // counted if total else None
        counters = {label: glupy_counters(m) for label, m in mounts.items() if configs[label][0] == "glupy"}
        nl_counters = {label: glupy_counters(m, f"performance/nl-cache.{VOLUME}-nl-cache")
                       for label, m in mounts.items() if configs[label][0] == "nl-cache"}
        med = {label: statistics.median(v) for label, v in samples.items()}
        base = med["plain GlusterFS"]
        print(f"\nNegative lookups, include-path workload: {DIRS} directories x {FILES_PER_DIR} files, "
              f"{count} requests ({probes} stat probes, {probes - count} of them ENOENT), 80% of requests "
              f"to 10% of the files; replica-2 volume; median of {rounds} rounds, configurations taking turns "
              f"every {chunk} requests")
        header = (f"{'configuration':42}{'requests/s':>12}{'probes/s':>12}{'speed-up':>10}{'rounds (req/s)':>22}"
                  f"{'client CPU µs/req':>19}{'client instr./req':>19}")
        print(header)
        print("-" * len(header))
        for label, value in med.items():
            spread = ", ".join(f"{v:.0f}" for v in samples[label])
            cpu_med = f"{statistics.median(cpu[label]):.0f}" if cpu[label] else "-"
            instr = f"{instructions[label]:,}" if instructions.get(label) else "-"
            print(f"{label:42}{value:>12.1f}{value * probes / count:>12.1f}{value / base:>9.2f}x{spread:>22}"
                  f"{cpu_med:>19}{instr:>19}")
        print("(client CPU: CPU time of the FUSE client process's threads during a round, median, per request)")
        if instructions:
            print(f"(client instr.: instructions of the FUSE client per request under valgrind's callgrind, "
                  f"{counted} requests after as many to warm up)")
        print("(1-minute load average at the start of each round: "
              + ", ".join(f"{x:.1f}" for x in loads) + f"; {os.cpu_count()} CPUs)")
        for label, c in nl_counters.items():
            if c:
                print(f"({label}: hits {c.get('negative_lookup_hit_count')}, "
                      f"misses {c.get('negative_lookup_miss_count')}, "
                      f"invalidations received {c.get('dentry_invalidations_received')})")
        for label, choice in choices.items():
            print(f"({label}: chose {choice} before the timed rounds; at the end {glupy_choice(mounts[label])})")
        for label, c in counters.items():
            if c:
                print(f"({label}: hits {c.get('hits')}, misses {c.get('misses')}, expired {c.get('expired')}, "
                      f"entries {c.get('entries')}, invalidations {c.get('invalidations')}, "
                      f"upcalls {c.get('upcalls')})")
    finally:
        tear_down(mounts.values(), node, [VOLUME], state)


def main() -> None:
    run_alone(__doc__, add_arguments, run)


if __name__ == "__main__":
    main()
