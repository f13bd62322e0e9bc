"""Proof that the GlusterFS test infrastructure (glupy.gluster, glupy.gfapi, fixtures) works."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from glupy import gfapi
from glupy.gluster import (
    Brick,
    GlusterCommandError,
    GlusterError,
    GlusterNode,
    Pool,
    Volume,
    _proc,
    is_glusterfs_mount,
)

if TYPE_CHECKING:  # the fixtures' classes, for annotations only
    from conftest import GfapiFactory, MountFactory, VolumeFactory

pytestmark = pytest.mark.integration


def _alive(pid: int | None) -> bool:
    return pid is not None and _proc.pid_alive(pid)


def test_single_node_replica2_lifecycle(
    gluster_node: GlusterNode,
    volume_factory: VolumeFactory,
    fuse_mount: MountFactory,
    gfapi_client: GfapiFactory,
) -> None:
    """Replica-2 volume with both bricks on one node: create/start/mount/IO/unmount/stop/delete."""
    vol = volume_factory(gluster_node, bricks=2, replica=2)

    info = vol.info()
    assert info.started and info.type == "Replicate"
    assert info.replica_count == 2 and info.brick_count == 2
    assert all(b.host == gluster_node.address for b in info.bricks)
    assert all(b.path.is_relative_to(gluster_node.root) for b in info.bricks)

    status = vol.status()
    assert status.all_bricks_online and len(status.bricks) == 2
    brick_pids = [b.pid for b in status.bricks]
    assert len(set(brick_pids)) == 2 and all(_alive(p) for p in brick_pids)
    assert all(b.port and b.port >= 29152 and b.port <= 29251 for b in status.bricks)
    assert any(d.name == "Self-heal Daemon" and d.online for d in status.daemons)
    assert set(brick_pids) <= set(gluster_node.owned_processes())

    # logs and volfiles are under the node's directory
    for log in vol.brick_logs().values():
        assert log.is_file() and log.is_relative_to(gluster_node.logdir)
    assert vol.client_volfile().read_text().count("type protocol/client") == 2
    assert len(vol.brick_volfiles()) == 2

    # options
    vol.set("performance.write-behind", False)
    assert vol.get("performance.write-behind") == "off"
    vol.reset("performance.write-behind")
    assert vol.get("performance.write-behind") == "on"

    # FUSE: write, read back, data on both replicas
    mnt = fuse_mount(vol)
    assert mnt.is_mounted() and _alive(mnt.pid)
    assert f"{vol.name}-replicate-0" in mnt.graph_xlators()
    payload = os.urandom(200_000)
    (mnt.mountpoint / "fuse.bin").write_bytes(payload)
    assert (mnt.mountpoint / "fuse.bin").read_bytes() == payload
    for brick in info.bricks:
        assert (brick.path / "fuse.bin").read_bytes() == payload
    assert mnt.log_file.is_file() and mnt.log_file.is_relative_to(gluster_node.state_dir.parent)

    # gfapi on the same volume sees the FUSE data, and FUSE sees gfapi's
    client = gfapi_client(vol)
    assert client.read_file("/fuse.bin") == payload
    client.write_file("/gfapi.txt", b"written by gfapi")
    st = client.stat("/gfapi.txt")
    assert st.st_size == 16
    client.setxattr("/gfapi.txt", "user.glupy", b"yes")
    assert client.getxattr("/gfapi.txt", "user.glupy") == b"yes"
    assert "user.glupy" in client.listxattr("/gfapi.txt")
    assert (mnt.mountpoint / "gfapi.txt").read_bytes() == b"written by gfapi"
    assert os.getxattr(mnt.mountpoint / "gfapi.txt", "user.glupy") == b"yes"
    client.umount()  # glfs_fini: up to ~10 s with libgfapi 10.3
    assert not client.mounted

    # explicit teardown, checking that everything is gone
    client_pid = mnt.pid
    mnt.unmount()
    assert not mnt.is_mounted() and not _alive(client_pid)
    vol.stop()
    assert not vol.info().started
    assert not any(_alive(p) for p in brick_pids)
    vol.delete()
    assert not vol.exists()
    assert not any(b.path.exists() for b in info.bricks)


def test_gfapi_operations(volume_factory: VolumeFactory, gfapi_client: GfapiFactory) -> None:
    """Broader gfapi coverage on a single-brick volume (leases enabled)."""
    vol = volume_factory(options={"features.leases": "on"})
    v = gfapi_client(vol)
    assert str(v.volume_id()) == vol.info().id
    assert "type protocol/client" in v.get_volfile()
    v.write_file("/lease", b"leased")

    with v.open("/f", os.O_RDWR | os.O_CREAT, 0o640) as f:
        assert f.write(b"hello world") == 11
        assert f.pread(5, 6) == b"world"
        assert f.pwrite(b"W", 6) == 1
        assert f.lseek(0) == 0 and f.read() == b"hello World"
        assert f.tell() == 11
        f.fsync()
        f.fdatasync()
        assert f.fstat().st_size == 11 and (f.fstat().st_mode & 0o777) == 0o640

        # sparse file: SEEK_DATA / SEEK_HOLE, fallocate, discard, zerofill
        f.ftruncate(3 << 20)
        f.pwrite(b"data", 2 << 20)
        f.fsync()
        assert f.lseek(1 << 20, os.SEEK_DATA) == 2 << 20
        assert f.lseek(2 << 20, os.SEEK_HOLE) > 2 << 20
        with pytest.raises(OSError) as exc_info:
            f.lseek((2 << 20) + (512 << 10), os.SEEK_DATA)
        assert exc_info.value.errno == errno.ENXIO
        f.fallocate(0, 1 << 20, keep_size=True)
        f.discard(0, 4096)
        f.zerofill(4096, 4096)
        assert f.pread(4, 0) == b"\0" * 4 and f.pread(4, 2 << 20) == b"data"
        f.ftruncate(11)

        # fd xattrs
        f.fsetxattr("user.a", b"1")
        assert f.fgetxattr("user.a") == b"1" and "user.a" in f.flistxattr()
        f.fremovexattr("user.a")
        with pytest.raises(OSError) as exc_info:
            f.fgetxattr("user.a")
        assert exc_info.value.errno == errno.ENODATA

        # attributes
        f.fchmod(0o600)
        f.fchown(12, 34)
        f.futimens((1_000_000_000, 2_000_000_000))
        st = f.fstat()
        assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 12, 34)
        assert st.st_mtime_ns == 2_000_000_000
        f.fsetattr(mode=0o644, mtime_ns=5_000_000_000)
        assert f.fstat().st_mtime_ns == 5_000_000_000

        # POSIX locks: a second fd with another owner conflicts
        f.set_lkowner(b"owner-1")
        f.lock(fcntl.F_WRLCK, 0, 10)
        with v.open("/f", os.O_RDWR) as g:
            g.set_lkowner(b"owner-2")
            assert g.getlk(fcntl.F_WRLCK, 0, 10).type == fcntl.F_WRLCK
            with pytest.raises(OSError) as exc_info:
                g.lock(fcntl.F_WRLCK, 0, 10)
            assert exc_info.value.errno in (errno.EAGAIN, errno.EACCES)
            f.unlock(0, 10)
            assert g.getlk(fcntl.F_WRLCK, 0, 10).type == fcntl.F_UNLCK

    # Lease (features.leases on).  Ids must be < 16 bytes (see gfapi.setfsleaseid).
    lease_id = b"glupy-lease-1"
    gfapi.setfsleaseid(lease_id)
    try:
        with v.open("/lease", os.O_RDWR) as f:
            f.lease(gfapi.GLFS_SET_LEASE, gfapi.GLFS_RW_LEASE, lease_id)
            got = f.lease(gfapi.GLFS_GET_LEASE, 0, lease_id)
            assert got.lease_type == gfapi.GLFS_RW_LEASE and got.lease_id == lease_id
            f.lease(gfapi.GLFS_UNLK_LEASE, gfapi.GLFS_RW_LEASE, lease_id)
    finally:
        gfapi.setfsleaseid(None)

    # copy_file_range (correct on single-brick volumes only, see File.copy_file_range)
    v.write_file("/src", b"copy me please")
    with v.open("/src") as src, v.creat("/copy") as dst:
        assert src.copy_file_range(dst, 14, 0, 0) == 14
    assert v.read_file("/copy") == b"copy me please"
    v.write_file("/f", b"hello World")

    # namespace operations
    v.makedirs("/d/e/f")
    assert v.isdir("/d/e/f")
    v.makedirs("/d/e/f", exist_ok=True)
    v.symlink("../f", "/d/link")
    assert v.readlink("/d/link") == "../f"
    assert v.stat("/d/link").st_size == 11 and v.lstat("/d/link").st_size == 4
    v.link("/f", "/d/hard")
    assert v.stat("/f").st_nlink == 2
    v.mknod("/d/fifo")
    assert (v.lstat("/d/fifo").st_mode & 0o170000) == 0o010000
    v.rename("/d/hard", "/d/hard2")
    assert sorted(v.listdir("/d")) == ["e", "fifo", "hard2", "link"]
    plus = {e.name: e for e in v.scandir("/d", plus=True)}
    assert plus["e"].is_dir() and plus["hard2"].is_file() and plus["link"].is_symlink()
    assert plus["hard2"].stat is not None and plus["hard2"].stat.st_size == 11
    assert v.access("/f", os.R_OK) and not v.access("/missing")
    v.chmod("/f", 0o604)
    v.chown("/f", 0, 0)
    v.utimens("/f", (3_000_000_000, 4_000_000_000))
    assert v.stat("/f").st_mtime_ns == 4_000_000_000
    v.setattr("/f", mode=0o600, uid=7, atime_ns=9_000_000_000)
    st = v.stat("/f")
    assert (st.st_mode & 0o777, st.st_uid, st.st_atime_ns) == (0o600, 7, 9_000_000_000)
    v.truncate("/f", 5)
    assert v.read_file("/f") == b"hello"
    v.lsetxattr("/d/link", "trusted.glupy", b"x")
    assert v.lgetxattr("/d/link", "trusted.glupy") == b"x"
    assert "trusted.glupy" in v.llistxattr("/d/link")
    v.lremovexattr("/d/link", "trusted.glupy")
    sv = v.statvfs("/")
    assert sv.f_bsize > 0 and sv.f_blocks > 0
    v.unlink("/d/hard2")
    v.rmdir("/d/e/f")
    assert not v.exists("/d/e/f")

    # errors are OSError subclasses with errno
    with pytest.raises(FileNotFoundError):
        v.open("/missing")
    with pytest.raises(FileExistsError):
        v.mkdir("/d")
    with pytest.raises(OSError) as exc_info:
        v.rmdir("/d")
    assert exc_info.value.errno == errno.ENOTEMPTY


def test_custom_graph_from_local_volfile(
    volume_factory: VolumeFactory,
    fuse_mount: MountFactory,
    gfapi_client: GfapiFactory,
    tmp_path: Path,
) -> None:
    """A local client volfile with an extra xlator works for FUSE (--volfile) and gfapi (glfs_set_volfile)."""
    vol = volume_factory()
    text = vol.client_volfile().read_text()
    top = vol.name  # the generated client graph's top xlator is named after the volume
    assert f"volume {top}\n" in text
    custom = tmp_path / "custom.vol"
    custom.write_text(
        text + f"\nvolume {vol.name}-glupy-trace\n    type debug/trace\n"
        f"    option log-file no\n    subvolumes {top}\nend-volume\n"
    )

    mnt = fuse_mount(volfile=custom)
    assert f"{vol.name}-glupy-trace" in mnt.graph_xlators()
    (mnt.mountpoint / "through-trace").write_text("ok")

    client = gfapi_client(vol, volfile=custom)
    assert client.read_file("/through-trace") == b"ok"
    assert client.get_volfile() == ""  # nothing fetched from glusterd


def test_cli_errors_are_clear(gluster_node: GlusterNode) -> None:
    """CLI failures carry the gluster error text; a second glusterd on a taken address is refused."""
    with pytest.raises(GlusterCommandError, match="does not exist"):
        gluster_node.volume("no-such-volume").info()
    with pytest.raises(GlusterCommandError) as exc_info:
        gluster_node.gluster("volume", "frobnicate")
    assert exc_info.value.returncode != 0

    intruder = GlusterNode(gluster_node.state_dir, 9, address=gluster_node.address, name="intruder")
    with pytest.raises(GlusterError, match="in use"):
        intruder.start()
    assert not intruder.is_running()


def test_pool_distributed_replicated(
    gluster_pool: Pool, volume_factory: VolumeFactory, fuse_mount: MountFactory
) -> None:
    """3 glusterd in one pool; a 2x2 distributed-replicated volume mounted from node 2."""
    for node in gluster_pool:
        peers = node.peers()
        assert len(peers) == 2 and all(p.in_cluster for p in peers)

    vol = volume_factory(gluster_pool, bricks=4, replica=2)
    node2_view = gluster_pool[1].volume(vol.name)
    info = node2_view.info()
    assert info.type == "Distributed-Replicate" and info.dist_count == 2
    hosts = [b.host for b in info.bricks]
    assert set(hosts) == {n.address for n in gluster_pool}
    assert hosts[0] != hosts[1] and hosts[2] != hosts[3]  # replica sets span nodes

    status = node2_view.status()
    assert status.all_bricks_online and len(status.bricks) == 4
    # each node's bricks get ports from that node's range, and are that node's processes
    for node in gluster_pool:
        assert node.port_range is not None
        lo, hi = node.port_range
        mine = [b for b in status.bricks if b.brick.host == node.address]
        assert mine and all(b.port is not None and lo <= b.port <= hi for b in mine)
        assert {b.pid for b in mine} <= set(node.owned_processes())
        for b in mine:
            assert node.brick_log(b.brick.path).is_file()

    mnt = fuse_mount(vol, server=gluster_pool[1])
    assert mnt.volfile_server == gluster_pool[1].address
    names = [f"file{i}" for i in range(24)]
    for name in names:
        (mnt.mountpoint / name).write_text(name)
    assert sorted(p.name for p in mnt.mountpoint.iterdir()) == sorted(names)

    def on_brick(brick: Brick) -> set[str]:
        return {p.name for p in brick.path.iterdir() if not p.name.startswith(".")}

    set0, set1 = on_brick(info.bricks[0]), on_brick(info.bricks[2])
    assert on_brick(info.bricks[1]) == set0 and on_brick(info.bricks[3]) == set1
    assert set0 | set1 == set(names) and not (set0 & set1)
    assert set0 and set1  # 24 names are distributed over both subvolumes
    assert is_glusterfs_mount(mnt.mountpoint)


def test_brick_spec_roundtrip(gluster_node: GlusterNode) -> None:
    """Brick specs parse and print as HOST:PATH; node.volume() gives a handle."""
    b = Brick.parse("127.1.1.1:/x/y")
    assert b == Brick("127.1.1.1", Path("/x/y")) and str(b) == "127.1.1.1:/x/y"
    with pytest.raises(ValueError):
        Brick.parse("no-path")
    assert isinstance(gluster_node.volume("x"), Volume) and not gluster_node.volume("x").exists()
