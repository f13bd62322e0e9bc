"""Pure-Python stand-ins for the native types, with the same attributes.

Used where no GlusterFS process hosts glupy: unit tests and the in-process harness.
"""

from __future__ import annotations

import stat as _stat
import uuid
from typing import Any

from glupy.constants import FileType

_TYPE_FROM_MODE = {
    _stat.S_IFREG: FileType.REG, _stat.S_IFDIR: FileType.DIR, _stat.S_IFLNK: FileType.LNK,
    _stat.S_IFBLK: FileType.BLK, _stat.S_IFCHR: FileType.CHR, _stat.S_IFIFO: FileType.FIFO,
    _stat.S_IFSOCK: FileType.SOCK,
}
_MODE_FROM_TYPE = {v: k for k, v in _TYPE_FROM_MODE.items()}


class _Struct:
    _fields: tuple[str, ...] = ()

    def __init__(self, **fields: Any) -> None:
        for name in self._fields:
            object.__setattr__(self, name, 0)
        for name, value in fields.items():
            setattr(self, name, value)

    def copy(self) -> Any:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    __copy__ = copy

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields and not hasattr(type(self), name):
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, value)


class Iatt(_Struct):
    _fields = ("ino", "dev", "rdev", "size", "nlink", "uid", "gid", "blksize", "blocks", "atime", "mtime",
               "ctime", "btime", "atime_nsec", "mtime_nsec", "ctime_nsec", "btime_nsec", "flags",
               "attributes", "attributes_mask", "gfid", "type", "_perm")

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        if "gfid" not in fields:
            object.__setattr__(self, "gfid", None)

    @property
    def mode(self) -> int:
        return _MODE_FROM_TYPE.get(self.type, 0) | self._perm

    @mode.setter
    def mode(self, value: int) -> None:
        object.__setattr__(self, "_perm", _stat.S_IMODE(value))
        if _stat.S_IFMT(value):
            object.__setattr__(self, "type", _TYPE_FROM_MODE.get(_stat.S_IFMT(value), FileType.INVAL))

    def __repr__(self) -> str:
        return f"<Iatt type={self.type} mode={self.mode:o} size={self.size} gfid={self.gfid}>"


class Statvfs(_Struct):
    _fields = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail",
               "f_fsid", "f_flag", "f_namemax")


class Flock(_Struct):
    _fields = ("type", "whence", "start", "len", "pid", "owner")

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        if "owner" not in fields:
            object.__setattr__(self, "owner", b"")


class Lease(_Struct):
    _fields = ("cmd", "lease_type", "lease_flags", "lease_id")


class Inode:
    """An inode: identity is the object; gfid and type as in GlusterFS."""

    def __init__(self, gfid: uuid.UUID | None = None, type: int = FileType.INVAL) -> None:
        self.gfid = gfid
        self.type = type

    @property
    def is_root(self) -> bool:
        return self.gfid == uuid.UUID(int=1)

    def __repr__(self) -> str:
        return f"<Inode {self.gfid} type={self.type}>"


class Fd:
    def __init__(self, inode: Inode, flags: int = 0, pid: int = 0, anonymous: bool = False) -> None:
        self.inode = inode
        self.flags = flags
        self.pid = pid
        self.anonymous = anonymous

    @classmethod
    def anonymous_for(cls, inode: Inode) -> "Fd":
        return cls(inode, anonymous=True)

    def __repr__(self) -> str:
        return f"<Fd {'anonymous ' if self.anonymous else ''}flags={self.flags:#o} of {self.inode!r}>"


class Loc:
    def __init__(self, path: str | None = None, inode: Inode | None = None, parent: Inode | None = None,
                 gfid: uuid.UUID | None = None, pargfid: uuid.UUID | None = None, name: str | None = None) -> None:
        self.path = path
        self.name = path.rsplit("/", 1)[-1] if path else name
        self.inode = inode
        self.parent = parent
        self.gfid = gfid or (inode.gfid if inode else None)
        self.pargfid = pargfid or (parent.gfid if parent else None)

    def __repr__(self) -> str:
        return f"<Loc path={self.path}>"


class Xdata(dict):
    """A GlusterFS dict: str keys, bytes/str/int/float/UUID/Iatt values."""

    def raw(self, key: str) -> bytes | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode() + b"\0"
        return str(value).encode()

    def copy(self) -> "Xdata":
        return Xdata(self)


class Buffer(bytes):
    """Data of a read or write."""

    def tobytes(self) -> bytes:
        return bytes(self)


class Caller:
    def __init__(self, uid: int = 0, gid: int = 0, pid: int = 0, groups: tuple[int, ...] = (),
                 lk_owner: bytes = b"", client: str | None = None, unique: int = 0) -> None:
        self.uid, self.gid, self.pid, self.groups = uid, gid, pid, groups
        self.lk_owner, self.client, self.unique = lk_owner, client, unique
        self.valid = True

    def __repr__(self) -> str:
        return f"<Caller uid={self.uid} gid={self.gid} pid={self.pid} unique={self.unique}>"
