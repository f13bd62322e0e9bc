"""A translator test suite that runs both in the in-process harness and on a real GlusterFS mount.

Each ``test_shared_*`` function takes a ``volume`` fixture with the small common
interface of :class:`SuiteVolume`: file operations by path that raise ``OSError``
with the errno a mount gives, and ``counts()``, the FOP counts of a
``glupy.translators.passthrough`` in the graph (read with
``getxattr glupy.passthrough.counts`` on the root, on both sides).

A test module enables the suite by importing it and defining ``volume``::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))
    from translator_suite import *  # noqa: F401,F403 - the suite's tests

    @pytest.fixture
    def volume(...):
        return HarnessVolume(...)   # or MountVolume(mountpoint)

Expectations are limited to what holds on both sides: a FUSE mount caches
entries, attributes and pages in the kernel, so only "the translator saw at
least one X" is checked, never exact counts, and never lookups or stats.
The mount side uses ``--direct-io-mode=enable`` so that reads reach the graph.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from glupy.errors import FopError
from glupy.translators.passthrough import COUNTS_XATTR

# only the tests: `from translator_suite import *` must not shadow the importer's names
__all__ = [
    "test_shared_create_read_write", "test_shared_write_at_offset_and_large_file",
    "test_shared_rename_over_existing", "test_shared_unlink", "test_shared_directories",
    "test_shared_xattrs", "test_shared_truncate", "test_shared_errors_of_missing_names",
]


@dataclass(frozen=True)
class StatInfo:
    """What the suite compares of a stat: size, file type bits, permission bits."""

    size: int
    is_dir: bool
    is_file: bool
    perm: int


class SuiteVolume(Protocol):
    """The operations the shared suite needs from a volume."""

    def create(self, path: str, data: bytes = b"") -> None: ...
    def write(self, path: str, data: bytes, offset: int = 0) -> None: ...
    def read(self, path: str) -> bytes: ...
    def stat(self, path: str) -> StatInfo: ...
    def truncate(self, path: str, size: int) -> None: ...
    def rename(self, old: str, new: str) -> None: ...
    def unlink(self, path: str) -> None: ...
    def mkdir(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[str]: ...
    def setxattr(self, path: str, name: str, value: bytes) -> None: ...
    def getxattr(self, path: str, name: str) -> bytes: ...
    def removexattr(self, path: str, name: str) -> None: ...
    def counts(self) -> dict[str, int]: ...


class HarnessVolume:
    """The suite's SuiteVolume over a :class:`glupy.testing.harness.Harness`; FopError becomes OSError."""

    def __init__(self, harness) -> None:
        self.h = harness

    def _do(self, fn, *args):
        try:
            return fn(*args)
        except FopError as e:
            raise OSError(e.errno, os.strerror(e.errno), args[0] if args else None) from None

    def create(self, path: str, data: bytes = b"") -> None:
        self._do(self.h.create, path, data)

    def write(self, path: str, data: bytes, offset: int = 0) -> None:
        self._do(self.h.write, path, data, offset)

    def read(self, path: str) -> bytes:
        return self._do(self.h.read, path)

    def stat(self, path: str) -> StatInfo:
        ia = self._do(self.h.stat, path)
        import stat as st

        return StatInfo(ia.size, st.S_ISDIR(ia.mode), st.S_ISREG(ia.mode), st.S_IMODE(ia.mode))

    def truncate(self, path: str, size: int) -> None:
        self._do(self.h.truncate, path, size)

    def rename(self, old: str, new: str) -> None:
        self._do(self.h.rename, old, new)

    def unlink(self, path: str) -> None:
        self._do(self.h.unlink, path)

    def mkdir(self, path: str) -> None:
        self._do(self.h.mkdir, path)

    def rmdir(self, path: str) -> None:
        self._do(self.h.rmdir, path)

    def listdir(self, path: str) -> list[str]:
        return self._do(self.h.listdir, path)

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        self._do(self.h.setxattr, path, name, value)

    def getxattr(self, path: str, name: str) -> bytes:
        return self._do(self.h.getxattr, path, name)

    def removexattr(self, path: str, name: str) -> None:
        self._do(self.h.removexattr, path, name)

    def counts(self) -> dict[str, int]:
        return json.loads(self.h.getxattr("/", COUNTS_XATTR))


