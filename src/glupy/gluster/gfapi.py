"""ctypes binding to libgfapi (``libgfapi.so.0``, GlusterFS 10.x) with a Pythonic wrapper.

Access a volume without FUSE, from this Python process::

    from glupy.gluster import gfapi

    with gfapi.Client("v0", "127.1.1.1", log_file="/tmp/gfapi.log") as vol:
        with vol.open("/hello", os.O_WRONLY | os.O_CREAT, 0o644) as f:
            f.write(b"hi")
        print(vol.stat("/hello").st_size)

or build the client graph from a local volfile (a custom graph, e.g. with
extra translators)::

    with gfapi.Client("v0", volfile="/path/to/client.vol") as vol: ...

A client graph with Python translators in it runs them in this interpreter (see
docs/gfapi.md).

Every failing call raises :class:`OSError` with the errno libgfapi set (so
``FileNotFoundError``, ``PermissionError``... as for :mod:`os`).  Stat results
are :class:`os.stat_result` / :class:`os.statvfs_result`.

The binding follows ``/usr/include/glusterfs/api/glfs.h`` of GlusterFS 10.3:
``glfs_pread``, ``glfs_pwrite``, ``glfs_ftruncate``, ``glfs_fsync`` and
``glfs_fdatasync`` have two versions in the library; the ``GFAPI_6.0`` ones
(with ``struct glfs_stat`` pre/post-stat arguments) are bound explicitly with
``dlvsym``.  Structure layouts are those of glibc on x86_64 and aarch64.

The raw functions are available as attributes of :func:`lib()` (a
:class:`ctypes.CDLL`-like namespace) for anything the wrapper lacks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import fcntl
import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace, TracebackType
from typing import Any, Self, TypeAlias

from glupy.gluster.errors import GlusterNotInstalledError

__all__ = [
    "GLFS_GET_LEASE",
    "GLFS_LEASE_NONE",
    "GLFS_RD_LEASE",
    "GLFS_RW_LEASE",
    "GLFS_SET_LEASE",
    "GLFS_UNLK_LEASE",
    "LOG_LEVELS",
    "DirEntry",
    "Directory",
    "File",
    "LeaseInfo",
    "Client",
    "PosixLock",
    "lib",
    "setfsgid",
    "setfsleaseid",
    "setfsuid",
]

PathLike: TypeAlias = str | os.PathLike[str]

#: GlusterFS log levels (``gf_loglevel_t``) accepted by :class:`Client`.
LOG_LEVELS: Mapping[str, int] = {
    "NONE": 0,
    "EMERG": 1,
    "ALERT": 2,
    "CRITICAL": 3,
    "ERROR": 4,
    "WARNING": 5,
    "NOTICE": 6,
    "INFO": 7,
    "DEBUG": 8,
    "TRACE": 9,
}

# glfs_lease_types / glfs_lease_cmds
GLFS_LEASE_NONE = 0
GLFS_RD_LEASE = 1
GLFS_RW_LEASE = 2
GLFS_GET_LEASE = 1
GLFS_SET_LEASE = 2
GLFS_UNLK_LEASE = 3

# glfs_stat masks used by glfs_setattr / glfs_fsetattr
GLFS_STAT_MODE = 0x2
GLFS_STAT_UID = 0x8
GLFS_STAT_GID = 0x10
GLFS_STAT_ATIME = 0x20
GLFS_STAT_MTIME = 0x40
GLFS_STAT_SIZE = 0x200

GLFS_LEASE_ID_SIZE = 16

# ---------------------------------------------------------------------------
# C types

_MACHINE = platform.machine()
if _MACHINE in ("x86_64", "amd64"):
    _nlink_t: Any = ctypes.c_uint64
    _blksize_t: Any = ctypes.c_int64
elif _MACHINE in ("aarch64", "arm64"):
    _nlink_t = ctypes.c_uint32
    _blksize_t = ctypes.c_int32
else:  # pragma: no cover - only 64-bit glibc layouts are described here
    _nlink_t = None
    _blksize_t = None

_off_t = ctypes.c_int64
_mode_t = ctypes.c_uint32
_uid_t = ctypes.c_uint32
_gid_t = ctypes.c_uint32
_dev_t = ctypes.c_uint64
_fs_p = ctypes.c_void_p  # glfs_t *
_fd_p = ctypes.c_void_p  # glfs_fd_t *


class CTimespec(ctypes.Structure):
    """``struct timespec``."""

    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


if _MACHINE in ("aarch64", "arm64"):

    class CStat(ctypes.Structure):
        """``struct stat`` (glibc, aarch64 / generic 64-bit layout)."""

        _fields_ = [
            ("st_dev", ctypes.c_uint64),
            ("st_ino", ctypes.c_uint64),
            ("st_mode", ctypes.c_uint32),
            ("st_nlink", ctypes.c_uint32),
            ("st_uid", ctypes.c_uint32),
            ("st_gid", ctypes.c_uint32),
            ("st_rdev", ctypes.c_uint64),
            ("__pad1", ctypes.c_uint64),
            ("st_size", ctypes.c_int64),
            ("st_blksize", ctypes.c_int32),
            ("__pad2", ctypes.c_int32),
            ("st_blocks", ctypes.c_int64),
            ("st_atim", CTimespec),
            ("st_mtim", CTimespec),
            ("st_ctim", CTimespec),
            ("__unused", ctypes.c_int32 * 2),
        ]

else:

    class CStat(ctypes.Structure):  # type: ignore[no-redef]
        """``struct stat`` (glibc, x86_64 layout: 144 bytes)."""

        _fields_ = [
            ("st_dev", ctypes.c_uint64),
            ("st_ino", ctypes.c_uint64),
            ("st_nlink", ctypes.c_uint64),
            ("st_mode", ctypes.c_uint32),
            ("st_uid", ctypes.c_uint32),
            ("st_gid", ctypes.c_uint32),
            ("__pad0", ctypes.c_int32),
            ("st_rdev", ctypes.c_uint64),
            ("st_size", ctypes.c_int64),
            ("st_blksize", ctypes.c_int64),
            ("st_blocks", ctypes.c_int64),
            ("st_atim", CTimespec),
            ("st_mtim", CTimespec),
            ("st_ctim", CTimespec),
            ("__glibc_reserved", ctypes.c_int64 * 3),
        ]


class CGlfsStat(ctypes.Structure):
    """``struct glfs_stat`` (statx-like; used for pre/post-op stats and setattr)."""

    _fields_ = [
        ("glfs_st_mask", ctypes.c_uint64),
        ("glfs_st_attributes", ctypes.c_uint64),
        ("glfs_st_attributes_mask", ctypes.c_uint64),
        ("glfs_st_atime", CTimespec),
        ("glfs_st_btime", CTimespec),
        ("glfs_st_ctime", CTimespec),
        ("glfs_st_mtime", CTimespec),
        ("glfs_st_ino", ctypes.c_uint64),
        ("glfs_st_size", _off_t),
        ("glfs_st_blocks", ctypes.c_int64),
        ("glfs_st_rdev_major", ctypes.c_uint32),
        ("glfs_st_rdev_minor", ctypes.c_uint32),
        ("glfs_st_dev_major", ctypes.c_uint32),
        ("glfs_st_dev_minor", ctypes.c_uint32),
        ("glfs_st_blksize", _blksize_t or ctypes.c_int64),
        ("glfs_st_nlink", _nlink_t or ctypes.c_uint64),
        ("glfs_st_uid", _uid_t),
        ("glfs_st_gid", _gid_t),
        ("glfs_st_mode", _mode_t),
    ]


class CStatvfs(ctypes.Structure):
    """``struct statvfs`` (glibc, 64-bit)."""

    _fields_ = [
        ("f_bsize", ctypes.c_ulong),
        ("f_frsize", ctypes.c_ulong),
        ("f_blocks", ctypes.c_uint64),
        ("f_bfree", ctypes.c_uint64),
        ("f_bavail", ctypes.c_uint64),
        ("f_files", ctypes.c_uint64),
        ("f_ffree", ctypes.c_uint64),
        ("f_favail", ctypes.c_uint64),
        ("f_fsid", ctypes.c_ulong),
        ("f_flag", ctypes.c_ulong),
        ("f_namemax", ctypes.c_ulong),
        ("__f_spare", ctypes.c_int * 6),
    ]


class CDirent(ctypes.Structure):
    """``struct dirent`` (glibc, 64-bit)."""

    _fields_ = [
        ("d_ino", ctypes.c_uint64),
        ("d_off", ctypes.c_int64),
        ("d_reclen", ctypes.c_uint16),
        ("d_type", ctypes.c_uint8),
        ("d_name", ctypes.c_char * 256),
    ]


class CFlock(ctypes.Structure):
    """``struct flock`` (64-bit off_t)."""

    _fields_ = [
        ("l_type", ctypes.c_short),
        ("l_whence", ctypes.c_short),
        ("l_start", _off_t),
        ("l_len", _off_t),
        ("l_pid", ctypes.c_int),
    ]


class CGlfsLease(ctypes.Structure):
    """``struct glfs_lease``."""

    _fields_ = [
        ("cmd", ctypes.c_int),
        ("lease_type", ctypes.c_int),
        ("lease_id", ctypes.c_char * GLFS_LEASE_ID_SIZE),
        ("lease_flags", ctypes.c_uint),
    ]


_EXPECTED_SIZES = {
    "x86_64": {CStat: 144, CGlfsStat: 160, CFlock: 32, CDirent: 280, CStatvfs: 112, CGlfsLease: 28},
    "aarch64": {CStat: 128, CGlfsStat: 152, CFlock: 32, CDirent: 280, CStatvfs: 112, CGlfsLease: 28},
}

_P_STAT = ctypes.POINTER(CStat)
_P_GSTAT = ctypes.POINTER(CGlfsStat)
_P_DIRENT = ctypes.POINTER(CDirent)

#: ``void (*glfs_recall_cbk)(glfs_lease_t lease, void *data)``
RECALL_CBK = ctypes.CFUNCTYPE(None, CGlfsLease, ctypes.c_void_p)

c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_ssize_t = ctypes.c_ssize_t
c_void_p = ctypes.c_void_p

# name: (restype, argtypes, symbol version or None for the default version)
_PROTOTYPES: dict[str, tuple[Any, list[Any], str | None]] = {
    "glfs_new": (_fs_p, [c_char_p], None),
    "glfs_set_volfile": (c_int, [_fs_p, c_char_p], None),
    "glfs_set_volfile_server": (c_int, [_fs_p, c_char_p, c_char_p, c_int], None),
    "glfs_set_logging": (c_int, [_fs_p, c_char_p, c_int], None),
    "glfs_set_xlator_option": (c_int, [_fs_p, c_char_p, c_char_p, c_char_p], None),
    "glfs_set_statedump_path": (c_int, [_fs_p, c_char_p], None),
    "glfs_init": (c_int, [_fs_p], None),
    "glfs_fini": (c_int, [_fs_p], None),
    "glfs_get_volfile": (c_ssize_t, [_fs_p, c_void_p, c_size_t], None),
    "glfs_get_volumeid": (c_int, [_fs_p, c_char_p, c_size_t], None),
    "glfs_setfsuid": (c_int, [_uid_t], None),
    "glfs_setfsgid": (c_int, [_gid_t], None),
    "glfs_setfsgroups": (c_int, [c_size_t, ctypes.POINTER(_gid_t)], None),
    "glfs_setfsleaseid": (c_int, [c_char_p], None),
    "glfs_open": (_fd_p, [_fs_p, c_char_p, c_int], None),
    "glfs_creat": (_fd_p, [_fs_p, c_char_p, c_int, _mode_t], None),
    "glfs_close": (c_int, [_fd_p], None),
    "glfs_dup": (_fd_p, [_fd_p], None),
    "glfs_read": (c_ssize_t, [_fd_p, c_void_p, c_size_t, c_int], None),
    "glfs_write": (c_ssize_t, [_fd_p, c_void_p, c_size_t, c_int], None),
    "glfs_pread": (c_ssize_t, [_fd_p, c_void_p, c_size_t, _off_t, c_int, _P_GSTAT], "GFAPI_6.0"),
    "glfs_pwrite": (
        c_ssize_t,
        [_fd_p, c_void_p, c_size_t, _off_t, c_int, _P_GSTAT, _P_GSTAT],
        "GFAPI_6.0",
    ),
    "glfs_lseek": (_off_t, [_fd_p, _off_t, c_int], None),
    "glfs_copy_file_range": (
        c_ssize_t,
        [
            _fd_p,
            ctypes.POINTER(ctypes.c_int64),
            _fd_p,
            ctypes.POINTER(ctypes.c_int64),
            c_size_t,
            ctypes.c_uint,
            _P_GSTAT,
            _P_GSTAT,
            _P_GSTAT,
        ],
        "GFAPI_6.0",
    ),
    "glfs_truncate": (c_int, [_fs_p, c_char_p, _off_t], None),
    "glfs_ftruncate": (c_int, [_fd_p, _off_t, _P_GSTAT, _P_GSTAT], "GFAPI_6.0"),
    "glfs_stat": (c_int, [_fs_p, c_char_p, _P_STAT], None),
    "glfs_lstat": (c_int, [_fs_p, c_char_p, _P_STAT], None),
    "glfs_fstat": (c_int, [_fd_p, _P_STAT], None),
    "glfs_fsync": (c_int, [_fd_p, _P_GSTAT, _P_GSTAT], "GFAPI_6.0"),
    "glfs_fdatasync": (c_int, [_fd_p, _P_GSTAT, _P_GSTAT], "GFAPI_6.0"),
    "glfs_access": (c_int, [_fs_p, c_char_p, c_int], None),
    "glfs_symlink": (c_int, [_fs_p, c_char_p, c_char_p], None),
    "glfs_readlink": (c_int, [_fs_p, c_char_p, c_char_p, c_size_t], None),
    "glfs_mknod": (c_int, [_fs_p, c_char_p, _mode_t, _dev_t], None),
    "glfs_mkdir": (c_int, [_fs_p, c_char_p, _mode_t], None),
    "glfs_unlink": (c_int, [_fs_p, c_char_p], None),
    "glfs_rmdir": (c_int, [_fs_p, c_char_p], None),
    "glfs_rename": (c_int, [_fs_p, c_char_p, c_char_p], None),
    "glfs_link": (c_int, [_fs_p, c_char_p, c_char_p], None),
    "glfs_opendir": (_fd_p, [_fs_p, c_char_p], None),
    "glfs_readdir": (_P_DIRENT, [_fd_p], None),
    "glfs_readdirplus": (_P_DIRENT, [_fd_p, _P_STAT], None),
    "glfs_telldir": (ctypes.c_long, [_fd_p], None),
    "glfs_seekdir": (None, [_fd_p, ctypes.c_long], None),
    "glfs_closedir": (c_int, [_fd_p], None),
    "glfs_statvfs": (c_int, [_fs_p, c_char_p, ctypes.POINTER(CStatvfs)], None),
    "glfs_chmod": (c_int, [_fs_p, c_char_p, _mode_t], None),
    "glfs_fchmod": (c_int, [_fd_p, _mode_t], None),
    "glfs_chown": (c_int, [_fs_p, c_char_p, _uid_t, _gid_t], None),
    "glfs_lchown": (c_int, [_fs_p, c_char_p, _uid_t, _gid_t], None),
    "glfs_fchown": (c_int, [_fd_p, _uid_t, _gid_t], None),
    "glfs_utimens": (c_int, [_fs_p, c_char_p, CTimespec * 2], None),
    "glfs_lutimens": (c_int, [_fs_p, c_char_p, CTimespec * 2], None),
    "glfs_futimens": (c_int, [_fd_p, CTimespec * 2], None),
    "glfs_getxattr": (c_ssize_t, [_fs_p, c_char_p, c_char_p, c_void_p, c_size_t], None),
    "glfs_lgetxattr": (c_ssize_t, [_fs_p, c_char_p, c_char_p, c_void_p, c_size_t], None),
    "glfs_fgetxattr": (c_ssize_t, [_fd_p, c_char_p, c_void_p, c_size_t], None),
    "glfs_listxattr": (c_ssize_t, [_fs_p, c_char_p, c_void_p, c_size_t], None),
    "glfs_llistxattr": (c_ssize_t, [_fs_p, c_char_p, c_void_p, c_size_t], None),
    "glfs_flistxattr": (c_ssize_t, [_fd_p, c_void_p, c_size_t], None),
    "glfs_setxattr": (c_int, [_fs_p, c_char_p, c_char_p, c_void_p, c_size_t, c_int], None),
    "glfs_lsetxattr": (c_int, [_fs_p, c_char_p, c_char_p, c_void_p, c_size_t, c_int], None),
    "glfs_fsetxattr": (c_int, [_fd_p, c_char_p, c_void_p, c_size_t, c_int], None),
    "glfs_removexattr": (c_int, [_fs_p, c_char_p, c_char_p], None),
    "glfs_lremovexattr": (c_int, [_fs_p, c_char_p, c_char_p], None),
    "glfs_fremovexattr": (c_int, [_fd_p, c_char_p], None),
    "glfs_fallocate": (c_int, [_fd_p, c_int, _off_t, c_size_t], None),
    "glfs_discard": (c_int, [_fd_p, _off_t, c_size_t], None),
    "glfs_zerofill": (c_int, [_fd_p, _off_t, _off_t], None),
    "glfs_getcwd": (c_char_p, [_fs_p, c_char_p, c_size_t], None),
    "glfs_chdir": (c_int, [_fs_p, c_char_p], None),
    "glfs_posix_lock": (c_int, [_fd_p, c_int, ctypes.POINTER(CFlock)], None),
    "glfs_file_lock": (c_int, [_fd_p, c_int, ctypes.POINTER(CFlock), c_int], None),
    "glfs_fd_set_lkowner": (c_int, [_fd_p, c_void_p, c_int], None),
    "glfs_lease": (c_int, [_fd_p, ctypes.POINTER(CGlfsLease), RECALL_CBK, c_void_p], None),
    "glfs_setattr": (c_int, [_fs_p, c_char_p, _P_GSTAT, c_int], None),
    "glfs_fsetattr": (c_int, [_fd_p, _P_GSTAT], None),
    "glfs_free": (None, [c_void_p], None),
}

_lib_lock = threading.Lock()
_lib: SimpleNamespace | None = None


def _load_library() -> ctypes.CDLL:
    candidates = ["libgfapi.so.0"]
    found = ctypes.util.find_library("gfapi")
    if found and found not in candidates:
        candidates.append(found)
    last: OSError | None = None
    for name in candidates:
        try:
            return ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            last = exc
    raise GlusterNotInstalledError(
        f"cannot load libgfapi ({last}). Install GlusterFS's client library: "
        "apt-get install glusterfs-client (package libgfapi0)"
    )


def lib() -> SimpleNamespace:
    """The bound libgfapi functions (loaded on first use), e.g. ``lib().glfs_new``.

    Every function has ``restype``/``argtypes`` set from glfs.h and saves
    ``errno`` (read it with :func:`ctypes.get_errno`).

    Raises:
        GlusterNotInstalledError: libgfapi.so.0 is not installed.
    """
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        if _nlink_t is None:  # pragma: no cover
            raise NotImplementedError(f"glupy.gluster.gfapi knows the C structure layouts of x86_64 and aarch64 only, not {_MACHINE}")
        arch = "aarch64" if _MACHINE in ("aarch64", "arm64") else "x86_64"
        for struct, size in _EXPECTED_SIZES[arch].items():
            if ctypes.sizeof(struct) != size:  # pragma: no cover - layout sanity check
                raise AssertionError(f"{struct.__name__} is {ctypes.sizeof(struct)} bytes, expected {size}")
        cdll = _load_library()
        libdl = ctypes.CDLL(None)
        dlvsym = libdl.dlvsym
        dlvsym.restype = ctypes.c_void_p
        dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        ns = SimpleNamespace(_cdll=cdll)
        # libglusterfs (loaded as a dependency of libgfapi): the calling thread's THIS slot
        glusterfs = ctypes.CDLL("libglusterfs.so.0", use_errno=True)
        this_location = glusterfs.__glusterfs_this_location
        this_location.restype = ctypes.POINTER(ctypes.c_void_p)
        this_location.argtypes = []
        ns._this_location = this_location
        for name, (restype, argtypes, version) in _PROTOTYPES.items():
            if version is not None:
                addr = dlvsym(cdll._handle, name.encode(), version.encode())
                if not addr:
                    raise GlusterNotInstalledError(
                        f"libgfapi lacks {name}@{version}; GlusterFS >= 6 is required"
                    )
                fn: Any = ctypes.CFUNCTYPE(restype, *argtypes, use_errno=True)(addr)
            else:
                try:
                    fn = getattr(cdll, name)
                except AttributeError:
                    continue  # leave it missing; callers get AttributeError
                fn.restype = restype
                fn.argtypes = argtypes
            setattr(ns, name, fn)
        _lib = ns
        return ns


# ---------------------------------------------------------------------------
# helpers


def _reset_this() -> None:
    """Point the calling thread's ``THIS`` (current xlator) back at libglusterfs' global xlator.

    ``glfs_copy_file_range`` (10.3) validates both fds with
    ``__GLFS_ENTRY_VALIDATE_FD``, so its "old THIS" is the graph's xlator and
    the calling thread's thread-local ``THIS`` keeps pointing into the graph.
    After ``glfs_fini`` frees it, the next ``glfs_new`` reads ``THIS->name``
    (in ``mem_pool_new``) from freed memory: the test process crashed
    intermittently with SIGSEGV in ``mem_pool_new_fn``.  A NULL slot means
    "the global xlator".
    """
    lib()._this_location()[0] = None


def _fname(path: object) -> str:
    if isinstance(path, (str, bytes, os.PathLike)):
        return os.fsdecode(path)
    return str(path)


def _raise(what: str, path: object = None, path2: object = None) -> None:
    err = ctypes.get_errno() or _errno.EIO
    message = f"{what}: {os.strerror(err)}"
    if path2 is not None:
        raise OSError(err, message, _fname(path), None, _fname(path2))
    if path is not None:
        raise OSError(err, message, _fname(path))
    raise OSError(err, message)


def _check(ret: int, what: str, path: object = None, path2: object = None) -> int:
    if ret < 0:
        _raise(what, path, path2)
    return int(ret)


def _b(path: PathLike | bytes) -> bytes:
    if isinstance(path, bytes):
        return path
    return os.fsencode(os.fspath(path))


def _stat_result(st: CStat) -> os.stat_result:
    def ns(ts: CTimespec) -> int:
        return int(ts.tv_sec) * 1_000_000_000 + int(ts.tv_nsec)

    atime, mtime, ctime = ns(st.st_atim), ns(st.st_mtim), ns(st.st_ctim)
    return os.stat_result(
        (
            st.st_mode,
            st.st_ino,
            st.st_dev,
            st.st_nlink,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_atim.tv_sec,
            st.st_mtim.tv_sec,
            st.st_ctim.tv_sec,
        ),
        {
            "st_atime": atime / 1e9,
            "st_mtime": mtime / 1e9,
            "st_ctime": ctime / 1e9,
            "st_atime_ns": atime,
            "st_mtime_ns": mtime,
            "st_ctime_ns": ctime,
            "st_blksize": st.st_blksize,
            "st_blocks": st.st_blocks,
            "st_rdev": st.st_rdev,
        },
    )


def _timespecs(times_ns: tuple[int, int] | None) -> Any:
    if times_ns is None:
        now = time.time_ns()
        times_ns = (now, now)
    arr = (CTimespec * 2)()
    for i, value in enumerate(times_ns):
        arr[i].tv_sec, arr[i].tv_nsec = divmod(int(value), 1_000_000_000)
    return arr


def setfsuid(uid: int) -> None:
    """Set the uid used for subsequent gfapi calls of the calling thread."""
    _check(lib().glfs_setfsuid(uid), "glfs_setfsuid")


def setfsgid(gid: int) -> None:
    """Set the gid used for subsequent gfapi calls of the calling thread."""
    _check(lib().glfs_setfsgid(gid), "glfs_setfsgid")


def setfsleaseid(lease_id: bytes | None) -> None:
    """Set the lease id used for subsequent gfapi calls of the calling thread (None clears it).

    The id is NUL-padded to 16 bytes.  Use at most 15 bytes: the 10.3 leases
    xlator compares ids with ``strlen`` (a 16-byte id without NUL never
    matches itself, so every lease request conflicts with its own open fd).
    """
    if lease_id is not None and len(lease_id) > GLFS_LEASE_ID_SIZE:
        raise ValueError(f"lease id longer than {GLFS_LEASE_ID_SIZE} bytes")
    buf = ctypes.create_string_buffer(lease_id, GLFS_LEASE_ID_SIZE) if lease_id else None
    _check(lib().glfs_setfsleaseid(buf), "glfs_setfsleaseid")


@dataclass(frozen=True)
class DirEntry:
    """One directory entry from :meth:`Directory.read`.

    ``stat`` is set by readdirplus (:meth:`Client.scandir` with ``plus=True``).
    """

    name: str
    ino: int
    d_type: int
    stat: os.stat_result | None = None

    def is_dir(self) -> bool:
        """True for a directory (by d_type, or by stat with readdirplus)."""
        if self.stat is not None:
            return (self.stat.st_mode & 0o170000) == 0o040000
        return self.d_type == 4  # DT_DIR

    def is_file(self) -> bool:
        """True for a regular file (by d_type, or by stat with readdirplus)."""
        if self.stat is not None:
            return (self.stat.st_mode & 0o170000) == 0o100000
        return self.d_type == 8  # DT_REG

    def is_symlink(self) -> bool:
        """True for a symbolic link."""
        if self.stat is not None:
            return (self.stat.st_mode & 0o170000) == 0o120000
        return self.d_type == 10  # DT_LNK


@dataclass(frozen=True)
class PosixLock:
    """Result of an ``F_GETLK`` query (``type == fcntl.F_UNLCK`` if the range is free)."""

    type: int
    whence: int
    start: int
    length: int
    pid: int


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as returned by :meth:`File.lease` (``GLFS_GET_LEASE``)."""

    cmd: int
    lease_type: int
    lease_id: bytes
    flags: int


