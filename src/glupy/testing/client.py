"""The harness's client: a synchronous FUSE-like mount of the in-process volume.

Each call gets a fresh :class:`~glupy.Caller` (the client's uid, gid, pid, lock
owner), resolves its path with one lookup per component as the kernel and
fuse-bridge do, keeping an :class:`InodeTable` (one :class:`~glupy.Inode` object
per file while it is referenced), opens, reads or writes, flushes and releases
fds (:class:`File`), and forgets inodes that are gone.

The client sends every FOP through the harness it belongs to
(``Harness._top_call``) and tells it when an fd is opened or released and when
an inode is forgotten (``_opened``, ``_release``, ``_forget_ctx``): the harness
owns the graph, the client owns the names.
"""

from __future__ import annotations

import errno
import itertools
import os
import posixpath
import stat as _stat
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any, Sequence

from glupy import _pytypes as T
from glupy.constants import FileType, SetAttr
from glupy.errors import FopError
from glupy.fop_table import FOP_BY_NAME, KINDS
from glupy.testing.common import ROOT_GFID, HarnessError, volume_path
from glupy.types import Dirent

if TYPE_CHECKING:
    from glupy.testing.harness import Harness

__all__ = ["Client", "File", "InodeTable"]


class File:
    """An open file of the harness client (``h.open(path)``); close it, or use ``with``."""

    def __init__(self, client: "Client", path: str, fd: T.Fd, directory: bool = False) -> None:
        self.client = client
        self.path = path
        self.fd = fd
        self.directory = directory
        self.closed = False

    @property
    def inode(self) -> T.Inode:
        return self.fd.inode

    def _call(self, fop: str, *args: Any) -> Any:
        if self.closed:
            raise HarnessError(f"{self.path} is closed")
        return self.client._call(fop, *args)

    def read(self, size: int = 131072, offset: int = 0) -> bytes:
        """One readv."""
        return bytes(self._call("readv", self.fd, size, offset, 0, None).data)

    def write(self, data: bytes, offset: int = 0) -> int:
        """One writev; the number of bytes written."""
        return self._call("writev", self.fd, bytes(data), offset, 0, None).op_ret

    def fstat(self) -> T.Iatt:
        return self._call("fstat", self.fd, None).buf

    def fsync(self, datasync: bool = False) -> None:
        self._call("fsync", self.fd, 1 if datasync else 0, None)

    def truncate(self, size: int) -> None:
        self._call("ftruncate", self.fd, size, None)

    def getxattr(self, name: str) -> bytes:
        reply = self._call("fgetxattr", self.fd, name, None)
        return _xattr_value(reply.dict, name, self.path)

    def setxattr(self, name: str, value: bytes | str, flags: int = 0) -> None:
        self._call("fsetxattr", self.fd, T.Xdata({name: _to_bytes(value)}), flags, None)

    def close(self) -> None:
        """flush (for files), then release: the translators' release hooks and the backend's close."""
        if self.closed:
            return
        try:
            if not self.directory:
                self.client._call("flush", self.fd, None)
        finally:
            self.closed = True
            self.client.harness._release(self.fd, self.directory)

    def __enter__(self) -> "File":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _xattr_value(d: Any, name: str, path: str) -> bytes:
    if d is None or name not in d:
        raise FopError(errno.ENODATA, f"{path}: no attribute {name} in the reply")
    return d.raw(name) if isinstance(d, T.Xdata) else _to_bytes(d[name])


