"""What the benchmarks share: cache dropping, the sequential workload, CPU time, tearing down."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from glupy.gluster import FuseMount, GlusterNode, Volume, is_glusterfs_mount

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


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of a process, in ns resolution (schedstat), as seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that just exited
    return total / 1e9


def client_instructions(volfile: Path, mountpoint: Path, log_file: Path, extra_args: Iterable[str],
                        work: Callable[[Path], object], keep: Path | None = None) -> int | None:
    """Instructions a FUSE client of `volfile` executes (all threads) while `work(mountpoint)`
    runs a second time (the first warms caches up), counted by valgrind's callgrind: the
    deterministic measure of client CPU, where wall time on a shared VM moves by ±15%.
    None without valgrind. `keep`: where to leave the counted dump (for callgrind_annotate)."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        return None
    out = mountpoint.parent / f"{mountpoint.name}.callgrind"
    mountpoint.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--compress-strings=no", f"--callgrind-out-file={out}",
                             "glusterfs", "-N",
                             f"--volfile={volfile}", f"--log-file={log_file}", *extra_args, str(mountpoint)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not is_glusterfs_mount(mountpoint):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the client under valgrind did not mount {mountpoint}; see {log_file}")
            time.sleep(0.5)
        work(mountpoint)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
        work(mountpoint)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        total = 0
        for dump in out.parent.glob(f"{out.name}.*"):
            for line in dump.read_text(errors="replace").splitlines():
                if line.startswith(("totals:", "summary:")):
                    total = max(total, int(line.split()[1]))
            if keep is not None:
                shutil.copyfile(dump, keep)
        return total
    finally:
        subprocess.run(["umount", str(mountpoint)], capture_output=True)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for dump in out.parent.glob(f"{out.name}*"):
            dump.unlink()


def run_alone(doc: str | None, add_arguments: Callable[[argparse.ArgumentParser], None],
              run: Callable[[argparse.Namespace], None]) -> None:
    """``python -m bench.NAME``: one benchmark with its own arguments."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())
