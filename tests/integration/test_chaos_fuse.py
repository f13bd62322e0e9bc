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

The workload (glupy.testing.workload) runs in forked children that announce each
system call before making it, so that a call that never returns is seen instead
of wedging the test; the client's PID is watched meanwhile. Chaos logs one line per spoiled FOP (``chaos #N FOP: misbehaviour``), so a
failure message can quote the decisions logged just before a crash.

GLUPY_CHAOS_SECONDS (default 20) sets the mixed run's length (the per-family runs
take a quarter of it, the blocking run half); GLUPY_CHAOS_EACH=1 also runs every
misbehaviour alone for 4 seconds (about 3 minutes in all).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from glupy.gluster import FuseMount
from glupy.testing.fixtures import bridge_under_test, posix_mount
from glupy.testing.workload import Run, crash_report, log_lines, release, supervise
from glupy.testing.chaos import COUNTS_XATTR, DEFAULT_FAMILIES, misbehaviours_of, set_armed



MAX_ERRNO = 4095
#: a system call taking longer than this is a stall (Chaos's default modes never block)
OP_TIMEOUT = 15.0
#: the bridge's fop-timeout for the Chaos translator: a FOP stuck in Python is answered by then
FOP_TIMEOUT = "5"
SECONDS = float(os.environ.get("GLUPY_CHAOS_SECONDS", "20"))
INSTALLED_BRIDGE = Path(f"/usr/lib/x86_64-linux-gnu/glusterfs/10.3/xlator/user/{bridge_under_test()}.so")


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


def crash_text(m: FuseMount) -> str:
    return crash_report([m.log_file])


def log_mentions(m: FuseMount, needle: str) -> bool:
    try:
        return needle in Path(m.log_file).read_text(errors="replace")
    except OSError:
        return False


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
    assert run.watched["the client"] is not None, f"no client PID at the start ({context})"
    assert run.crashed is None and m.pid == run.watched["the client"], \
        f"{run.crashed or 'the client PID changed'} ({context})\n{crash_text(m)}"
    assert not log_mentions(m, "signal received"), f"the client caught a signal ({context})\n{crash_text(m)}"
    assert not run.stalls, f"system calls stalled ({context}):\n  " + "\n  ".join(run.stalls)
    assert not run.bad_failures, f"calls failed without an errno ({context}):\n  " + "\n  ".join(run.bad_failures[:20])
    try:
        set_armed(m.mountpoint, False)
    except OSError as e:
        critical = "\n  ".join(log_lines(m.log_file, " C [")[-5:]) or "(none)"
        raise AssertionError(f"the client is alive but its mount no longer serves: disarming failed 100 times "
                             f"({e}) ({context})\ncritical log lines:\n  {critical}") from None
    counts = chaos_counts(m)
    assert counts.get("fops", 0) - counts.get("passed", 0) > 0, f"Chaos spoiled nothing: {counts}"
    return counts


def clean_file_reads_back(m: FuseMount, brick: Path, label: str) -> None:
    """Disarmed, the mount serves a fresh file end to end."""
    set_armed(m.mountpoint, False)
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
        set_armed(m.mountpoint, True)
        run = supervise(m.mountpoint, seed, seconds, {"the client": m.pid}, OP_TIMEOUT)
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
        assert m.pid == run.watched["the client"]
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
            assert log_lines(m.log_file, "did not answer within"), "a hung FOP was answered without a log line"
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
