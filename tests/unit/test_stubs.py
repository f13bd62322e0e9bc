"""The type stubs of what glupy makes at import time (Child's FOPs, the replies, the Event and Fop enums).

They are generated from the FOP table (glupy._stubgen, ``make stubs``): the ones
shipped must be what the generator writes now, agree with the modules at run time
(mypy's stubtest), and let a type checker catch a translator's mistakes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import glupy
from glupy import _stubgen

ROOT = Path(glupy.__file__).parent
PROJECT = ROOT.parent.parent

GOOD = '''
    from __future__ import annotations

    import errno

    import glupy
    from glupy import Fd, Iatt, Loc, Xdata
    from glupy.replies import LookupReply, ReadvReply, WritevReply


    class Counter(glupy.Translator):
        """Counts lookups, refuses large writes, answers reads itself."""

        limit = glupy.Option(glupy.Size, default=glupy.Size(1 << 20), doc="largest write")
        hidden = glupy.Option(str, default=".secret")

        def init(self) -> None:
            self.lookups = 0

        def notify(self, event: glupy.Event, source: object) -> glupy.Event | None:
            return glupy.Event.SOME_DESCENDENT_DOWN if event == glupy.Event.CHILD_DOWN else None

        async def lookup(self, loc: Loc, xdata: Xdata | None) -> LookupReply:
            reply = await self.child.lookup(loc, xdata)
            self.lookups += 1
            self.log.info("lookup %s -> %s (%d bytes)", loc.path, reply.buf.gfid, reply.buf.size)
            if loc.name == self.hidden:
                raise glupy.FopError(errno.ENOENT)
            return reply

        async def writev(self, fd: Fd, data: glupy.Buffer | bytes, offset: int, flags: int,
                         xdata: Xdata | None) -> WritevReply:
            if len(data) > self.limit:
                raise glupy.FopError(errno.EFBIG)
            await glupy.gather(self.child.fstat(fd), self.children[-1].fstat(fd))
            reply = await self.child.writev(fd, data, offset, flags, xdata, lk_owner=b"me")
            post: Iatt = reply.postbuf
            self.log.debug("now %d bytes", post.size)
            return reply

        def readv(self, fd: Fd, size: int, offset: int, flags: int, xdata: Xdata | None) -> ReadvReply:
            return glupy.ReadvReply(data=b"x" * size, buf=Iatt(size=size))
'''

BAD = {
    "misspelt reply field": ('''
        import glupy
        from glupy import Loc, Xdata

        class T(glupy.Translator):
            async def lookup(self, loc: Loc, xdata: Xdata | None) -> glupy.LookupReply:
                reply = await self.child.lookup(loc, xdata)
                self.log.info("%s", reply.bufx)
                return reply
    ''', '"LookupReply" has no attribute "bufx"'),
    "wrong argument type": ('''
        import glupy
        from glupy import Loc, Xdata

        class T(glupy.Translator):
            async def lookup(self, loc: Loc, xdata: Xdata | None) -> glupy.LookupReply:
                return await self.child.lookup(loc.path, xdata)
    ''', 'Argument 1 to "lookup" of "Child" has incompatible type'),
    "reply of another FOP": ('''
        import glupy
        from glupy import Fd, Xdata

        class T(glupy.Translator):
            async def fstat(self, fd: Fd, xdata: Xdata | None) -> glupy.FstatReply:
                return await self.child.fsync(fd, 0, xdata)
    ''', 'Incompatible return value type (got "FsyncReply", expected "FstatReply")'),
}


def test_shipped_stubs_are_fresh() -> None:
    for name, text in _stubgen.stubs().items():
        path = ROOT / name
        assert path.exists(), f"{path} is missing: run `make stubs`"
        assert path.read_text() == text, f"{path} is stale: run `make stubs`"


def test_stubs_are_package_data() -> None:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    data = config["tool"]["setuptools"]["package-data"]["glupy"]
    assert "py.typed" in data and "*.pyi" in data


def test_every_fop_has_a_child_method_and_a_reply_class_in_the_stubs() -> None:
    from glupy.fop_table import FOPS

    child = (ROOT / "translator.pyi").read_text()
    replies = (ROOT / "replies.pyi").read_text()
    for fop in FOPS:
        assert f"    def {fop.name}(self, " in child
        assert f"-> Awaitable[{fop.reply_class}]:" in child
        assert f"\nclass {fop.reply_class}:\n" in replies


mypy = pytest.importorskip("mypy", reason="mypy (the test extra) is not installed")


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module's mypy runs: glupy and the standard library are analysed once."""
    return tmp_path_factory.mktemp("mypy-cache")


def run_mypy(tmp_path: Path, cache: Path, source: str) -> subprocess.CompletedProcess[str]:
    module = tmp_path / "translator_under_test.py"
    module.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                           "--cache-dir", str(cache), module.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_stubs_agree_with_the_modules_at_run_time(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy.stubtest", "--concise",
                           "glupy.translator", "glupy.replies", "glupy.types", "glupy.constants"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_type_checker_accepts_a_correct_translator(tmp_path: Path, mypy_cache: Path) -> None:
    proc = run_mypy(tmp_path, mypy_cache, GOOD)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("case", sorted(BAD))
def test_type_checker_refuses_a_wrong_translator(tmp_path: Path, mypy_cache: Path, case: str) -> None:
    source, message = BAD[case]
    proc = run_mypy(tmp_path, mypy_cache, source)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stdout, proc.stdout + proc.stderr


HARNESS_USER = '''
    from pathlib import Path

    from glupy.testing.harness import Harness
    from glupy.translators.passthrough import Passthrough


    def check(tmp_path: Path) -> None:
        with Harness(tmp_path, Passthrough) as h:
            h.create("/f", b"hi")
            assert h.client.read("/f") == h.read("/f")
            h.read(3)
            h.as_user(1000, 1000).stat("/f").sizee
'''


def test_type_checker_sees_the_harness_calls(tmp_path: Path, mypy_cache: Path) -> None:
    """The harness offers its client's calls (h.read is h.client.read) typed as the Client's."""
    proc = run_mypy(tmp_path, mypy_cache, HARNESS_USER)
    errors = [line for line in proc.stdout.splitlines() if "translator_under_test.py" in line]
    assert len(errors) == 2, proc.stdout + proc.stderr
    assert 'Argument 1 has incompatible type "int"; expected "str"' in errors[0]
    assert '"Iatt" has no attribute "sizee"' in errors[1]
