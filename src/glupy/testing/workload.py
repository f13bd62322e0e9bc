"""A mixed workload of system calls on a mount, watched for crashes and stalls.

Used by the chaos tests (a FUSE client over posix, a replica-2 volume with
glusterd) to check glupy's safety contract on real GlusterFS: while the workload
runs, every watched process (the client, the bricks) must stay alive with the
same PID, every system call must return within ``op_timeout`` seconds, and every
call that fails must fail with an errno.

The workload runs in forked children that announce each system call before
making it, so that a call that never returns is seen (and the child killed)
instead of wedging the test. A child killed inside a system call of a hung
mount can only be reaped once the mount's FUSE connection is gone:
:func:`release` aborts it (:meth:`glupy.gluster.FuseMount.abort`) first.
"""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from glupy.gluster import FuseMount, _proc

#: the largest errno a kernel defines
MAX_ERRNO = 4095

FILES = ("f0", "f1", "f2", "d0/f0", "d0/f1", "d1/f0")
DIRS = ("d0", "d1", "d0/e")


def _op(rng: random.Random, root: str) -> tuple[str, Any]:
    """One system call (or a short sequence on one fd) picked at random: (description, thunk)."""
    f = os.path.join(root, rng.choice(FILES))
    g = os.path.join(root, rng.choice(FILES))
    d = os.path.join(root, rng.choice(DIRS))
    anything = os.path.join(root, rng.choice(FILES + DIRS + ("", "l0", "h0")))
    data = rng.randbytes(rng.choice([0, 1, 100, 5000, 70000]))

    def write_file() -> None:
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read_file() -> bytes:
        with open(f, "rb") as fh:
            return fh.read()

    def fd_session() -> None:
        fd = os.open(f, os.O_RDWR)
        try:
            for _ in range(rng.randint(1, 4)):
                which = rng.choice(["pread", "pwrite", "fstat", "fsync", "ftruncate", "lock", "fallocate",
                                    "seek", "copy"])
                if which == "pread":
                    os.pread(fd, rng.choice([1, 4096, 131072]), rng.choice([0, 3, 5000]))
                elif which == "pwrite":
                    os.pwrite(fd, data[:4096], rng.choice([0, 3, 5000]))
                elif which == "fstat":
                    os.fstat(fd)
                elif which == "fsync":
                    os.fsync(fd)
                elif which == "ftruncate":
                    os.ftruncate(fd, rng.choice([0, 10, 9000]))
                elif which == "lock":
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
                    fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
                elif which == "fallocate":
                    os.posix_fallocate(fd, 0, 8192)
                elif which == "seek":
                    os.lseek(fd, 0, rng.choice([os.SEEK_DATA, os.SEEK_HOLE]))
                else:
                    os.copy_file_range(fd, fd, 16, 0, 8192)
        finally:
            os.close(fd)

    choices: list[tuple[str, Any]] = [
        (f"write {f}", write_file),
        (f"read {f}", read_file),
        (f"fd-session {f}", fd_session),
        (f"stat {anything}", lambda: os.stat(anything)),
        (f"lstat {anything}", lambda: os.lstat(anything)),
        (f"listdir {d}", lambda: os.listdir(d)),
        (f"scandir {root}", lambda: [(e.name, e.stat(follow_symlinks=False)) for e in os.scandir(root)]),
        (f"mkdir {d}", lambda: os.mkdir(d)),
        (f"rmdir {d}", lambda: os.rmdir(d)),
        (f"unlink {f}", lambda: os.unlink(f)),
        (f"rename {f} {g}", lambda: os.rename(f, g)),
        (f"truncate {f}", lambda: os.truncate(f, rng.choice([0, 7, 9000]))),
        (f"setxattr {anything}", lambda: os.setxattr(anything, "user.chaos", data[:64])),
        (f"getxattr {anything}", lambda: os.getxattr(anything, "user.chaos")),
        (f"listxattr {anything}", lambda: os.listxattr(anything)),
        (f"removexattr {anything}", lambda: os.removexattr(anything, "user.chaos")),
        # relative: an absolute target inside the mount would make the brick's own system
        # calls (posix's statfs follows a symlink's handle) re-enter this client
        (f"symlink {f}", lambda: os.symlink(os.path.relpath(f, root), os.path.join(root, "l0"))),
        ("readlink l0", lambda: os.readlink(os.path.join(root, "l0"))),
        (f"link {f}", lambda: os.link(f, os.path.join(root, "h0"))),
        (f"chmod {anything}", lambda: os.chmod(anything, 0o640)),
        (f"utime {anything}", lambda: os.utime(anything, (1, 2))),
        (f"chown {anything}", lambda: os.chown(anything, 0, 0)),
        (f"statvfs {anything}", lambda: os.statvfs(anything)),
        (f"access {anything}", lambda: os.access(anything, os.R_OK)),
    ]
    weights = [8, 8, 8, 6, 3, 4, 2, 3, 2, 4, 3, 2, 3, 3, 2, 2, 1, 1, 1, 2, 1, 1, 2, 1]
    return rng.choices(choices, weights=weights)[0]