class MountVolume:
    """The suite's SuiteVolume over a mounted directory (a GlusterFS FUSE mount), with os calls."""

    def __init__(self, mountpoint: Path) -> None:
        self.mp = Path(mountpoint)

    def p(self, path: str) -> Path:
        return self.mp / path.lstrip("/")

    def create(self, path: str, data: bytes = b"") -> None:
        self.p(path).write_bytes(data)

    def write(self, path: str, data: bytes, offset: int = 0) -> None:
        fd = os.open(self.p(path), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)

    def read(self, path: str) -> bytes:
        return self.p(path).read_bytes()

    def stat(self, path: str) -> StatInfo:
        import stat as st

        s = os.stat(self.p(path))
        return StatInfo(s.st_size, st.S_ISDIR(s.st_mode), st.S_ISREG(s.st_mode), st.S_IMODE(s.st_mode))

    def truncate(self, path: str, size: int) -> None:
        os.truncate(self.p(path), size)

    def rename(self, old: str, new: str) -> None:
        os.rename(self.p(old), self.p(new))

    def unlink(self, path: str) -> None:
        os.unlink(self.p(path))

    def mkdir(self, path: str) -> None:
        os.mkdir(self.p(path))

    def rmdir(self, path: str) -> None:
        os.rmdir(self.p(path))

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self.p(path)))

    def setxattr(self, path: str, name: str, value: bytes) -> None:
        os.setxattr(self.p(path), name, value)

    def getxattr(self, path: str, name: str) -> bytes:
        return os.getxattr(self.p(path), name)

    def removexattr(self, path: str, name: str) -> None:
        os.removexattr(self.p(path), name)

    def counts(self) -> dict[str, int]:
        return json.loads(os.getxattr(self.mp, COUNTS_XATTR))


# ---------------------------------------------------------------- helpers


def _fresh_dir(volume: SuiteVolume) -> str:
    d = f"/suite-{uuid.uuid4().hex[:8]}"
    volume.mkdir(d)
    return d


class _Delta:
    def __init__(self, volume: SuiteVolume) -> None:
        self.volume = volume

    def __enter__(self) -> "_Delta":
        self.before = self.volume.counts()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.volume.counts()
        self.counts = {k: after[k] - self.before.get(k, 0) for k in after if after[k] != self.before.get(k, 0)}

    def saw(self, *fops: str) -> None:
        missing = [f for f in fops if self.counts.get(f, 0) < 1]
        assert not missing, f"the passthrough did not see {missing}; it saw {self.counts}"


def _errno_of(fn, *args) -> int:
    with pytest.raises(OSError) as info:
        fn(*args)
    return info.value.errno


# ---------------------------------------------------------------- the suite


