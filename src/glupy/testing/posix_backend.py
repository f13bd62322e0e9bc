"""PosixBackend: the bottom of a harness graph, a Python stand-in for ``storage/posix``
(plus the in-memory locks of ``features/locks``) on a local directory.

It answers FOPs the way a brick would (see :class:`PosixBackend`); where it
knowingly differs is listed in :data:`glupy.testing.harness.DIFFERENCES`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import stat as _stat
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from glupy import _pytypes as T
from glupy.constants import EntrylkCmd, EntrylkType, FileType, LockCmd, LockType, SetAttr, XattropFlag
from glupy.errors import FopError
from glupy.replies import REPLIES
from glupy.testing.common import FOP_NAME, ROOT_GFID, as_gfid, error_reply, gfid_to_ino, volume_path
from glupy.types import Dirent

__all__ = ["PosixBackend"]

#: d_type of a readdir entry by file type (DT_REG, DT_DIR, ... of dirent.h)
_DT = {FileType.REG: 8, FileType.DIR: 4, FileType.LNK: 10, FileType.BLK: 6, FileType.CHR: 2,
       FileType.FIFO: 1, FileType.SOCK: 12}


@dataclass
class _OpenFile:
    """What the backend keeps for an Fd: the backing OS fd and the file it is open on."""

    osfd: int | None  # None for a directory fd
    path: str
    gfid: uuid.UUID
    flags: int
    listing: list[str] | None = None


@dataclass
class _Lock:
    """A byte-range lock held by an owner ((client, lk_owner)) in an inodelk domain or lk table."""

    owner: tuple[Any, ...]
    type: int
    start: int
    end: int  # exclusive; -1 = to the end
    pid: int = 0

    def overlaps(self, start: int, end: int) -> bool:
        a_end = self.end if self.end >= 0 else 1 << 63
        b_end = end if end >= 0 else 1 << 63
        return self.start < b_end and start < a_end


class PosixBackend:
    """The bottom of a harness graph: answers FOPs on a local directory like ``storage/posix``.

    ``PosixBackend(root, name="posix")``. Every FOP of :data:`glupy.fop_table.FOPS`
    is answered: the ones posix implements with the matching system calls and the
    errno the system gives; inodelk/finodelk/entrylk/fentrylk/lk with in-memory
    locks (as ``features/locks`` above posix does on a brick); put, icreate,
    namelink, ipc, getspec, lease, getactivelk and setactivelk with ENOSYS.

    Gfids are kept in memory by (st_dev, st_ino); the root is
    ``00000000-0000-0000-0000-000000000001``, a new entry takes the ``gfid-req``
    of its xdata when there is one (as posix does). Iatt.ino is derived from the
    gfid as in GlusterFS. Callers other than root get owner/group/other
    permission checks; new files belong to the caller when the harness runs as root.
    """

    type = "storage/posix"

    def __init__(self, root: Path | str, name: str = "posix") -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.children: list[Any] = []
        self.options: dict[str, str] = {"directory": str(self.root)}
        self.parents: list[Any] = []
        self._gfid_by_key: dict[tuple[int, int], uuid.UUID] = {}
        self._path_by_gfid: dict[uuid.UUID, str] = {}
        self._fds: dict[int, tuple[T.Fd, _OpenFile]] = {}
        self._inodelks: dict[tuple[str, uuid.UUID], list[_Lock]] = {}
        self._entrylks: dict[tuple[str, uuid.UUID, str | None], list[tuple[tuple[Any, ...], int]]] = {}
        self._posix_locks: dict[uuid.UUID, list[_Lock]] = {}
        st = os.lstat(self.root)
        self._gfid_by_key[(st.st_dev, st.st_ino)] = ROOT_GFID
        self._path_by_gfid[ROOT_GFID] = "/"

    def __repr__(self) -> str:
        return f"<PosixBackend {self.name} on {self.root}>"

    # ---- dispatch

    def dispatch(self, frame: Any, fop: int, args: tuple) -> Any:
        """Answer one FOP: its reply (op_ret -1 and the errno on failure). Harness bugs raise."""
        name = FOP_NAME[fop]
        method = getattr(self, f"_{name}", None)
        try:
            if method is None:
                raise FopError(errno.ENOSYS, f"PosixBackend does not implement {name}")
            reply = method(frame, *args)
        except FopError as e:
            return error_reply(fop, e.errno, e.reply)
        except OSError as e:
            return error_reply(fop, e.errno or errno.EIO)
        return REPLIES[name]() if reply is None else reply

    # ---- paths and gfids

    def real(self, path: str) -> str:
        """The backing file of a volume path."""
        return os.path.join(str(self.root), path.lstrip("/")) if path != "/" else str(self.root)

    def gfid_of(self, path: str, st: os.stat_result | None = None, *, assign: uuid.UUID | None = None) -> uuid.UUID:
        """The gfid of the entry at `path` (minted the first time it is seen)."""
        st = st or os.lstat(self.real(path))
        key = (st.st_dev, st.st_ino)
        if assign is not None:
            self._gfid_by_key[key] = assign
        gfid = self._gfid_by_key.get(key)
        if gfid is None:
            gfid = self._gfid_by_key[key] = uuid.uuid4()
        self._path_by_gfid[gfid] = path
        return gfid

    def path_of(self, gfid: uuid.UUID) -> str:
        """A path of the file with this gfid; ESTALE if it is gone."""
        path = self._path_by_gfid.get(gfid)
        if path is not None:
            try:
                st = os.lstat(self.real(path))
                if self._gfid_by_key.get((st.st_dev, st.st_ino)) == gfid:
                    return path
            except OSError:
                pass
        keys = [k for k, g in self._gfid_by_key.items() if g == gfid]
        if keys:
            for dirpath, dirnames, filenames in os.walk(self.root):
                for n in dirnames + filenames:
                    full = os.path.join(dirpath, n)
                    try:
                        st = os.lstat(full)
                    except OSError:
                        continue
                    if (st.st_dev, st.st_ino) in keys:
                        found = "/" + os.path.relpath(full, self.root)
                        self._path_by_gfid[gfid] = found
                        return found
        raise FopError(errno.ESTALE, f"no file with gfid {gfid}")

    def _forget_key(self, st: os.stat_result) -> None:
        gfid = self._gfid_by_key.pop((st.st_dev, st.st_ino), None)
        if gfid is not None:
            self._path_by_gfid.pop(gfid, None)

    def _loc_path(self, loc: T.Loc, entry: bool) -> str:
        """Resolve a Loc like the server: by pargfid + name for entry FOPs, by gfid otherwise."""
        gfid = loc.gfid or (loc.inode.gfid if loc.inode is not None else None)
        pargfid = loc.pargfid or (loc.parent.gfid if loc.parent is not None else None)
        name = loc.name
        if entry and pargfid is not None and name:
            return volume_path(posixpath.join(self.path_of(pargfid), name))
        if not entry and gfid is not None:
            return self.path_of(gfid)
        if loc.path and not loc.path.startswith("<gfid:"):
            return volume_path(loc.path)
        if pargfid is not None and name:
            return volume_path(posixpath.join(self.path_of(pargfid), name))
        if gfid is not None:
            return self.path_of(gfid)
        raise FopError(errno.EINVAL, f"cannot resolve {loc!r}: no path, gfid or parent gfid + name")

    def iatt(self, path: str, st: os.stat_result | None = None) -> T.Iatt:
        """The Iatt of the entry at `path` (lstat)."""
        st = st or os.lstat(self.real(path))
        return self._iatt_of(st, self.gfid_of(path, st))

    @staticmethod
    def _iatt_of(st: os.stat_result, gfid: uuid.UUID) -> T.Iatt:
        ia = T.Iatt(ino=gfid_to_ino(gfid), dev=st.st_dev, rdev=st.st_rdev, size=st.st_size, nlink=st.st_nlink,
                    uid=st.st_uid, gid=st.st_gid, blksize=st.st_blksize, blocks=st.st_blocks,
                    atime=st.st_atime_ns // 10**9, atime_nsec=st.st_atime_ns % 10**9,
                    mtime=st.st_mtime_ns // 10**9, mtime_nsec=st.st_mtime_ns % 10**9,
                    ctime=st.st_ctime_ns // 10**9, ctime_nsec=st.st_ctime_ns % 10**9, gfid=gfid)
        ia.mode = st.st_mode
        return ia

    def _parent_iatt(self, path: str) -> T.Iatt | None:
        return None if path == "/" else self.iatt(posixpath.dirname(path))

    # ---- permissions (features/access-control on a brick)

    @staticmethod
    def _allowed(st: os.stat_result, caller: Any, want: int) -> bool:
        uid = getattr(caller, "uid", 0)
        if uid == 0:
            return True
        groups = {getattr(caller, "gid", 0), *getattr(caller, "groups", ())}
        if st.st_uid == uid:
            bits = (st.st_mode >> 6) & 7
        elif st.st_gid in groups:
            bits = (st.st_mode >> 3) & 7
        else:
            bits = st.st_mode & 7
        return bits & want == want

    def _require(self, path: str, caller: Any, want: int) -> os.stat_result:
        st = os.lstat(self.real(path))
        if not self._allowed(st, caller, want):
            raise FopError(errno.EACCES)
        return st

    def _require_parents(self, path: str, caller: Any, want: int = 3) -> None:
        """Search permission on every ancestor; `want` (write+search) on the parent."""
        if getattr(caller, "uid", 0) == 0:
            return
        parts = [p for p in path.split("/") if p]
        current = "/"
        for i, part in enumerate(parts[:-1] if parts else []):
            self._require(current, caller, 1)
            current = posixpath.join(current, part)
        if parts:
            self._require(current, caller, want)

    def _own(self, path: str, caller: Any) -> None:
        if os.geteuid() == 0 and caller is not None:
            os.lchown(self.real(path), caller.uid, caller.gid)

    @staticmethod
    def _want_of_flags(flags: int) -> int:
        acc = flags & os.O_ACCMODE
        want = {os.O_RDONLY: 4, os.O_WRONLY: 2, os.O_RDWR: 6}.get(acc, 6)
        if flags & os.O_TRUNC:
            want |= 2
        return want

    # ---- fds

    def _register(self, fd: T.Fd, state: _OpenFile) -> None:
        old = self._fds.pop(id(fd), None)
        if old is not None and old[1].osfd is not None:
            os.close(old[1].osfd)
        self._fds[id(fd)] = (fd, state)

    def _state(self, fd: T.Fd, *, want_write: bool = False) -> tuple[_OpenFile, bool]:
        """The open file behind an Fd: (state, temporary). Anonymous fds are opened by gfid."""
        entry = self._fds.get(id(fd))
        if entry is not None and entry[0] is fd:
            state = entry[1]
            try:  # follow renames while open
                state.path = self.path_of(state.gfid)
            except FopError:
                pass  # removed while open: the fd still works, names do not
            return state, False
        gfid = fd.inode.gfid if fd.inode is not None else None
        if gfid is None:
            raise FopError(errno.EBADF, "an fd whose inode has no gfid")
        path = self.path_of(gfid)
        real = self.real(path)
        if os.path.isdir(real) and not os.path.islink(real):
            return _OpenFile(None, path, gfid, os.O_RDONLY), True
        try:
            osfd = os.open(real, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EROFS, errno.ETXTBSY) or want_write:
                raise
            osfd = os.open(real, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        return _OpenFile(osfd, path, gfid, os.O_RDWR), True

    class _Using:
        def __init__(self, backend: "PosixBackend", fd: T.Fd, want_write: bool = False) -> None:
            self.state, self.temp = backend._state(fd, want_write=want_write)

        def __enter__(self) -> _OpenFile:
            return self.state

        def __exit__(self, *exc: object) -> None:
            if self.temp and self.state.osfd is not None:
                os.close(self.state.osfd)

    def _file(self, fd: T.Fd, want_write: bool = False) -> "PosixBackend._Using":
        return PosixBackend._Using(self, fd, want_write)

    def _fiatt(self, state: _OpenFile) -> T.Iatt:
        if state.osfd is None:
            return self.iatt(state.path)
        st = os.fstat(state.osfd)
        return self._iatt_of(st, self._gfid_by_key.get((st.st_dev, st.st_ino), state.gfid))

    def release(self, fd: T.Fd) -> None:
        """The fd is gone (GlusterFS's release/releasedir callback): close the backing file."""
        entry = self._fds.pop(id(fd), None)
        if entry is not None and entry[1].osfd is not None:
            os.close(entry[1].osfd)

    def close(self) -> None:
        """Close every backing fd."""
        for fd, state in list(self._fds.values()):
            if state.osfd is not None:
                os.close(state.osfd)
        self._fds.clear()

    # ---- xattrs (GlusterFS-internal names hidden like posix hides trusted.gfid)

    def _xattrs(self, real: str) -> dict[str, bytes]:
        out = {}
        for n in os.listxattr(real, follow_symlinks=False):
            try:
                out[n] = os.getxattr(real, n, follow_symlinks=False)
            except OSError:
                continue
        return out

    # ================================================================ FOPs
    # Each takes (frame, *args) in the FOP table's order and returns a reply or raises.

    def _lookup(self, frame: Any, loc: T.Loc, xdata: Any) -> Any:
        path = self._loc_path(loc, entry=True) if loc.path != "/" and (loc.name or loc.pargfid) else \
            self._loc_path(loc, entry=False)
        postparent = T.Iatt()  # storage/posix answers zeros for the root's parent
        if path != "/":
            parent = posixpath.dirname(path)
            try:
                self._require_parents(path, frame, 1)
                postparent = self.iatt(parent)
            except FileNotFoundError:
                raise FopError(errno.ENOENT) from None
        try:
            st = os.lstat(self.real(path))
        except OSError as e:
            reply = REPLIES["lookup"](postparent=postparent, op_ret=-1, op_errno=e.errno)
            raise FopError(e.errno, reply=reply) from None
        buf = self.iatt(path, st)
        out_xdata = None
        if xdata:
            found = {}
            for key in xdata:
                if key in ("gfid-req",) or key.startswith("glusterfs."):
                    continue
                try:
                    found[key] = os.getxattr(self.real(path), key, follow_symlinks=False)
                except OSError:
                    pass
            out_xdata = T.Xdata(found) if found else None
        inode = loc.inode if loc.inode is not None else T.Inode()
        return REPLIES["lookup"](inode=inode, buf=buf, xdata=out_xdata, postparent=postparent)

    def _stat(self, frame: Any, loc: T.Loc, xdata: Any) -> Any:
        return REPLIES["stat"](buf=self.iatt(self._loc_path(loc, False)))

    def _fstat(self, frame: Any, fd: T.Fd, xdata: Any) -> Any:
        with self._file(fd) as f:
            return REPLIES["fstat"](buf=self._fiatt(f))

    def _access(self, frame: Any, loc: T.Loc, mask: int, xdata: Any) -> Any:
        path = self._loc_path(loc, False)
        st = os.lstat(self.real(path))
        want = mask & 7
        if want and not self._allowed(st, frame, want):
            raise FopError(errno.EACCES)
        if want & 1 and getattr(frame, "uid", 0) == 0 and not (st.st_mode & 0o111 or _stat.S_ISDIR(st.st_mode)):
            raise FopError(errno.EACCES)

    def _new_entry(self, frame: Any, loc: T.Loc, xdata: Any,
                   make: Callable[[str], bool | None]) -> tuple[str, Any, Any]:
        """Create an entry with `make(real_path)` (False: it existed, create without O_EXCL);
        give it the xdata's gfid-req (or a new gfid) and the caller's ownership."""
        path = self._loc_path(loc, True)
        if path == "/":
            raise FopError(errno.EEXIST)
        parent = posixpath.dirname(path)
        self._require_parents(path, frame, 3)
        preparent = self.iatt(parent)
        created = make(self.real(path)) is not False
        st = os.lstat(self.real(path))
        if created:
            gfid_req = as_gfid(xdata.get("gfid-req")) if xdata else None
            self.gfid_of(path, st, assign=gfid_req or uuid.uuid4())
            self._own(path, frame)
        return path, preparent, self.iatt(parent)

    def _create(self, frame: Any, loc: T.Loc, flags: int, mode: int, umask: int, fd: T.Fd, xdata: Any) -> Any:
        opened: list[int] = []
        perm = _stat.S_IMODE(mode) & ~umask

        def make(real: str) -> bool:
            existed = os.path.lexists(real)
            osfd = os.open(real, (flags & ~os.O_NOCTTY) | os.O_CREAT | os.O_CLOEXEC, perm)
            opened.append(osfd)
            if not existed:
                os.fchmod(osfd, perm)
            return not existed

        try:
            path, pre, post = self._new_entry(frame, loc, xdata, make)
        except BaseException:
            for o in opened:
                os.close(o)
            raise
        buf = self.iatt(path)
        self._register(fd, _OpenFile(opened[0], path, buf.gfid, flags))
        inode = loc.inode if loc.inode is not None else T.Inode()
        return REPLIES["create"](fd=fd, inode=inode, buf=buf, preparent=pre, postparent=post)

    def _mkdir(self, frame: Any, loc: T.Loc, mode: int, umask: int, xdata: Any) -> Any:
        perm = _stat.S_IMODE(mode) & ~umask

        def make(real: str) -> None:
            os.mkdir(real, perm)
            os.chmod(real, perm | (mode & (_stat.S_ISVTX | _stat.S_ISGID)))

        path, pre, post = self._new_entry(frame, loc, xdata, make)
        inode = loc.inode if loc.inode is not None else T.Inode()
        return REPLIES["mkdir"](inode=inode, buf=self.iatt(path), preparent=pre, postparent=post)

    def _mknod(self, frame: Any, loc: T.Loc, mode: int, rdev: int, umask: int, xdata: Any) -> Any:
        perm = _stat.S_IMODE(mode) & ~umask

        def make(real: str) -> None:
            os.mknod(real, _stat.S_IFMT(mode) | perm, rdev)
            os.chmod(real, perm)

        path, pre, post = self._new_entry(frame, loc, xdata, make)
        inode = loc.inode if loc.inode is not None else T.Inode()
        return REPLIES["mknod"](inode=inode, buf=self.iatt(path), preparent=pre, postparent=post)

    def _symlink(self, frame: Any, linkname: Any, loc: T.Loc, umask: int, xdata: Any) -> Any:
        target = linkname.decode() if isinstance(linkname, bytes) else linkname
        if not target:
            raise FopError(errno.ENOENT)
        path, pre, post = self._new_entry(frame, loc, xdata, lambda real: os.symlink(target, real))
        inode = loc.inode if loc.inode is not None else T.Inode()
        return REPLIES["symlink"](inode=inode, buf=self.iatt(path), preparent=pre, postparent=post)

    def _link(self, frame: Any, oldloc: T.Loc, newloc: T.Loc, xdata: Any) -> Any:
        old = self._loc_path(oldloc, False)
        if os.path.isdir(self.real(old)) and not os.path.islink(self.real(old)):
            raise FopError(errno.EPERM)
        new = self._loc_path(newloc, True)
        self._require_parents(new, frame, 3)
        parent = posixpath.dirname(new)
        pre = self.iatt(parent)
        os.link(self.real(old), self.real(new), follow_symlinks=False)
        buf = self.iatt(new)
        inode = oldloc.inode if oldloc.inode is not None else (newloc.inode or T.Inode())
        return REPLIES["link"](inode=inode, buf=buf, preparent=pre, postparent=self.iatt(parent))

    def _readlink(self, frame: Any, loc: T.Loc, size: int, xdata: Any) -> Any:
        path = self._loc_path(loc, False)
        target = os.readlink(self.real(path))
        if size and size < len(target.encode()):
            target = target.encode()[:size].decode(errors="ignore")
        return REPLIES["readlink"](path=target, buf=self.iatt(path), op_ret=len(target.encode()))

    def _unlink(self, frame: Any, loc: T.Loc, flags: int, xdata: Any) -> Any:
        path = self._loc_path(loc, True)
        self._require_parents(path, frame, 3)
        parent = posixpath.dirname(path)
        pre = self.iatt(parent)
        st = os.lstat(self.real(path))
        os.unlink(self.real(path))
        if st.st_nlink <= 1 and not _stat.S_ISDIR(st.st_mode):
            still_open = any(s.osfd is not None and s.gfid == self._gfid_by_key.get((st.st_dev, st.st_ino))
                             for _, s in self._fds.values())
            if not still_open:
                self._forget_key(st)
        return REPLIES["unlink"](preparent=pre, postparent=self.iatt(parent))

    def _rmdir(self, frame: Any, loc: T.Loc, flags: int, xdata: Any) -> Any:
        path = self._loc_path(loc, True)
        if path == "/":
            raise FopError(errno.EBUSY)
        self._require_parents(path, frame, 3)
        parent = posixpath.dirname(path)
        pre = self.iatt(parent)
        st = os.lstat(self.real(path))
        os.rmdir(self.real(path))
        self._forget_key(st)
        return REPLIES["rmdir"](preparent=pre, postparent=self.iatt(parent))

    def _rename(self, frame: Any, oldloc: T.Loc, newloc: T.Loc, xdata: Any) -> Any:
        old = self._loc_path(oldloc, True)
        new = self._loc_path(newloc, True)
        if old == "/" or new == "/":
            raise FopError(errno.EBUSY)
        self._require_parents(old, frame, 3)
        self._require_parents(new, frame, 3)
        oldp, newp = posixpath.dirname(old), posixpath.dirname(new)
        preold, prenew = self.iatt(oldp), self.iatt(newp)
        try:
            victim: os.stat_result | None = os.lstat(self.real(new))
        except FileNotFoundError:
            victim = None
        moved = os.lstat(self.real(old))
        os.rename(self.real(old), self.real(new))
        if victim is not None and (victim.st_dev, victim.st_ino) != (moved.st_dev, moved.st_ino) and \
                (victim.st_nlink <= 1 or _stat.S_ISDIR(victim.st_mode)):
            self._forget_key(victim)
        prefix = old.rstrip("/") + "/"
        for g, p in list(self._path_by_gfid.items()):
            if p == old:
                self._path_by_gfid[g] = new
            elif p.startswith(prefix):
                self._path_by_gfid[g] = new.rstrip("/") + "/" + p[len(prefix):]
        return REPLIES["rename"](buf=self.iatt(new), preoldparent=preold, postoldparent=self.iatt(oldp),
                                 prenewparent=prenew, postnewparent=self.iatt(newp))

    def _truncate(self, frame: Any, loc: T.Loc, offset: int, xdata: Any) -> Any:
        path = self._loc_path(loc, False)
        self._require(path, frame, 2)
        if offset < 0:
            raise FopError(errno.EINVAL)
        pre = self.iatt(path)
        os.truncate(self.real(path), offset)
        return REPLIES["truncate"](prebuf=pre, postbuf=self.iatt(path))

    def _ftruncate(self, frame: Any, fd: T.Fd, offset: int, xdata: Any) -> Any:
        if offset < 0:
            raise FopError(errno.EINVAL)
        with self._file(fd, want_write=True) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            pre = self._fiatt(f)
            os.ftruncate(f.osfd, offset)
            return REPLIES["ftruncate"](prebuf=pre, postbuf=self._fiatt(f))

    def _open(self, frame: Any, loc: T.Loc, flags: int, fd: T.Fd, xdata: Any) -> Any:
        path = self._loc_path(loc, False)
        real = self.real(path)
        st = os.lstat(real)
        if _stat.S_ISLNK(st.st_mode):
            raise FopError(errno.ELOOP)
        if not self._allowed(st, frame, self._want_of_flags(flags)):
            raise FopError(errno.EACCES)
        clean = flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY | getattr(os, "O_DIRECT", 0))
        osfd = os.open(real, clean | os.O_CLOEXEC)
        self._register(fd, _OpenFile(osfd, path, self.gfid_of(path, st), flags))
        return REPLIES["open"](fd=fd)

    def _readv(self, frame: Any, fd: T.Fd, size: int, offset: int, flags: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            data = os.pread(f.osfd, size, offset)
            return REPLIES["readv"](data=T.Buffer(data), buf=self._fiatt(f))

    def _writev(self, frame: Any, fd: T.Fd, data: Any, offset: int, flags: int, xdata: Any) -> Any:
        with self._file(fd, want_write=True) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            pre = self._fiatt(f)
            if f.flags & os.O_APPEND:
                offset = os.fstat(f.osfd).st_size
            written = os.pwrite(f.osfd, bytes(memoryview(data)), offset)
            return REPLIES["writev"](prebuf=pre, postbuf=self._fiatt(f), op_ret=written)

    def _flush(self, frame: Any, fd: T.Fd, xdata: Any) -> Any:
        self._posix_unlock_owner(fd, frame)
        return None

    def _fsync(self, frame: Any, fd: T.Fd, flags: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            pre = self._fiatt(f)
            if f.osfd is not None:
                (os.fdatasync if flags else os.fsync)(f.osfd)
            return REPLIES["fsync"](prebuf=pre, postbuf=self._fiatt(f))

    def _fsyncdir(self, frame: Any, fd: T.Fd, flags: int, xdata: Any) -> Any:
        return None

    def _statfs(self, frame: Any, loc: T.Loc, xdata: Any) -> Any:
        s = os.statvfs(self.real(self._loc_path(loc, False)))
        return REPLIES["statfs"](buf=T.Statvfs(f_bsize=s.f_bsize, f_frsize=s.f_frsize, f_blocks=s.f_blocks,
                                               f_bfree=s.f_bfree, f_bavail=s.f_bavail, f_files=s.f_files,
                                               f_ffree=s.f_ffree, f_favail=s.f_favail, f_fsid=s.f_fsid,
                                               f_flag=s.f_flag, f_namemax=s.f_namemax))

    # ---- xattrs

    def _set_xattrs(self, frame: Any, path: str, d: Any, flags: int) -> None:
        if not d:
            raise FopError(errno.EINVAL)
        st = os.lstat(self.real(path))
        if getattr(frame, "uid", 0) != 0 and st.st_uid != frame.uid and not self._allowed(st, frame, 2):
            raise FopError(errno.EACCES)
        for key in d:
            value = d.raw(key) if isinstance(d, T.Xdata) else d[key]
            os.setxattr(self.real(path), key, value or b"", flags, follow_symlinks=False)

    def _get_xattrs(self, frame: Any, path: str, name: Any) -> Any:
        real = self.real(path)
        if getattr(frame, "uid", 0) != 0 and not os.path.islink(real):
            self._require(path, frame, 4)
        if name is None or name == "":
            return T.Xdata(self._xattrs(real))
        name = name.decode() if isinstance(name, bytes) else name
        return T.Xdata({name: os.getxattr(real, name, follow_symlinks=False)})

    def _setxattr(self, frame: Any, loc: T.Loc, dict: Any, flags: int, xdata: Any) -> Any:
        self._set_xattrs(frame, self._loc_path(loc, False), dict, flags)

    def _fsetxattr(self, frame: Any, fd: T.Fd, dict: Any, flags: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            self._set_xattrs(frame, f.path, dict, flags)

    def _getxattr(self, frame: Any, loc: T.Loc, name: Any, xdata: Any) -> Any:
        return REPLIES["getxattr"](dict=self._get_xattrs(frame, self._loc_path(loc, False), name))

    def _fgetxattr(self, frame: Any, fd: T.Fd, name: Any, xdata: Any) -> Any:
        with self._file(fd) as f:
            return REPLIES["fgetxattr"](dict=self._get_xattrs(frame, f.path, name))

    def _remove_xattr(self, frame: Any, path: str, name: Any) -> None:
        st = os.lstat(self.real(path))
        if getattr(frame, "uid", 0) != 0 and st.st_uid != frame.uid and not self._allowed(st, frame, 2):
            raise FopError(errno.EACCES)
        if not name:
            raise FopError(errno.EINVAL)
        os.removexattr(self.real(path), name.decode() if isinstance(name, bytes) else name, follow_symlinks=False)

    def _removexattr(self, frame: Any, loc: T.Loc, name: Any, xdata: Any) -> Any:
        self._remove_xattr(frame, self._loc_path(loc, False), name)

    def _fremovexattr(self, frame: Any, fd: T.Fd, name: Any, xdata: Any) -> Any:
        with self._file(fd) as f:
            self._remove_xattr(frame, f.path, name)

    def _do_xattrop(self, path: str, flags: int, d: Any) -> Any:
        real = self.real(path)
        out = T.Xdata()
        for key in (d or {}):
            value = d.raw(key) if isinstance(d, T.Xdata) else bytes(d[key])
            try:
                old = os.getxattr(real, key, follow_symlinks=False)
            except OSError as e:
                if e.errno != errno.ENODATA:
                    raise
                old = bytes(len(value))
            if len(old) != len(value) and flags != XattropFlag.GET_AND_SET:
                raise FopError(errno.EINVAL, f"xattrop {key}: stored {len(old)} bytes, given {len(value)}")
            if flags in (XattropFlag.ADD_ARRAY, XattropFlag.ADD_ARRAY64):
                width = 4 if flags == XattropFlag.ADD_ARRAY else 8
                if len(value) % width:
                    raise FopError(errno.EINVAL)
                mask = (1 << (8 * width)) - 1
                new = b"".join(
                    ((int.from_bytes(old[i:i + width], "big") + int.from_bytes(value[i:i + width], "big")) & mask)
                    .to_bytes(width, "big") for i in range(0, len(value), width))
                result = new
            elif flags == XattropFlag.OR_ARRAY:
                new = result = bytes(a | b for a, b in zip(old, value))
            elif flags == XattropFlag.AND_ARRAY:
                new = result = bytes(a & b for a, b in zip(old, value))
            elif flags == XattropFlag.GET_AND_SET:
                new, result = value, old
            else:
                raise FopError(errno.ENOTSUP, f"xattrop flag {flags} is not supported by the harness")
            os.setxattr(real, key, new, follow_symlinks=False)
            out[key] = result
        return out

    def _xattrop(self, frame: Any, loc: T.Loc, flags: int, dict: Any, xdata: Any) -> Any:
        return REPLIES["xattrop"](dict=self._do_xattrop(self._loc_path(loc, False), flags, dict))

    def _fxattrop(self, frame: Any, fd: T.Fd, flags: int, dict: Any, xdata: Any) -> Any:
        with self._file(fd) as f:
            return REPLIES["fxattrop"](dict=self._do_xattrop(f.path, flags, dict))

    # ---- attributes

    def _do_setattr(self, frame: Any, path: str, stbuf: Any, valid: int) -> tuple[Any, Any]:
        real = self.real(path)
        pre = self.iatt(path)
        uid = getattr(frame, "uid", 0)
        valid = SetAttr(valid)
        if stbuf is None and valid & (SetAttr.MODE | SetAttr.UID | SetAttr.GID | SetAttr.ATIME | SetAttr.MTIME):
            raise FopError(errno.EINVAL)
        if valid & SetAttr.MODE:
            if uid not in (0, pre.uid):
                raise FopError(errno.EPERM)
            if pre.type != FileType.LNK:
                os.chmod(real, _stat.S_IMODE(stbuf.mode))
        if valid & (SetAttr.UID | SetAttr.GID):
            new_uid = stbuf.uid if valid & SetAttr.UID else -1
            new_gid = stbuf.gid if valid & SetAttr.GID else -1
            if uid != 0 and (new_uid not in (-1, pre.uid) or pre.uid != uid or
                             (new_gid != -1 and new_gid not in {frame.gid, *frame.groups})):
                raise FopError(errno.EPERM)
            os.lchown(real, new_uid, new_gid)
        if valid & (SetAttr.ATIME | SetAttr.MTIME | SetAttr.ATIME_NOW | SetAttr.MTIME_NOW):
            if uid not in (0, pre.uid):
                st = os.lstat(real)
                now_only = not (valid & (SetAttr.ATIME | SetAttr.MTIME))
                if not (now_only and self._allowed(st, frame, 2)):
                    raise FopError(errno.EPERM)
            now = time.time_ns()
            cur = os.lstat(real)
            atime = cur.st_atime_ns
            mtime = cur.st_mtime_ns
            if valid & SetAttr.ATIME_NOW:
                atime = now
            elif valid & SetAttr.ATIME:
                atime = stbuf.atime * 10**9 + stbuf.atime_nsec
            if valid & SetAttr.MTIME_NOW:
                mtime = now
            elif valid & SetAttr.MTIME:
                mtime = stbuf.mtime * 10**9 + stbuf.mtime_nsec
            os.utime(real, ns=(atime, mtime), follow_symlinks=False)
        return pre, self.iatt(path)

    def _setattr(self, frame: Any, loc: T.Loc, stbuf: Any, valid: int, xdata: Any) -> Any:
        pre, post = self._do_setattr(frame, self._loc_path(loc, False), stbuf, valid)
        return REPLIES["setattr"](statpre=pre, statpost=post)

    def _fsetattr(self, frame: Any, fd: T.Fd, stbuf: Any, valid: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            pre, post = self._do_setattr(frame, f.path, stbuf, valid)
            return REPLIES["fsetattr"](statpre=pre, statpost=post)

    # ---- directories

    def _opendir(self, frame: Any, loc: T.Loc, fd: T.Fd, xdata: Any) -> Any:
        path = self._loc_path(loc, False)
        st = os.lstat(self.real(path))
        if not _stat.S_ISDIR(st.st_mode):
            raise FopError(errno.ENOTDIR)
        if not self._allowed(st, frame, 4):
            raise FopError(errno.EACCES)
        self._register(fd, _OpenFile(None, path, self.gfid_of(path, st), os.O_RDONLY))
        return REPLIES["opendir"](fd=fd)

    def _listing(self, f: _OpenFile, offset: int) -> list[str]:
        if f.listing is None or offset == 0:
            real = self.real(f.path)
            if not os.path.isdir(real):
                raise FopError(errno.ENOTDIR)
            f.listing = [".", ".."] + sorted(os.listdir(real))
        return f.listing

    def _entries(self, fd: T.Fd, size: int, offset: int, plus: bool) -> list[Dirent]:
        with self._file(fd) as f:
            names = self._listing(f, offset)
            out: list[Dirent] = []
            used = 0
            for i in range(max(offset, 0), len(names)):
                name = names[i]
                cost = (24 + len(name.encode()) + (160 if plus else 0) + 7) & ~7
                if out and used + cost > size:
                    break
                used += cost
                child = f.path if name == "." else (posixpath.dirname(f.path) if name == ".." else
                                                    posixpath.join(f.path, name))
                try:
                    st = os.lstat(self.real(child))
                except FileNotFoundError:
                    continue  # removed since the listing was taken
                ia = self.iatt(child, st)
                d = Dirent(name, ino=ia.ino, off=i + 1, type=_DT.get(ia.type, 0))
                if plus:
                    d.stat = ia
                    d.inode = T.Inode() if name not in (".", "..") else None
                out.append(d)
            return out

    def _readdir(self, frame: Any, fd: T.Fd, size: int, offset: int, xdata: Any) -> Any:
        return REPLIES["readdir"](entries=self._entries(fd, size, offset, False))

    def _readdirp(self, frame: Any, fd: T.Fd, size: int, offset: int, xdata: Any) -> Any:
        return REPLIES["readdirp"](entries=self._entries(fd, size, offset, True))

    # ---- space

    def _fallocate(self, frame: Any, fd: T.Fd, mode: int, offset: int, len: int, xdata: Any) -> Any:
        with self._file(fd, want_write=True) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            pre = self._fiatt(f)
            _fallocate(f.osfd, mode, offset, len)
            return REPLIES["fallocate"](pre=pre, post=self._fiatt(f))

    def _discard(self, frame: Any, fd: T.Fd, offset: int, len: int, xdata: Any) -> Any:
        with self._file(fd, want_write=True) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            pre = self._fiatt(f)
            _fallocate(f.osfd, 0x02 | 0x01, offset, len)  # PUNCH_HOLE | KEEP_SIZE
            return REPLIES["discard"](pre=pre, post=self._fiatt(f))

    def _zerofill(self, frame: Any, fd: T.Fd, offset: int, len: int, xdata: Any) -> Any:
        with self._file(fd, want_write=True) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            pre = self._fiatt(f)
            chunk = bytes(min(len, 1 << 20))
            done = 0
            while done < len:
                done += os.pwrite(f.osfd, chunk[:len - done], offset + done)
            return REPLIES["zerofill"](pre=pre, post=self._fiatt(f))

    def _seek(self, frame: Any, fd: T.Fd, offset: int, what: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            whence = {0: os.SEEK_DATA, 1: os.SEEK_HOLE}.get(what)
            if whence is None:
                raise FopError(errno.EINVAL)
            return REPLIES["seek"](offset=os.lseek(f.osfd, offset, whence))

    def _rchecksum(self, frame: Any, fd: T.Fd, offset: int, len: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            if f.osfd is None:
                raise FopError(errno.EISDIR)
            data = os.pread(f.osfd, len, offset)
            return REPLIES["rchecksum"](weak_checksum=zlib.adler32(data, 0),
                                        strong_checksum=hashlib.sha256(data).digest())

    def _copy_file_range(self, frame: Any, fd_in: T.Fd, off_in: int, fd_out: T.Fd, off_out: int, len: int,
                         flags: int, xdata: Any) -> Any:
        with self._file(fd_in) as src, self._file(fd_out, want_write=True) as dst:
            if src.osfd is None or dst.osfd is None:
                raise FopError(errno.EISDIR)
            stbuf = self._fiatt(src)
            pre = self._fiatt(dst)
            n = os.copy_file_range(src.osfd, dst.osfd, len, off_in, off_out)
            return REPLIES["copy_file_range"](stbuf=stbuf, prebuf_dst=pre, postbuf_dst=self._fiatt(dst), op_ret=n)

    # ---- locks (features/locks)

    @staticmethod
    def _owner(frame: Any) -> tuple[Any, ...]:
        return (getattr(frame, "client", None), bytes(getattr(frame, "lk_owner", b"") or b""))

    @staticmethod
    def _range(lock: T.Flock) -> tuple[int, int]:
        start = int(lock.start or 0)
        length = int(lock.len or 0)
        return start, (start + length if length > 0 else -1)

    def _range_lock(self, table: list[_Lock], owner: tuple[Any, ...], cmd: int, lock: T.Flock,
                    pid: int) -> _Lock | None:
        """Apply a GETLK/SETLK/SETLKW on a lock list; returns the conflicting lock for GETLK."""
        start, end = self._range(lock)
        conflict = next((l for l in table if l.owner != owner and l.overlaps(start, end) and
                         (l.type == LockType.WRLCK or lock.type == LockType.WRLCK)), None)
        if cmd == LockCmd.GETLK:
            return conflict
        if lock.type == LockType.UNLCK:
            table[:] = [l for l in table if not (l.owner == owner and l.overlaps(start, end))]
            return None
        if conflict is not None:
            raise FopError(errno.EAGAIN)
        table[:] = [l for l in table if not (l.owner == owner and l.overlaps(start, end))]
        table.append(_Lock(owner, int(lock.type), start, end, pid))
        return None

    def _inodelk(self, frame: Any, volume: Any, loc: T.Loc, cmd: int, lock: T.Flock, xdata: Any) -> Any:
        gfid = self.gfid_of(self._loc_path(loc, False))
        table = self._inodelks.setdefault((str(volume), gfid), [])
        self._range_lock(table, self._owner(frame), cmd, lock, getattr(frame, "pid", 0))

    def _finodelk(self, frame: Any, volume: Any, fd: T.Fd, cmd: int, lock: T.Flock, xdata: Any) -> Any:
        with self._file(fd) as f:
            table = self._inodelks.setdefault((str(volume), f.gfid), [])
            self._range_lock(table, self._owner(frame), cmd, lock, getattr(frame, "pid", 0))

    def _do_entrylk(self, frame: Any, volume: Any, gfid: uuid.UUID, basename: Any, cmd: int, type: int) -> None:
        owner = self._owner(frame)
        key = (str(volume), gfid, basename)
        held = self._entrylks.setdefault(key, [])
        if cmd == EntrylkCmd.UNLOCK:
            for i, (o, _) in enumerate(held):
                if o == owner:
                    del held[i]
                    return
            raise FopError(errno.EINVAL, "entrylk unlock of a lock not held")
        # a lock on the whole directory (basename None) conflicts with every name in it
        related = [lst for (v, g, b), lst in self._entrylks.items()
                   if v == str(volume) and g == gfid and (basename is None or b is None or b == basename)]
        for lst in related:
            for o, t in lst:
                if o != owner and (t == EntrylkType.WRLCK or type == EntrylkType.WRLCK):
                    raise FopError(errno.EAGAIN)
        held.append((owner, int(type)))

    def _entrylk(self, frame: Any, volume: Any, loc: T.Loc, basename: Any, cmd: int, type: int, xdata: Any) -> Any:
        self._do_entrylk(frame, volume, self.gfid_of(self._loc_path(loc, False)), basename, cmd, type)

    def _fentrylk(self, frame: Any, volume: Any, fd: T.Fd, basename: Any, cmd: int, type: int, xdata: Any) -> Any:
        with self._file(fd) as f:
            self._do_entrylk(frame, volume, f.gfid, basename, cmd, type)

    def _lk(self, frame: Any, fd: T.Fd, cmd: int, lock: T.Flock, xdata: Any) -> Any:
        with self._file(fd) as f:
            table = self._posix_locks.setdefault(f.gfid, [])
            owner = (getattr(frame, "client", None), bytes(lock.owner or b"") or self._owner(frame)[1])
            conflict = self._range_lock(table, owner, cmd, lock, int(lock.pid or 0))
            out = lock.copy()
            if cmd == LockCmd.GETLK:
                if conflict is None:
                    out.type = LockType.UNLCK
                else:
                    out.type, out.start, out.pid = conflict.type, conflict.start, conflict.pid
                    out.len = 0 if conflict.end < 0 else conflict.end - conflict.start
            return REPLIES["lk"](lock=out)

    def _posix_unlock_owner(self, fd: T.Fd, frame: Any) -> None:
        """flush drops the caller's POSIX locks on the file, as close(2) does."""
        entry = self._fds.get(id(fd))
        if entry is None:
            return
        table = self._posix_locks.get(entry[1].gfid)
        if table:
            client = getattr(frame, "client", None)
            lk_owner = bytes(getattr(frame, "lk_owner", b"") or b"")
            table[:] = [l for l in table if not (l.owner[0] == client and (not lk_owner or l.owner[1] == lk_owner))]


def _fallocate(osfd: int, mode: int, offset: int, length: int) -> None:
    if mode == 0:
        os.posix_fallocate(osfd, offset, length)
        return
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(osfd, mode, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
