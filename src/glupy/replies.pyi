# Generated from src/glupy/fop_table.py by `python -m glupy.fop_table --stubs` (glupy/_stubgen.py); do not edit.

from typing import Any, ClassVar, TypeVar

from glupy.types import Buffer, Caller, Dirent, Fd, Flock, Iatt, Inode, Lease, LockInfo, Loc, Statvfs, Xdata

_R = TypeVar("_R")


class StatReply:
    """The reply of ``stat``: Attributes of a file by location. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    buf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, buf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class ReadlinkReply:
    """The reply of ``readlink``: Target of a symbolic link. op_ret: length of path."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    path: str
    buf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, path: str | None = None, buf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class MknodReply:
    """The reply of ``mknod``: Create a special file or FIFO. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class MkdirReply:
    """The reply of ``mkdir``: Create a directory. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class UnlinkReply:
    """The reply of ``unlink``: Remove a name. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class RmdirReply:
    """The reply of ``rmdir``: Remove a directory. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class SymlinkReply:
    """The reply of ``symlink``: Create a symbolic link at loc pointing to linkname. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class RenameReply:
    """The reply of ``rename``: Rename oldloc to newloc. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    buf: Iatt
    preoldparent: Iatt
    postoldparent: Iatt
    prenewparent: Iatt
    postnewparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, buf: Iatt | None = None, preoldparent: Iatt | None = None, postoldparent: Iatt | None = None, prenewparent: Iatt | None = None, postnewparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class LinkReply:
    """The reply of ``link``: Create a hard link newloc to oldloc. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class TruncateReply:
    """The reply of ``truncate``: Set the size of a file by location. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    prebuf: Iatt
    postbuf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, prebuf: Iatt | None = None, postbuf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class OpenReply:
    """The reply of ``open``: Open a file; fd is the new open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    fd: Fd
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, fd: Fd | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class ReadvReply:
    """The reply of ``readv``: Read up to size bytes at offset. op_ret: number of bytes read (glupy sets it from len(data))."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    data: Buffer | bytes
    buf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, data: Buffer | bytes | None = None, buf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class WritevReply:
    """The reply of ``writev``: Write data at offset. op_ret: number of bytes written (a reply you build must set it)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    prebuf: Iatt
    postbuf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, prebuf: Iatt | None = None, postbuf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class StatfsReply:
    """The reply of ``statfs``: File system statistics. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    buf: Statvfs
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, buf: Statvfs | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FlushReply:
    """The reply of ``flush``: Called on each close(2) of a file descriptor. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FsyncReply:
    """The reply of ``fsync``: Flush file data (flags != 0: data only). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    prebuf: Iatt
    postbuf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, prebuf: Iatt | None = None, postbuf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class SetxattrReply:
    """The reply of ``setxattr``: Set extended attributes (dict) by location. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class GetxattrReply:
    """The reply of ``getxattr``: Get one extended attribute (or all when name is None) by location. op_ret: any (storage/posix: the value's size)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    dict: Xdata
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, dict: Xdata | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class RemovexattrReply:
    """The reply of ``removexattr``: Remove an extended attribute by location. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class OpendirReply:
    """The reply of ``opendir``: Open a directory. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    fd: Fd
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, fd: Fd | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FsyncdirReply:
    """The reply of ``fsyncdir``: Flush a directory. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class AccessReply:
    """The reply of ``access``: Check access permissions. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class CreateReply:
    """The reply of ``create``: Create and open a regular file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    fd: Fd
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, fd: Fd | None = None, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FtruncateReply:
    """The reply of ``ftruncate``: Set the size of an open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    prebuf: Iatt
    postbuf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, prebuf: Iatt | None = None, postbuf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FstatReply:
    """The reply of ``fstat``: Attributes of an open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    buf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, buf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class LkReply:
    """The reply of ``lk``: POSIX byte-range lock (cmd: GF_LK_GETLK, GF_LK_SETLK, GF_LK_SETLKW, ...). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    lock: Flock
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, lock: Flock | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class LookupReply:
    """The reply of ``lookup``: Resolve a name: the first FOP on any path. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    xdata: Xdata | None
    postparent: Iatt
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, xdata: Xdata | None = None, postparent: Iatt | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class ReaddirReply:
    """The reply of ``readdir``: Read directory entries (names only). op_ret: number of entries (glupy sets it from entries)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    entries: list[Dirent]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, entries: list[Dirent] | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class InodelkReply:
    """The reply of ``inodelk``: GlusterFS internal inode lock in a domain (volume). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FinodelkReply:
    """The reply of ``finodelk``: Inode lock by fd. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class EntrylkReply:
    """The reply of ``entrylk``: GlusterFS internal lock on a directory entry name. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FentrylkReply:
    """The reply of ``fentrylk``: Entry lock by fd. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class XattropReply:
    """The reply of ``xattrop``: Atomic arithmetic on extended attributes (afr changelog). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    dict: Xdata
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, dict: Xdata | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FxattropReply:
    """The reply of ``fxattrop``: xattrop by fd. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    dict: Xdata
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, dict: Xdata | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FgetxattrReply:
    """The reply of ``fgetxattr``: Get extended attributes of an open file. op_ret: any (storage/posix: the value's size)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    dict: Xdata
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, dict: Xdata | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FsetxattrReply:
    """The reply of ``fsetxattr``: Set extended attributes of an open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class RchecksumReply:
    """The reply of ``rchecksum``: Checksums of a region (self-heal's diff algorithm). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    weak_checksum: int
    strong_checksum: bytes
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, weak_checksum: int | None = None, strong_checksum: bytes | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class SetattrReply:
    """The reply of ``setattr``: Change attributes (valid: GF_SET_ATTR_* mask) by location. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    statpre: Iatt
    statpost: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, statpre: Iatt | None = None, statpost: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FsetattrReply:
    """The reply of ``fsetattr``: Change attributes of an open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    statpre: Iatt
    statpost: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, statpre: Iatt | None = None, statpost: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class ReaddirpReply:
    """The reply of ``readdirp``: Read directory entries with attributes and inodes. op_ret: number of entries (glupy sets it from entries)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    entries: list[Dirent]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, entries: list[Dirent] | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class GetspecReply:
    """The reply of ``getspec``: Fetch a volfile (management; not used in data paths). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    spec_data: str
    op_ret: int
    op_errno: int
    def __init__(self, spec_data: str | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FremovexattrReply:
    """The reply of ``fremovexattr``: Remove an extended attribute of an open file. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class FallocateReply:
    """The reply of ``fallocate``: Allocate space (mode: FALLOC_FL_KEEP_SIZE ...). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    pre: Iatt
    post: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, pre: Iatt | None = None, post: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class DiscardReply:
    """The reply of ``discard``: Punch a hole. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    pre: Iatt
    post: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, pre: Iatt | None = None, post: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class ZerofillReply:
    """The reply of ``zerofill``: Write zeroes. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    pre: Iatt
    post: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, pre: Iatt | None = None, post: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class IpcReply:
    """The reply of ``ipc``: Inter-translator messages. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class SeekReply:
    """The reply of ``seek``: Find data or a hole (SEEK_DATA/SEEK_HOLE). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    offset: int
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, offset: int | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class LeaseReply:
    """The reply of ``lease``: Acquire or release a lease. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    lease: Lease
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, lease: Lease | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class GetactivelkReply:
    """The reply of ``getactivelk``: List active locks (lock migration). op_ret: any (features/locks: the number of locks)."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    locklist: list[LockInfo]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, locklist: list[LockInfo] | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class SetactivelkReply:
    """The reply of ``setactivelk``: Install locks (lock migration). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class PutReply:
    """The reply of ``put``: Create a file with data and xattrs in one call. op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    preparent: Iatt
    postparent: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, preparent: Iatt | None = None, postparent: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class IcreateReply:
    """The reply of ``icreate``: Create an inode without a name (internal). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    inode: Inode
    buf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, inode: Inode | None = None, buf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class NamelinkReply:
    """The reply of ``namelink``: Link a name to an inode created by icreate (internal). op_ret: 0 on success."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    prebuf: Iatt
    postbuf: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, prebuf: Iatt | None = None, postbuf: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...

class CopyFileRangeReply:
    """The reply of ``copy_file_range``: Copy a range between two open files on the server. op_ret: number of bytes copied."""

    fields: ClassVar[tuple[str, ...]]
    fop: ClassVar[str]
    stbuf: Iatt
    prebuf_dst: Iatt
    postbuf_dst: Iatt
    xdata: Xdata | None
    op_ret: int
    op_errno: int
    def __init__(self, stbuf: Iatt | None = None, prebuf_dst: Iatt | None = None, postbuf_dst: Iatt | None = None, xdata: Xdata | None = None, *, op_ret: int | None = None, op_errno: int = 0) -> None: ...


def copy_reply(reply: _R) -> _R: ...

REPLIES: dict[str, type[Any]]
REPLY_BY_ID: dict[int, type[Any]]
__all__ = [
    "StatReply",
    "ReadlinkReply",
    "MknodReply",
    "MkdirReply",
    "UnlinkReply",
    "RmdirReply",
    "SymlinkReply",
    "RenameReply",
    "LinkReply",
    "TruncateReply",
    "OpenReply",
    "ReadvReply",
    "WritevReply",
    "StatfsReply",
    "FlushReply",
    "FsyncReply",
    "SetxattrReply",
    "GetxattrReply",
    "RemovexattrReply",
    "OpendirReply",
    "FsyncdirReply",
    "AccessReply",
    "CreateReply",
    "FtruncateReply",
    "FstatReply",
    "LkReply",
    "LookupReply",
    "ReaddirReply",
    "InodelkReply",
    "FinodelkReply",
    "EntrylkReply",
    "FentrylkReply",
    "XattropReply",
    "FxattropReply",
    "FgetxattrReply",
    "FsetxattrReply",
    "RchecksumReply",
    "SetattrReply",
    "FsetattrReply",
    "ReaddirpReply",
    "GetspecReply",
    "FremovexattrReply",
    "FallocateReply",
    "DiscardReply",
    "ZerofillReply",
    "IpcReply",
    "SeekReply",
    "LeaseReply",
    "GetactivelkReply",
    "SetactivelkReply",
    "PutReply",
    "IcreateReply",
    "NamelinkReply",
    "CopyFileRangeReply",
]
