"""worm: write once, read many. A file that was written becomes immutable for a retention period.

When an fd that wrote to a file (writev, ftruncate, fallocate, discard, zerofill,
copy_file_range into it) is closed (its flush), the file is *committed*: its
retention starts ``grace`` seconds later (default 0: at once) and lasts
``retention`` seconds (default 3600). While a file is retained, every FOP that
would change it fails with **EROFS** ("Read-only file system"), as GlusterFS's
own ``features/worm`` does:

* writev, truncate, ftruncate, fallocate, discard, zerofill, copy_file_range into it;
* open with O_WRONLY, O_RDWR, O_APPEND or O_TRUNC (so that ``echo x >> f`` fails
  at once rather than at close, behind write-behind);
* unlink; rename of the file, and rename of another file over it;
* setattr/fsetattr of anything (mode, owner, size, times);
* setxattr/fsetxattr of any key but the worm key, removexattr/fremovexattr of any key.

Reads (open O_RDONLY, readv, stat, getxattr, readdir ...) keep working, and so
does ``link`` (a new name for the same immutable content). Directories are
never retained. When the retention has expired the file is an ordinary file
again (it can be deleted; writing to it and closing commits it anew).

The retention is kept in the xattr ``trusted.glupy.worm.retention`` of the file
(option ``xattr``), a JSON object ``{"start": T0, "expiry": T1}`` (seconds since
the epoch), set with fsetxattr through the child at commit. Below the
translator, on a brick, that is the file's xattr in posix: it survives brick
restarts. The translator reads it (getxattr) when it first meets a file and
caches it in the inode context; a file found not retained is looked at again
after ``recheck`` seconds (other clients may have committed it meanwhile).

The worm key can be set by a client: to commit a file by hand, or to *extend*
a retention (``setfattr -n trusted.glupy.worm.retention -v '{"start": ..., "expiry": ...}'``);
a value that would end a current retention earlier fails with EROFS.

GlusterFS's own daemons (callers with a negative pid: self-heal, rebalance,
geo-replication) are not restricted, so that replicas can heal and files can
migrate. Intended for the bricks (``glupy attach VOL glupy.translators.worm``;
there every access passes through it); it works on a client too, but then
protects only what that client does.

Limits: a file is committed at flush, so an fd that is never flushed (a crashed
client; anonymous fds on bricks) does not commit it; an empty file that was
created but never written is not committed.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import glupy
from glupy.constants import FileType

ERRNO = errno.EROFS
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC
_NO_XATTR = {errno.ENODATA, getattr(errno, "ENOATTR", errno.ENODATA)}


@dataclass
class Retention:
    """What the translator knows about a file: start/expiry (None: not committed), when it last looked."""

    start: float | None
    expiry: float | None
    checked: float

    def active(self, now: float) -> bool:
        return self.start is not None and self.expiry is not None and self.start <= now < self.expiry

    def encode(self) -> bytes:
        return json.dumps({"start": self.start, "expiry": self.expiry}).encode()


def decode(raw: Any, checked: float) -> Retention:
    """A Retention from the xattr's value; ValueError if it is not one."""
    if isinstance(raw, str):
        raw = raw.encode()
    text = bytes(raw).rstrip(b"\0").decode()
    value = json.loads(text)
    start, expiry = float(value["start"]), float(value["expiry"])
    return Retention(start, expiry, checked)


class _Wrote:
    """The fd context: this fd changed the file's data."""

    __slots__ = ()


WROTE = _Wrote()