# ---------------------------------------------------------------------------
# wrapper classes


class Client:
    """A gfapi client of a GlusterFS volume in this process (a "virtual mount": the
    client graph runs here, without FUSE). Not :class:`glupy.gluster.Volume`, which
    manages a volume through glusterd.

    Args:
        volname: the volume name (``--volfile-id``); only used in logs when
            *volfile* is given.
        host: glusterd address to fetch the volfile from (or a UNIX socket
            path with ``transport="unix"``).
        port: glusterd port (24007).
        transport: ``"tcp"`` or ``"unix"``.
        volfile: local volfile to build the graph from (``glfs_set_volfile``)
            instead of fetching it from glusterd: lets a process load a
            custom client graph.
        log_file: gfapi log file.  Without one, libgfapi logs to /dev/null
            (``glfs_new``'s default): pass a path to be able to debug.
        log_level: a :data:`LOG_LEVELS` name or number.
        xlator_options: ``{(xlator, key): value}`` passed to
            ``glfs_set_xlator_option`` before init (xlator may be a glob
            like ``"*-replicate-*"``).

    Use as a context manager (``glfs_init`` / ``glfs_fini``) or call
    :meth:`mount` and :meth:`umount`.
    """

    def __init__(
        self,
        volname: str,
        host: str | None = None,
        *,
        port: int = 24007,
        transport: str = "tcp",
        volfile: PathLike | None = None,
        log_file: PathLike | None = None,
        log_level: int | str = "INFO",
        xlator_options: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        if (host is None) == (volfile is None):
            raise ValueError("give exactly one of host= (volfile server) or volfile= (local volfile)")
        self.volname = volname
        self.host = host
        self.port = port
        self.transport = transport
        self.volfile = Path(volfile).absolute() if volfile is not None else None
        self.log_file = Path(log_file).absolute() if log_file is not None else None
        self.log_level = LOG_LEVELS[log_level.upper()] if isinstance(log_level, str) else int(log_level)
        self.xlator_options = dict(xlator_options or {})
        self._fs: int | None = None
        self._lib = lib()

    def __repr__(self) -> str:
        src = f"volfile={self.volfile}" if self.volfile else f"{self.host}:{self.port}"
        return f"gfapi.Client({self.volname!r}, {src}, mounted={self.mounted})"

    # ----------------------------------------------------------- lifecycle

    @property
    def mounted(self) -> bool:
        """True between a successful :meth:`mount` and :meth:`umount`."""
        return self._fs is not None

    @property
    def fs(self) -> int:
        """The raw ``glfs_t *`` (for calling :func:`lib` functions directly)."""
        if self._fs is None:
            raise OSError(_errno.ENOTCONN, f"gfapi volume {self.volname} is not mounted")
        return self._fs

    def mount(self) -> Client:
        """``glfs_new`` + configuration + ``glfs_init``; returns self.

        Raises:
            OSError: glfs_init failed (volume not started, no such volume,
                unreachable glusterd, bad volfile...); see the log file.
        """
        if self._fs is not None:
            return self
        L = self._lib
        _reset_this()
        fs = L.glfs_new(self.volname.encode())
        if not fs:
            _raise("glfs_new", self.volname)
        try:
            if self.volfile is not None:
                _check(L.glfs_set_volfile(fs, _b(self.volfile)), "glfs_set_volfile", self.volfile)
            else:
                assert self.host is not None
                _check(
                    L.glfs_set_volfile_server(fs, self.transport.encode(), self.host.encode(), self.port),
                    "glfs_set_volfile_server",
                    self.host,
                )
            if self.log_file is not None:
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                _check(
                    L.glfs_set_logging(fs, _b(self.log_file), self.log_level),
                    "glfs_set_logging",
                    self.log_file,
                )
            for (xlator, key), value in self.xlator_options.items():
                _check(
                    L.glfs_set_xlator_option(fs, xlator.encode(), key.encode(), str(value).encode()),
                    f"glfs_set_xlator_option({xlator}, {key})",
                )
            ret = L.glfs_init(fs)
            if ret != 0:
                err = ctypes.get_errno() or _errno.EIO
                hint = f"; see {self.log_file}" if self.log_file else ""
                raise OSError(err, f"glfs_init of volume {self.volname!r} failed: {os.strerror(err)}{hint}")
        except BaseException:
            L.glfs_fini(fs)
            _reset_this()
            raise
        self._fs = fs
        return self

    init = mount

    def umount(self) -> None:
        """``glfs_fini`` (waits for outstanding I/O). Safe to call twice.

        Takes up to ~10 s with libgfapi 10.3: ``glfs_fini`` sets
        ``ctx->cleanup_started`` before protocol/client's fini, so
        ``gf_timer_call_cancel`` refuses to cancel the RPC connection's
        10-second "call bail" timer, and client fini waits until that timer
        fires and drops the last reference.  Do not run it in a background
        thread while other gfapi instances are used: that was seen to
        deadlock in ``mem_pool_destroy``.  Close open :class:`File` objects
        first.
        """
        fs, self._fs = self._fs, None
        if fs is not None:
            self._lib.glfs_fini(fs)
            _reset_this()

    fini = umount

    def __enter__(self) -> Self:
        self.mount()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.umount()

    def get_volfile(self, timeout: float = 2.0) -> str:
        """The volfile fetched from glusterd (``glfs_get_volfile``); "" if none (local volfile).

        libgfapi stores the volfile just *after* ``glfs_init`` may return, so
        this waits up to *timeout* seconds for it.  libgfapi 10.3 also copies
        as many bytes as the buffer is long (reading past its own copy), so
        the exact size is asked first with an empty buffer.
        """
        deadline = time.monotonic() + timeout
        while True:
            size = self._lib.glfs_get_volfile(self.fs, None, 0)
            if size < 0:
                buf = ctypes.create_string_buffer(-size)
                ret = self._lib.glfs_get_volfile(self.fs, buf, -size)
                if ret > 0:
                    return buf.raw[:ret].rstrip(b"\0").decode(errors="replace")
            elif self.volfile is not None or time.monotonic() >= deadline:
                return ""
            time.sleep(0.05)

    def volume_id(self) -> uuid.UUID:
        """The volume UUID (``glfs_get_volumeid``; needs a volfile server)."""
        buf = ctypes.create_string_buffer(16)
        ret = _check(self._lib.glfs_get_volumeid(self.fs, buf, 16), "glfs_get_volumeid")
        return uuid.UUID(bytes=buf.raw[:ret])

    # ------------------------------------------------------------- files

    def open(self, path: PathLike, flags: int = os.O_RDONLY, mode: int = 0o644) -> File:
        """Open *path*; with ``os.O_CREAT`` in *flags* the file is created (``glfs_creat``)."""
        if flags & os.O_CREAT:
            fd = self._lib.glfs_creat(self.fs, _b(path), flags, mode)
            what = "glfs_creat"
        else:
            fd = self._lib.glfs_open(self.fs, _b(path), flags)
            what = "glfs_open"
        if not fd:
            _raise(what, path)
        return File(self, fd, os.fspath(path))

    def creat(self, path: PathLike, mode: int = 0o644, flags: int = os.O_WRONLY | os.O_TRUNC) -> File:
        """``glfs_creat``: create (or truncate) *path* and open it."""
        return self.open(path, flags | os.O_CREAT, mode)

    def read_file(self, path: PathLike) -> bytes:
        """The whole content of *path*."""
        with self.open(path) as f:
            return f.read()

    def write_file(self, path: PathLike, data: bytes, mode: int = 0o644) -> None:
        """Create/truncate *path* and write *data* to it."""
        with self.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode) as f:
            f.write(data)

    # ------------------------------------------------------------- metadata

    def stat(self, path: PathLike) -> os.stat_result:
        """``glfs_stat`` (follows symlinks)."""
        st = CStat()
        _check(self._lib.glfs_stat(self.fs, _b(path), ctypes.byref(st)), "glfs_stat", path)
        return _stat_result(st)

    def lstat(self, path: PathLike) -> os.stat_result:
        """``glfs_lstat`` (does not follow symlinks)."""
        st = CStat()
        _check(self._lib.glfs_lstat(self.fs, _b(path), ctypes.byref(st)), "glfs_lstat", path)
        return _stat_result(st)

    def exists(self, path: PathLike) -> bool:
        """True if *path* exists (``lstat`` succeeds)."""
        try:
            self.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def isdir(self, path: PathLike) -> bool:
        """True if *path* is a directory."""
        try:
            return (self.stat(path).st_mode & 0o170000) == 0o040000
        except FileNotFoundError:
            return False

    def isfile(self, path: PathLike) -> bool:
        """True if *path* is a regular file."""
        try:
            return (self.stat(path).st_mode & 0o170000) == 0o100000
        except FileNotFoundError:
            return False

    def statvfs(self, path: PathLike = "/") -> os.statvfs_result:
        """``glfs_statvfs``."""
        sv = CStatvfs()
        _check(self._lib.glfs_statvfs(self.fs, _b(path), ctypes.byref(sv)), "glfs_statvfs", path)
        return os.statvfs_result(
            (
                sv.f_bsize,
                sv.f_frsize,
                sv.f_blocks,
                sv.f_bfree,
                sv.f_bavail,
                sv.f_files,
                sv.f_ffree,
                sv.f_favail,
                sv.f_flag,
                sv.f_namemax,
            ),
            {"f_fsid": sv.f_fsid},
        )

    def access(self, path: PathLike, mode: int = os.F_OK) -> bool:
        """``glfs_access``: True if allowed, False on EACCES/ENOENT/EPERM/EROFS; other errors raise."""
        ret = self._lib.glfs_access(self.fs, _b(path), mode)
        if ret == 0:
            return True
        err = ctypes.get_errno()
        if err in (_errno.EACCES, _errno.ENOENT, _errno.EPERM, _errno.EROFS):
            return False
        _raise("glfs_access", path)
        return False  # pragma: no cover

    def truncate(self, path: PathLike, length: int = 0) -> None:
        """``glfs_truncate``."""
        _check(self._lib.glfs_truncate(self.fs, _b(path), length), "glfs_truncate", path)

    def chmod(self, path: PathLike, mode: int) -> None:
        """``glfs_chmod``."""
        _check(self._lib.glfs_chmod(self.fs, _b(path), mode), "glfs_chmod", path)

    def chown(self, path: PathLike, uid: int, gid: int) -> None:
        """``glfs_chown`` (follows symlinks)."""
        _check(self._lib.glfs_chown(self.fs, _b(path), uid, gid), "glfs_chown", path)

    def lchown(self, path: PathLike, uid: int, gid: int) -> None:
        """``glfs_lchown``."""
        _check(self._lib.glfs_lchown(self.fs, _b(path), uid, gid), "glfs_lchown", path)

    def utimens(self, path: PathLike, times_ns: tuple[int, int] | None = None) -> None:
        """``glfs_utimens``: set (atime, mtime) in nanoseconds (default: now)."""
        _check(self._lib.glfs_utimens(self.fs, _b(path), _timespecs(times_ns)), "glfs_utimens", path)

    def lutimens(self, path: PathLike, times_ns: tuple[int, int] | None = None) -> None:
        """``glfs_lutimens`` (does not follow symlinks)."""
        _check(self._lib.glfs_lutimens(self.fs, _b(path), _timespecs(times_ns)), "glfs_lutimens", path)

    def setattr(
        self,
        path: PathLike,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
        follow: bool = True,
    ) -> None:
        """``glfs_setattr``: change any of mode/uid/gid/atime/mtime in one call."""
        st = _glfs_stat_for(mode, uid, gid, atime_ns, mtime_ns)
        _check(self._lib.glfs_setattr(self.fs, _b(path), ctypes.byref(st), int(follow)), "glfs_setattr", path)

    # ------------------------------------------------------------ namespace

    def mkdir(self, path: PathLike, mode: int = 0o755) -> None:
        """``glfs_mkdir``."""
        _check(self._lib.glfs_mkdir(self.fs, _b(path), mode), "glfs_mkdir", path)

    def makedirs(self, path: PathLike, mode: int = 0o755, exist_ok: bool = False) -> None:
        """Create *path* and missing parents."""
        parts = PurePosixPath(os.fspath(path)).parts
        current = PurePosixPath("/")
        for i, part in enumerate(parts):
            if part == "/":
                continue
            current = current / part
            try:
                self.mkdir(str(current), mode)
            except FileExistsError:
                if i == len(parts) - 1 and not exist_ok:
                    raise

    def rmdir(self, path: PathLike) -> None:
        """``glfs_rmdir``."""
        _check(self._lib.glfs_rmdir(self.fs, _b(path)), "glfs_rmdir", path)

    def unlink(self, path: PathLike) -> None:
        """``glfs_unlink``."""
        _check(self._lib.glfs_unlink(self.fs, _b(path)), "glfs_unlink", path)

    remove = unlink

    def rename(self, src: PathLike, dst: PathLike) -> None:
        """``glfs_rename``."""
        _check(self._lib.glfs_rename(self.fs, _b(src), _b(dst)), "glfs_rename", src, dst)

    def link(self, src: PathLike, dst: PathLike) -> None:
        """``glfs_link``: hard link *dst* to *src*."""
        _check(self._lib.glfs_link(self.fs, _b(src), _b(dst)), "glfs_link", src, dst)

    def symlink(self, target: PathLike, path: PathLike) -> None:
        """``glfs_symlink``: create *path* pointing to *target*."""
        _check(self._lib.glfs_symlink(self.fs, _b(target), _b(path)), "glfs_symlink", target, path)

    def readlink(self, path: PathLike) -> str:
        """``glfs_readlink``."""
        size = 4096
        buf = ctypes.create_string_buffer(size)
        ret = _check(self._lib.glfs_readlink(self.fs, _b(path), buf, size), "glfs_readlink", path)
        return os.fsdecode(buf.raw[:ret])

    def mknod(self, path: PathLike, mode: int = 0o600 | 0o010000, device: int = 0) -> None:
        """``glfs_mknod`` (default: a FIFO)."""
        _check(self._lib.glfs_mknod(self.fs, _b(path), mode, device), "glfs_mknod", path)

    def chdir(self, path: PathLike) -> None:
        """``glfs_chdir`` (the volume's cwd for relative paths)."""
        _check(self._lib.glfs_chdir(self.fs, _b(path)), "glfs_chdir", path)

    def getcwd(self) -> str:
        """``glfs_getcwd``."""
        buf = ctypes.create_string_buffer(4096)
        if not self._lib.glfs_getcwd(self.fs, buf, 4096):
            _raise("glfs_getcwd")
        return os.fsdecode(buf.value)

    # ----------------------------------------------------------- directories

    def opendir(self, path: PathLike) -> Directory:
        """``glfs_opendir``."""
        fd = self._lib.glfs_opendir(self.fs, _b(path))
        if not fd:
            _raise("glfs_opendir", path)
        return Directory(self, fd, os.fspath(path))

    def scandir(self, path: PathLike = "/", *, plus: bool = False) -> list[DirEntry]:
        """All entries of *path* except ``.`` and ``..``; with *plus*, readdirplus (entries carry stat)."""
        with self.opendir(path) as d:
            return [e for e in d.entries(plus=plus) if e.name not in (".", "..")]

    def listdir(self, path: PathLike = "/") -> list[str]:
        """Names in *path* (without ``.`` and ``..``)."""
        return [e.name for e in self.scandir(path)]

    # ----------------------------------------------------------------- xattrs

    def getxattr(self, path: PathLike, name: str) -> bytes:
        """``glfs_getxattr``."""
        return _get_sized(lambda buf, n: self._lib.glfs_getxattr(self.fs, _b(path), name.encode(), buf, n), "glfs_getxattr", path)

    def lgetxattr(self, path: PathLike, name: str) -> bytes:
        """``glfs_lgetxattr``."""
        return _get_sized(lambda buf, n: self._lib.glfs_lgetxattr(self.fs, _b(path), name.encode(), buf, n), "glfs_lgetxattr", path)

    def setxattr(self, path: PathLike, name: str, value: bytes, flags: int = 0) -> None:
        """``glfs_setxattr`` (flags: ``os.XATTR_CREATE`` / ``os.XATTR_REPLACE``)."""
        _check(self._lib.glfs_setxattr(self.fs, _b(path), name.encode(), value, len(value), flags), "glfs_setxattr", path)

    def lsetxattr(self, path: PathLike, name: str, value: bytes, flags: int = 0) -> None:
        """``glfs_lsetxattr``."""
        _check(self._lib.glfs_lsetxattr(self.fs, _b(path), name.encode(), value, len(value), flags), "glfs_lsetxattr", path)

    def listxattr(self, path: PathLike) -> list[str]:
        """``glfs_listxattr``: attribute names."""
        return _split_names(_get_sized(lambda buf, n: self._lib.glfs_listxattr(self.fs, _b(path), buf, n), "glfs_listxattr", path))

    def llistxattr(self, path: PathLike) -> list[str]:
        """``glfs_llistxattr``."""
        return _split_names(_get_sized(lambda buf, n: self._lib.glfs_llistxattr(self.fs, _b(path), buf, n), "glfs_llistxattr", path))

    def removexattr(self, path: PathLike, name: str) -> None:
        """``glfs_removexattr``."""
        _check(self._lib.glfs_removexattr(self.fs, _b(path), name.encode()), "glfs_removexattr", path)

    def lremovexattr(self, path: PathLike, name: str) -> None:
        """``glfs_lremovexattr``."""
        _check(self._lib.glfs_lremovexattr(self.fs, _b(path), name.encode()), "glfs_lremovexattr", path)

    # ------------------------------------------------------------ data copy

    def copy_file_range(
        self,
        src: File,
        dst: File,
        count: int,
        src_offset: int | None = None,
        dst_offset: int | None = None,
        flags: int = 0,
    ) -> int:
        """``glfs_copy_file_range`` between two open files; see :meth:`File.copy_file_range`."""
        return src.copy_file_range(dst, count, src_offset, dst_offset, flags)


