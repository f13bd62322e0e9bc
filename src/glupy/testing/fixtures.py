"""pytest fixtures for testing translators in the in-process harness.

Enable them in your ``conftest.py``::

    pytest_plugins = ["glupy.testing.fixtures"]

Then::

    from glupy.testing.harness import PosixBackend

    def test_refuses(glupy_harness):
        h = glupy_harness(MyTranslator, ttl="1")      # options of MyTranslator
        h.create("/f", b"data")
        assert h.read("/f") == b"data"

    def test_two_children(glupy_harness):
        h = glupy_harness.graph((Mirror, {"mode": "sync"}), children=2)   # two fresh bricks
        h.create("/f", b"x")
        assert glupy_harness.bricks[1].joinpath("f").read_bytes() == b"x"

Every harness made by the fixture is closed at the end of the test (open fds
released, inodes forgotten, fini called).
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pytest

from glupy.gluster import FuseMount, Volume, xlators
from glupy.gluster.volfile import Volfile
from glupy.gluster._proc import pid_alive
from glupy.testing.harness import Harness, PosixBackend
from glupy.testing.workload import log_lines, timed_stat

__all__ = ["HarnessFactory", "glupy_harness"]


class HarnessFactory:
    """Makes harnesses over directories under the test's tmp_path; closes them at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.harnesses: list[Harness] = []
        self.bricks: list[Path] = []

    def brick(self) -> Path:
        """A fresh, empty backing directory."""
        path = self.tmp_path / f"brick{len(self.bricks)}"
        path.mkdir(parents=True, exist_ok=False)
        self.bricks.append(path)
        return path

    def __call__(self, *translators: Any, root: Path | str | PosixBackend | None = None,
                 **options: Any) -> Harness:
        """``glupy_harness(A, B, ..., **options)``: A over B over ... over a PosixBackend.

        Keyword options (underscores become dashes) are options of the first (top)
        translator; give the others as ``(cls, {"key": "value"})``. ``root`` is the
        backing directory (default: a fresh one under tmp_path, see :attr:`bricks`).
        """
        if options:
            if not translators:
                raise TypeError("options were given but no translator")
            first = translators[0]
            cls, opts, *rest = first if isinstance(first, tuple) else (first, {})
            merged = {**dict(opts or {}), **{k.replace("_", "-"): v for k, v in options.items()}}
            translators = ((cls, merged, *rest), *translators[1:])
        h = Harness(root if root is not None else self.brick(), *translators)
        self.harnesses.append(h)
        return h

    def graph(self, top: Any, children: int | Sequence[Any] = 2) -> Harness:
        """A harness over a graph: ``top`` over `children` (a number of fresh bricks, or a list of
        Nodes, PosixBackends and paths)."""
        if isinstance(children, int):
            children = [PosixBackend(self.brick(), name=f"posix-{i}") for i in range(children)]
        h = Harness.graph(top, children)
        self.harnesses.append(h)
        return h

    def close(self) -> None:
        for h in reversed(self.harnesses):
            h.close()
        self.harnesses.clear()


@pytest.fixture
def glupy_harness(tmp_path: Path) -> Iterator[HarnessFactory]:
    """Factory of :class:`glupy.testing.harness.Harness` objects backed by tmp_path; see the module doc."""
    factory = HarnessFactory(tmp_path)
    yield factory
    factory.close()



def bridge_under_test() -> str:
    """The bridge the local volfiles of the tests load: user/NAME.so, NAME from
    $GLUPY_TEST_XLATOR (default ``glupy``), so that a build installed under another name
    can be tested beside the installed one."""
    return os.environ.get("GLUPY_TEST_XLATOR", "glupy")


def posix_mount(state: Path, label: str, *stack: tuple[str, Mapping[str, str]],
                brick: Path | None = None) -> FuseMount:
    """A real FUSE client (no glusterd) of storage/posix over `brick` with glupy translators
    stacked above it, bottom first: each ``(class, options)``, the class a name in
    glupy.testing.translators or ``"module:Class"``, or a GlusterFS translator's type
    (``"performance/io-threads"``: replies then come on its threads). The default brick
    is state/brick, holding a file ``f`` (``12345``). Entry and attribute caches are off,
    so every path walk reaches the translators. Mounted; the caller unmounts."""
    if brick is None:
        brick = state / "brick"
        if not brick.exists():
            brick.mkdir()
            (brick / "f").write_bytes(b"12345")
    brick.mkdir(exist_ok=True)
    lines = ["volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume"]
    below = "posix"
    for i, (spec, options) in enumerate(stack):
        if "/" in spec:  # a GlusterFS translator: performance/io-threads...
            name, xlator_type, settings = f"{spec.rpartition('/')[2]}-{i}", spec, dict(options)
        else:
            module, _, cls = spec.rpartition(":")
            name, xlator_type = f"{cls.lower()}-{i}", f"user/{bridge_under_test()}"
            settings = {"module": module or "glupy.testing.translators", "class": cls, **options}
        lines += [f"volume {name}", f"    type {xlator_type}", *(f"    option {k} {v}" for k, v in settings.items()),
                  f"    subvolumes {below}", "end-volume"]
        below = name
    vf = state / f"{label}.vol"
    vf.write_text("\n".join(lines) + "\n")
    m = FuseMount.from_volfile(vf, state / f"mnt-{label}", log_file=state / f"{label}-client.log",
                               extra_args=["--attribute-timeout=0", "--entry-timeout=0"])
    m.mount()
    return m


