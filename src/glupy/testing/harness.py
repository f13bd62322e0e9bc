"""An in-process harness: Python translators over a local directory, no GlusterFS daemons.

The harness builds a translator graph the way the native bridge does
(``cls.__new__``, ``_glupy_setup(xlator, options)``, ``__init__()``, ``init()``),
runs every FOP through the real task driver (:mod:`glupy._driver`), and answers
at the bottom with :class:`PosixBackend`, a Python stand-in for ``storage/posix``
(plus the in-memory locks of ``features/locks``) on a local directory.

On top sits a small synchronous client that behaves like a FUSE mount: each call
gets a fresh :class:`~glupy.Caller` (``uid``/``gid`` from :meth:`Harness.as_user`),
resolves its path with one lookup per component (keeping an inode table, so one
file is one :class:`~glupy.Inode` object while it is referenced), opens, reads or
writes, flushes and releases fds, and forgets inodes that are gone::

    from glupy.testing.harness import Harness
    from glupy.translators.passthrough import Passthrough

    with Harness(tmp_path, Passthrough) as h:
        h.create("/hello", b"hi")
        assert h.read("/hello") == b"hi"
        h.reconfigure("passthrough", pass_through="on")

A FOP a translator does not override falls through to its first child, like the
C default. Cluster translators get several children with :meth:`Harness.graph`.

Differences from GlusterFS are listed in :data:`DIFFERENCES`.
"""

from __future__ import annotations

import copy
import errno
import itertools
import logging
import os
import posixpath
import queue
import stat as _stat
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

from glupy import _driver, lifecycle
from glupy._validate import check_against_request
from glupy import _pytypes as T
from glupy.constants import Event, FileType, SetAttr
from glupy.errors import FopError
from glupy.fop_table import FOP_BY_NAME, FOP_ID, KINDS
from glupy.loader import resolve
from glupy.replies import REPLY_BY_ID, LookupReply, copy_reply
from glupy.testing.common import FOP_NAME, ROOT_GFID, HarnessError, error_reply, gfid_to_ino, volume_path
from glupy.testing.kinds import check_arg_types, check_reply_types
from glupy.testing.posix_backend import PosixBackend
from glupy.translator import Translator, parse_bool
from glupy.types import Dirent, LockInfo, entry_key

__all__ = ["Harness", "Client", "File", "Node", "PosixBackend", "XlatorNode", "HarnessError", "ROOT_GFID",
           "DIFFERENCES", "gfid_to_ino"]

log = logging.getLogger("glupy.testing.harness")

#: Where the harness knowingly differs from a GlusterFS volume.
DIFFERENCES = """\
* One thread: a child answers inside the wind (never PENDING). Blocking locks
  (SETLKW, ENTRYLK_LOCK) that conflict fail with EAGAIN instead of waiting.
* No kernel caches: every client call looks each path component up again, so a
  translator sees more lookups (and stat for every stat()) than under FUSE with
  entry/attribute timeouts; reads and writes are never served from a page cache.
* PosixBackend resolves a Loc by gfid (inode FOPs) or parent gfid + name (entry
  FOPs) like the server does, but falls back to Loc.path where GlusterFS would
  fail with ESTALE/EINVAL; gfids live in memory (keyed by st_dev/st_ino), not in
  trusted.gfid xattrs and .glusterfs handles.
* Permission checks (as features/access-control does on bricks) are the basic
  owner/group/other bits for callers other than root; no ACLs, no sticky bit.
* put, icreate, namelink, ipc, getspec, lease, getactivelk and setactivelk answer
  ENOSYS. Inode/entry locks are in memory and per PosixBackend; lk is advisory
  and in memory too.
* Inode objects are the harness's own: GlusterFS's inode table is per process
  (client and each brick), the harness has one, shared by all translators.
"""


# ------------------------------------------------------------------ helpers

_LOOKUP = FOP_ID["lookup"]

# the names of the type checks when they lived in this module (glupy.testing.kinds now)
check_args, check_reply = check_arg_types, check_reply_types


def _fop_timeout(node: "XlatorNode") -> float:
    """The translator's option fop-timeout in seconds (0: none), as the bridge reads it."""
    try:
        value = float(node.options.get("fop-timeout", FOP_TIMEOUT_DEFAULT))
    except ValueError:
        value = FOP_TIMEOUT_DEFAULT
    return value if value > 0 else 0.0


