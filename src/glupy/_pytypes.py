"""Pure-Python stand-ins for the native types, with the same attributes.

Used where no GlusterFS process hosts glupy: unit tests and the in-process harness.
"""

from __future__ import annotations

import os
import stat as _stat
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable, Iterable

from glupy.constants import ROOT_GFID, FileType

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
        return self.gfid == ROOT_GFID

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
        self.coro = None  # the handler's coroutine, for the report of a missed deadline (as natively)

    def __repr__(self) -> str:
        return f"<Caller uid={self.uid} gid={self.gid} pid={self.pid} unique={self.unique}>"


def _gfid_key(gfid: Any) -> uuid.UUID:
    if isinstance(gfid, uuid.UUID):
        return gfid
    if isinstance(gfid, (bytes, bytearray)) and len(gfid) == 16:
        return uuid.UUID(bytes=bytes(gfid))
    raise TypeError("a gfid is a uuid.UUID or 16 bytes")


def _name_key(name: Any) -> str:
    if isinstance(name, bytes):
        return os.fsdecode(name)
    if not isinstance(name, str) or not name:
        raise TypeError("a name is a non-empty str")
    return name


class MissingNames:
    """Names known to be missing, each in a parent directory (its gfid), until a deadline.

    A translator that sets ``missing_names`` to one of these in ``init()`` has the
    bridge answer a lookup ENOENT without entering Python when its (parent gfid,
    name) is here and not expired and every key of its xdata is one of
    `xdata_keys` or starts with one of `xdata_prefixes`. The answer carries the
    ``postparent`` stored with the name. A lookup of a name the client already
    holds an inode for (a revalidation: evidence that the name exists) drops the
    name and is never answered from here. Thread-safe; at most `max_entries`
    names, the least recently used evicted first. Deadlines are
    ``time.monotonic()`` seconds.

    This is the pure-Python stand-in (unit tests, the harness) of the bridge's C
    type, and its specification: both behave alike.
    """

    def __init__(self, max_entries: int = 100000, xdata_keys: Iterable[str] = (),
                 xdata_prefixes: Iterable[str] = ()) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = int(max_entries)
        self.xdata_keys = frozenset(xdata_keys)
        self.xdata_prefixes = tuple(xdata_prefixes)
        self._entries: OrderedDict[tuple[uuid.UUID, str], tuple[float, Any]] = OrderedDict()
        self._dirs: dict[uuid.UUID, set[str]] = {}
        self._lock = threading.Lock()
        self.hits = self.expired = self.evictions = 0
        #: the clock deadlines are compared with (the stand-in's only: tests replace it)
        self.clock: Callable[[], float] = time.monotonic

    @property
    def max_entries(self) -> int:
        """Most names kept; lowering it evicts at once."""
        return self._max

    @max_entries.setter
    def max_entries(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_entries must be at least 1")
        with self._lock:
            self._max = int(value)
            self._evict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        pargfid, name = key  # type: ignore[misc]
        return (_gfid_key(pargfid), _name_key(name)) in self._entries

    def add(self, pargfid: Any, name: Any, postparent: Any, expires: float) -> None:
        """Remember that `name` is missing in directory `pargfid` until `expires`; lookups
        of it are answered ENOENT with (a copy of) `postparent` (an Iatt or None)."""
        key = (_gfid_key(pargfid), _name_key(name))
        if postparent is not None and not isinstance(postparent, Iatt):
            raise TypeError(f"postparent must be Iatt or None, not {type(postparent).__name__}")
        saved = postparent.copy() if postparent is not None else None
        with self._lock:
            self._entries[key] = (float(expires), saved)
            self._entries.move_to_end(key)
            self._dirs.setdefault(key[0], set()).add(key[1])
            self._evict()

    def get(self, pargfid: Any, name: Any) -> tuple[float, Any] | None:
        """(deadline, postparent) of a stored name, expired or not; None if absent."""
        with self._lock:
            return self._entries.get((_gfid_key(pargfid), _name_key(name)))

    def discard(self, pargfid: Any, name: Any) -> bool:
        """Forget one name; True if it was there."""
        with self._lock:
            return self._drop((_gfid_key(pargfid), _name_key(name)))

    def discard_dir(self, pargfid: Any) -> int:
        """Forget every name of one directory; how many there were."""
        gfid = _gfid_key(pargfid)
        with self._lock:
            names = self._dirs.pop(gfid, set())
            for name in names:
                del self._entries[(gfid, name)]
            return len(names)

    def clear(self) -> int:
        """Forget every name; how many there were."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._dirs.clear()
            return count

    def answer(self, pargfid: Any, name: str, xdata_keys: Iterable[str]) -> tuple[bool, Any]:
        """What the bridge does for a fresh lookup: (True, postparent) to answer it ENOENT,
        (False, None) to hand it on. An expired name found here is dropped."""
        for k in xdata_keys:
            if k not in self.xdata_keys and not k.startswith(self.xdata_prefixes):
                return False, None
        key = (_gfid_key(pargfid), _name_key(name))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            if self.clock() >= entry[0]:
                self._drop(key)
                self.expired += 1
                return False, None
            self._entries.move_to_end(key)
            self.hits += 1
            return True, entry[1].copy() if entry[1] is not None else None

    def _drop(self, key: tuple[uuid.UUID, str]) -> bool:
        if self._entries.pop(key, None) is None:
            return False
        names = self._dirs[key[0]]
        names.discard(key[1])
        if not names:
            del self._dirs[key[0]]
        return True

    def _evict(self) -> None:
        while len(self._entries) > self._max:
            key = next(iter(self._entries))
            self._drop(key)
            self.evictions += 1
