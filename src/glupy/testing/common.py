"""What the harness's parts share: the in-process volume's backend (:mod:`.posix`),
its client (:mod:`.client`) and the harness that drives the graph (:mod:`.harness`).

Nothing here knows those parts; each of them imports from here, never from each
other's internals, so the modules read (and import) in one direction.
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

from glupy.constants import ROOT_GFID
from glupy.fop_table import FOP_ID
from glupy.replies import REPLY_BY_ID, copy_reply

__all__ = ["HarnessError", "ROOT_GFID", "FOP_NAME", "gfid_to_ino", "as_gfid", "volume_path", "error_reply"]

#: FOP names by GF_FOP number (the numbers a wind carries)
FOP_NAME = {num: name for name, num in FOP_ID.items()}


class HarnessError(RuntimeError):
    """The harness was used wrongly, or a translator answered in a way GlusterFS could not carry."""


def gfid_to_ino(gfid: uuid.UUID) -> int:
    """GlusterFS's inode number of a gfid (its last 8 bytes; 1 for the root)."""
    return int.from_bytes(gfid.bytes[8:], "big")


def as_gfid(value: Any) -> uuid.UUID | None:
    """A gfid given as a UUID, 16 bytes or its text (an xdata's ``gfid-req``); None if it is none."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return uuid.UUID(bytes=bytes(value))
    if isinstance(value, str):
        try:
            return uuid.UUID(value.rstrip("\0"))
        except ValueError:
            return None
    return None


def volume_path(path: str) -> str:
    """`path` normalized as a path within the volume; HarnessError if it is not absolute."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise HarnessError(f"paths are absolute in the volume (start with '/'), not {path!r}")
    norm = posixpath.normpath(path)
    return "/" if norm in ("/", "//") else norm


def error_reply(fop: int, err: int, reply: Any = None) -> Any:
    """A reply of FOP `fop` carrying errno `err` (the given reply's fields if it is of the right class)."""
    cls = REPLY_BY_ID[fop]
    if type(reply) is cls:
        if reply.op_ret == -1 and reply.op_errno == err:
            return reply
        new = copy_reply(reply)
        new.op_ret, new.op_errno = -1, err
        return new
    return cls(op_ret=-1, op_errno=err)