def _worker(conn: Connection, root: str, seed: int, until: float) -> None:
    """The forked child: announce each call, make it, report how it ended."""
    rng = random.Random(seed)
    n = 0
    try:
        while time.monotonic() < until:
            what, thunk = _op(rng, root)
            conn.send(("start", n, what))
            try:
                thunk()
                outcome: tuple = ("ok",)
            except OSError as e:
                outcome = ("errno", e.errno, e.strerror)
            except BaseException as e:  # noqa: BLE001 - reported, the contract forbids it
                outcome = ("exception", type(e).__name__, str(e)[:300])
            conn.send(("end", n, outcome))
            n += 1
        conn.send(("done", n, None))
    finally:
        conn.close()


@dataclass
class Run:
    """What a supervised workload saw."""

    watched: dict[str, int | None]  # what -> PID ("the client", "brick host:/path"...)
    calls: Counter[str] = field(default_factory=Counter)  # outcome kind -> count
    errnos: Counter[str] = field(default_factory=Counter)
    bad_failures: list[str] = field(default_factory=list)  # failed without a valid errno
    stalls: list[str] = field(default_factory=list)
    crashed: str | None = None  # why the client is considered dead
    stuck_workers: list[Any] = field(default_factory=list)  # killed in a system call: reaped after unmount




def supervise(mountpoint: Path | str, seed: int, seconds: float, watched: Mapping[str, int | None],
              op_timeout: float = 15.0) -> Run:
    """Run the workload on the mount for `seconds`, in forked children; a call that does not
    return within `op_timeout` is a stall (the child is killed and another one goes on, at
    most three times); the `watched` processes' PIDs are checked throughout."""
    ctx = multiprocessing.get_context("fork")
    run = Run(watched=dict(watched))
    end = time.monotonic() + seconds
    generation = 0
    while time.monotonic() < end and run.crashed is None and len(run.stalls) < 3:
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_worker, args=(send, str(mountpoint), seed * 1000 + generation, end),
                            daemon=True)
        child.start()
        send.close()
        generation += 1
        current: tuple[int, str, float] | None = None
        while True:
            if not receive.poll(0.5):
                run.crashed = run.crashed or gone(run.watched)
                if current is not None and time.monotonic() - current[2] > op_timeout:
                    run.stalls.append(f"{current[1]}: no answer in {op_timeout:.0f} s")
                if run.crashed or (current is not None and time.monotonic() - current[2] > op_timeout):
                    child.kill()  # SIGKILL: may stay in D state until the mount goes (see teardown)
                    run.stuck_workers.append(child)
                    break
                if not child.is_alive() and not receive.poll(0):
                    run.bad_failures.append(f"the workload process died (exit code {child.exitcode})")
                    break
                continue
            try:
                kind, n, payload = receive.recv()
            except EOFError:
                child.join(5)
                break
            if kind == "start":
                current = (n, payload, time.monotonic())
            elif kind == "end":
                assert current is not None
                took = time.monotonic() - current[2]
                run.calls[payload[0]] += 1
                if payload[0] == "errno":
                    run.errnos[errno.errorcode.get(payload[1], str(payload[1]))] += 1
                    if not (type(payload[1]) is int and 0 < payload[1] <= MAX_ERRNO):
                        run.bad_failures.append(f"{current[1]}: errno {payload[1]!r}")
                elif payload[0] == "exception":
                    run.bad_failures.append(f"{current[1]}: {payload[1]}: {payload[2]}")
                if took > op_timeout:
                    run.stalls.append(f"{current[1]}: answered after {took:.1f} s")
                current = None
                run.crashed = gone(run.watched)
                if run.crashed:
                    child.kill()
                    run.stuck_workers.append(child)
                    break
            else:  # done
                child.join(5)
                break
        receive.close()
    run.crashed = run.crashed or gone(run.watched)
    return run


