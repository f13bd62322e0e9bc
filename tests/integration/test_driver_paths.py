"""Every way a handler can leave the bridge's C fast path, in a real FUSE client.

The bridge drives the common path of a handler in C (native/task.c) and hands
the rest to the Python driver (glupy._driver.make_takeover). The unit tests run
the Python driver alone in the harness; this module checks the hand-over inside
GlusterFS: a FUSE client over a local posix directory (no glusterd needed) with
glupy.testing.translators:DriverPaths on top of posix.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from glupy.gluster import FuseMount
from glupy.testing.translators import PATHS_XATTR


@pytest.fixture(scope="module")
def mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuseMount]:
    state = tmp_path_factory.mktemp("driver-paths")
    brick = state / "brick"
    brick.mkdir()
    (brick / "f").write_bytes(b"12345")
    vf = state / "paths.vol"
    vf.write_text("\n".join([
        "volume posix", "    type storage/posix", f"    option directory {brick}", "end-volume",
        "volume paths", "    type user/glupy", "    option module glupy.testing.translators",
        "    option class DriverPaths", "    subvolumes posix", "end-volume", ""]))
    m = FuseMount.from_volfile(vf, state / "mnt", log_file=state / "client.log")
    m.mount()
    try:
        yield m
    finally:
        m.unmount()


def ask(mount: FuseMount, case: str):
    return json.loads(os.getxattr(mount.mountpoint / "f", PATHS_XATTR + case))


def fails(mount: FuseMount, case: str) -> int:
    with pytest.raises(OSError) as info:
        os.getxattr(mount.mountpoint / "f", PATHS_XATTR + case)
    return info.value.errno


def test_paths_that_succeed(mount: FuseMount) -> None:
    assert ask(mount, "plain") == "plain"
    assert ask(mount, "gather") == [5, 5]
    assert ask(mount, "caught") == ["ENODATA", 5]
    assert ask(mount, "chain") == [5, 5, 5]
    assert ask(mount, "caller") == os.getpid()
    assert os.access(mount.mountpoint / "f", os.R_OK)  # a plain `def` handler


def test_paths_that_fail(mount: FuseMount) -> None:
    assert fails(mount, "raise-fop") == errno.EACCES
    assert fails(mount, "raise-bug") == errno.EIO
    assert fails(mount, "wrong") == errno.EIO
    assert fails(mount, "unknown-case") == errno.EINVAL
    # the client keeps serving, and the bug's traceback is in its log
    assert (mount.mountpoint / "f").read_bytes() == b"12345"
    log = Path(mount.log_file).read_text()
    assert "DriverPaths raise-bug by design" in log
    assert "expected GetxattrReply" in log


def test_a_handler_returning_none_answers_success(mount: FuseMount) -> None:
    # an empty getxattr reply: FUSE sees success with no value
    try:
        value = os.getxattr(mount.mountpoint / "f", PATHS_XATTR + "none")
    except OSError as e:  # FUSE may turn a missing value into ENODATA
        assert e.errno == errno.ENODATA
    else:
        assert value == b""
