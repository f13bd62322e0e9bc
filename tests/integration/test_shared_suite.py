"""The shared translator suite (tests/shared/translator_suite.py) on a real GlusterFS volume.

The same test functions run in the in-process harness from tests/unit/test_harness.py;
here ``volume`` is a FUSE mount of a single-brick volume whose client graph has
``glupy.translators.passthrough`` inserted right below the top (io-stats), as
tests/integration/test_core.py does. The glusterd is this module's own on
127.1.1.6 with bricks on ports 29300-29399, so that other suites running on the
machine at the same time (other addresses) do not interfere.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount, GlusterNode, Volume
from glupy.gluster.volfile import Volfile, glupy_xlator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
from translator_suite import *  # noqa: E402,F401,F403 - the shared suite's tests
from translator_suite import MountVolume  # noqa: E402



@pytest.fixture(scope="module")
def shared_node(module_node: GlusterNode) -> GlusterNode:
    return module_node


@pytest.fixture(scope="module")
def shared_mount(shared_node: GlusterNode, gluster_state_dir: Path) -> Iterator[Path]:
    """A FUSE mount (direct I/O, so reads reach the graph) with the passthrough below the top."""
    vol = Volume.create(shared_node, "shared", [shared_node.brick("shared", 0)])
    try:
        vol.start()
        graph = Volfile.read(vol.client_volfile())
        graph.insert_below_top(glupy_xlator("suite-pt", "glupy.translators.passthrough"))
        volfile = gluster_state_dir / "shared-client.vol"
        graph.write(volfile)
        mount = FuseMount.from_volfile(volfile, gluster_state_dir / "mnt" / "shared",
                                       log_file=gluster_state_dir / "shared-client.log",
                                       extra_args=["--direct-io-mode=yes"])
        mount.mount()
        try:
            yield mount.mountpoint
        finally:
            log = mount.log_tail(400)
            mount.unmount()
            assert "signal received" not in log, log
    finally:
        vol.delete()


@pytest.fixture
def volume(shared_mount: Path) -> MountVolume:
    """The shared suite's volume: the FUSE mount."""
    return MountVolume(shared_mount)
