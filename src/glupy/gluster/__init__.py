"""Start and control real GlusterFS (glusterd, bricks, FUSE clients) for tests and demos.

Quick tour::

    from glupy.gluster import GlusterNode, Volume

    node = GlusterNode(state_dir, index=1)          # glusterd on 127.1.1.1
    node.start()
    vol = Volume.create(node, "v0", [node.brick("v0", 0), node.brick("v0", 1)], replica=2)
    vol.start()
    with vol.fuse_mount(state_dir / "mnt") as mnt:
        (mnt.mountpoint / "hello").write_text("hi")
    vol.delete()
    node.stop()

See :mod:`glupy.gluster.node` for the on-disk layout and the pitfalls of
running several glusterd on one machine.

:mod:`glupy.gluster.gfapi` (imported on its own, ``from glupy.gluster import
gfapi``) opens a volume from this process through libgfapi: ``gfapi.Client``, a
client of a volume, where :class:`Volume` here manages one through glusterd.
"""

from .errors import GlusterCommandError, GlusterError, GlusterNotInstalledError, GlusterTimeoutError
from .mount import FuseMount, default_client_log, is_glusterfs_mount, mount_entry
from .node import (
    DEFAULT_BASE_PORT,
    GLUSTERD_PORT,
    GlusterNode,
    Peer,
    Pool,
    check_gluster_installed,
    gluster_installed,
)
from .volume import (
    Brick,
    BrickStatus,
    DaemonStatus,
    Volume,
    VolumeInfo,
    VolumeStatus,
    bricks_for,
    parse_volume_info,
    parse_volume_status,
)

__all__ = [
    "DEFAULT_BASE_PORT",
    "GLUSTERD_PORT",
    "Brick",
    "BrickStatus",
    "DaemonStatus",
    "FuseMount",
    "GlusterCommandError",
    "GlusterError",
    "GlusterNode",
    "GlusterNotInstalledError",
    "GlusterTimeoutError",
    "Peer",
    "Pool",
    "Volume",
    "VolumeInfo",
    "VolumeStatus",
    "bricks_for",
    "check_gluster_installed",
    "default_client_log",
    "gluster_installed",
    "is_glusterfs_mount",
    "mount_entry",
    "parse_volume_info",
    "parse_volume_status",
]