def _glfs_stat_for(
    mode: int | None,
    uid: int | None,
    gid: int | None,
    atime_ns: int | None,
    mtime_ns: int | None,
    size: int | None = None,
) -> CGlfsStat:
    st = CGlfsStat()
    if mode is not None:
        st.glfs_st_mask |= GLFS_STAT_MODE
        st.glfs_st_mode = mode
    if uid is not None:
        st.glfs_st_mask |= GLFS_STAT_UID
        st.glfs_st_uid = uid
    if gid is not None:
        st.glfs_st_mask |= GLFS_STAT_GID
        st.glfs_st_gid = gid
    if atime_ns is not None:
        st.glfs_st_mask |= GLFS_STAT_ATIME
        st.glfs_st_atime.tv_sec, st.glfs_st_atime.tv_nsec = divmod(atime_ns, 1_000_000_000)
    if mtime_ns is not None:
        st.glfs_st_mask |= GLFS_STAT_MTIME
        st.glfs_st_mtime.tv_sec, st.glfs_st_mtime.tv_nsec = divmod(mtime_ns, 1_000_000_000)
    if size is not None:
        st.glfs_st_mask |= GLFS_STAT_SIZE
        st.glfs_st_size = size
    return st


def _get_sized(call: Callable[[Any, int], int], what: str, path: object = None) -> bytes:
    """Call a getxattr/listxattr-like function: query the size, then fetch (retrying on ERANGE)."""
    for _ in range(5):
        size = _check(call(None, 0), what, path)
        if size == 0:
            return b""
        buf = ctypes.create_string_buffer(size)
        ret = call(buf, size)
        if ret >= 0:
            return buf.raw[:ret]
        if ctypes.get_errno() != _errno.ERANGE:
            _raise(what, path)
    _raise(what, path)
    return b""  # pragma: no cover