def test_shared_create_read_write(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    with _Delta(volume) as seen:
        volume.create(f"{d}/f", b"hello world")
    seen.saw("create", "writev", "flush")
    with _Delta(volume) as seen:
        assert volume.read(f"{d}/f") == b"hello world"
    seen.saw("open", "readv")
    info = volume.stat(f"{d}/f")
    assert (info.size, info.is_file, info.is_dir) == (11, True, False)
    assert info.perm & 0o600 == 0o600


def test_shared_write_at_offset_and_large_file(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    volume.create(f"{d}/f", b"0123456789")
    volume.write(f"{d}/f", b"AB", 3)
    assert volume.read(f"{d}/f") == b"012AB56789"
    volume.write(f"{d}/f", b"Z", 12)  # past the end: a hole of zeroes
    assert volume.read(f"{d}/f") == b"012AB56789\0\0Z"
    big = os.urandom(1 << 20) + b"tail"
    volume.create(f"{d}/big", big)
    assert volume.stat(f"{d}/big").size == len(big)
    assert volume.read(f"{d}/big") == big


def test_shared_rename_over_existing(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    volume.create(f"{d}/a", b"A")
    volume.create(f"{d}/b", b"BB")
    with _Delta(volume) as seen:
        volume.rename(f"{d}/a", f"{d}/b")
    seen.saw("rename")
    assert volume.read(f"{d}/b") == b"A"
    assert _errno_of(volume.stat, f"{d}/a") == errno.ENOENT
    assert volume.listdir(d) == ["b"]
    volume.mkdir(f"{d}/full")
    volume.create(f"{d}/full/x")
    volume.mkdir(f"{d}/empty")
    assert _errno_of(volume.rename, f"{d}/empty", f"{d}/full") in (errno.ENOTEMPTY, errno.EEXIST)
    assert _errno_of(volume.rename, f"{d}/b", f"{d}/empty") == errno.EISDIR
    volume.rename(f"{d}/full", f"{d}/moved")
    assert volume.read(f"{d}/moved/x") == b""


def test_shared_unlink(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    volume.create(f"{d}/f", b"x")
    with _Delta(volume) as seen:
        volume.unlink(f"{d}/f")
    seen.saw("unlink")
    assert _errno_of(volume.read, f"{d}/f") == errno.ENOENT
    assert _errno_of(volume.unlink, f"{d}/f") == errno.ENOENT
    volume.mkdir(f"{d}/sub")
    assert _errno_of(volume.unlink, f"{d}/sub") == errno.EISDIR


def test_shared_directories(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    with _Delta(volume) as seen:
        volume.mkdir(f"{d}/sub")
    seen.saw("mkdir")
    assert _errno_of(volume.mkdir, f"{d}/sub") == errno.EEXIST
    for name in ("c", "a", "b"):
        volume.create(f"{d}/sub/{name}", name.encode())
    with _Delta(volume) as seen:
        assert volume.listdir(f"{d}/sub") == ["a", "b", "c"]
    seen.saw("opendir")
    assert seen.counts.get("readdirp", 0) + seen.counts.get("readdir", 0) >= 1
    assert volume.stat(f"{d}/sub").is_dir
    assert _errno_of(volume.rmdir, f"{d}/sub") == errno.ENOTEMPTY
    assert _errno_of(volume.rmdir, f"{d}/sub/a") == errno.ENOTDIR
    for name in ("a", "b", "c"):
        volume.unlink(f"{d}/sub/{name}")
    with _Delta(volume) as seen:
        volume.rmdir(f"{d}/sub")
    seen.saw("rmdir")
    assert volume.listdir(d) == []


def test_shared_xattrs(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    volume.create(f"{d}/f", b"")
    with _Delta(volume) as seen:
        volume.setxattr(f"{d}/f", "user.colour", b"blue")
    seen.saw("setxattr")
    with _Delta(volume) as seen:
        assert volume.getxattr(f"{d}/f", "user.colour") == b"blue"
    seen.saw("getxattr")
    assert _errno_of(volume.getxattr, f"{d}/f", "user.missing") == errno.ENODATA
    with _Delta(volume) as seen:
        volume.removexattr(f"{d}/f", "user.colour")
    seen.saw("removexattr")
    assert _errno_of(volume.getxattr, f"{d}/f", "user.colour") == errno.ENODATA
    assert _errno_of(volume.removexattr, f"{d}/f", "user.colour") == errno.ENODATA


def test_shared_truncate(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    volume.create(f"{d}/f", b"0123456789")
    volume.truncate(f"{d}/f", 4)
    assert volume.read(f"{d}/f") == b"0123"
    volume.truncate(f"{d}/f", 6)
    assert volume.read(f"{d}/f") == b"0123\0\0"


def test_shared_errors_of_missing_names(volume: SuiteVolume) -> None:
    d = _fresh_dir(volume)
    assert _errno_of(volume.stat, f"{d}/nope") == errno.ENOENT
    assert _errno_of(volume.read, f"{d}/nope/deeper") == errno.ENOENT
    assert _errno_of(volume.rmdir, f"{d}/nope") == errno.ENOENT
    assert _errno_of(volume.rename, f"{d}/nope", f"{d}/other") == errno.ENOENT
    volume.create(f"{d}/file", b"")
    assert _errno_of(volume.stat, f"{d}/file/below") == errno.ENOTDIR
