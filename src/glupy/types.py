"""The typed objects handlers receive and return.

Loc, Inode, Fd, Xdata, Iatt, Statvfs, Flock, Lease, Buffer and Caller wrap
GlusterFS objects. Inside a GlusterFS process they are the native bridge's types
(glupy._glupy); elsewhere (unit tests, the in-process harness) they are the
pure-Python stand-ins of glupy._pytypes with the same attributes. The choice is
made on each attribute access, because a Python process that hosts GlusterFS
through gfapi gets the native module only when the first glupy xlator starts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

NATIVE_TYPES = ("Loc", "Inode", "Fd", "Xdata", "Iatt", "Statvfs", "Flock", "Lease", "Buffer", "Caller", "MissingNames")


@dataclass(eq=False)
class Dirent:
    """One directory entry of readdir/readdirp."""

    name: str
    ino: int = 0
    off: int = 0
    type: int = 0  # d_type (DT_REG, DT_DIR, ...)
    stat: Any = None  # Iatt (readdirp)
    inode: Any = None  # Inode (readdirp)
    xdata: Any = None  # Xdata (readdirp)

    def __repr__(self) -> str:
        return f"Dirent({self.name!r}, off={self.off}, type={self.type})"


@dataclass
class LockInfo:
    """One active lock (getactivelk/setactivelk)."""

    flock: Any
    client_uid: str | None = None
    lk_flags: int = 0


@dataclass
class Upcall:
    """The `source` a translator's notify receives with Event.UPCALL: a brick telling
    clients that an inode changed (features.cache-invalidation) or that a lease or
    lock is wanted back."""

    gfid: Any  # uuid.UUID of the inode concerned
    kind: int  # glupy.UpcallKind
    client: str | None = None  # the client the brick addressed
    flags: int = 0  # cache invalidation: UP_* bits (what changed)
    stat: Any = None  # cache invalidation: the inode's new Iatt
    parent_stat: Any = None  # cache invalidation: its parent directory's Iatt
    expire: int = 0  # cache invalidation: the bricks' features.cache-invalidation-timeout (s)


def entry_key(loc: Any) -> tuple[Any, str] | None:
    """(parent gfid, name) of a Loc that names an entry in a known directory, or None
    (nameless, or no parent gfid): the key the bridge's lookup filter and
    MissingNames use (the Loc's pargfid, else its parent inode's gfid)."""
    if loc is None or not loc.name:
        return None
    pargfid = loc.pargfid
    if pargfid is None and loc.parent is not None:
        pargfid = loc.parent.gfid
    return None if pargfid is None else (pargfid, loc.name)


def native_module() -> Any:
    """The bridge's module if this process runs glupy inside GlusterFS, else None."""
    return sys.modules.get("glupy._glupy")


def __getattr__(name: str) -> Any:
    if name in NATIVE_TYPES:
        native = native_module()
        if native is not None:
            return getattr(native, name)
        from glupy import _pytypes

        return getattr(_pytypes, name)
    raise AttributeError(f"module 'glupy.types' has no attribute {name!r}")
