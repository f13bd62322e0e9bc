# Generated from src/glupy/fop_table.py by `python -m glupy.fop_table --stubs` (glupy/_stubgen.py); do not edit.

import builtins
import logging
from typing import Any, Awaitable, Callable, ClassVar, Generic, Iterable, Mapping, TypeVar, overload

from typing_extensions import disjoint_base

from glupy.replies import StatReply, ReadlinkReply, MknodReply, MkdirReply, UnlinkReply, RmdirReply, SymlinkReply, RenameReply, LinkReply, TruncateReply, OpenReply, ReadvReply, WritevReply, StatfsReply, FlushReply, FsyncReply, SetxattrReply, GetxattrReply, RemovexattrReply, OpendirReply, FsyncdirReply, AccessReply, CreateReply, FtruncateReply, FstatReply, LkReply, LookupReply, ReaddirReply, InodelkReply, FinodelkReply, EntrylkReply, FentrylkReply, XattropReply, FxattropReply, FgetxattrReply, FsetxattrReply, RchecksumReply, SetattrReply, FsetattrReply, ReaddirpReply, GetspecReply, FremovexattrReply, FallocateReply, DiscardReply, ZerofillReply, IpcReply, SeekReply, LeaseReply, GetactivelkReply, SetactivelkReply, PutReply, IcreateReply, NamelinkReply, CopyFileRangeReply
from glupy.types import Buffer, Caller, Fd, Flock, Iatt, Inode, Lease, LockInfo, Loc, Xdata

T = TypeVar("T")
_F = TypeVar("_F", bound=Callable[..., Any])

@disjoint_base
class Size(int): ...

def parse_bool(text: str) -> bool: ...
def parse_size(text: str) -> Size: ...

class Option(Generic[T]):
    type: Callable[[str], T]
    default: Any
    doc: str
    key: str | None
    min: float | None
    max: float | None
    choices: tuple[Any, ...] | None
    validate: Callable[[T], Any] | None
    reconfigurable: bool
    attr: str
    def __init__(self, type: Callable[[str], T] = ..., default: Any = ..., *, doc: str = "",
                 key: str | None = None, min: float | None = None, max: float | None = None,
                 choices: Iterable[Any] | None = None, validate: Callable[[T], Any] | None = None,
                 reconfigurable: bool = True) -> None: ...
    def __set_name__(self, owner: builtins.type, name: str) -> None: ...
    @property
    def required(self) -> bool: ...
    def parse(self, text: Any) -> T: ...
    def check(self, value: Any) -> None: ...
    @overload
    def __get__(self, obj: None, owner: builtins.type) -> Option[T]: ...
    @overload
    def __get__(self, obj: Any, owner: builtins.type) -> T: ...
    def describe(self) -> str: ...

