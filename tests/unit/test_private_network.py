"""What runs a glusterd and its clients in a network namespace of their own, without GlusterFS:
the command lines, the port check, and the demo's choice (see test_cli's demo tests for the real thing)."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from glupy.demo import Demo
from glupy.gluster import _proc
from glupy.gluster import node as node_mod
from glupy.gluster.mount import FuseMount, network_namespace
from glupy.gluster.node import GlusterNode, glusterd_port_in_use


@pytest.fixture(autouse=True)
def programs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_proc, "find_program", lambda name: f"/usr/bin/{name}")


def test_fuse_client_in_a_network_namespace(tmp_path: Path) -> None:
    plain = FuseMount(tmp_path / "m", volfile_server="127.1.1.9", volfile_id="v")
    assert plain.netns is None and plain.command()[0] == "/usr/bin/glusterfs"
    fm = FuseMount(tmp_path / "m", volfile_server="127.1.1.9", volfile_id="v", netns="/proc/42/ns/net")
    cmd = fm.command()
    assert cmd[:4] == ["/usr/bin/nsenter", "--net=/proc/42/ns/net", "--", "/usr/bin/glusterfs"]
    assert cmd[-1] == str(tmp_path / "m")  # what FuseMount.pid recognizes the daemon by
    with network_namespace("/proc/7/ns/net"):
        inner = FuseMount.from_volfile(tmp_path / "v.vol", tmp_path / "m")
        explicit = FuseMount.from_volfile(tmp_path / "v.vol", tmp_path / "m", netns="/proc/8/ns/net")
    assert inner.netns == Path("/proc/7/ns/net") and explicit.netns == Path("/proc/8/ns/net")
    assert FuseMount.from_volfile(tmp_path / "v.vol", tmp_path / "m").netns is None  # only inside the block
    volume = SimpleNamespace(server="127.1.1.9", name="v", node=SimpleNamespace(netns=Path("/proc/9/ns/net")))
    assert FuseMount.from_volume(volume, tmp_path / "m").netns == Path("/proc/9/ns/net")  # type: ignore[arg-type]


def test_node_namespaces(tmp_path: Path) -> None:
    assert GlusterNode(tmp_path, 9)._host_prefix() == []
    net = GlusterNode(tmp_path, 9, private_network=True)
    assert net._host_unshare() == ["/usr/bin/unshare", "--net"]
    both = GlusterNode(tmp_path, 9, private_network=True, private_dirs=[tmp_path / "lib"])
    assert both._host_unshare() == ["/usr/bin/unshare", "--mount", "--propagation", "private", "--net"]
    with pytest.raises(node_mod.GlusterError, match="start it first"):
        net.netns  # noqa: B018 - no holder yet
    assert GlusterNode(tmp_path, 9).netns is None


def test_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        monkeypatch.setattr(node_mod, "GLUSTERD_PORT", port)
        listener.listen()
        assert glusterd_port_in_use("127.0.0.1")
        assert glusterd_port_in_use("0.0.0.0")
    assert not glusterd_port_in_use("127.0.0.1")


@pytest.mark.parametrize(("taken", "asked", "private"), [
    (False, None, False), (True, None, True), (True, False, False), (False, True, True)])
def test_demo_goes_private_when_24007_is_taken(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               taken: bool, asked: bool | None, private: bool) -> None:
    seen: list[str] = []

    def in_use(address: str) -> bool:
        seen.append(address)
        return taken

    monkeypatch.setattr("glupy.demo.glusterd_port_in_use", in_use)
    assert Demo(tmp_path, private_network=asked).choose_private_network() is private
    assert seen == (["127.1.1.9"] if asked is None else [])
