"""Chaos on real GlusterFS: a FUSE client over a local posix directory, no glusterd.

glupy.testing.chaos:Chaos sits right above storage/posix and spoils a share of
the FOPs in every way a careless translator author could (see its module doc),
while a mixed workload of ordinary system calls runs on the mount. The contract:

* the glusterfs client process survives: same PID afterwards, no
  "signal received" in its log;
* every system call returns, in time (none waits longer than OP_TIMEOUT), and
  every one that fails fails with an errno (OSError with 0 < errno <= 4095);
* once Chaos is disarmed, a file written through the mount reads back, through
  the mount and on the brick.

The workload runs in a forked child process that announces each system call
before making it, so that a call that never returns is seen (and the child
killed) instead of wedging the test; the client's PID is watched meanwhile.
Chaos logs one line per spoiled FOP (``chaos #N FOP: misbehaviour``), so a
failure message can quote the decisions logged just before a crash.

GLUPY_CHAOS_SECONDS (default 20) sets the mixed run's length (the per-family runs
take a quarter of it, the blocking run half); GLUPY_CHAOS_EACH=1 also runs every
misbehaviour alone for 4 seconds (about 3 minutes in all).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from glupy.gluster import FuseMount
from glupy.gluster import _proc
from glupy.testing.fixtures import posix_mount
from glupy.testing.chaos import ARMED_XATTR, COUNTS_XATTR, DEFAULT_FAMILIES, misbehaviours_of


# Work in progress (issue 11): these runs still find crashes and contract gaps in
# today's bridge (see the note: winds to FOPs posix lacks, replies naming
# another fd/inode, op_ret above the request). Run them with GLUPY_CHAOS=1 until fixed.
pytestmark = pytest.mark.skipif(os.environ.get("GLUPY_CHAOS") != "1",
                                reason="chaos fuzzing: known failures in progress, set GLUPY_CHAOS=1")


MAX_ERRNO = 4095
#: a system call taking longer than this is a stall (Chaos's default modes never block)
OP_TIMEOUT = 15.0
#: the bridge's fop-timeout for the Chaos translator: a FOP stuck in Python is answered by then
FOP_TIMEOUT = "5"
SECONDS = float(os.environ.get("GLUPY_CHAOS_SECONDS", "20"))
INSTALLED_BRIDGE = Path("/usr/lib/x86_64-linux-gnu/glusterfs/10.3/xlator/user/glupy.so")


@pytest.fixture(autouse=True)
def _needs_fuse() -> None:
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")
    if not INSTALLED_BRIDGE.exists():
        pytest.skip(f"the bridge is not installed ({INSTALLED_BRIDGE}): make install")


def chaos_mount(state: Path, label: str, **options: str) -> FuseMount:
    """A FUSE client of storage/posix over state/brick-LABEL with Chaos (disarmed, deciding
    from its seed once armed) above posix; entry and attribute caches off so that every
    path walk reaches the translators."""
    opts = {"armed": "off", "log-decisions": "on", "fop-timeout": FOP_TIMEOUT, **options}
    return posix_mount(state, label, ("glupy.testing.chaos:Chaos", opts), brick=state / f"brick-{label}")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chaos-fuse")


# ------------------------------------------------------------------ the workload (in a forked child)


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
        (f"symlink {f}", lambda: os.symlink(f, os.path.join(root, "l0"))),
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

    pid: int | None
    calls: Counter[str] = field(default_factory=Counter)  # outcome kind -> count
    errnos: Counter[str] = field(default_factory=Counter)
    bad_failures: list[str] = field(default_factory=list)  # failed without a valid errno
    stalls: list[str] = field(default_factory=list)
    crashed: str | None = None  # why the client is considered dead
    stuck_workers: list[Any] = field(default_factory=list)  # killed in a system call: reaped after unmount


def supervise(m: FuseMount, seed: int, seconds: float) -> Run:
    """Run the workload on the mount for `seconds`, in forked children; a call that does not
    return within OP_TIMEOUT is a stall (the child is killed and another one goes on, at
    most three times); the client's PID is checked throughout."""
    ctx = multiprocessing.get_context("fork")
    run = Run(pid=m.pid)
    end = time.monotonic() + seconds
    generation = 0
    while time.monotonic() < end and run.crashed is None and len(run.stalls) < 3:
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_worker, args=(send, str(m.mountpoint), seed * 1000 + generation, end),
                            daemon=True)
        child.start()
        send.close()
        generation += 1
        current: tuple[int, str, float] | None = None
        while True:
            if not receive.poll(0.5):
                if not _alive(run.pid):
                    run.crashed = f"the client (PID {run.pid}) is gone"
                if current is not None and time.monotonic() - current[2] > OP_TIMEOUT:
                    run.stalls.append(f"{current[1]}: no answer in {OP_TIMEOUT:.0f} s")
                if run.crashed or (current is not None and time.monotonic() - current[2] > OP_TIMEOUT):
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
                if took > OP_TIMEOUT:
                    run.stalls.append(f"{current[1]}: answered after {took:.1f} s")
                current = None
                if not _alive(run.pid):
                    run.crashed = f"the client (PID {run.pid}) is gone"
                    child.kill()
                    run.stuck_workers.append(child)
                    break
            else:  # done
                child.join(5)
                break
        receive.close()
    if run.crashed is None and not _alive(run.pid):
        run.crashed = f"the client (PID {run.pid}) is gone"
    return run