class Child:
    """A child (subvolume) of a translator. Each FOP is a method returning an awaitable
    of the FOP's reply (``reply = await self.child.lookup(loc, xdata)``), which raises
    :class:`glupy.FopError` when the child answers an error."""

    xlator: Any
    index: int
    def __init__(self, xlator: Any, index: int) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
    def __hash__(self) -> int: ...

    def stat(self, loc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[StatReply]:
        """Wind stat to this child: Attributes of a file by location."""
    def readlink(self, loc: Loc, size: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[ReadlinkReply]:
        """Wind readlink to this child: Target of a symbolic link."""
    def mknod(self, loc: Loc, mode: int, rdev: int, umask: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[MknodReply]:
        """Wind mknod to this child: Create a special file or FIFO."""
    def mkdir(self, loc: Loc, mode: int, umask: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[MkdirReply]:
        """Wind mkdir to this child: Create a directory."""
    def unlink(self, loc: Loc, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[UnlinkReply]:
        """Wind unlink to this child: Remove a name."""
    def rmdir(self, loc: Loc, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[RmdirReply]:
        """Wind rmdir to this child: Remove a directory."""
    def symlink(self, linkname: str, loc: Loc, umask: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[SymlinkReply]:
        """Wind symlink to this child: Create a symbolic link at loc pointing to linkname."""
    def rename(self, oldloc: Loc, newloc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[RenameReply]:
        """Wind rename to this child: Rename oldloc to newloc."""
    def link(self, oldloc: Loc, newloc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[LinkReply]:
        """Wind link to this child: Create a hard link newloc to oldloc."""
    def truncate(self, loc: Loc, offset: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[TruncateReply]:
        """Wind truncate to this child: Set the size of a file by location."""
    def open(self, loc: Loc, flags: int, fd: Fd, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[OpenReply]:
        """Wind open to this child: Open a file; fd is the new open file."""
    def readv(self, fd: Fd, size: int, offset: int, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[ReadvReply]:
        """Wind readv to this child: Read up to size bytes at offset."""
    def writev(self, fd: Fd, data: Buffer | bytes, offset: int, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[WritevReply]:
        """Wind writev to this child: Write data at offset."""
    def statfs(self, loc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[StatfsReply]:
        """Wind statfs to this child: File system statistics."""
    def flush(self, fd: Fd, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FlushReply]:
        """Wind flush to this child: Called on each close(2) of a file descriptor."""
    def fsync(self, fd: Fd, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FsyncReply]:
        """Wind fsync to this child: Flush file data (flags != 0: data only)."""
    def setxattr(self, loc: Loc, dict: Xdata, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[SetxattrReply]:
        """Wind setxattr to this child: Set extended attributes (dict) by location."""
    def getxattr(self, loc: Loc, name: str | None, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[GetxattrReply]:
        """Wind getxattr to this child: Get one extended attribute (or all when name is None) by location."""
    def removexattr(self, loc: Loc, name: str, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[RemovexattrReply]:
        """Wind removexattr to this child: Remove an extended attribute by location."""
    def opendir(self, loc: Loc, fd: Fd, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[OpendirReply]:
        """Wind opendir to this child: Open a directory."""
    def fsyncdir(self, fd: Fd, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FsyncdirReply]:
        """Wind fsyncdir to this child: Flush a directory."""
    def access(self, loc: Loc, mask: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[AccessReply]:
        """Wind access to this child: Check access permissions."""
    def create(self, loc: Loc, flags: int, mode: int, umask: int, fd: Fd, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[CreateReply]:
        """Wind create to this child: Create and open a regular file."""
    def ftruncate(self, fd: Fd, offset: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FtruncateReply]:
        """Wind ftruncate to this child: Set the size of an open file."""
    def fstat(self, fd: Fd, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FstatReply]:
        """Wind fstat to this child: Attributes of an open file."""
    def lk(self, fd: Fd, cmd: int, lock: Flock, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[LkReply]:
        """Wind lk to this child: POSIX byte-range lock (cmd: GF_LK_GETLK, GF_LK_SETLK, GF_LK_SETLKW, ...)."""
    def lookup(self, loc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[LookupReply]:
        """Wind lookup to this child: Resolve a name: the first FOP on any path."""
    def readdir(self, fd: Fd, size: int, offset: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[ReaddirReply]:
        """Wind readdir to this child: Read directory entries (names only)."""
    def inodelk(self, volume: str, loc: Loc, cmd: int, lock: Flock, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[InodelkReply]:
        """Wind inodelk to this child: GlusterFS internal inode lock in a domain (volume)."""
    def finodelk(self, volume: str, fd: Fd, cmd: int, lock: Flock, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FinodelkReply]:
        """Wind finodelk to this child: Inode lock by fd."""
    def entrylk(self, volume: str, loc: Loc, basename: str | None, cmd: int, type: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[EntrylkReply]:
        """Wind entrylk to this child: GlusterFS internal lock on a directory entry name."""
    def fentrylk(self, volume: str, fd: Fd, basename: str | None, cmd: int, type: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FentrylkReply]:
        """Wind fentrylk to this child: Entry lock by fd."""
    def xattrop(self, loc: Loc, flags: int, dict: Xdata, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[XattropReply]:
        """Wind xattrop to this child: Atomic arithmetic on extended attributes (afr changelog)."""
    def fxattrop(self, fd: Fd, flags: int, dict: Xdata, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FxattropReply]:
        """Wind fxattrop to this child: xattrop by fd."""
    def fgetxattr(self, fd: Fd, name: str | None, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FgetxattrReply]:
        """Wind fgetxattr to this child: Get extended attributes of an open file."""
    def fsetxattr(self, fd: Fd, dict: Xdata, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FsetxattrReply]:
        """Wind fsetxattr to this child: Set extended attributes of an open file."""
    def rchecksum(self, fd: Fd, offset: int, len: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[RchecksumReply]:
        """Wind rchecksum to this child: Checksums of a region (self-heal's diff algorithm)."""
    def setattr(self, loc: Loc, stbuf: Iatt, valid: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[SetattrReply]:
        """Wind setattr to this child: Change attributes (valid: GF_SET_ATTR_* mask) by location."""
    def fsetattr(self, fd: Fd, stbuf: Iatt, valid: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FsetattrReply]:
        """Wind fsetattr to this child: Change attributes of an open file."""
    def readdirp(self, fd: Fd, size: int, offset: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[ReaddirpReply]:
        """Wind readdirp to this child: Read directory entries with attributes and inodes."""
    def getspec(self, key: str, flags: int, *, lk_owner: bytes | None = None) -> Awaitable[GetspecReply]:
        """Wind getspec to this child: Fetch a volfile (management; not used in data paths)."""
    def fremovexattr(self, fd: Fd, name: str, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FremovexattrReply]:
        """Wind fremovexattr to this child: Remove an extended attribute of an open file."""
    def fallocate(self, fd: Fd, mode: int, offset: int, len: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[FallocateReply]:
        """Wind fallocate to this child: Allocate space (mode: FALLOC_FL_KEEP_SIZE ...)."""
    def discard(self, fd: Fd, offset: int, len: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[DiscardReply]:
        """Wind discard to this child: Punch a hole."""
    def zerofill(self, fd: Fd, offset: int, len: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[ZerofillReply]:
        """Wind zerofill to this child: Write zeroes."""
    def ipc(self, op: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[IpcReply]:
        """Wind ipc to this child: Inter-translator messages."""
    def seek(self, fd: Fd, offset: int, what: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[SeekReply]:
        """Wind seek to this child: Find data or a hole (SEEK_DATA/SEEK_HOLE)."""
    def lease(self, loc: Loc, lease: Lease, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[LeaseReply]:
        """Wind lease to this child: Acquire or release a lease."""
    def getactivelk(self, loc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[GetactivelkReply]:
        """Wind getactivelk to this child: List active locks (lock migration)."""
    def setactivelk(self, loc: Loc, locklist: list[LockInfo], xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[SetactivelkReply]:
        """Wind setactivelk to this child: Install locks (lock migration)."""
    def put(self, loc: Loc, mode: int, umask: int, flags: int, data: Buffer | bytes, offset: int, dict: Xdata | None, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[PutReply]:
        """Wind put to this child: Create a file with data and xattrs in one call."""
    def icreate(self, loc: Loc, mode: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[IcreateReply]:
        """Wind icreate to this child: Create an inode without a name (internal)."""
    def namelink(self, loc: Loc, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[NamelinkReply]:
        """Wind namelink to this child: Link a name to an inode created by icreate (internal)."""
    def copy_file_range(self, fd_in: Fd, off_in: int, fd_out: Fd, off_out: int, len: int, flags: int, xdata: Xdata | None = None, *, lk_owner: bytes | None = None) -> Awaitable[CopyFileRangeReply]:
        """Wind copy_file_range to this child: Copy a range between two open files on the server."""

HOOKS: tuple[str, ...]

class Translator:
    """Base class of Python translators: override ``async def <fop>(self, ...)``
    with the signatures of docs/fops.md."""

    options: ClassVar[dict[str, Option[Any]]]
    named_lookups_only: bool
    fresh_lookups_only: bool
    missing_names: Any
    placement: ClassVar[str | None]
    bypass_guard: ClassVar[str | None]
    name: str
    children: list[Child]
    child: Child
    log: logging.Logger
    def __init_subclass__(cls, **kwargs: Any) -> None: ...
    def init(self) -> None: ...
    def fini(self) -> None: ...
    def reconfigure(self, changed: Mapping[str, tuple[Any, Any]]) -> None: ...
    def statedump(self) -> Mapping[str, Any]: ...
    def inode_ctx(self, inode: Inode) -> Any: ...
    def set_inode_ctx(self, inode: Inode, value: Any) -> None: ...
    def fd_ctx(self, fd: Fd) -> Any: ...
    def set_fd_ctx(self, fd: Fd, value: Any) -> None: ...
    @property
    def caller(self) -> Caller: ...

BRIDGE_OPTIONS: frozenset[str]

def is_fop_handler(cls: type, name: str) -> bool: ...
def observer(method: _F) -> _F: ...
def is_observer(cls: type, name: str) -> bool: ...
