"""GlusterFS constants a translator author needs, as Python enums."""

from __future__ import annotations

import enum
import fcntl
import uuid

from glupy.fop_table import EVENTS, FOP_ID

Event = enum.IntEnum("Event", EVENTS)
Event.__doc__ = "GlusterFS notify events (GF_EVENT_*)."

Fop = enum.IntEnum("Fop", {name.upper(): num for name, num in FOP_ID.items()})
Fop.__doc__ = "GlusterFS FOP numbers (GF_FOP_*)."

#: the gfid of every volume's root directory (GlusterFS's fixed 00000000-0000-0000-0000-000000000001)
ROOT_GFID = uuid.UUID(int=1)


class FileType(enum.IntEnum):
    """ia_type_t: the type of a file in an Iatt or Inode."""

    INVAL = 0
    REG = 1
    DIR = 2
    LNK = 3
    BLK = 4
    CHR = 5
    FIFO = 6
    SOCK = 7


class LockCmd(enum.IntEnum):
    """The cmd of lk, inodelk and finodelk: fcntl's values, as GlusterFS passes them
    between translators (protocol/client maps them to its wire values, and refuses
    anything else)."""

    GETLK = fcntl.F_GETLK
    SETLK = fcntl.F_SETLK
    SETLKW = fcntl.F_SETLKW


class LockType(enum.IntEnum):
    """Flock.type: fcntl's values."""

    RDLCK = fcntl.F_RDLCK
    WRLCK = fcntl.F_WRLCK
    UNLCK = fcntl.F_UNLCK


class EntrylkCmd(enum.IntEnum):
    LOCK = 0
    UNLOCK = 1
    LOCK_NB = 2


class EntrylkType(enum.IntEnum):
    RDLCK = 0
    WRLCK = 1


class XattropFlag(enum.IntEnum):
    ADD_ARRAY = 0
    ADD_ARRAY64 = 1
    OR_ARRAY = 2
    AND_ARRAY = 3
    GET_AND_SET = 4
    ADD_ARRAY_WITH_DEFAULT = 5
    ADD_ARRAY64_WITH_DEFAULT = 6


class SetAttr(enum.IntFlag):
    """The `valid` mask of setattr/fsetattr (GF_SET_ATTR_*)."""

    MODE = 0x1
    UID = 0x2
    GID = 0x4
    SIZE = 0x8
    ATIME = 0x10
    MTIME = 0x20
    CTIME = 0x40
    ATIME_NOW = 0x80
    MTIME_NOW = 0x100


class UpcallKind(enum.IntEnum):
    """What an upcall (Event.UPCALL) from a brick is about (gf_upcall.event_type)."""

    NULL = 0
    CACHE_INVALIDATION = 1
    RECALL_LEASE = 2
    INODELK_CONTENTION = 3
    ENTRYLK_CONTENTION = 4