def mounts_with_and_without(vol: Volume, graph: Volfile, state: Path, mnt: Path, prefix: str,
                            extra_args: Sequence[str] = ()) -> list[FuseMount]:
    """[with, plain]: FUSE mounts of `vol`, the first of `graph` (its client volfile with
    translators added), the second of the volfile as glusterd serves it; volfiles and logs
    in `state`, mount points ``mnt/PREFIX-with`` and ``mnt/PREFIX-plain``. Mounted in that
    order; what was mounted is unmounted again if one fails."""
    state.mkdir(parents=True, exist_ok=True)
    graph.write(state / "with.vol")
    Volfile.read(vol.client_volfile()).write(state / "plain.vol")
    made: list[FuseMount] = []
    try:
        for label in ("with", "plain"):
            m = FuseMount.from_volfile(state / f"{label}.vol", mnt / f"{prefix}-{label}",
                                       log_file=state / f"{label}.log", extra_args=list(extra_args))
            m.mount()
            made.append(m)
    except BaseException:
        for m in reversed(made):
            m.unmount()
        raise
    return made


def unmount_checked(made: Sequence[FuseMount]) -> None:
    """Unmount what :func:`mounts_with_and_without` made; then fail if a client crashed or
    the first one's translators did not start."""
    if not made:
        return
    logs = [m.log_tail(400) for m in made]
    for m in reversed(made):
        m.unmount()
    for log in logs:
        assert "signal received" not in log, log
    assert "cannot start translator" not in logs[0], logs[0]


def skip_without_fuse() -> None:
    """pytest.skip unless this is root with /dev/fuse and the bridge under test is installed."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")
    if not (xlators.xlator_dir() / "user" / f"{bridge_under_test()}.so").exists():
        pytest.skip(f"the bridge is not installed as user/{bridge_under_test()}.so: make install")


def misbehaving_mount(state: Path, label: str, spec: str, **options: str) -> FuseMount:
    """:func:`posix_mount` of one translator `spec` (``"module:Class"``) over
    state/brick-LABEL, which holds files other, f and g (``12345``) and a directory d with
    three files; options' underscores become dashes. The client log of an earlier run is
    removed first, so that its crash lines are this run's."""
    brick = state / f"brick-{label}"
    brick.mkdir(exist_ok=True)
    for name in ("other", "f", "g"):
        (brick / name).write_bytes(b"12345")
    (brick / "d").mkdir(exist_ok=True)
    for i in range(3):
        (brick / "d" / f"e{i}").write_bytes(b"x")
    (state / f"{label}-client.log").unlink(missing_ok=True)
    return posix_mount(state, label, (spec, {k.replace("_", "-"): v for k, v in options.items()}), brick=brick)


def stop_mount(m: FuseMount) -> None:
    """Unmount `m`; a client that is wedged, or dead under its mount, is aborted and killed
    by its PID first."""
    pid = m.pid
    if pid is not None and not m.is_mounted():
        os.kill(pid, signal.SIGKILL)
    try:
        m.unmount()
    except Exception:  # noqa: BLE001 - a wedged client: abort its connection, kill it, unmount
        m.abort()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        m.unmount()


@contextmanager
def misbehaving_mounts(state: Path, module: str) -> Iterator[Callable[..., FuseMount]]:
    """``make(label, cls, **options)``: a :func:`misbehaving_mount` of ``module:cls``; every
    mount made is stopped (:func:`stop_mount`) at the end of the block."""
    mounts: list[FuseMount] = []

    def make(label: str, cls: str, **options: str) -> FuseMount:
        m = misbehaving_mount(state, label, f"{module}:{cls}", **options)
        mounts.append(m)
        return m

    try:
        yield make
    finally:
        for m in mounts:
            stop_mount(m)


def crash_lines(log: Path | str) -> list[str]:
    """The lines of a GlusterFS log that say its process crashed (signal, frame dump)."""
    return log_lines(log, "signal received") + log_lines(log, "frame : type(")


def assert_alive(m: FuseMount, pid: int | None) -> None:
    """The client of `m` is still the process `pid`, alive, with no crash in its log."""
    assert pid is not None
    # not a zombie either: a client dead of a stack overflow logs nothing and stays one
    assert m.pid == pid and pid_alive(pid), "the client died"
    assert not crash_lines(m.log_file), f"the client crashed: {crash_lines(m.log_file)[:3]}"


def assert_others_served(path: Path, n: int = 3) -> None:
    """n stats of `path` all succeed, each in under a second: the client serves other FOPs.
    `path` is best a name the client knows (a revalidation is not serialized by the kernel
    behind a lookup of another name in the same directory)."""
    others = [timed_stat(path) for _ in range(n)]
    assert all(err == 0 for _, err in others) and max(t for t, _ in others) < 1.0, others
