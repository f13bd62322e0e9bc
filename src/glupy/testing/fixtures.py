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
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest

from glupy.gluster import FuseMount
from glupy.testing.harness import Harness, PosixBackend

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
