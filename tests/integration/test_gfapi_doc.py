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


def test_the_example_runs_its_translator_in_its_own_graph(volume: Volume, tmp_path: Path) -> None:
    program = tmp_path / "gfapi_upper.py"
    program.write_text(example())
    log = tmp_path / "gfapi-upper.log"
    proc = subprocess.run([sys.executable, str(program), volume.node.address, volume.name, str(log)],
                          capture_output=True, text=True, timeout=180)
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    tail = text[-3000:]
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n--- gfapi log ---\n{tail}"
    # as the page says: what the program reads went through Upper, in its interpreter
    assert proc.stdout == "HELLO FROM GFAPI\n", f"{proc.stdout!r}\n{proc.stderr}\n{tail}"
    assert "option module __main__:Upper" in text, tail  # the graph gfapi logged at init
    # and it cleaned up after itself; the bricks never had Upper
    brick = volume.info().bricks[0].path
    assert not (Path(brick) / "hello.txt").exists()