class Client:
    """A synchronous FUSE-like client of a :class:`Harness` with fixed credentials.

    Paths are absolute within the volume (``"/dir/file"``). Failures raise
    :class:`glupy.FopError` with the errno a mount would give.

    A harness has one as uid 0 (``h.client``, whose methods the harness offers
    itself); make others with :meth:`as_user` or ``Client(h, uid=..., pid=...,
    client=...)``. ``client`` is the client id its frames carry (``Caller.client``).
    """

    _pids = itertools.count(1000)

    def __init__(self, harness: "Harness", uid: int = 0, gid: int = 0, groups: Sequence[int] = (),
                 pid: int | None = None, lk_owner: bytes = b"", client: str = "glupy-harness") -> None:
        self.harness = harness
        self.uid, self.gid, self.groups = uid, gid, tuple(groups)
        self.pid = os.getpid() if pid is None else pid
        self.lk_owner = lk_owner
        self.client = client

    def as_user(self, uid: int, gid: int, groups: Sequence[int] = ()) -> "Client":
        """A client of the same harness making its FOPs as uid/gid (and groups)."""
        return Client(self.harness, uid, gid, groups, self.pid, self.lk_owner, self.client)

    def frame(self) -> T.Caller:
        """A new Caller (the frame of one FOP)."""
        return T.Caller(uid=self.uid, gid=self.gid, pid=self.pid, groups=self.groups, lk_owner=self.lk_owner,
                        client=self.client, unique=next(self.harness._unique))

    def _call(self, fop: str, *args: Any) -> Any:
        return self.harness._top_call(self.frame(), fop, args)

    # ---- path resolution, like the kernel + fuse-bridge

    def _lookup_entry(self, parent: T.Inode, path: str) -> tuple[T.Loc, Any]:
        """Lookup one name; (loc, reply) or raise."""
        table = self.harness.itable
        name = path.rsplit("/", 1)[1]
        known = table.dentry(parent, name)
        loc = T.Loc(path=path, inode=known if known is not None else T.Inode(), parent=parent)
        try:
            reply = self._call("lookup", loc, None)
        except FopError as e:
            if e.errno in (errno.ENOENT, errno.ESTALE) and known is not None:
                table.unlink_dentry(parent, name)
            raise
        inode = table.link(parent, name, reply.inode or loc.inode, reply.buf, what=f"lookup {path}")
        reply.inode = inode
        return loc, reply

    def _walk(self, path: str) -> T.Inode:
        """The inode of an existing directory or file, looking up every component (not the root:
        FUSE knows it from the mount on)."""
        if volume_path(path) == "/":
            return self.harness.itable.root
        return self.lookup(path).inode

    def _parent(self, path: str) -> tuple[str, T.Inode, str]:
        path = volume_path(path)
        if path == "/":
            raise FopError(errno.EBUSY, "the root has no parent")
        parent_path = posixpath.dirname(path)
        parent = self._walk(parent_path)
        if parent.type not in (FileType.DIR, FileType.INVAL):
            raise FopError(errno.ENOTDIR)
        return path, parent, posixpath.basename(path)

    def loc(self, path: str) -> T.Loc:
        """A Loc of an existing entry, resolved with lookups (as a FUSE mount would pass it)."""
        path = volume_path(path)
        inode = self._walk(path)
        if path == "/":
            return T.Loc(path="/", inode=inode)
        parent = self.harness.itable.dentry_parent(inode, path)
        return T.Loc(path=path, inode=inode, parent=parent)

    def _new_loc(self, path: str) -> tuple[T.Loc, T.Inode, str]:
        """A Loc for a name that must not exist yet (the kernel's negative lookup first)."""
        path, parent, name = self._parent(path)
        try:
            self._lookup_entry(parent, path)
        except FopError as e:
            if e.errno != errno.ENOENT:
                raise
        else:
            raise FopError(errno.EEXIST)
        return T.Loc(path=path, inode=T.Inode(), parent=parent), parent, name

    @staticmethod
    def _gfid_req() -> T.Xdata:
        return T.Xdata({"gfid-req": uuid.uuid4()})

    # ---- namespace

    def lookup(self, path: str) -> Any:
        """Lookup every component of `path`; the LookupReply of the last (its inode is the table's)."""
        path = volume_path(path)
        table = self.harness.itable
        if path == "/":
            return self._call("lookup", T.Loc(path="/", inode=table.root), None)
        current = table.root
        walked = ""
        reply = None
        for part in path.strip("/").split("/"):
            walked += "/" + part
            if current.type not in (FileType.DIR, FileType.INVAL):
                raise FopError(errno.ENOTDIR)
            _, reply = self._lookup_entry(current, walked)
            current = reply.inode
        return reply

    def exists(self, path: str) -> bool:
        try:
            self.lookup(path)
            return True
        except FopError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise

    def stat(self, path: str) -> T.Iatt:
        """lookup + stat; the Iatt."""
        return self._call("stat", self.loc(path), None).buf

    def access(self, path: str, mask: int = os.F_OK) -> None:
        self._call("access", self.loc(path), mask, None)

    def statfs(self, path: str = "/") -> T.Statvfs:
        return self._call("statfs", self.loc(path), None).buf

    def mkdir(self, path: str, mode: int = 0o755, umask: int = 0o022) -> T.Inode:
        loc, parent, name = self._new_loc(path)
        reply = self._call("mkdir", loc, mode | _stat.S_IFDIR, umask, self._gfid_req())
        return self.harness.itable.link(parent, name, reply.inode or loc.inode, reply.buf, what=f"mkdir {path}")

    def mknod(self, path: str, mode: int = _stat.S_IFIFO | 0o644, rdev: int = 0, umask: int = 0o022) -> T.Inode:
        loc, parent, name = self._new_loc(path)
        reply = self._call("mknod", loc, mode, rdev, umask, self._gfid_req())
        return self.harness.itable.link(parent, name, reply.inode or loc.inode, reply.buf, what=f"mknod {path}")

    def symlink(self, target: str, path: str, umask: int = 0o022) -> T.Inode:
        """Create `path` pointing to `target` (like os.symlink(target, path))."""
        loc, parent, name = self._new_loc(path)
        reply = self._call("symlink", target, loc, umask, self._gfid_req())
        return self.harness.itable.link(parent, name, reply.inode or loc.inode, reply.buf, what=f"symlink {path}")

    def readlink(self, path: str) -> str:
        reply = self._call("readlink", self.loc(path), 4096, None)
        return reply.path.decode() if isinstance(reply.path, bytes) else reply.path

    def link(self, existing: str, new: str) -> T.Inode:
        """Hard link `new` to `existing`."""
        old = self.loc(existing)
        loc, parent, name = self._new_loc(new)
        loc.inode = old.inode
        loc.gfid = old.inode.gfid
        reply = self._call("link", old, loc, None)
        inode = self.harness.itable.link(parent, name, reply.inode or old.inode, reply.buf, what=f"link {new}")
        return inode

    def unlink(self, path: str) -> None:
        path, parent, name = self._parent(path)
        _, reply = self._lookup_entry(parent, path)
        if reply.inode.type == FileType.DIR:
            raise FopError(errno.EISDIR)
        self._call("unlink", T.Loc(path=path, inode=reply.inode, parent=parent), 0, None)
        self.harness.itable.removed(parent, name, reply.inode)

    def rmdir(self, path: str) -> None:
        path, parent, name = self._parent(path)
        _, reply = self._lookup_entry(parent, path)
        if reply.inode.type != FileType.DIR:
            raise FopError(errno.ENOTDIR)
        self._call("rmdir", T.Loc(path=path, inode=reply.inode, parent=parent), 0, None)
        self.harness.itable.removed(parent, name, reply.inode, directory=True)

    def rename(self, old: str, new: str) -> None:
        old, oldparent, oldname = self._parent(old)
        _, src = self._lookup_entry(oldparent, old)
        new, newparent, newname = self._parent(new)
        target = None
        try:
            _, target = self._lookup_entry(newparent, new)
        except FopError as e:
            if e.errno != errno.ENOENT:
                raise
        oldloc = T.Loc(path=old, inode=src.inode, parent=oldparent)
        newloc = T.Loc(path=new, inode=target.inode if target else None, parent=newparent)
        self._call("rename", oldloc, newloc, None)
        self.harness.itable.renamed(oldparent, oldname, newparent, newname, src.inode,
                                    target.inode if target else None)

    def truncate(self, path: str, size: int) -> None:
        self._call("truncate", self.loc(path), size, None)

    def chmod(self, path: str, mode: int) -> T.Iatt:
        """setattr with SetAttr.MODE; the new Iatt."""
        ia = T.Iatt()
        ia.mode = mode
        return self._call("setattr", self.loc(path), ia, int(SetAttr.MODE), None).statpost

    def chown(self, path: str, uid: int = -1, gid: int = -1) -> T.Iatt:
        ia = T.Iatt(uid=uid, gid=gid)
        valid = (SetAttr.UID if uid != -1 else 0) | (SetAttr.GID if gid != -1 else 0)
        return self._call("setattr", self.loc(path), ia, int(valid), None).statpost

    def utime(self, path: str, atime_ns: int, mtime_ns: int) -> T.Iatt:
        ia = T.Iatt(atime=atime_ns // 10**9, atime_nsec=atime_ns % 10**9, mtime=mtime_ns // 10**9,
                    mtime_nsec=mtime_ns % 10**9)
        return self._call("setattr", self.loc(path), ia, int(SetAttr.ATIME | SetAttr.MTIME), None).statpost

    # ---- data

    def open(self, path: str, flags: int = os.O_RDONLY) -> File:
        """Open an existing file (lookup, open); returns a :class:`File`."""
        loc = self.loc(path)
        if loc.inode.type == FileType.DIR:
            return self.opendir(path)
        fd = T.Fd(loc.inode, flags=flags, pid=self.pid)
        reply = self._call("open", loc, flags & ~(os.O_CREAT | os.O_EXCL), fd, None)
        self.harness._opened(reply.fd or fd)
        return File(self, loc.path, reply.fd or fd)

    def opendir(self, path: str) -> File:
        loc = self.loc(path)
        fd = T.Fd(loc.inode, flags=os.O_RDONLY | os.O_DIRECTORY, pid=self.pid)
        reply = self._call("opendir", loc, fd, None)
        self.harness._opened(reply.fd or fd)
        return File(self, loc.path, reply.fd or fd, directory=True)

    def create(self, path: str, data: bytes | str = b"", mode: int = 0o644, *, exclusive: bool = False,
               umask: int = 0o022) -> T.Inode:
        """Like writing a whole file with open(O_CREAT|O_TRUNC): create (or open an existing file
        with O_TRUNC), write `data`, flush, release. Returns the file's inode."""
        path, parent, name = self._parent(path)
        existing = None
        try:
            _, existing = self._lookup_entry(parent, path)
        except FopError as e:
            if e.errno != errno.ENOENT:
                raise
        if existing is not None:
            if exclusive:
                raise FopError(errno.EEXIST)
            if existing.inode.type == FileType.DIR:
                raise FopError(errno.EISDIR)
            f = self.open(path, os.O_WRONLY | os.O_TRUNC)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_EXCL if exclusive else 0)
            loc = T.Loc(path=path, inode=T.Inode(), parent=parent)
            fd = T.Fd(loc.inode, flags=flags, pid=self.pid)
            reply = self._call("create", loc, flags, mode | _stat.S_IFREG, umask, fd, self._gfid_req())
            inode = self.harness.itable.link(parent, name, reply.inode or loc.inode, reply.buf,
                                             what=f"create {path}")
            fd = reply.fd or fd
            fd.inode = inode
            self.harness._opened(fd)
            f = File(self, path, fd)
        with f:
            data = _to_bytes(data)
            offset = 0
            while offset < len(data):
                n = f.write(data[offset:offset + (1 << 17)], offset)
                if n <= 0:
                    raise FopError(errno.EIO, f"writev of {path} wrote {n} bytes")
                offset += n
        return f.fd.inode

    def write(self, path: str, data: bytes | str, offset: int = 0) -> int:
        """Open an existing file for writing, write `data` at `offset` (in 128 KiB writevs), close."""
        data = _to_bytes(data)
        with self.open(path, os.O_WRONLY) as f:
            done = 0
            while done < len(data) or not data:
                n = f.write(data[done:done + (1 << 17)], offset + done)
                done += n
                if not data or n <= 0:
                    break
            return done

    def read(self, path: str, size: int | None = None, offset: int = 0) -> bytes:
        """Open, read `size` bytes (None: to the end, in 128 KiB readvs) from `offset`, close."""
        out = bytearray()
        with self.open(path, os.O_RDONLY) as f:
            while size is None or len(out) < size:
                want = 1 << 17 if size is None else min(1 << 17, size - len(out))
                chunk = f.read(want, offset + len(out))
                out += chunk
                if len(chunk) < want:
                    break
        return bytes(out)

    # ---- directories

    def readdir(self, path: str = "/", *, plus: bool = True, size: int = 4096) -> list[Dirent]:
        """All entries (with "." and ".."), by opendir + readdirp (or readdir) until empty + releasedir.
        readdirp entries are linked into the inode table, as fuse-bridge does."""
        out: list[Dirent] = []
        with self.opendir(path) as d:
            offset = 0
            while True:
                reply = d._call("readdirp" if plus else "readdir", d.fd, size, offset, None)
                if not reply.entries:
                    break
                for e in reply.entries:
                    if plus and e.name not in (".", "..") and e.stat is not None and e.stat.gfid is not None:
                        e.inode = self.harness.itable.link(d.fd.inode, e.name, e.inode or T.Inode(), e.stat,
                                                           what=f"readdirp {path}")
                    out.append(e)
                offset = reply.entries[-1].off
        return out

    def listdir(self, path: str = "/") -> list[str]:
        """Sorted names in a directory, without "." and ".."."""
        return sorted(e.name for e in self.readdir(path) if e.name not in (".", ".."))

    # ---- xattrs

    def setxattr(self, path: str, name: str, value: bytes | str, flags: int = 0) -> None:
        self._call("setxattr", self.loc(path), T.Xdata({name: _to_bytes(value)}), flags, None)

    def getxattr(self, path: str, name: str) -> bytes:
        """The value (bytes; a str value in the reply comes NUL-terminated, as GlusterFS sends it)."""
        reply = self._call("getxattr", self.loc(path), name, None)
        return _xattr_value(reply.dict, name, path)

    def listxattr(self, path: str) -> list[str]:
        """Names, by getxattr with name None (sorted)."""
        reply = self._call("getxattr", self.loc(path), None, None)
        return sorted(reply.dict or {})

    def removexattr(self, path: str, name: str) -> None:
        self._call("removexattr", self.loc(path), name, None)

    # ---- anything else

    def fop(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Send any FOP to the top of the graph; the reply, or FopError.

        Arguments are the FOP's (docs/fops.md), by position or keyword; a missing
        ``xdata`` is None. A str where a Loc is expected is resolved to the Loc of
        that path; a str where an Fd is expected becomes an anonymous Fd of that file.
        """
        if name not in FOP_BY_NAME:
            raise HarnessError(f"no FOP named {name!r}")
        spec = FOP_BY_NAME[name]
        params = [a for a in spec.py_args]
        values: list[Any] = list(args)
        for a in params[len(values):]:
            if a.name in kwargs:
                values.append(kwargs.pop(a.name))
            elif a.kind in ("xdata", "dict") or KINDS[a.kind].nullable:
                values.append(None)
            else:
                raise TypeError(f"{name}: missing argument {a.name}")
        if kwargs:
            raise TypeError(f"{name}: unexpected arguments {', '.join(kwargs)}")
        for i, a in enumerate(params[:len(values)]):
            if isinstance(values[i], str) and a.kind == "loc":
                values[i] = self.loc(values[i])
            elif isinstance(values[i], str) and a.kind == "fd":
                values[i] = T.Fd.anonymous_for(self.loc(values[i]).inode)
        return self._call(name, *values)


# ============================================================ inode table


class InodeTable:
    """The client's inode table: one Inode object per gfid while referenced, dentries by (parent, name)."""

    def __init__(self, harness: "Harness") -> None:
        self.harness = harness
        self.root = T.Inode(ROOT_GFID, FileType.DIR)
        self.by_gfid: dict[uuid.UUID, T.Inode] = {ROOT_GFID: self.root}
        self.dentries: dict[tuple[int, str], T.Inode] = {}
        self.names: dict[int, set[tuple[int, str]]] = {}
        self.nlink: dict[int, int] = {}
        self.open_fds: Counter[int] = Counter()
        self.parents: dict[int, T.Inode] = {}

    def __len__(self) -> int:
        return len(self.by_gfid)

    def dentry(self, parent: T.Inode, name: str) -> T.Inode | None:
        return self.dentries.get((id(parent), name))

    def dentry_parent(self, inode: T.Inode, path: str) -> T.Inode | None:
        return self.parents.get(id(inode))

    def link(self, parent: T.Inode, name: str, inode: Any, buf: Any, *, what: str) -> T.Inode:
        """inode_link: the table's inode for buf.gfid (the given one, if the gfid is new)."""
        if buf is None or getattr(buf, "gfid", None) is None:
            raise HarnessError(f"{what} succeeded without an Iatt with a gfid; GlusterFS's fuse-bridge "
                               f"could not link the inode (reply buf={buf!r})")
        if not isinstance(inode, T.Inode):
            raise HarnessError(f"{what}: the reply's inode is {inode!r}, not an Inode")
        gfid = buf.gfid
        linked = self.by_gfid.get(gfid)
        if linked is None:
            if inode.gfid is not None and inode.gfid != gfid:
                inode = T.Inode()
            inode.gfid = gfid
            inode.type = buf.type
            self.by_gfid[gfid] = linked = inode
        old = self.dentries.get((id(parent), name))
        if old is not None and old is not linked:
            self._drop_name(parent, name, old)
        self.dentries[(id(parent), name)] = linked
        self.names.setdefault(id(linked), set()).add((id(parent), name))
        self.parents[id(linked)] = parent
        self.nlink[id(linked)] = buf.nlink or 1
        return linked

    def _drop_name(self, parent: T.Inode, name: str, inode: T.Inode) -> None:
        self.dentries.pop((id(parent), name), None)
        names = self.names.get(id(inode))
        if names is not None:
            names.discard((id(parent), name))

    def unlink_dentry(self, parent: T.Inode, name: str) -> None:
        inode = self.dentries.get((id(parent), name))
        if inode is not None:
            self._drop_name(parent, name, inode)

    def removed(self, parent: T.Inode, name: str, inode: T.Inode, directory: bool = False) -> None:
        """After unlink/rmdir: drop the name; forget the inode when its last link is gone and no fd is open."""
        self._drop_name(parent, name, inode)
        self.nlink[id(inode)] = 0 if directory else self.nlink.get(id(inode), 1) - 1
        self._maybe_forget(inode)

    def renamed(self, oldparent: T.Inode, oldname: str, newparent: T.Inode, newname: str, inode: T.Inode,
                victim: T.Inode | None) -> None:
        self._drop_name(oldparent, oldname, inode)
        if victim is not None and victim is not inode:
            self.removed(newparent, newname, victim, directory=victim.type == FileType.DIR)
        self.dentries[(id(newparent), newname)] = inode
        self.names.setdefault(id(inode), set()).add((id(newparent), newname))
        self.parents[id(inode)] = newparent

    def _maybe_forget(self, inode: T.Inode) -> None:
        if self.nlink.get(id(inode), 1) <= 0 and not self.open_fds.get(id(inode)):
            self.forget(inode)

    def forget(self, inode: T.Inode) -> None:
        """Drop an inode from the table and call forget on the translators that set a context on it."""
        if inode is self.root:
            return
        for key in list(self.names.pop(id(inode), ())):
            if self.dentries.get(key) is inode:
                del self.dentries[key]
        # children of a forgotten directory lose their parent dentries too
        for key in [k for k in self.dentries if k[0] == id(inode)]:
            del self.dentries[key]
        if inode.gfid is not None and self.by_gfid.get(inode.gfid) is inode:
            del self.by_gfid[inode.gfid]
        self.nlink.pop(id(inode), None)
        self.parents.pop(id(inode), None)
        self.harness._forget_ctx(inode)

    def forget_all(self) -> int:
        """Forget every inode but the root (as when the kernel drops its caches); how many."""
        inodes = [i for i in self.by_gfid.values() if i is not self.root and not self.open_fds.get(id(i))]
        for inode in inodes:
            self.forget(inode)
        return len(inodes)