def _alive(pid: int | None) -> bool:
    return pid is not None and _proc.pid_alive(pid)


def release(m: FuseMount, run: Run | None) -> None:
    """Unmount, and reap the workers killed inside a system call.

    After a stall the client may be deadlocked: then ``umount`` itself blocks in the
    kernel waiting for the client, and so would FuseMount.unmount. Ending the client
    first (this mount's own process, by the PID in its pid file) aborts the FUSE
    connection: every pending request fails ENOTCONN, the stuck workers die, and the
    unmount goes through."""
    if run is not None and run.stalls:
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


# ------------------------------------------------------------------ diagnostics


def crash_report(m: FuseMount, decisions: int = 12) -> str:
    """The client log around a crash: the chaos decisions logged before it, and the crash lines."""
    try:
        text = Path(m.log_file).read_text(errors="replace")
    except OSError:
        return "(no client log)"
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if "signal received" in line), None)
    before = lines[:at] if at is not None else lines
    chosen = [line for line in before if "chaos #" in line][-decisions:]
    crash = lines[at:at + 30] if at is not None else lines[-15:]
    return ("last chaos decisions:\n  " + "\n  ".join(chosen) + "\nthen:\n  " + "\n  ".join(crash))


def log_lines(m: FuseMount, needle: str) -> list[str]:
    """Client log lines containing `needle`, without their timestamps."""
    try:
        text = Path(m.log_file).read_text(errors="replace")
    except OSError:
        return []
    return [line.split("] ", 1)[-1][:300] for line in text.splitlines() if needle in line]


def log_mentions(m: FuseMount, needle: str) -> bool:
    try:
        return needle in Path(m.log_file).read_text(errors="replace")
    except OSError:
        return False


def set_armed(m: FuseMount, armed: bool, attempts: int = 100) -> None:
    """Arm or disarm Chaos through its control xattr on the mount's root.

    Chaos answers the setxattr itself, but the kernel first refreshes the root's
    attributes (GlusterFS mounts with default_permissions, attribute timeout 0),
    which fuse-bridge sends as a lookup of the root that Chaos may spoil: retry."""
    for attempt in range(attempts):
        try:
            os.setxattr(m.mountpoint, ARMED_XATTR, b"1" if armed else b"0")
            return
        except OSError as e:
            if e.errno != errno.EIO or attempt == attempts - 1:
                raise
            time.sleep(0.01)


def chaos_counts(m: FuseMount) -> dict[str, int]:
    """Chaos's counts, from its control xattr (answered by Chaos itself; read it disarmed)."""
    return json.loads(os.getxattr(m.mountpoint, COUNTS_XATTR))


def bridge_id() -> str:
    """Which build of the bridge ran (it changes while the bridge is worked on)."""
    digest = hashlib.sha256(INSTALLED_BRIDGE.read_bytes()).hexdigest()[:12]
    return f"{INSTALLED_BRIDGE.name} sha256 {digest}, built {time.ctime(INSTALLED_BRIDGE.stat().st_mtime)}"


def check_contract(m: FuseMount, run: Run, what: str) -> dict[str, int]:
    """The contract after a supervised run; Chaos's counts when the client is alive."""
    context = (f"{what}; {bridge_id()}; calls {dict(run.calls)}; errnos {dict(run.errnos.most_common(8))}; "
               f"client log {m.log_file}")
    assert run.pid is not None, f"no client PID at the start ({context})"
    assert run.crashed is None and m.pid == run.pid, \
        f"{run.crashed or 'the client PID changed'} ({context})\n{crash_report(m)}"
    assert not log_mentions(m, "signal received"), f"the client caught a signal ({context})\n{crash_report(m)}"
    assert not run.stalls, f"system calls stalled ({context}):\n  " + "\n  ".join(run.stalls)
    assert not run.bad_failures, f"calls failed without an errno ({context}):\n  " + "\n  ".join(run.bad_failures[:20])
    try:
        set_armed(m, False)
    except OSError as e:
        critical = "\n  ".join(log_lines(m, " C [")[-5:]) or "(none)"
        raise AssertionError(f"the client is alive but its mount no longer serves: disarming failed 100 times "
                             f"({e}) ({context})\ncritical log lines:\n  {critical}") from None
    counts = chaos_counts(m)
    assert counts.get("fops", 0) - counts.get("passed", 0) > 0, f"Chaos spoiled nothing: {counts}"
    return counts


