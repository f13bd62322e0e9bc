"""Benchmarks against plain GlusterFS, measured side by side in one run.

Core (issue 3): small-file create/stat/read/delete ops/s and 1 MiB sequential
write/read MB/s on replica-2 volumes, for
  * plain GlusterFS (volume "bench": no glupy anywhere in its graphs),
  * passthrough (every FOP in Python) on the client side of "bench",
  * the same by tail calls (glupy.testing.translators:TailPassthrough: each handler
    returns ``self.child.<fop>(...)`` unawaited, so the FOP enters Python and its
    reply goes back in C) on the client side of "bench",
  * a lookup-only translator on the client side of "bench",
  * passthrough on the server side (volume "benchsrv": on both bricks, checked
    to be running and counting FOPs before each measurement),
printed as ratios to plain; the same small-file workload by 8 processes at once
on one mount; and the cost of one FOP entering and leaving Python.

Rounds are interleaved (every configuration mounted side by side, the order
rotated each round) and medians reported. Mounts use zero attribute/entry
timeouts so that stats and lookups reach GlusterFS instead of the kernel's cache.

Then bench.negative, bench.crypt, bench.reload (FOP latency while `glupy reload`
switches the code of a busy volume) and bench.events (the cost of change events on
the bricks, their latency and completeness); each module's doc says what it measures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import crypt, events, negative, reload
from bench._common import client_instructions, cpu_seconds, drop_caches, sequential, tear_down
from glupy.gluster import FuseMount, GlusterNode, Volume, xlators
from glupy.gluster.volfile import Volfile, glupy_xlator

SERVER_XLATOR = "gpbench-pt"
MOUNT_ARGS = ["--attribute-timeout=0", "--entry-timeout=0", "--negative-timeout=0"]


def small_files(root: Path, count: int, size: int) -> dict[str, float]:
    """ops/s of create(+write 4 KiB), stat, read, delete over `count` files."""
    d = root / f"small-{time.monotonic_ns()}"
    d.mkdir()
    payload = os.urandom(size)
    names = [d / f"f{i:05d}" for i in range(count)]
    out = {}
    t = time.perf_counter()
    for p in names:
        fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, payload)
        os.close(fd)
    out["create"] = count / (time.perf_counter() - t)
    t = time.perf_counter()
    for p in names:
        os.stat(p)
    out["stat"] = count / (time.perf_counter() - t)
    drop_caches()
    t = time.perf_counter()
    for p in names:
        fd = os.open(p, os.O_RDONLY)
        os.read(fd, size)
        os.close(fd)
    out["read"] = count / (time.perf_counter() - t)
    t = time.perf_counter()
    for p in names:
        os.unlink(p)
    out["delete"] = count / (time.perf_counter() - t)
    os.rmdir(d)
    return out


PHASES = ("create", "stat", "read", "delete")


def _parallel_worker(d: Path, count: int, size: int, barrier) -> None:
    names = [d / f"f{i:05d}" for i in range(count)]
    payload = os.urandom(size)
    for phase in PHASES:
        barrier.wait()
        for p in names:
            if phase == "create":
                fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)
                os.write(fd, payload)
                os.close(fd)
            elif phase == "stat":
                os.stat(p)
            elif phase == "read":
                fd = os.open(p, os.O_RDONLY)
                os.read(fd, size)
                os.close(fd)
            else:
                os.unlink(p)
        barrier.wait()


def parallel_small_files(root: Path, workers: int, count: int, size: int = 4096) -> dict[str, float]:
    """ops/s of the small-file phases with `workers` processes at once on one mount,
    each on `count` files of its own directory; a phase is timed from the moment
    every process may start it until the last one finished it."""
    d = root / f"par-{time.monotonic_ns()}"
    dirs = [d / f"w{i}" for i in range(workers)]
    for sub in dirs:
        sub.mkdir(parents=True)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=_parallel_worker, args=(sub, count, size, barrier)) for sub in dirs]
    for p in procs:
        p.start()
    out = {}
    try:
        for phase in PHASES:
            if phase == "read":
                drop_caches()
            barrier.wait(timeout=600)
            t = time.perf_counter()
            barrier.wait(timeout=600)
            out[f"{workers}x {phase}"] = workers * count / (time.perf_counter() - t)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    for sub in dirs:
        sub.rmdir()
    d.rmdir()
    return out


def workload(root: Path, files: int, mib: int) -> dict[str, float]:
    return {**small_files(root, files, 4096), **sequential(root, mib)}


def client_graph(volume: Volume, path: Path, module: str | None, xlator: str = "glupy") -> Path:
    graph = Volfile.read(volume.client_volfile())
    if module:
        graph.insert_below_top(glupy_xlator("bench-py", module, xlator_type=f"user/{xlator}"))
    graph.write(path)
    return path


def median_table(samples: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {cfg: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for cfg, runs in samples.items()}


def print_table(title: str, med: dict[str, dict[str, float]], base: str) -> None:
    metrics = list(next(iter(med.values())))
    units = {"seq-write": "MB/s", "seq-read": "MB/s"}
    print(f"\n{title}")
    header = f"{'configuration':34}" + "".join(f"{m + ' (' + units.get(m, 'ops/s') + ')':>22}" for m in metrics)
    print(header)
    print("-" * len(header))
    for cfg, row in med.items():
        cells = "".join(f"{row[m]:>12.1f} ({row[m] / med[base][m]:4.2f}x)" if cfg != base else f"{row[m]:>22.1f}"
                        for m in metrics)
        print(f"{cfg:34}{cells}")


def fop_cost(state: Path, calls: int, rounds: int = 7, xlator: str = "glupy") -> None:
    """µs per FOP entering and leaving Python: stat loops on two FUSE clients over the
    same posix directory, one plain and one with the passthrough (every FOP in Python),
    interleaved; measured as the client process's CPU time (all threads, ns resolution)
    and as wall time. Interference on a shared machine only ever adds time, so the
    fastest round of each client is compared (the medians are printed too)."""
    brick = state / "cost-brick"
    brick.mkdir(exist_ok=True)
    (brick / "f").write_bytes(b"x")
    mounts = {}
    for label, module in (("plain", None), ("python", "glupy.translators.passthrough"),
                          ("tail", "glupy.testing.translators:TailPassthrough")):
        lines = ["volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume"]
        if module:
            lines += ["volume py", f"    type user/{xlator}", f"    option module {module}", "    subvolumes posix",
                      "end-volume"]
        vf = state / f"cost-{label}.vol"
        vf.write_text("\n".join(lines) + "\n")
        m = FuseMount.from_volfile(vf, state / f"cost-mnt-{label}", log_file=state / f"cost-{label}.log",
                                   extra_args=MOUNT_ARGS)
        m.mount()
        mounts[label] = m
    try:
        cpu: dict[str, list[float]] = {label: [] for label in mounts}
        wall: dict[str, list[float]] = {label: [] for label in mounts}
        fops = 0
        for _ in range(rounds):
            for label, m in mounts.items():
                target = m.mountpoint / "f"
                for _ in range(200):
                    os.stat(target)
                before = _count(m.mountpoint) if label == "python" else 0
                c0, t0 = cpu_seconds(m.pid), time.perf_counter()
                for _ in range(calls):
                    os.stat(target)
                cpu[label].append(cpu_seconds(m.pid) - c0)
                wall[label].append(time.perf_counter() - t0)
                if label == "python":
                    fops = _count(m.mountpoint) - before - 1  # minus the getxattr reading the counts
    finally:
        for m in mounts.values():
            m.unmount()
    # the deterministic measure: instructions of each client, counted by callgrind
    counted = min(calls, 3000)

    def stats(mp: Path) -> None:
        for _ in range(counted):
            os.stat(mp / "f")

    instructions = {label: client_instructions(state / f"cost-{label}.vol", state / f"cost-cg-{label}",
                                               state / f"cost-cg-{label}.log", MOUNT_ARGS, stats)
                    for label in mounts}
    per_stat = fops / calls
    print(f"\nCost of one FOP entering and leaving Python (FUSE client over posix, {calls} stat calls x "
          f"{rounds} interleaved rounds, {per_stat:.1f} FOPs per stat, all through the passthrough):")
    names = {"python": "passthrough", "tail": "passthrough by tail calls"}
    for what, samples in (("client CPU", cpu), ("wall time ", wall)):
        best = {label: min(v) / calls * 1e6 for label, v in samples.items()}
        med = {label: statistics.median(v) / calls * 1e6 for label, v in samples.items()}
        for label, name in names.items():
            cost = (best[label] - best["plain"]) / per_stat
            print(f"  {what}: fastest round plain {best['plain']:.1f} µs/stat, {name} {best[label]:.1f} µs/stat "
                  f"-> {cost:.1f} µs per FOP (medians {med['plain']:.1f} / {med[label]:.1f} µs/stat)")
    for label, name in names.items():
        if instructions["plain"] and instructions[label]:
            extra = (instructions[label] - instructions["plain"]) / (counted * per_stat)
            print(f"  instructions (callgrind, {counted} stats): plain {instructions['plain'] / counted:,.0f} per "
                  f"stat, {name} {instructions[label] / counted:,.0f} per stat -> {extra:,.0f} per FOP")


def _count(mp: Path) -> int:
    import json

    return sum(json.loads(os.getxattr(mp, "glupy.passthrough.counts")).values())


def server_side_running(vol: Volume, mount: Path) -> int:
    """Checks that the bricks of `vol` run the passthrough in Python (their logs say
    it started without pass-through) and returns its FOP count, read through
    `mount` (a plain client: the bricks' passthrough answers)."""
    logs = vol.brick_logs()
    for brick, log in logs.items():
        started = [line for line in log.read_text(errors="replace").splitlines()
                   if "module=glupy.translators.passthrough" in line and " started " in line]
        if not started or "pass-through is on" in started[-1]:
            raise RuntimeError(f"brick {brick.path} of {vol.name} does not run the passthrough in Python; see {log}")
    if len(logs) != 2:
        raise RuntimeError(f"expected the logs of 2 bricks of {vol.name}, found {len(logs)}")
    return _count(mount)


def core(args: argparse.Namespace) -> None:
    state = Path(tempfile.mkdtemp(prefix="glupy-bench-"))
    low, high = (int(p) for p in args.ports.split("-"))
    node = GlusterNode(state, args.node, port_range=(low, high))
    node.start()
    server_row = args.xlator == "glupy"  # the bricks load the installed bridge (an alias of user/glupy.so)
    if server_row:
        xlators.ensure_alias(SERVER_XLATOR)
    mounts: list[FuseMount] = []
    try:
        vol = Volume.create(node, "bench", [node.brick("bench", 0), node.brick("bench", 1)], replica=2)
        vol.start()
        srv = Volume.create(node, "benchsrv", [node.brick("benchsrv", 0), node.brick("benchsrv", 1)], replica=2)
        if server_row:
            srv.set(f"user.xlator.{SERVER_XLATOR}", "posix")
            srv.set(f"user.xlator.{SERVER_XLATOR}.module", "glupy.translators.passthrough")
            srv.start()
        cfgs = {
            "plain GlusterFS": (vol, None),
            "passthrough, client side": (vol, "glupy.translators.passthrough"),
            "passthrough by tail calls, client side": (vol, "glupy.testing.translators:TailPassthrough"),
            "lookup-only, client side": (vol, "glupy.testing.translators:LookupOnly"),
            "passthrough, server side": (srv, None),
        }
        if not server_row:
            del cfgs["passthrough, server side"]
        xlator_of = {label: args.xlator for label in cfgs}
        if args.baseline:  # the same translators through another build, side by side
            for label in ("passthrough, client side", "passthrough by tail calls, client side"):
                extra = f"{label.replace(', client side', '')} [{args.baseline}]"
                cfgs[extra] = cfgs[label]
                xlator_of[extra] = args.baseline
        mount_of = {}
        for i, (label, (volume, module)) in enumerate(cfgs.items()):
            vf = client_graph(volume, state / f"client-{i}.vol", module, xlator_of[label])
            m = FuseMount.from_volfile(vf, state / f"mnt-{i}", log_file=state / f"client-{i}.log",
                                       extra_args=MOUNT_ARGS)
            m.mount()
            mounts.append(m)
            mount_of[label] = m.mountpoint
        samples: dict[str, list[dict[str, float]]] = {k: [] for k in cfgs}
        parallel: dict[str, list[dict[str, float]]] = {k: [] for k in cfgs}
        for mp in mount_of.values():  # warm-up, not counted: caches, pools, thread states
            workload(mp, max(50, args.files // 4), 8)
        labels = list(cfgs)
        for rnd in range(args.rounds):
            # rotate the order each round so that no configuration always runs first
            order = labels[rnd % len(labels):] + labels[:rnd % len(labels)]
            print(f"round {rnd + 1}/{args.rounds}: {', '.join(order)}", file=sys.stderr)
            for label in order:
                mp = mount_of[label]
                server_side = label == "passthrough, server side"
                before = server_side_running(srv, mp) if server_side else 0
                samples[label].append(workload(mp, args.files, args.mib))
                parallel[label].append(parallel_small_files(mp, args.workers, max(1, args.files // args.workers)))
                if server_side and server_side_running(srv, mp) <= before + args.files:
                    raise RuntimeError("the bricks' passthrough did not see the round's FOPs")
        print_table(f"Core: replica-2 volumes, {args.files} files of 4 KiB, {args.mib} MiB sequential, "
                    f"median of {args.rounds} interleaved rounds (ratio to plain)", median_table(samples),
                    "plain GlusterFS")
        print_table(f"{args.workers} processes at once on one mount, {args.files // args.workers} files of 4 KiB "
                    "each (ops/s of all together)", median_table(parallel), "plain GlusterFS")
        print("(plain and client-side rows: volume bench, no glupy in its brick graphs; server-side row: volume "
              "benchsrv, passthrough on both bricks, checked running in Python and counting every round)")
        fop_cost(state, args.calls, xlator=args.xlator)
    finally:
        tear_down(mounts, node, ["bench", "benchsrv"], state)
        if server_row:
            xlators.remove_alias(SERVER_XLATOR)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="core: interleaved rounds (median)")
    parser.add_argument("--files", type=int, default=600, help="core: small files per round")
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8, help="core: processes at once on one mount")
    parser.add_argument("--node", type=int, default=7, help="glusterd on 127.1.1.N")
    parser.add_argument("--ports", default="29900-29999", help="core: the bricks' port range LOW-HIGH")
    parser.add_argument("--xlator", default=os.environ.get("GLUPY_TEST_XLATOR", "glupy"),
                        help="core: the client-side rows load user/XLATOR.so (a build installed under another "
                             "name; default $GLUPY_TEST_XLATOR or glupy); other than glupy, the server-side row "
                             "is left out (bricks load the installed user/glupy.so)")
    parser.add_argument("--baseline", default="",
                        help="core: also the passthrough rows through user/BASELINE.so (another build), side by side")
    parser.add_argument("--only", choices=["core", "negative", "crypt", "reload", "events"],
                        help="run one benchmark (default: all)")
    negative.add_arguments(parser)
    crypt.add_arguments(parser)
    reload.add_arguments(parser)
    events.add_arguments(parser)
    args = parser.parse_args()
    if args.only in (None, "core"):
        core(args)
    if args.only in (None, "negative"):
        negative.run(args)
    if args.only in (None, "crypt"):
        crypt.run(args)
    if args.only in (None, "reload"):
        reload.run(args)
    if args.only in (None, "events"):
        events.run(args)


if __name__ == "__main__":
    main()
