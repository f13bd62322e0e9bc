# Generated from src/glupy/fop_table.py by `python -m glupy.fop_table --stubs` (glupy/_stubgen.py); do not edit.
from __future__ import annotations
import enum
import fcntl
import uuid

class Event(enum.IntEnum):
    """GlusterFS notify events (GF_EVENT_*)."""

    PARENT_UP = 1
    POLLIN = 2
    POLLOUT = 3
    POLLERR = 4
    CHILD_UP = 5
    CHILD_DOWN = 6
    CHILD_CONNECTING = 7
    CLEANUP = 9
    TRANSPORT_CONNECTED = 10
    VOLFILE_MODIFIED = 11
    GRAPH_NEW = 12
    TRANSLATOR_INFO = 13
    TRANSLATOR_OP = 14
    AUTH_FAILED = 15
    VOLUME_DEFRAG = 16
    PARENT_DOWN = 17
    VOLUME_BARRIER_OP = 18
    UPCALL = 19
    SCRUB_STATUS = 20
    SOME_DESCENDENT_DOWN = 21
    SCRUB_ONDEMAND = 22
    SOME_DESCENDENT_UP = 23
    CHILD_PING = 24

class Fop(enum.IntEnum):
    """GlusterFS FOP numbers (GF_FOP_*)."""

    STAT = 1
    READLINK = 2
    MKNOD = 3
    MKDIR = 4
    UNLINK = 5
    RMDIR = 6
    SYMLINK = 7
    RENAME = 8
    LINK = 9
    TRUNCATE = 10
    OPEN = 11
    READV = 12
    WRITEV = 13
    STATFS = 14
    FLUSH = 15
    FSYNC = 16
    SETXATTR = 17
    GETXATTR = 18
    REMOVEXATTR = 19
    OPENDIR = 20
    FSYNCDIR = 21
    ACCESS = 22
    CREATE = 23
    FTRUNCATE = 24
    FSTAT = 25
    LK = 26
    LOOKUP = 27
    READDIR = 28
    INODELK = 29
    FINODELK = 30
    ENTRYLK = 31
    FENTRYLK = 32
    XATTROP = 33
    FXATTROP = 34
    FGETXATTR = 35
    FSETXATTR = 36
    RCHECKSUM = 37
    SETATTR = 38
    FSETATTR = 39
    READDIRP = 40
    FORGET = 41
    RELEASE = 42
    RELEASEDIR = 43
    GETSPEC = 44
    FREMOVEXATTR = 45
    FALLOCATE = 46
    DISCARD = 47
    ZEROFILL = 48
    IPC = 49
    SEEK = 50
    LEASE = 51
    COMPOUND = 52
    GETACTIVELK = 53
    SETACTIVELK = 54
    PUT = 55
    ICREATE = 56
    NAMELINK = 57
    COPY_FILE_RANGE = 58
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
