"""What the benchmarks share: cache dropping, the sequential workload, tearing down."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from glupy.gluster import FuseMount, GlusterNode, Volume

MIB = 1 << 20


def drop_caches() -> None:
    """Flush and drop the page cache, so that reads reach GlusterFS."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass


def sequential(root: Path, mib: int) -> dict[str, float]:
    """MB/s (MiB/s) writing (with fsync) then reading one file in 1 MiB blocks; checks the length read."""
    path = root / f"seq-{time.monotonic_ns()}"
    block = os.urandom(MIB)
    t = time.perf_counter()
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        for _ in range(mib):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    write = mib / (time.perf_counter() - t)
    drop_caches()
    t = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    got = 0
    try:
        while chunk := os.read(fd, MIB):
            got += len(chunk)
    finally:
        os.close(fd)
    read = mib / (time.perf_counter() - t)
    if got != mib * MIB:
        raise RuntimeError(f"read back {got} bytes of {mib * MIB} from {path}")
    os.unlink(path)
    return {"seq-write": write, "seq-read": read}


def tear_down(mounts: Iterable[FuseMount], node: GlusterNode, volumes: Iterable[str], state: Path) -> None:
    """Unmount, delete the benchmark's volumes, stop its glusterd, remove its files; never raises."""
    for m in mounts:
        try:
            m.unmount()
        except Exception:  # noqa: BLE001 - tearing down goes on
            pass
    for name in volumes:
        try:
            Volume(node, name).delete()
        except Exception:  # noqa: BLE001
            pass
    node.stop()
    shutil.rmtree(state, ignore_errors=True)