#: the bridge's default fop-timeout (native/glupy.h GP_FOP_TIMEOUT_DEFAULT)
FOP_TIMEOUT_DEFAULT = 60.0


def snapshot_reply(reply: Any) -> Any:
    """A copy of a reply as the bridge's unwind would give it to the caller: its
    attribute structures and data copied, inodes and fds the same objects."""
    new = copy_reply(reply)
    for name in type(reply).fields:
        value = getattr(new, name)
        if isinstance(value, (T.Iatt, T.Statvfs, T.Flock, T.Lease)):
            setattr(new, name, copy.copy(value))
        elif isinstance(value, (bytearray, memoryview)):
            setattr(new, name, bytes(value))
        elif isinstance(value, list):
            setattr(new, name, [copy.copy(e) if isinstance(e, (Dirent, LockInfo)) else e for e in value])
        elif isinstance(value, T.Xdata):
            setattr(new, name, value.copy())
    return new


# ============================================================ the graph


class XlatorNode:
    """The handle a Python translator gets as its xlator (what the bridge's native Xlator provides).

    ``name``, ``type``, ``children``, ``options`` (volfile text), ``inode_ctx_get/set``
    and ``fd_ctx_get/set`` (kept in dicts). ``instance`` is the translator object,
    ``handlers`` its FOP handlers by GF_FOP number, ``seen`` a Counter of the FOPs
    that reached this node (handled or falling through).
    """

    def __init__(self, cls: type[Translator], name: str, options: Mapping[str, str],
                 children: Sequence[Any]) -> None:
        self.cls = cls
        self.name = name
        self.type = "user/glupy"
        self.options = dict(options)
        self.children = list(children)
        self.parents: list[Any] = []
        self.instance: Translator | None = None
        self.handlers: dict[int, Any] = {}
        self.inode_ctx: dict[int, tuple[Any, Any]] = {}
        self.fd_ctx: dict[int, tuple[Any, Any]] = {}
        self.seen: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"<XlatorNode {self.name} ({self.cls.__module__}.{self.cls.__qualname__})>"

    # the native Xlator's context API
    def inode_ctx_get(self, inode: Any) -> Any:
        entry = self.inode_ctx.get(id(inode))
        return entry[1] if entry is not None and entry[0] is inode else None

    def inode_ctx_set(self, inode: Any, value: Any) -> None:
        if not isinstance(inode, T.Inode):
            raise TypeError("inode_ctx_set(inode, value)")
        if value is None:
            self.inode_ctx.pop(id(inode), None)
        else:
            self.inode_ctx[id(inode)] = (inode, value)

    def fd_ctx_get(self, fd: Any) -> Any:
        entry = self.fd_ctx.get(id(fd))
        return entry[1] if entry is not None and entry[0] is fd else None

    def fd_ctx_set(self, fd: Any, value: Any) -> None:
        if not isinstance(fd, T.Fd):
            raise TypeError("fd_ctx_set(fd, value)")
        if value is None:
            self.fd_ctx.pop(id(fd), None)
        else:
            self.fd_ctx[id(fd)] = (fd, value)

    @property
    def pass_through(self) -> bool:
        value = self.options.get("pass-through")
        return bool(value) and parse_bool(str(value))


TranslatorSpec = Union[type, str, tuple]
ChildSpec = Union["Node", PosixBackend, Path, str]


@dataclass
class Node:
    """One translator of a graph spec: ``Node(cls, {"opt": "value"}, children=[...], name=None)``.

    ``cls`` is a Translator subclass or a ``"module:Class"`` string (as in a volfile's
    ``option module``). Children are Nodes, :class:`PosixBackend` objects, or paths
    (each becomes a PosixBackend).
    """

    cls: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    children: Sequence[Any] = ()
    name: str | None = None


def _spec_to_node(spec: Any, children: Sequence[Any]) -> Node:
    if isinstance(spec, Node):
        return spec if not children else Node(spec.cls, spec.options, list(children), spec.name)
    if isinstance(spec, tuple):
        if not 1 <= len(spec) <= 3:
            raise HarnessError(f"a translator is cls, (cls, options) or (cls, options, name), not {spec!r}")
        cls = spec[0]
        options = spec[1] if len(spec) > 1 else {}
        name = spec[2] if len(spec) > 2 else None
        return Node(cls, options or {}, list(children), name)
    return Node(spec, {}, list(children))


