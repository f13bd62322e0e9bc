"""docs/gfapi.md's example, run as its reader would: a Python program that opens a
real volume through gfapi with a translator of its own (defined in the program) in
its graph. The program is the page's first ``python`` block, run in a process of
its own against a volume of this module's glusterd."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import GlusterNode, Volume
from glupy.gluster import gfapi
from glupy.gluster.errors import GlusterNotInstalledError

DOC = Path(__file__).resolve().parents[2] / "docs" / "gfapi.md"


def example() -> str:
    """The program docs/gfapi.md shows: its first python block."""
    found = re.search(r"^```python\n(.*?)^```$", DOC.read_text(), re.S | re.M)
    assert found, f"no python block in {DOC}"
    return found.group(1)


@pytest.fixture(scope="module")
def volume(module_node: GlusterNode) -> Iterator[Volume]:
    try:
        gfapi.lib()
    except GlusterNotInstalledError as error:
        if os.environ.get("GLUPY_REQUIRE_GLUSTER") == "1":
            pytest.fail(str(error), pytrace=False)
        pytest.skip(str(error))
    vol = Volume.create(module_node, "gfdoc", [module_node.brick("gfdoc", 0)])
    try:
        vol.start()
        yield vol
    finally:
        vol.delete()


def run_program(source: str, name: str, volume: Volume, last_argument: Path,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """A Python program, saved next to `last_argument` as NAME.py, run with the volume's
    server, the volume's name and `last_argument` as its arguments."""
    program = (last_argument if last_argument.is_dir() else last_argument.parent) / f"{name}.py"
    program.write_text(source)
    return subprocess.run([sys.executable, str(program), volume.node.address, volume.name, str(last_argument)],
                          capture_output=True, text=True, timeout=timeout)


def test_the_example_runs_its_translator_in_its_own_graph(volume: Volume, tmp_path: Path) -> None:
    log = tmp_path / "gfapi-upper.log"
    proc = run_program(example(), "gfapi_upper", volume, log)
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    tail = text[-3000:]
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n--- gfapi log ---\n{tail}"
    # as the page says: what the program reads went through Upper, in its interpreter
    assert proc.stdout == "HELLO FROM GFAPI\n", f"{proc.stdout!r}\n{proc.stderr}\n{tail}"
    assert "option module __main__:Upper" in text, tail  # the graph gfapi logged at init
    # and it cleaned up after itself; the bricks never had Upper
    brick = volume.info().bricks[0].path
    assert not (Path(brick) / "hello.txt").exists()


def graph_program(translator: str, cls: str, main: str) -> str:
    """A gfapi program: the module-level `translator` source (defining class `cls`), a graph
    of the volume with it below the top as xlator ``keeper``, written to TMP/keeper.vol, then
    `main`, with `host`, `name` and `tmp` (its arguments) and `VOLFILE` bound."""
    return "\n".join([
        "import sys, threading, time",
        "from pathlib import Path",
        "import glupy",
        "from glupy.gluster import gfapi",
        "from glupy.gluster.volfile import Volfile, glupy_xlator",
        translator.strip(),
        "host, name, tmp = sys.argv[1], sys.argv[2], Path(sys.argv[3])",
        'with gfapi.Client(name, host, log_file=tmp / "plain.log") as plain:',
        "    graph = Volfile.parse(plain.get_volfile())",
        f'graph.insert_below_top(glupy_xlator("keeper", "__main__:{cls}"))',
        'VOLFILE = tmp / "keeper.vol"',
        "graph.write(VOLFILE)",
        main.strip(),
    ]) + "\n"


# Fixed bridge bug this guards (a sixth red-team session; native/types.c: Xlator objects were not cut loose
# when glfs_fini tore the graph down, as Inode, Fd and Loc objects are: read after Client.umount(), a kept
# child's type came back '' and the translator's own xlator's options crashed the program with SIGSEGV)
AFTER_FINI = graph_program('''
KEPT = []
class Keeper(glupy.Translator):
    def init(self):
        KEPT.append(self)
    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
''', "Keeper", '''
with gfapi.Client(name, volfile=VOLFILE, log_file=tmp / "keeper.log") as vol:
    vol.write_file("/kept", b"x")
    print("before:", KEPT[0].child.xlator.type, flush=True)
inst = KEPT[0]
for what, read in (("child's name", lambda: inst.child.xlator.name), ("child's type", lambda: inst.child.xlator.type),
                   ("child's options", lambda: inst.child.xlator.options),
                   ("own options", lambda: inst._glupy_xlator.options),
                   ("children", lambda: inst._glupy_xlator.children), ("repr", lambda: repr(inst.child.xlator))):
    try:
        print(what, "->", repr(read()), flush=True)
    except RuntimeError as error:
        print(what, "-> RuntimeError:", error, flush=True)
''')


def test_a_translators_xlator_objects_kept_past_glfs_fini_raise(volume: Volume, tmp_path: Path) -> None:
    proc = run_program(AFTER_FINI, "after_fini", volume, tmp_path)
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"before: \w+/[\w-]+", lines[0]), lines  # while the graph lives: its child's type
    gone = "RuntimeError: this object belonged to a GlusterFS graph that has been torn down (glfs_fini)"
    assert lines[1:] == [f"{what} -> {gone}" for what in ("child's name", "child's type", "child's options",
                                                            "own options", "children")] + [
        "repr -> '<Xlator of a graph torn down>'"], lines