def _split_names(raw: bytes) -> list[str]:
    return [os.fsdecode(n) for n in raw.split(b"\0") if n]


class File:
    """An open gfapi file (``glfs_fd_t``). Close it (or use ``with``)."""

    def __init__(self, volume: Client, fd: int, path: str) -> None:
        self.volume = volume
        self.path = path
        self._fd: int | None = fd
        self._lib = volume._lib
        self._recall_cb: Any = None  # keeps the lease recall callback alive

    def __repr__(self) -> str:
        return f"gfapi.File({self.path!r}, closed={self.closed})"

    @property
    def fd(self) -> int:
        """The raw ``glfs_fd_t *``."""
        if self._fd is None:
            raise ValueError(f"I/O operation on closed gfapi file {self.path}")
        return self._fd

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._fd is None

    def close(self) -> None:
        """``glfs_close`` (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _check(self._lib.glfs_close(fd), "glfs_close", self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ I/O

    def read(self, size: int = -1) -> bytes:
        """Read up to *size* bytes from the current offset (all until EOF if negative)."""
        if size >= 0:
            buf = ctypes.create_string_buffer(size)
            ret = _check(self._lib.glfs_read(self.fd, buf, size, 0), "glfs_read", self.path)
            return buf.raw[:ret]
        chunks: list[bytes] = []
        while True:
            chunk = self.read(128 * 1024)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def write(self, data: bytes) -> int:
        """Write all of *data* at the current offset; returns ``len(data)``."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            part = bytes(view[done:])
            ret = _check(self._lib.glfs_write(self.fd, part, len(part), 0), "glfs_write", self.path)
            if ret == 0:
                raise OSError(_errno.EIO, "glfs_write wrote 0 bytes", self.path)
            done += ret
        return done

    def pread(self, size: int, offset: int) -> bytes:
        """``glfs_pread``: up to *size* bytes at *offset* (offset unchanged)."""
        buf = ctypes.create_string_buffer(size)
        ret = _check(self._lib.glfs_pread(self.fd, buf, size, offset, 0, None), "glfs_pread", self.path)
        return buf.raw[:ret]

    def pwrite(self, data: bytes, offset: int) -> int:
        """``glfs_pwrite``: write *data* at *offset*; returns bytes written."""
        return _check(
            self._lib.glfs_pwrite(self.fd, data, len(data), offset, 0, None, None), "glfs_pwrite", self.path
        )

    def lseek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """``glfs_lseek``; *whence* may be ``os.SEEK_DATA`` / ``os.SEEK_HOLE`` too (ENXIO past data)."""
        return _check(self._lib.glfs_lseek(self.fd, offset, whence), "glfs_lseek", self.path)

    seek = lseek

    def tell(self) -> int:
        """The current offset."""
        return self.lseek(0, os.SEEK_CUR)

    def fstat(self) -> os.stat_result:
        """``glfs_fstat``."""
        st = CStat()
        _check(self._lib.glfs_fstat(self.fd, ctypes.byref(st)), "glfs_fstat", self.path)
        return _stat_result(st)

    def ftruncate(self, length: int = 0) -> None:
        """``glfs_ftruncate``."""
        _check(self._lib.glfs_ftruncate(self.fd, length, None, None), "glfs_ftruncate", self.path)

    truncate = ftruncate

    def fsync(self) -> None:
        """``glfs_fsync``."""
        _check(self._lib.glfs_fsync(self.fd, None, None), "glfs_fsync", self.path)

    def fdatasync(self) -> None:
        """``glfs_fdatasync``."""
        _check(self._lib.glfs_fdatasync(self.fd, None, None), "glfs_fdatasync", self.path)

    def fallocate(self, offset: int, length: int, keep_size: bool = False) -> None:
        """``glfs_fallocate``."""
        _check(self._lib.glfs_fallocate(self.fd, int(keep_size), offset, length), "glfs_fallocate", self.path)

    def discard(self, offset: int, length: int) -> None:
        """``glfs_discard`` (punch a hole)."""
        _check(self._lib.glfs_discard(self.fd, offset, length), "glfs_discard", self.path)

    def zerofill(self, offset: int, length: int) -> None:
        """``glfs_zerofill``."""
        _check(self._lib.glfs_zerofill(self.fd, offset, length), "glfs_zerofill", self.path)

    def copy_file_range(
        self,
        dst: File,
        count: int,
        src_offset: int | None = None,
        dst_offset: int | None = None,
        flags: int = 0,
    ) -> int:
        """``glfs_copy_file_range`` from this file to *dst*; returns bytes copied.

        With an offset of None the file's current offset is used and advanced.

        Caveat (GlusterFS 10.3): neither AFR (replicate) nor DHT (distribute)
        implements this fop; the default implementation winds it to the
        *first* subvolume only.  It is therefore only correct on single-brick
        volumes: on a replica volume only the first brick gets the data.
        """
        off_in = ctypes.c_int64(src_offset) if src_offset is not None else None
        off_out = ctypes.c_int64(dst_offset) if dst_offset is not None else None
        this_slot = self._lib._this_location()
        saved_this = this_slot[0]
        try:
            ret = self._lib.glfs_copy_file_range(
                self.fd,
                ctypes.byref(off_in) if off_in is not None else None,
                dst.fd,
                ctypes.byref(off_out) if off_out is not None else None,
                count,
                flags,
                None,
                None,
                None,
            )
        finally:
            this_slot[0] = saved_this  # it leaves THIS pointing into the graph, see _reset_this
        return _check(ret, "glfs_copy_file_range", self.path, dst.path)

    def dup(self) -> File:
        """``glfs_dup``."""
        fd = self._lib.glfs_dup(self.fd)
        if not fd:
            _raise("glfs_dup", self.path)
        return File(self.volume, fd, self.path)

    # ------------------------------------------------------------ attributes

    def fchmod(self, mode: int) -> None:
        """``glfs_fchmod``."""
        _check(self._lib.glfs_fchmod(self.fd, mode), "glfs_fchmod", self.path)

    def fchown(self, uid: int, gid: int) -> None:
        """``glfs_fchown``."""
        _check(self._lib.glfs_fchown(self.fd, uid, gid), "glfs_fchown", self.path)

    def futimens(self, times_ns: tuple[int, int] | None = None) -> None:
        """``glfs_futimens``: (atime, mtime) in ns, default now."""
        _check(self._lib.glfs_futimens(self.fd, _timespecs(times_ns)), "glfs_futimens", self.path)

    def fsetattr(
        self,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
    ) -> None:
        """``glfs_fsetattr``."""
        st = _glfs_stat_for(mode, uid, gid, atime_ns, mtime_ns)
        _check(self._lib.glfs_fsetattr(self.fd, ctypes.byref(st)), "glfs_fsetattr", self.path)

    def fgetxattr(self, name: str) -> bytes:
        """``glfs_fgetxattr``."""
        return _get_sized(lambda buf, n: self._lib.glfs_fgetxattr(self.fd, name.encode(), buf, n), "glfs_fgetxattr", self.path)

    def fsetxattr(self, name: str, value: bytes, flags: int = 0) -> None:
        """``glfs_fsetxattr``."""
        _check(self._lib.glfs_fsetxattr(self.fd, name.encode(), value, len(value), flags), "glfs_fsetxattr", self.path)

    def flistxattr(self) -> list[str]:
        """``glfs_flistxattr``."""
        return _split_names(_get_sized(lambda buf, n: self._lib.glfs_flistxattr(self.fd, buf, n), "glfs_flistxattr", self.path))

    def fremovexattr(self, name: str) -> None:
        """``glfs_fremovexattr``."""
        _check(self._lib.glfs_fremovexattr(self.fd, name.encode()), "glfs_fremovexattr", self.path)

    # ----------------------------------------------------------------- locks

    def set_lkowner(self, owner: bytes) -> None:
        """``glfs_fd_set_lkowner``: lock owner for this fd's POSIX locks (max 255 bytes)."""
        _check(self._lib.glfs_fd_set_lkowner(self.fd, owner, len(owner)), "glfs_fd_set_lkowner", self.path)

    def posix_lock(
        self,
        cmd: int,
        lock_type: int,
        start: int = 0,
        length: int = 0,
        whence: int = os.SEEK_SET,
    ) -> PosixLock:
        """``glfs_posix_lock`` with ``fcntl.F_SETLK`` / ``F_SETLKW`` / ``F_GETLK``.

        *lock_type* is ``fcntl.F_RDLCK``, ``F_WRLCK`` or ``F_UNLCK``.  Returns
        the (possibly updated by F_GETLK) lock description.  A conflicting
        ``F_SETLK`` raises :class:`OSError` (EAGAIN/EACCES).
        """
        fl = CFlock(l_type=lock_type, l_whence=whence, l_start=start, l_len=length, l_pid=0)
        _check(self._lib.glfs_posix_lock(self.fd, cmd, ctypes.byref(fl)), "glfs_posix_lock", self.path)
        return PosixLock(fl.l_type, fl.l_whence, fl.l_start, fl.l_len, fl.l_pid)

    def lock(self, lock_type: int = fcntl.F_WRLCK, start: int = 0, length: int = 0, *, wait: bool = False) -> None:
        """Take a POSIX record lock (``F_SETLK``, or ``F_SETLKW`` with *wait*)."""
        self.posix_lock(fcntl.F_SETLKW if wait else fcntl.F_SETLK, lock_type, start, length)

    def unlock(self, start: int = 0, length: int = 0) -> None:
        """Release a POSIX record lock range."""
        self.posix_lock(fcntl.F_SETLK, fcntl.F_UNLCK, start, length)

    def getlk(self, lock_type: int = fcntl.F_WRLCK, start: int = 0, length: int = 0) -> PosixLock:
        """``F_GETLK``: who would block a lock of *lock_type* on the range (type F_UNLCK if nobody)."""
        return self.posix_lock(fcntl.F_GETLK, lock_type, start, length)

    def lease(
        self,
        cmd: int,
        lease_type: int = GLFS_LEASE_NONE,
        lease_id: bytes = b"",
        recall: Callable[[LeaseInfo], None] | None = None,
    ) -> LeaseInfo:
        """``glfs_lease`` (needs ``features.leases on`` on the volume).

        *cmd* is ``GLFS_GET_LEASE``, ``GLFS_SET_LEASE`` or ``GLFS_UNLK_LEASE``;
        *lease_type* ``GLFS_RD_LEASE`` or ``GLFS_RW_LEASE``; *lease_id* up to
        15 bytes (see :func:`setfsleaseid`).  *recall* is called (on a gfapi thread) when the lease
        must be given back.  Also call :func:`setfsleaseid` with the same id
        on the thread doing I/O under the lease.

        Caveat (GlusterFS 10.3): the leases xlator only tracks fds opened with
        ``glfs_open``; on an fd from ``glfs_creat`` (``open`` with O_CREAT)
        the brick answers EPERM ("Unable to get fd ctx").
        """
        if len(lease_id) > GLFS_LEASE_ID_SIZE:
            raise ValueError(f"lease id longer than {GLFS_LEASE_ID_SIZE} bytes")
        lease = CGlfsLease(cmd=cmd, lease_type=lease_type, lease_flags=0)
        lease.lease_id = lease_id.ljust(GLFS_LEASE_ID_SIZE, b"\0")
        if recall is not None:

            def _cb(raw: CGlfsLease, _data: int | None) -> None:
                try:
                    recall(LeaseInfo(raw.cmd, raw.lease_type, bytes(raw.lease_id), raw.lease_flags))
                except Exception:  # noqa: BLE001, S110 - an exception must not propagate into C
                    pass

            self._recall_cb = RECALL_CBK(_cb)
            cb = self._recall_cb
        else:
            cb = RECALL_CBK()  # NULL function pointer
        _check(self._lib.glfs_lease(self.fd, ctypes.byref(lease), cb, None), "glfs_lease", self.path)
        return LeaseInfo(lease.cmd, lease.lease_type, bytes(lease.lease_id), lease.lease_flags)