def gone(watched: Mapping[str, int | None]) -> str | None:
    """Which watched process is gone (or had no PID to watch), or None if all are alive."""
    for what, pid in watched.items():
        if pid is None or not _proc.pid_alive(pid):
            return f"{what} (PID {pid}) is gone"
    return None


def release(m: FuseMount, run: Run | None) -> None:
    """Unmount, and reap the workers killed inside a system call.

    After a stall or a crash the client may be deadlocked, or even unable to die (a
    thread of its own waiting in its mount): abort the mount's FUSE connection first,
    so that every pending request fails ENOTCONN and the stuck workers die, then end
    the client (by the PID in its pid file) and unmount."""
    if run is not None and (run.stalls or run.crashed):
        m.abort()
        pid = m.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _proc.pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
    m.unmount()
    if run is not None:
        for child in run.stuck_workers:
            child.join(10)


def crash_report(logs: Sequence[Path | str], marker: str = "chaos #", decisions: int = 12) -> str:
    """Around the first crash ("signal received") in any of `logs`: the lines with
    `marker` (chaos decisions) logged before it, and the crash lines; else each log's tail."""
    parts = []
    for log in logs:
        try:
            lines = Path(log).read_text(errors="replace").splitlines()
        except OSError:
            parts.append(f"{log}: (no log)")
            continue
        at = next((i for i, line in enumerate(lines) if "signal received" in line), None)
        before = lines[:at] if at is not None else lines
        chosen = [line for line in before if marker in line][-decisions:]
        crash = lines[at:at + 30] if at is not None else lines[-8:]
        parts.append(f"{log}: last decisions:\n  " + "\n  ".join(chosen) + "\nthen:\n  " + "\n  ".join(crash))
    return "\n".join(parts)


def log_lines(log: Path | str, needle: str) -> list[str]:
    """Lines of a GlusterFS log containing `needle`, without their timestamps."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return []
    return [line.split("] ", 1)[-1][:300] for line in text.splitlines() if needle in line]


def rss_bytes(pid: int) -> int:
    """The resident memory of process `pid` (VmRSS), in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    return 1024 * next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))


def cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used (user and system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_call(fn: Any, *args: Any) -> tuple[float, int]:
    """(seconds, errno or 0) of one call of a system call wrapper such as os.stat."""
    start = time.monotonic()
    try:
        fn(*args)
        err = 0
    except OSError as e:
        err = e.errno
    return time.monotonic() - start, err


def timed_stat(path: Path | str) -> tuple[float, int]:
    """(seconds, errno or 0) of one stat(2): how long one lookup took, and how it ended."""
    return timed_call(os.stat, path)


def timed_getxattr(path: Path | str, name: str) -> tuple[float, int]:
    """(seconds, errno or 0) of one getxattr(2)."""
    return timed_call(os.getxattr, path, name)


def in_thread(fn: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """fn(*args) on a daemon thread: (the thread, a dict that gets "result" when it returns)."""
    out: dict[str, Any] = {}
    t = threading.Thread(target=lambda: out.__setitem__("result", fn(*args)), daemon=True)
    t.start()
    return t, out