def clean_file_reads_back(m: FuseMount, brick: Path, label: str) -> None:
    """Disarmed, the mount serves a fresh file end to end."""
    set_armed(m, False)
    payload = b"written after the chaos " + label.encode() * 5000
    path = m.mountpoint / f"clean-{label}"
    path.write_bytes(payload)
    assert path.read_bytes() == payload
    assert os.stat(path).st_size == len(payload)
    assert (brick / f"clean-{label}").read_bytes() == payload
    assert f"clean-{label}" in os.listdir(m.mountpoint)
    path.unlink()


def chaos_run(state: Path, label: str, seed: int, rate: float, seconds: float, modes: str | None = None,
              **extra: str) -> tuple[FuseMount, Run]:
    """Mount, arm, supervise the workload, and leave the mount to the caller (see release)."""
    options = {"seed": str(seed), "rate": str(rate), **extra}
    if modes is not None:
        options["modes"] = modes
    m = chaos_mount(state, label, **options)
    try:
        set_armed(m, True)
        run = supervise(m, seed, seconds)
    except BaseException:
        release(m, None)
        raise
    return m, run


# ------------------------------------------------------------------ the tests


def test_mixed_chaos_on_a_fuse_client(state: Path) -> None:
    """Every non-blocking misbehaviour, on a fifth of the FOPs, for SECONDS seconds."""
    seed, rate = 20240611, 0.2
    m, run = chaos_run(state, "mixed", seed, rate, SECONDS)
    try:
        counts = check_contract(m, run, f"seed={seed} rate={rate} modes=default")
        for family in DEFAULT_FAMILIES:
            assert counts.get(family, 0) > 0, f"no {family} misbehaviour happened: {counts}"
        clean_file_reads_back(m, state / "brick-mixed", "mixed")
        assert m.pid == run.pid
    finally:
        release(m, run)


@pytest.mark.parametrize("family", DEFAULT_FAMILIES)
def test_each_family_on_a_fuse_client(state: Path, family: str) -> None:
    """One family at a time, half the FOPs, a quarter of SECONDS: which family breaks what."""
    seed, rate = 7 + DEFAULT_FAMILIES.index(family), 0.5
    m, run = chaos_run(state, f"family-{family}", seed, rate, max(3.0, SECONDS / 4), modes=family)
    try:
        check_contract(m, run, f"seed={seed} rate={rate} modes={family}")
        clean_file_reads_back(m, state / f"brick-family-{family}", family)
    finally:
        release(m, run)


def test_blocking_handlers_on_a_fuse_client(state: Path) -> None:
    """The blocking family (never on by default): handlers that sleep or spin for a second
    only delay their FOP; ones that never finish are answered (ETIMEDOUT) once the bridge's
    fop-timeout has passed, and the client goes on serving."""
    seed, rate = 4, 0.05
    m, run = chaos_run(state, "blocking", seed, rate, max(5.0, SECONDS / 2), modes="sleep,spin,hang,hang_on_loop",
                       **{"block-seconds": "1"})
    try:
        counts = check_contract(m, run, f"seed={seed} rate={rate} modes=blocking")
        assert counts.get("blocking", 0) > 0, counts
        if counts.get("block_hang", 0) + counts.get("hang_on_loop", 0):
            assert log_lines(m, "did not answer within"), "a hung FOP was answered without a log line"
        clean_file_reads_back(m, state / "brick-blocking", "blocking")
    finally:
        release(m, run)


@pytest.mark.skipif(os.environ.get("GLUPY_CHAOS_EACH") != "1", reason="GLUPY_CHAOS_EACH=1 runs this (~4 min)")
@pytest.mark.parametrize("name", misbehaviours_of(DEFAULT_FAMILIES))
def test_each_misbehaviour_on_a_fuse_client(state: Path, name: str) -> None:
    """One misbehaviour at a time, on half the FOPs, for 4 seconds."""
    seed, rate = 31, 0.5
    m, run = chaos_run(state, f"each-{name}", seed, rate, 4.0, modes=name)
    try:
        check_contract(m, run, f"seed={seed} rate={rate} modes={name}")
        clean_file_reads_back(m, state / f"brick-each-{name}", name)
    finally:
        release(m, run)
