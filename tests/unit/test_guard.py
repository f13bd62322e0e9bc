"""guard refuses data FOPs that did not pass through the marking client translator."""

from __future__ import annotations

import errno

import pytest

import glupy
from glupy.testing.harness import Client, Harness
from glupy.translators.guard import CRYPT_KEY, GUARDED, Guard, MarkedChild


class Marker(glupy.Translator):
    """Passes everything down; its data FOPs marked as crypt marks them."""

    def init(self) -> None:
        self.child = self.children[0] = MarkedChild(self.child, CRYPT_KEY)

    async def writev(self, fd, data, offset, flags, xdata):
        return await self.child.writev(fd, data, offset, flags, xdata)

    async def create(self, loc, flags, mode, umask, fd, xdata):
        return await self.child.create(loc, flags, mode, umask, fd, xdata)

    async def readv(self, fd, size, offset, flags, xdata):
        return await self.child.readv(fd, size, offset, flags)  # xdata left out: marked all the same


def test_unmarked_data_fops_are_refused_and_metadata_passes(tmp_path) -> None:
    with Harness(tmp_path, Guard) as h:
        with pytest.raises(glupy.FopError) as refused:
            h.create("/f", b"plaintext")
        assert refused.value.errno == errno.EACCES
        assert not (tmp_path / "f").exists()
        h.mkdir("/d")  # metadata FOPs pass
        assert h.stat("/d").type.name == "DIR"
        assert h.nodes["guard"].instance.refused == 1


def test_marked_fops_pass_and_the_key_never_reaches_the_bricks(tmp_path) -> None:
    with Harness(tmp_path, Marker, Guard) as h:
        h.create("/f", b"through the marker")
        assert h.read("/f") == b"through the marker"
        assert (tmp_path / "f").read_bytes() == b"through the marker"
        assert not any("crypt" in name for name in __import__("os").listxattr(tmp_path / "f"))
        assert h.nodes["guard"].instance.refused == 0


def test_daemons_and_allowed_hosts_pass(tmp_path) -> None:
    (tmp_path / "f").write_bytes(b"stored")
    with Harness(tmp_path, (Guard, {"allow-hosts": "maint-*"})) as h:
        shd = Client(h, pid=-6)  # GlusterFS's self-heal daemon
        assert shd.read("/f") == b"stored"
        maintenance = Client(h, client="CTX_ID:x-GRAPH_ID:0-PID:9-HOST:maint-1-PC_NAME:v-client-0-RECON_NO:-0")
        assert maintenance.read("/f") == b"stored"
        other = Client(h, client="CTX_ID:x-GRAPH_ID:0-PID:9-HOST:laptop-PC_NAME:v-client-0-RECON_NO:-0")
        with pytest.raises(glupy.FopError):
            other.read("/f")


def test_every_guarded_fop_is_marked_and_checked() -> None:
    for name in GUARDED:
        assert name in vars(Guard) and name in vars(MarkedChild), name