class Worm(glupy.Translator):
    """Files become read-only for `retention` seconds once an fd that wrote them is closed."""

    retention = glupy.Option(float, default=3600.0, min=0, doc="seconds a committed file stays immutable")
    grace = glupy.Option(float, default=0.0, min=0,
                         doc="seconds after the close before the retention starts (0: at the close)")
    xattr = glupy.Option(str, default="trusted.glupy.worm.retention", reconfigurable=False,
                         doc="the xattr that stores a file's retention")
    recheck = glupy.Option(float, default=5.0, min=0,
                           doc="seconds a file found not retained is trusted before its xattr is read again")

    #: the clock (seconds since the epoch); tests replace it on the instance
    clock = staticmethod(time.time)

    def init(self) -> None:
        self._lock = threading.Lock()
        self.committed = 0
        self.denied: dict[str, int] = {}

    def statedump(self):
        with self._lock:
            out: dict[str, Any] = {"errno": "EROFS", "committed": self.committed}
            out.update({f"denied.{k}": v for k, v in sorted(self.denied.items())})
        return out

    # ---- state

    async def _state(self, inode: Any, *, loc: Any = None, fd: Any = None) -> Retention | None:
        """The file's retention (cached, or read from the xattr); None when it cannot be known."""
        now = self.clock()
        state = self.inode_ctx(inode)
        if state is not None and (state.active(now) or (state.start is not None and now < state.start)
                                  or now - state.checked < self.recheck):
            return state
        key = self.xattr
        reply: glupy.GetxattrReply | glupy.FgetxattrReply
        try:
            if fd is not None:
                reply = await self.child.fgetxattr(fd, key, None)
            else:
                reply = await self.child.getxattr(loc, key, None)
        except glupy.FopError as error:
            if error.errno in _NO_XATTR:
                state = Retention(None, None, now)
                self.set_inode_ctx(inode, state)
                return state
            return None  # ENOENT, ESTALE ...: the FOP itself will fail or the file is not ours to judge
        raw = reply.dict.raw(key) if reply.dict is not None and key in reply.dict else None
        if raw is None:
            state = Retention(None, None, now)
        else:
            try:
                state = decode(raw, now)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                self.log.warning("worm: %s of %s is not a retention: %r", key, getattr(loc, "path", None) or
                                 getattr(inode, "gfid", None), bytes(raw)[:80])
                state = Retention(None, None, now)
        self.set_inode_ctx(inode, state)
        return state

    def _internal(self) -> bool:
        return self.caller.pid < 0

    async def _retained(self, *, loc: Any = None, fd: Any = None) -> bool:
        inode = fd.inode if fd is not None else (loc.inode if loc is not None else None)
        if inode is None or inode.type == FileType.DIR or self._internal():
            return False
        state = await self._state(inode, loc=loc, fd=fd)
        return state is not None and state.active(self.clock())

    def _deny(self, fop: str, what: Any) -> None:
        with self._lock:
            self.denied[fop] = self.denied.get(fop, 0) + 1
        self.log.debug("worm: %s of %s refused: retained", fop, what)
        raise glupy.FopError(ERRNO)

    async def _check_loc(self, fop: str, loc: Any) -> None:
        if await self._retained(loc=loc):
            self._deny(fop, loc.path)

    async def _check_fd(self, fop: str, fd: Any) -> None:
        if await self._retained(fd=fd):
            self._deny(fop, fd.inode.gfid)

    def _wrote(self, fd: Any) -> None:
        if self.fd_ctx(fd) is None:
            self.set_fd_ctx(fd, WROTE)

    # ---- commit at close

    async def flush(self, fd, xdata):
        reply = await self.child.flush(fd, xdata)
        if self.fd_ctx(fd) is WROTE:
            self.set_fd_ctx(fd, None)
            await self._commit(fd)
        return reply

    async def _commit(self, fd: Any) -> None:
        now = self.clock()
        start = now + self.grace
        state = Retention(start, start + self.retention, now)
        old = self.inode_ctx(fd.inode)
        if old is not None and old.active(now) and old.expiry is not None and old.expiry > state.expiry:
            return  # already retained longer (an internal client wrote, or the key was extended)
        try:
            await self.child.fsetxattr(fd, glupy.Xdata({self.xattr: state.encode()}), 0, None)
        except glupy.FopError as error:
            self.log.error("worm: cannot store the retention of %s: %s (it is enforced here until the "
                           "inode is forgotten)", fd.inode.gfid, os.strerror(error.errno))
        self.set_inode_ctx(fd.inode, state)
        with self._lock:
            self.committed += 1

    # ---- data
    #
    # A FOP that only needs the check goes on by a tail call (the child's wind returned,
    # not awaited): its reply goes back to the caller without coming back to Python.

    async def open(self, loc, flags, fd, xdata):
        if flags & WRITE_FLAGS:
            await self._check_loc("open", loc)
        return self.child.open(loc, flags, fd, xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        await self._check_fd("writev", fd)
        reply = await self.child.writev(fd, data, offset, flags, xdata)
        self._wrote(fd)
        return reply

    async def ftruncate(self, fd, offset, xdata):
        await self._check_fd("ftruncate", fd)
        reply = await self.child.ftruncate(fd, offset, xdata)
        self._wrote(fd)
        return reply

    async def fallocate(self, fd, mode, offset, len, xdata):
        await self._check_fd("fallocate", fd)
        reply = await self.child.fallocate(fd, mode, offset, len, xdata)
        self._wrote(fd)
        return reply

    async def discard(self, fd, offset, len, xdata):
        await self._check_fd("discard", fd)
        reply = await self.child.discard(fd, offset, len, xdata)
        self._wrote(fd)
        return reply

    async def zerofill(self, fd, offset, len, xdata):
        await self._check_fd("zerofill", fd)
        reply = await self.child.zerofill(fd, offset, len, xdata)
        self._wrote(fd)
        return reply

    async def copy_file_range(self, fd_in, off_in, fd_out, off_out, len, flags, xdata):
        await self._check_fd("copy_file_range", fd_out)
        reply = await self.child.copy_file_range(fd_in, off_in, fd_out, off_out, len, flags, xdata)
        self._wrote(fd_out)
        return reply

    async def truncate(self, loc, offset, xdata):
        await self._check_loc("truncate", loc)
        return self.child.truncate(loc, offset, xdata)

    # ---- names

    async def unlink(self, loc, flags, xdata):
        await self._check_loc("unlink", loc)
        return self.child.unlink(loc, flags, xdata)

    async def rename(self, oldloc, newloc, xdata):
        await self._check_loc("rename", oldloc)
        if newloc.inode is not None and newloc.inode.gfid is not None:
            await self._check_loc("rename", newloc)
        return self.child.rename(oldloc, newloc, xdata)

    # ---- attributes

    async def setattr(self, loc, stbuf, valid, xdata):
        if valid:
            await self._check_loc("setattr", loc)
        return self.child.setattr(loc, stbuf, valid, xdata)

    async def fsetattr(self, fd, stbuf, valid, xdata):
        if valid:
            await self._check_fd("fsetattr", fd)
        return self.child.fsetattr(fd, stbuf, valid, xdata)

    # ---- xattrs

    async def _check_set(self, fop: str, inode: Any, d: Any, *, loc: Any = None, fd: Any = None) -> Retention | None:
        """Refuse a set of xattrs on a retained file unless it only extends the retention;
        the new retention if the worm key is being set."""
        keys = list(d or {})
        new = None
        if self.xattr in keys:
            try:
                new = decode(d.raw(self.xattr) if hasattr(d, "raw") else d[self.xattr], self.clock())
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                raise glupy.FopError(errno.EINVAL) from None
        if inode is None or inode.type == FileType.DIR or self._internal():
            return new
        state = await self._state(inode, loc=loc, fd=fd)
        if state is None or not state.active(self.clock()):
            return new
        if any(k != self.xattr for k in keys):
            self._deny(fop, getattr(loc, "path", None) or inode.gfid)
        if new is not None and (state.expiry is None or new.expiry < state.expiry or new.start > self.clock()):
            self._deny(fop, getattr(loc, "path", None) or inode.gfid)  # shortening, or a gap in the retention
        return new

    async def setxattr(self, loc, dict, flags, xdata):
        new = await self._check_set("setxattr", loc.inode, dict, loc=loc)
        reply = await self.child.setxattr(loc, dict, flags, xdata)
        if new is not None and loc.inode is not None:
            self.set_inode_ctx(loc.inode, new)
        return reply

    async def fsetxattr(self, fd, dict, flags, xdata):
        new = await self._check_set("fsetxattr", fd.inode, dict, fd=fd)
        reply = await self.child.fsetxattr(fd, dict, flags, xdata)
        if new is not None:
            self.set_inode_ctx(fd.inode, new)
        return reply

    async def removexattr(self, loc, name, xdata):
        await self._check_loc("removexattr", loc)
        reply = await self.child.removexattr(loc, name, xdata)
        if name == self.xattr and loc.inode is not None:
            self.set_inode_ctx(loc.inode, None)
        return reply

    async def fremovexattr(self, fd, name, xdata):
        await self._check_fd("fremovexattr", fd)
        reply = await self.child.fremovexattr(fd, name, xdata)
        if name == self.xattr:
            self.set_inode_ctx(fd.inode, None)
        return reply