class Directory:
    """An open gfapi directory (``glfs_opendir``). Iterate it for :class:`DirEntry` objects."""

    def __init__(self, volume: Client, fd: int, path: str) -> None:
        self.volume = volume
        self.path = path
        self._fd: int | None = fd
        self._lib = volume._lib

    def __repr__(self) -> str:
        return f"gfapi.Directory({self.path!r}, closed={self._fd is None})"

    @property
    def fd(self) -> int:
        """The raw ``glfs_fd_t *``."""
        if self._fd is None:
            raise ValueError(f"operation on closed gfapi directory {self.path}")
        return self._fd

    def read(self, plus: bool = False) -> DirEntry | None:
        """Next entry (``glfs_readdir``, or ``glfs_readdirplus`` with *plus*); None at the end."""
        ctypes.set_errno(0)
        if plus:
            st = CStat()
            ent = self._lib.glfs_readdirplus(self.fd, ctypes.byref(st))
        else:
            ent = self._lib.glfs_readdir(self.fd)
        if not ent:
            if ctypes.get_errno():
                _raise("glfs_readdirplus" if plus else "glfs_readdir", self.path)
            return None
        d = ent.contents
        return DirEntry(
            name=os.fsdecode(d.d_name),
            ino=d.d_ino,
            d_type=d.d_type,
            stat=_stat_result(st) if plus else None,
        )

    def entries(self, plus: bool = False) -> Iterator[DirEntry]:
        """Iterate over the remaining entries (including ``.`` and ``..``)."""
        while True:
            entry = self.read(plus)
            if entry is None:
                return
            yield entry

    def __iter__(self) -> Iterator[DirEntry]:
        return self.entries()

    def close(self) -> None:
        """``glfs_closedir`` (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _check(self._lib.glfs_closedir(fd), "glfs_closedir", self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: the former names, kept for existing code (they collide with glupy.gluster.Volume and glupy.LockInfo)
Volume = Client
LockInfo = PosixLock
