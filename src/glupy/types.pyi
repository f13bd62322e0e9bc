# Generated from src/glupy/fop_table.py by `python -m glupy.fop_table --stubs` (glupy/_stubgen.py); do not edit.

import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Self

from typing_extensions import disjoint_base

NATIVE_TYPES: tuple[str, ...]

class Iatt:
    """File attributes (struct iatt)."""

    ino: int
    dev: int
    rdev: int
    size: int
    nlink: int
    uid: int
    gid: int
    blksize: int
    blocks: int
    atime: int
    mtime: int
    ctime: int
    btime: int
    atime_nsec: int
    mtime_nsec: int
    ctime_nsec: int
    btime_nsec: int
    flags: int
    attributes: int
    attributes_mask: int
    gfid: uuid.UUID | None
    type: int
    def __init__(self, **fields: Any) -> None: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...

    mode: int

class Statvfs:
    """File system statistics (struct statvfs)."""

    f_bsize: int
    f_frsize: int
    f_blocks: int
    f_bfree: int
    f_bavail: int
    f_files: int
    f_ffree: int
    f_favail: int
    f_fsid: int
    f_flag: int
    f_namemax: int
    def __init__(self, **fields: Any) -> None: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...

class Flock:
    """A POSIX-style lock (struct gf_flock)."""

    type: int
    whence: int
    start: int
    len: int
    pid: int
    owner: bytes
    def __init__(self, **fields: Any) -> None: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...

class Lease:
    """A lease (struct gf_lease)."""

    cmd: int
    lease_type: int
    lease_flags: int
    lease_id: bytes
    def __init__(self, **fields: Any) -> None: ...
    def copy(self) -> Self: ...
    def __copy__(self) -> Self: ...

class Inode:
    """An inode: identity is the object."""

    gfid: uuid.UUID | None
    type: int
    def __init__(self, gfid: uuid.UUID | None = None, type: int = ...) -> None: ...
    @property
    def is_root(self) -> bool: ...

class Fd:
    """An open file or directory."""

    inode: Inode
    flags: int
    pid: int
    anonymous: bool
    def __init__(self, inode: Inode, flags: int = 0, pid: int = 0, anonymous: bool = False) -> None: ...
    @classmethod
    def anonymous_for(cls, inode: Inode) -> Fd: ...

class Loc:
    """A location: path, name, inode, parent, gfids."""

    def __init__(self, path: str | None = None, inode: Inode | None = None, parent: Inode | None = None,
                 gfid: uuid.UUID | None = None, pargfid: uuid.UUID | None = None, name: str | None = None) -> None: ...
    path: str | None
    name: str | None
    inode: Inode | None
    parent: Inode | None
    gfid: uuid.UUID | None
    pargfid: uuid.UUID | None

class Xdata:
    """Extra data: a mapping of str to bytes, str, int, float, UUID or Iatt."""

    def __init__(self, items: Any = ..., /, **kwargs: Any) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: str) -> Any: ...
    def __setitem__(self, key: str, value: Any, /) -> None: ...
    def __delitem__(self, key: str, /) -> None: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> Any: ...
    def items(self) -> Any: ...
    def values(self) -> Any: ...
    def get(self, key: str, default: Any = None, /) -> Any: ...
    def update(self, *args: Any, **kwargs: Any) -> None: ...
    def copy(self) -> Xdata: ...
    def raw(self, key: str) -> bytes | None: ...

@disjoint_base
class Buffer(bytes):
    """Data of a read or write."""

    def tobytes(self) -> bytes: ...

class Caller:
    """Who made the FOP being handled."""

    uid: int
    gid: int
    pid: int
    groups: tuple[int, ...]
    lk_owner: bytes
    client: str | None
    unique: int
    valid: bool
    def __init__(self, uid: int = 0, gid: int = 0, pid: int = 0, groups: tuple[int, ...] = (),
                 lk_owner: bytes = b"", client: str | None = None, unique: int = 0) -> None: ...

class MissingNames:
    """Names known to be missing (see glupy.translators.negative)."""

    def __init__(self, max_entries: int = 100000, xdata_keys: Iterable[str] = (),
                 xdata_prefixes: Iterable[str] = ()) -> None: ...
    max_entries: int
    def __len__(self) -> int: ...
    def __contains__(self, key: object) -> bool: ...
    def add(self, pargfid: Any, name: Any, postparent: Any, expires: float) -> None: ...
    def get(self, pargfid: Any, name: Any) -> tuple[float, Any] | None: ...
    def discard(self, pargfid: Any, name: Any) -> bool: ...
    def discard_dir(self, pargfid: Any) -> int: ...
    def clear(self) -> int: ...
    def answer(self, pargfid: Any, name: str, xdata_keys: Iterable[str]) -> tuple[bool, Any]: ...

@dataclass(eq=False)
class Dirent:
    """One directory entry of readdir/readdirp."""

    name: str
    ino: int = 0
    off: int = 0
    type: int = 0
    stat: Iatt | None = None
    inode: Inode | None = None
    xdata: Xdata | None = None

@dataclass
class LockInfo:
    """One active lock (getactivelk/setactivelk)."""

    flock: Flock
    client_uid: str | None = None
    lk_flags: int = 0

@dataclass
class Upcall:
    """The `source` a translator's notify receives with Event.UPCALL: a brick telling clients that an inode changed (features.cache-invalidation) or that a lease or lock is wanted back."""

    gfid: uuid.UUID
    kind: int
    client: str | None = None
    flags: int = 0
    stat: Iatt | None = None
    parent_stat: Iatt | None = None
    expire: int = 0

def entry_key(loc: Loc | None) -> tuple[Any, str] | None: ...
def native_module() -> Any: ...