def _option_text(value: Any) -> str:
    """A volfile value: GlusterFS hands translators text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


# ============================================================ the client


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


#: before_lookup's answer for a lookup the bridge winds to the first child in C
PASS_IN_C = "pass in C"


def before_lookup(instance: Any, loc: Any, xdata: Any) -> Any:
    """What the bridge does with a lookup before `instance`'s handler sees it (the
    specification of bridge.c's gp_lookup_before_python): a LookupReply when it
    answers ENOENT from ``missing_names``; PASS_IN_C when the translator declared
    it does not want the lookup (``named_lookups_only``, ``fresh_lookups_only``);
    None when the handler runs."""
    missing = getattr(instance, "missing_names", None)
    named_only = getattr(instance, "named_lookups_only", False)
    fresh_only = getattr(instance, "fresh_lookups_only", False)
    if missing is None and not named_only and not fresh_only:
        return None
    key = entry_key(loc)
    known = loc is not None and loc.inode is not None and loc.inode.gfid is not None
    if missing is not None and key is not None:
        if known:
            missing.discard(*key)
        else:
            answered, postparent = missing.answer(*key, list(xdata.keys()) if xdata else ())
            if answered:
                return LookupReply(postparent=postparent, op_ret=-1, op_errno=errno.ENOENT)
    if (key is None and (named_only or fresh_only)) or (known and fresh_only):
        return PASS_IN_C
    return None


class Client:
    """A synchronous FUSE-like client of a :class:`Harness` with fixed credentials.

    Paths are absolute within the volume (``"/dir/file"``). Failures raise
    :class:`glupy.FopError` with the errno a mount would give.
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
        """A client of the same harness making its FOPs as uid/gid."""
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


# ============================================================ the harness


_Logged = tuple[str, str, BaseException]


class _Answer:
    """The driver-facing receiver of one handler's answer (a Backend's unwind half)."""

    __slots__ = ("harness", "args", "callback", "reply", "done", "expired")

    def __init__(self, harness: "Harness", args: tuple) -> None:
        self.harness = harness
        self.args = args
        self.callback: Callable[[Any], None] | None = None
        self.reply: Any = None
        self.done = False
        self.expired = False

    def expire(self, fop: int) -> None:
        """The FOP's deadline (option fop-timeout) passed: answer ETIMEDOUT; the
        handler's late answer is then dropped, as the bridge drops it."""
        self.unwind(None, fop, -1, errno.ETIMEDOUT, None)
        self.expired = True

    def unwind(self, frame: Any, fop: int, op_ret: int, op_errno: int, reply: Any) -> None:
        if self.expired:
            return
        if self.done:
            raise HarnessError(f"{FOP_NAME[fop]} answered twice")
        if reply is None:
            reply = REPLY_BY_ID[fop](op_ret=op_ret, op_errno=op_errno)
        else:
            check_reply_types(fop, reply)
            # what the caller receives is what the reply was now: the bridge converts it
            # to C here, so a handler changing it later changes nothing for the caller
            reply = snapshot_reply(reply)
            reply.op_ret, reply.op_errno = op_ret, op_errno
            check_against_request(fop, self.args, reply)
        self.done = True
        self.reply = reply
        if self.callback is not None:
            self.callback(reply)

    def log_exception(self, domain: str, context: str, exc: BaseException) -> None:
        self.harness.log_exception(domain, context, exc)

    @property
    def log_limiter(self) -> _driver.LogLimiter:
        return self.harness.log_limiter


