"""Where GlusterFS loads translators from, and glupy's entries there.

The bridge is installed once as ``XLATOR_DIR/user/glupy.so``. A server-side
translator attached with ``gluster volume set VOL user.xlator.NAME POSITION`` is
loaded by glusterfsd as type ``user/NAME``, i.e. from ``user/NAME.so``: glupy
makes that a symbolic link to ``glupy.so`` (one bridge; each instance reads its
module and class from its options), on each node by glupy's volfile filter when
glusterd writes a brick volfile with NAME (see glupy.volfile_filter), and by
``glupy attach`` on the node it runs on.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import subprocess
from pathlib import Path

from .errors import GlusterNotInstalledError

BRIDGE = "glupy.so"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def gluster_version() -> str:
    """The installed GlusterFS version, e.g. ``10.3``."""
    try:
        out = subprocess.run(["glusterfs", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise GlusterNotInstalledError(
            "GlusterFS is not installed (no working `glusterfs --version`): "
            "apt-get install glusterfs-server glusterfs-client") from error
    return out.split()[1]


def xlator_dir() -> Path:
    """``$libdir/glusterfs/VERSION/xlator``."""
    lib = ctypes.util.find_library("glusterfs")
    candidates = [Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib"),
                  Path("/usr/lib/aarch64-linux-gnu")]
    version = gluster_version()
    for base in candidates:
        d = base / "glusterfs" / version / "xlator"
        if d.is_dir():
            return d
    raise GlusterNotInstalledError(f"no translator directory for GlusterFS {version} (libglusterfs: {lib})")


def bridge_path() -> Path:
    return xlator_dir() / "user" / BRIDGE


def check_bridge_installed() -> Path:
    path = bridge_path()
    if not path.exists():
        raise GlusterNotInstalledError(f"the glupy bridge is not installed at {path}: run `make install` "
                                       "(or `glupy install`)")
    return path


#: longest translator name: it becomes part of volume option keys
#: (user.xlator.NAME.OPTION), which `gluster volume info` cuts at 240 characters
MAX_NAME = 64


def check_name(name: str) -> str:
    if not _NAME.match(name) or name == "glupy":
        raise ValueError(f"invalid translator name {name[:80]!r}: use letters, digits, '-' and '_' (not 'glupy')")
    if len(name) > MAX_NAME:
        raise ValueError(f"translator name of {len(name)} characters: at most {MAX_NAME}")
    return name


def alias_path(name: str) -> Path:
    return xlator_dir() / "user" / f"{check_name(name)}.so"


def is_alias(path: Path) -> bool:
    return path.is_symlink() and path.readlink() == Path(BRIDGE)


def ensure_alias(name: str) -> Path:
    """Make ``user/NAME.so`` load the bridge (idempotent; safe to run concurrently, e.g.
    from glupy's volfile filter for every brick volfile glusterd writes, and from
    ``peer_glupy alias``)."""
    check_bridge_installed()
    path = alias_path(name)
    if is_alias(path):
        return path
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} exists and is not glupy's: choose another translator name")
    try:
        path.symlink_to(BRIDGE)
    except FileExistsError:
        if not is_alias(path):  # someone else's file made meanwhile
            raise FileExistsError(f"{path} exists and is not glupy's: choose another translator name") from None
    return path


def remove_alias(name: str) -> None:
    """Remove ``user/NAME.so`` if it is glupy's link."""
    path = alias_path(name)
    if is_alias(path):
        path.unlink(missing_ok=True)


def aliases() -> list[str]:
    """Names with a glupy ``user/NAME.so`` link."""
    d = xlator_dir() / "user"
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.so") if p.is_symlink() and p.readlink() == Path(BRIDGE))


def install_executable(path: Path, text: str) -> Path:
    """Install an executable that glusterd runs (a volfile filter, a peer command): all
    at once (written beside it, then renamed over it), and untouched if it already
    says *text*."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return path
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)
    return path
