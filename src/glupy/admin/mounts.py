"""``glupy mount``/``umount``: a FUSE mount, optionally with Python translators on
this client only (its own volfile: the one glusterd serves, ``--with`` translators
inserted, kept under :data:`MOUNT_STATE_DIR` while mounted)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from glupy.admin.glusterd import fetch_client_volfile
from glupy.admin.graph import build_client_graph
from glupy.admin.translators import (
    default_name,
    dry_run,
    placement_after,
    require_bridge,
    translator_error,
    validate_translator,
)
from glupy.errors import AdminError
from glupy.gluster import FuseMount, GlusterNode
from glupy.gluster.errors import GlusterError
from glupy.gluster.volfile import VolfileError

MOUNT_STATE_DIR = Path("/run/glupy/mounts")


def _mount_files(mountpoint: Path) -> tuple[Path, Path]:
    digest = hashlib.sha1(str(mountpoint).encode()).hexdigest()[:12]
    return MOUNT_STATE_DIR / f"{digest}.vol", MOUNT_STATE_DIR / f"{digest}.pid"


def mount(node: GlusterNode, volume: str, mountpoint: Path | str, withs: Sequence[tuple[str, Mapping[str, str]]] = (),
          *, server: str | None = None, log_file: Path | str | None = None,
          after: str | None = None) -> tuple[FuseMount, list[str]]:
    """Mount *volume*, with extra Python translators on this client only (each where
    its class says it belongs, or above *after*). Returns the mount and their names."""
    mp = Path(os.path.abspath(mountpoint))
    places = []
    for spec, opts in withs:
        places.append(placement_after(validate_translator(spec, opts), after))
        dry_run(spec, opts, default_name(spec))
    if withs:
        require_bridge()
    if not os.path.exists("/dev/fuse"):
        raise AdminError("/dev/fuse is missing: load the fuse module (modprobe fuse)")
    from glupy.gluster.mount import is_glusterfs_mount

    if is_glusterfs_mount(mp):
        raise AdminError(f"something is already mounted at {mp}")
    volfile, pidfile = _mount_files(mp)
    names: list[str] = []
    if withs:
        graph = fetch_client_volfile(node, volume, server)
        try:
            names = build_client_graph(graph, withs, places, volume)
        except VolfileError as error:
            raise AdminError(f"cannot insert the translators: {error}") from None
        MOUNT_STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        graph.write(volfile)
        fm = FuseMount.from_volfile(volfile, mp, log_file=log_file, pid_file=pidfile)
    else:
        fm = FuseMount(mp, volfile_server=server or node.address, volfile_id=volume, log_file=log_file,
                       pid_file=pidfile)
    try:
        fm.mount()
    except GlusterError as error:
        volfile.unlink(missing_ok=True)
        cause = translator_error([Path(fm.log_file)]) if withs else None
        raise AdminError(f"mount of {volume} at {mp} failed: {cause or str(error).splitlines()[0]} "
                         f"(see {fm.log_file})") from None
    return fm, names


def umount(mountpoint: Path | str) -> None:
    """Unmount a GlusterFS FUSE mount (and forget its volfile); AdminError if it stays."""
    from glupy.gluster.mount import is_glusterfs_mount

    mp = Path(os.path.abspath(mountpoint))
    volfile, pidfile = _mount_files(mp)
    if not is_glusterfs_mount(mp):
        volfile.unlink(missing_ok=True)
        pidfile.unlink(missing_ok=True)
        raise AdminError(f"no GlusterFS mount at {mp}")
    fm = FuseMount(mp, volfile_server="-", volfile_id="-", pid_file=pidfile)
    fm.unmount()
    if is_glusterfs_mount(mp):
        raise AdminError(f"{mp} is still mounted (busy?): try umount -l {mp}")
    volfile.unlink(missing_ok=True)