# The main part of a program timing its Client.umount(): its client's log is TMP/umount.log.
TIMED_UMOUNT = '''
vol = gfapi.Client(name, volfile=VOLFILE, log_file=tmp / "umount.log")
vol.__enter__()
vol.write_file("/umount-timed", b"x")
start = time.monotonic()
vol.__exit__(None, None, None)
print(f"umount returned after {time.monotonic() - start:.0f} s", flush=True)
'''


def umount_seconds(proc: subprocess.CompletedProcess[str]) -> int:
    """How long a TIMED_UMOUNT program's Client.umount() took; it must have ended well."""
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return int(re.fullmatch(r"umount returned after (\d+) s\n", proc.stdout).group(1))


# Fixed bridge bug this guards (a sixth red-team session; native/bridge.c fini: the fini hook ran on the thread
# calling glfs_fini with no bound: one that blocked hung the program's Client.umount() for good)
FINI_BLOCKS = graph_program('''
class FiniBlocks(glupy.Translator):
    def fini(self):
        threading.Event().wait()  # joining a thread that never ends
    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
''', "FiniBlocks", TIMED_UMOUNT)


def test_a_fini_hook_that_blocks_does_not_hang_the_programs_umount(volume: Volume, tmp_path: Path) -> None:
    proc = run_program(FINI_BLOCKS, "fini_blocks", volume, tmp_path, timeout=120)
    assert umount_seconds(proc) <= 30, proc.stdout  # the hook's 10 s, and glfs_fini's own (~10 s, libgfapi 10.3)
    log = (tmp_path / "umount.log").read_text()
    assert "the fini hook still running after 10 s: the translator is torn down without waiting" in log


# Fixed bridge bug this guards (a sixth red-team session, F10; native/types.c: a memoryview of a one-piece
# Buffer pointed into GlusterFS's iobufs, which glfs_fini frees: kept past Client.umount(), reading it
# crashed the program with SIGSEGV). In a gfapi program the data is copied when first viewed.
KEEPS_VIEWS = graph_program('''
VIEWS = []
class KeepsViews(glupy.Translator):
    async def writev(self, fd, data, offset, flags, xdata):
        VIEWS.append(memoryview(data))  # no copy, as a cache or a dedup index would keep it
        return await self.child.writev(fd, data, offset, flags, xdata)
''', "KeepsViews", '''
with gfapi.Client(name, volfile=VOLFILE, log_file=tmp / "views.log") as vol:
    vol.write_file("/views", b"A" * (1 << 20))
    print("during:", sorted({bytes(v[:4]) for v in VIEWS}), flush=True)
junk = [bytearray(b"z" * (1 << 20)) for _ in range(192)]  # the freed memory is reused by then
print("after:", sorted({bytes(v[:4]) for v in VIEWS}), sum(v.nbytes for v in VIEWS), flush=True)
''')


def test_a_view_of_a_fops_data_kept_past_glfs_fini_still_reads_it(volume: Volume, tmp_path: Path) -> None:
    proc = run_program(KEEPS_VIEWS, "keeps_views", volume, tmp_path)
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert proc.stdout.splitlines() == ["during: [b'AAAA']", f"after: [b'AAAA'] {1 << 20}"], proc.stdout


# Fixed bridge bug this guards (a seventh red-team session; native/bridge.c fini: the translator's instance was
# dropped on the thread calling glfs_fini, so an attribute's __del__ that blocked, a client library closing a
# socket to a dead server, hung the program's Client.umount() for good)
DEL_BLOCKS = graph_program('''
class _Connection:
    def __del__(self):
        threading.Event().wait()
class HoldsConnection(glupy.Translator):
    def init(self):
        self.connection = _Connection()
    async def stat(self, loc, xdata):
        return await self.child.stat(loc, xdata)
''', "HoldsConnection", TIMED_UMOUNT)


def test_a_del_that_blocks_in_the_translator_does_not_hang_the_programs_umount(volume: Volume,
                                                                                tmp_path: Path) -> None:
    proc = run_program(DEL_BLOCKS, "del_blocks", volume, tmp_path, timeout=90)
    assert umount_seconds(proc) <= 20, proc.stdout  # glfs_fini's own (up to ~10 s with libgfapi 10.3)


# Fixed bridge bug this guards (a sixth red-team session, F12; native/bridge.c fini: observations still queued
# for a slow observer when the program closed its Client ran after glfs_fini had freed their inodes, fds and
# buffers, and the program died of SIGSEGV). Now fini drops them unseen while those still exist.
SLOW_OBSERVER = graph_program('''
SEEN = []
class SlowObserver(glupy.Translator):
    @glupy.observer
    def writev(self, fd, data, offset, flags, xdata, reply):
        time.sleep(0.5)  # an audit log on a slow store
        SEEN.append(reply.op_ret)
''', "SlowObserver", '''
with gfapi.Client(name, volfile=VOLFILE, log_file=tmp / "slow.log") as vol:
    for i in range(40):
        vol.write_file(f"/slow-{i}", b"data")
seen = len(SEEN)
time.sleep(5)  # the observer thread would go on with what was queued
print("observed", seen, len(SEEN), flush=True)
''')


def test_observations_still_queued_when_the_program_closes_its_client_are_dropped(volume: Volume,
                                                                                  tmp_path: Path) -> None:
    proc = run_program(SLOW_OBSERVER, "slow_observer", volume, tmp_path)
    assert proc.returncode == 0, f"{proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    seen, later = map(int, re.fullmatch(r"observed (\d+) (\d+)\n", proc.stdout).groups())
    assert 0 < seen < 40 and later == seen, proc.stdout  # some were seen, the rest dropped, none after
    assert "observations or context releases of this translator still waited: dropped unseen" in (
        tmp_path / "slow.log").read_text()