class Harness(Client):
    """A graph of Python translators over :class:`PosixBackend`, driven in-process.

    ``Harness(root, A, (B, {"opt": "1"}), C)`` stacks A over B over C over
    ``PosixBackend(root)`` (translators top-down; each a class, a ``"module:Class"``
    string, ``(cls, options)`` or ``(cls, options, name)``). ``root`` may also be a
    PosixBackend. For several children use :meth:`graph`.

    The harness is also its own root client (see :class:`Client`): ``h.create``,
    ``h.read``, ``h.stat``... as uid 0; :meth:`as_user` gives other credentials.

    Attributes: ``nodes`` (name -> :class:`XlatorNode` or PosixBackend), ``top``,
    ``itable`` (the client's inode table), ``logged`` (tracebacks the bridge would
    have written to the GlusterFS log: (domain, context, exception)).
    """

    def __init__(self, root: Path | str | PosixBackend, *translators: TranslatorSpec,
                 name_prefix: str = "", start: bool = True) -> None:
        backend = root if isinstance(root, PosixBackend) else PosixBackend(root)
        node: Any = backend
        for spec in reversed(translators):
            node = _spec_to_node(spec, [node])
        self._build(node, name_prefix, start)

    @classmethod
    def graph(cls, top: TranslatorSpec | Node, children: Sequence[ChildSpec] = (), *,
              start: bool = True) -> "Harness":
        """A harness over any graph: ``Harness.graph(top=(Mirror, opts), children=[PosixBackend(d1), d2])``.

        Children may be Nodes (to nest further), PosixBackend objects or paths.
        """
        self = cls.__new__(cls)
        self._build(_spec_to_node(top, list(children)), "", start)
        return self

    # ---- building

    def _build(self, spec: Any, prefix: str, start: bool) -> None:
        Client.__init__(self, self)
        self._unique = itertools.count(1)
        self.nodes: dict[str, Any] = {}
        self.logged: list[_Logged] = []
        self.log_limiter = _driver.LogLimiter()  # the rate of logged tracebacks, as in the bridge
        self._posted: queue.SimpleQueue = queue.SimpleQueue()  # handlers to resume (Backend.post)
        self.fop_timeout = 30.0  # seconds the harness waits for any FOP (past its translators' fop-timeout)
        self._deadlines: list[tuple[float, float, _Answer, int, str]] = []  # FOPs pending in a handler
        self.itable = InodeTable(self)
        self._open: dict[int, T.Fd] = {}
        self.closed = False
        self.started = False
        self._backend_seen: dict[str, Counter[str]] = {}
        self.top = self._make(spec, prefix)
        self.backends = [n for n in self.nodes.values() if isinstance(n, PosixBackend)]
        self._init(self.top, set())
        if start:
            self.start()

    def _unique_name(self, base: str) -> str:
        name, n = base, 1
        while name in self.nodes:
            n += 1
            name = f"{base}-{n}"
        return name

    def _make(self, spec: Any, prefix: str) -> Any:
        if isinstance(spec, (str, Path)) and not (isinstance(spec, str) and ":" in spec):
            spec = PosixBackend(spec)
        if isinstance(spec, PosixBackend):
            if spec.name in self.nodes and self.nodes[spec.name] is not spec:
                spec.name = self._unique_name(spec.name)
            self.nodes[spec.name] = spec
            return spec
        if not isinstance(spec, Node):
            spec = _spec_to_node(spec, [])
        cls = spec.cls
        if isinstance(cls, str):
            cls = resolve(cls)
        if not (isinstance(cls, type) and issubclass(cls, Translator)):
            raise HarnessError(f"{cls!r} is not a glupy.Translator subclass")
        if not spec.children:
            raise HarnessError(f"{cls.__qualname__} has no children: give it a PosixBackend or a directory")
        children = [self._make(c, prefix) for c in spec.children]
        name = spec.name or self._unique_name(prefix + cls.__name__.lower())
        if name in self.nodes:
            raise HarnessError(f"two translators are named {name}")
        node = XlatorNode(cls, name, {k: _option_text(v) for k, v in dict(spec.options).items()}, children)
        for c in children:
            c.parents.append(node)
        self.nodes[name] = node
        return node

    def _init(self, node: Any, done: set[int]) -> None:
        """Children first, as GlusterFS's xlator_init_rec does; then what the bridge's create() does."""
        if id(node) in done or isinstance(node, PosixBackend):
            return
        done.add(id(node))
        for c in node.children:
            self._init(c, done)
        started = lifecycle.start(node, node.cls, node.options)
        node.instance = started.instance
        node.handlers = started.handlers

    def start(self) -> None:
        """PARENT_UP top-down, then CHILD_UP from every PosixBackend upwards; then the root lookup."""
        if self.started:
            return
        self.started = True
        self._parent_event(Event.PARENT_UP)
        for b in self.backends:
            self.notify(Event.CHILD_UP, b)
        self.lookup("/")

    # ---- access

    def __getitem__(self, name: str) -> Any:
        """The translator instance named `name` (or the PosixBackend)."""
        node = self.nodes[name]
        return node.instance if isinstance(node, XlatorNode) else node

    def translator(self, name: str | None = None) -> Any:
        """The top translator instance, or the one named `name`."""
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name or 'the top'} is not a Python translator")
        return node.instance

    def seen(self, name: str | None = None) -> Counter[str]:
        """FOPs that reached the node `name` (default: the top), handled or falling through."""
        node = self.top if name is None else self.nodes[name]
        return node.seen if isinstance(node, XlatorNode) else self._backend_seen.setdefault(node.name, Counter())

    def as_user(self, uid: int, gid: int, groups: Sequence[int] = ()) -> Client:
        """A client of this harness making its FOPs as uid/gid (and groups)."""
        return Client(self, uid, gid, groups, self.pid, self.lk_owner, self.client)

    # ---- the driver's backend

    def wind(self, frame: Any, child: Any, fop: int, args: tuple, callback: Callable[[Any], None],
             lk_owner: bytes | None = None) -> Any:
        """Backend.wind: deliver FOP `fop` to `child` (an XlatorNode or a PosixBackend); with
        `lk_owner`, on a copy of the frame carrying that lock owner (copy_frame in GlusterFS)."""
        if self.closed:
            raise HarnessError("the harness is closed")
        if lk_owner is not None:
            if not isinstance(lk_owner, bytes) or not 1 <= len(lk_owner) <= 1024:
                raise ValueError("lk_owner must be 1 to 1024 bytes")
            frame = copy.copy(frame)
            frame.lk_owner = lk_owner
        check_arg_types(fop, args)
        name = FOP_NAME[fop]
        node = child
        while isinstance(node, XlatorNode):
            node.seen[name] += 1
            handler = node.handlers.get(fop)
            if handler is not None and not node.pass_through:
                early = before_lookup(node.instance, *args) if fop == _LOOKUP else None
                if early is None:
                    return self._run(frame, node, fop, handler, args, callback)
                if early is not PASS_IN_C:
                    return early
            if not node.children:
                return error_reply(fop, errno.ENOSYS)
            node = node.children[0]  # the C default: wind to FIRST_CHILD
        if not isinstance(node, PosixBackend):
            raise HarnessError(f"cannot wind {name} to {node!r}")
        self._backend_seen.setdefault(node.name, Counter())[name] += 1
        return node.dispatch(frame, fop, args)

    def _run(self, frame: Any, node: XlatorNode, fop: int, handler: Any, args: tuple,
             callback: Callable[[Any], None]) -> Any:
        ans = _Answer(self, args)
        domain = node.name
        try:
            coro = handler(*args)
        except BaseException as error:  # noqa: BLE001
            _driver.answer(ans, frame, fop, None, error, domain)
        else:
            if not hasattr(coro, "send"):
                _driver.answer(ans, frame, fop, coro, None, domain)
            else:
                _driver.Task(self, frame, fop, coro, domain,
                             done=lambda result, error: _driver.answer(ans, frame, fop, result, error, domain)
                             ).step(None, None)
        if ans.done:
            return ans.reply
        ans.callback = callback
        timeout = _fop_timeout(node)
        if timeout > 0:
            self._deadlines.append((time.monotonic() + timeout, timeout, ans, fop, node.name))
        return _driver.PENDING

    def _expire(self) -> None:
        """Answer ETIMEDOUT the pending FOPs whose translator's fop-timeout has passed."""
        now = time.monotonic()
        due, pending = [], []
        for d in self._deadlines:
            (due if d[0] <= now or d[2].done else pending).append(d)
        self._deadlines = pending
        for _, timeout, ans, fop, name in due:
            if not ans.done:
                self.log_exception(name, f"{FOP_NAME[fop]}: the handler did not answer within {timeout:g} s "
                                   f"(option fop-timeout): answered ETIMEDOUT",
                                   TimeoutError(f"{FOP_NAME[fop]} missed its deadline"))
                ans.expire(fop)

    def unwind(self, frame: Any, fop: int, op_ret: int, op_errno: int, reply: Any) -> None:
        """Backend.unwind: unused (every task the harness starts has its own receiver)."""
        raise HarnessError("unwind without a receiver")

    def log_exception(self, domain: str, context: str, exc: BaseException) -> None:
        """Backend.log_exception: keep it in ``logged`` and log it (logger ``glupy.<domain>``)."""
        self.logged.append((domain, context, exc))
        name = domain if domain.startswith("glupy") else f"glupy.{domain}"
        logging.getLogger(name).error("%s", context, exc_info=(type(exc), exc, exc.__traceback__))

    def post(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Backend.post: handlers resume on the thread that called the harness (from
        glupy.sleep, to_thread, on_loop), as they resume on the bridge's workers."""
        self._posted.put((fn, arg))

    def _top_call(self, frame: Any, fop: str, args: tuple) -> Any:
        fop_id = FOP_ID[fop]
        result: list[Any] = []
        reply = self.wind(frame, self.top, fop_id, tuple(args), result.append)
        if reply is _driver.PENDING:
            deadline = time.monotonic() + self.fop_timeout
            while not result:
                self._expire()
                if result:
                    break
                now = time.monotonic()
                if now >= deadline:
                    raise HarnessError(f"{fop} was not answered within {self.fop_timeout} s (a handler waits "
                                       f"for something that never comes)")
                wake = min([deadline] + [d[0] for d in self._deadlines])
                try:
                    fn, arg = self._posted.get(timeout=max(0.0, wake - now))
                except queue.Empty:
                    continue
                fn(arg)
            reply = result[0]
        if isinstance(reply, BaseException):
            raise reply
        if reply.op_ret < 0:
            raise FopError(reply.op_errno, reply=reply)
        return reply

    # ---- fds and inodes

    def _opened(self, fd: T.Fd) -> None:
        self._open[id(fd)] = fd
        self.itable.open_fds[id(fd.inode)] += 1

    def _release(self, fd: T.Fd, directory: bool) -> None:
        """fd_destroy: release/releasedir on every translator with an fd ctx, then the backends close."""
        hook_name = "releasedir" if directory else "release"
        for node in self.nodes.values():
            if isinstance(node, XlatorNode):
                entry = node.fd_ctx.pop(id(fd), None)
                if entry is not None and entry[0] is fd:
                    hook = getattr(node.instance, hook_name, None)
                    if hook is not None:
                        self._call_hook(node, hook_name, hook, entry[1])
            else:
                node.release(fd)
        if self._open.pop(id(fd), None) is not None:
            inode = fd.inode
            self.itable.open_fds[id(inode)] -= 1
            if self.itable.open_fds[id(inode)] <= 0:
                del self.itable.open_fds[id(inode)]
                self.itable._maybe_forget(inode)

    def _forget_ctx(self, inode: T.Inode) -> None:
        for node in self.nodes.values():
            if isinstance(node, XlatorNode):
                entry = node.inode_ctx.pop(id(inode), None)
                if entry is not None and entry[0] is inode:
                    hook = getattr(node.instance, "forget", None)
                    if hook is not None:
                        self._call_hook(node, "forget", hook, entry[1])

    def _call_hook(self, node: XlatorNode, what: str, hook: Callable[..., Any], *args: Any) -> Any:
        try:
            return hook(*args)
        except Exception as exc:  # noqa: BLE001 - the bridge logs hook failures and goes on
            self.log_exception(node.name, f"{what} failed", exc)
            return None

    def forget(self, path: str) -> None:
        """Forget the inode of `path` (as when the kernel drops it from its cache)."""
        self.itable.forget(self.lookup(path).inode)

    def forget_all(self) -> int:
        """Forget every inode but the root and those with open fds; how many were forgotten."""
        return self.itable.forget_all()

    # ---- events and options

    def _deliver(self, node: XlatorNode, event: Event, source: Any) -> Event | None:
        """Call the node's notify; the event that goes on (None: stopped), as in the bridge:
        False stops it, another Event replaces it, anything else passes it on."""
        method = getattr(node.instance, "notify", None)
        if method is None:
            return event
        by_xlator = {c.xlator: c for c in node.instance.children}
        result = self._call_hook(node, "notify", method, event, by_xlator.get(source, source))
        if result is False:
            return None
        if isinstance(result, int) and not isinstance(result, bool):
            try:
                return Event(result)
            except ValueError:
                return event
        return event

    def _parent_event(self, event: Event) -> None:
        seen: set[int] = set()

        def down(node: Any, source: Any) -> None:
            if not isinstance(node, XlatorNode):
                return
            first = id(node) not in seen
            seen.add(id(node))
            if self._deliver(node, event, source) is not None and first:
                for c in node.children:
                    down(c, node)

        down(self.top, None)

    def notify(self, event: Event | int | str, source: Any = None) -> None:
        """Inject an event. CHILD_UP, CHILD_DOWN, ... travel up from `source` (a PosixBackend, its
        name, or a translator name; default: the first PosixBackend) through every parent that
        does not stop them (notify returning False; one returning another Event passes that on).
        PARENT_UP/PARENT_DOWN travel down from the top."""
        if isinstance(event, str):
            event = Event[event.upper()]
        event = Event(event)
        if event in (Event.PARENT_UP, Event.PARENT_DOWN):
            self._parent_event(event)
            return
        if source is None:
            source = self.backends[0]
        elif isinstance(source, str):
            source = self.nodes[source]

        def up(node: Any, event: Event) -> None:
            for parent in node.parents:
                passed = self._deliver(parent, event, node)
                if passed is not None:
                    up(parent, passed)

        up(source, event)

    def reconfigure(self, name: str | None = None, options: Mapping[str, Any] | None = None, **kw: Any) -> dict:
        """Change options of translator `name` (default: the top) like `gluster volume set`.

        Keywords use underscores for dashes (``pass_through="on"``). The new set is the
        current options updated with these; it is parsed with the class's Options and
        the translator's reconfigure hook runs, as in GlusterFS. A bad value raises
        OptionError and keeps the old values. Returns {key: (old, new)}.
        """
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name} is not a Python translator")
        new_options = dict(node.options)
        for k, v in {**dict(options or {}), **kw}.items():
            new_options[k.replace("_", "-") if k not in (options or {}) else k] = _option_text(v)
        changed = lifecycle.reconfigure(node.instance, new_options)
        node.options = new_options
        return changed

    def reload(self, name: str | None = None, cls: type[Translator] | None = None,
               options: Mapping[str, Any] | None = None) -> Translator:
        """Switch translator `name` (default: the top) to new code, as `glupy reload` does
        in a volume: `cls`, or by default its class's module imported again from its
        source. The new instance starts with the node's options (updated with
        `options`), then ``migrate(old)`` runs if the class has one; contexts stay.
        A class that fails to import, start or migrate raises and the old instance
        keeps serving. Returns the new instance."""
        node = self.top if name is None else self.nodes[name]
        if not isinstance(node, XlatorNode):
            raise HarnessError(f"{name} is not a Python translator")
        old = node.instance
        new_options = {**node.options, **{k: _option_text(v) for k, v in dict(options or {}).items()}}
        if cls is None:
            started = lifecycle.reload(node, type(old).__module__, type(old).__qualname__, old, new_options)
        else:
            started = lifecycle.replace(node, cls, old, new_options)
        node.cls, node.options = type(started.instance), new_options
        node.instance, node.handlers = started.instance, started.handlers
        return started.instance

    def statedump(self, name: str | None = None) -> list[tuple[str, str]]:
        """The entries `gluster volume statedump` shows for translator `name` (default: the top)."""
        node = self.top if name is None else self.nodes[name]
        return lifecycle.statedump(node.instance, node.handlers)

    # ---- teardown

    def close(self) -> None:
        """Release open fds, forget every inode, fini every translator (top-down), close the backends."""
        if self.closed:
            return
        for fd in list(self._open.values()):
            self._release(fd, fd.inode.type == FileType.DIR)
        self.itable.forget_all()
        order: list[XlatorNode] = []

        def walk(node: Any) -> None:
            if isinstance(node, XlatorNode) and node not in order:
                order.append(node)
                for c in node.children:
                    walk(c)

        walk(self.top)
        for node in order:
            if node.instance is not None:
                self._call_hook(node, "fini", node.instance.fini)
        for b in self.backends:
            b.close()
        self.closed = True

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Harness top={getattr(self.top, 'name', self.top)} nodes={list(self.nodes)}>"
