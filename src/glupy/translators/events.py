"""events: the brick side of ``glupy watch``. Observes every change any client makes
and serves it to watchers, off the FOP path.

Attach it on the bricks, directly above storage/posix::

    glupy attach VOL glupy.translators.events

Each FOP that changes something (create, mkdir, mknod, symlink, link, unlink,
rmdir, rename, writev/truncate/ftruncate/fallocate/discard/zerofill and open
with O_TRUNC, setattr/fsetattr, setxattr/fsetxattr,
removexattr/fremovexattr) is passed to the child unchanged; when the child
answers success, the handler appends one tuple of what it was given (the Loc,
the reply's Iatt, the caller) to a bounded queue and returns. That is all the
FOP pays for: no gfid or path conversion, no formatting, no I/O, no lock, no
wait. An open enters Python (the bridge has no flag filter) but only one with
O_TRUNC records anything; on replicated and dispersed volumes the clients send
O_TRUNC as an ftruncate anyway. A close after write needs no handler either: an
fd that writes gets a context object at its first write, and when GlusterFS
releases the fd (its last close) the bridge drops that object, whose end
appends the record.

Everything else happens on two threads of the translator's own, asleep while
nothing happens:

* a publisher thread (``glupy-evpub-NAME``) drains the queue (at most 200 times a
  second, so a change waits at most 5 ms; on a busy brick, over 600 changes a
  second, 20 times a second),
  reads gfids, paths and types from the records, resolves paths a brick only
  knows by gfid (``<gfid:...>/name`` after a brick restart, the file of an fd)
  from the names it saw files created and renamed to, else through the brick's
  ``.glusterfs`` handles and ``trusted.gfid2path`` xattrs, coalesces writes to
  one file over ``coalesce`` seconds into one ``modify``, and appends the events
  to a ring of the last ``buffer`` events, numbered from 1 (``seq``). An event's
  JSON line (see :mod:`glupy.events`) is made the first time a watcher or the
  Redis sink reads it: with nobody watching, none is;
* an asyncio loop (``glupy-events-NAME``) serves the ring over TCP (``listen``, default the first free port from
  24100 to 24199 on all addresses): a watcher sends one JSON line (``{"since":
  SEQ, "epoch": E}``) and gets a hello line, then every event after SEQ (if the
  ring still holds them, else a ``lost`` line with the count), then live
  events. A watcher that does not read gets no further than its socket buffer
  and the ring: when the ring overtakes it, it is told how many it lost. FOPs
  never wait for a watcher.

What is not reported: FOPs of GlusterFS's own daemons (self-heal, rebalance:
negative pids) and DHT's internal FOPs (link files, the
``glusterfs-internal-fop`` mark), changes of GlusterFS's own xattrs
(``trusted.glusterfs.*``, ``trusted.afr.*`` ...). A DHT rename done as link +
unlink is reported as the rename it is (DHT's ``changelog.rename-op`` mark).

If the queue is full (the thread cannot keep up), records are dropped and
counted; the count goes to every watcher (a ``lost`` line) and to the
statedump (``dropped``). Replicas and deduplication: each brick reports what it
sees; :func:`glupy.events.watch` merges the bricks of a volume so that each
operation comes out once.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
import uuid
from typing import Any

import glupy
from glupy._driver import current_frame
from glupy.constants import ROOT_GFID, FileType
from glupy.events import (
    DEFAULT_LISTEN,
    HELLO_VERSION,
    client_of,
    is_internal_xattr,
    stable_digest,
    type_name,
)
from glupy.listen import parse_listen

#: xdata keys GlusterFS's cluster translators put on FOPs that are not the user's
INTERNAL_KEYS = ("glusterfs-internal-fop", "trusted.glusterfs.dht.linkto", "force-replace")
#: DHT's record of a rename it does as link + unlink (dht_changelog_rename_info_t)
RENAME_OP_KEY = "changelog.rename-op"
#: the root's gfid as events carry gfids: text
ROOT_TEXT = str(ROOT_GFID)

#: how many times a second the publisher publishes at most (a change waits at most
#: 1/PUBLISH_RATE for the one before it to go out: what comes meanwhile goes out together)
PUBLISH_RATE = 200
#: above this many records a second (smoothed over RATE_WINDOW seconds) the brick is busy and
#: publishes at most BUSY_PUBLISH_RATE times a second: a publish costs the publisher's
#: wake-up and the event loop's (some 100 us with a watcher), however few records it carries.
#: Measured on a replica-2 volume creating small files (~1,000 records a second a brick):
#: brick CPU over plain was about +450 us a file at 100 batches a second, +290 at 20
#: (with the publishing of then, before issue 15)
BUSY_RATE = 600
BUSY_PUBLISH_RATE = 20
RATE_WINDOW = 0.25

#: one encoder for every event line (json.dumps with separators builds one per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode
#: a str as a JSON string: what _encode does with one (C, ASCII with escapes)
_quote = json.encoder.encode_basestring_ascii
#: a file type as JSON
_TYPE_JSON = {t: _encode(type_name(t)) for t in range(8)}

SET_ATTR_BITS = {"mode": 0x1, "uid": 0x2, "gid": 0x4, "size": 0x8, "atime": 0x10, "mtime": 0x20}

#: entry events whose key is the entry (parent gfid and name)
_KEYED_BY_ENTRY = frozenset({"create", "mkdir", "mknod", "symlink", "unlink", "rmdir"})
_ENTRY_KINDS = frozenset({"create", "mkdir", "mknod", "symlink"})
_REG, _DIR = int(FileType.REG), int(FileType.DIR)
_O_TRUNC, _O_ACCMODE, _O_RDONLY = os.O_TRUNC, os.O_ACCMODE, os.O_RDONLY
#: paths of files remembered by gfid (the last created or renamed), for the events of an fd
NAMES_KEPT = 65536


class _FdState:
    """What the translator keeps per fd that changed its file (made at its first write,
    truncate or open with O_TRUNC): the file (``[Inode, gfid]``, shared with the records,
    the gfid filled in by the publisher once) and who changed it last.

    It is the fd's context, and nothing else refers to it: when GlusterFS releases the fd
    (its last close), the bridge drops the context and this object ends, which reports
    the close after write. No ``release`` hook: the bridge would hand each one to a worker,
    a thread switch per written file, where ending the object costs a deque append on the
    thread that releases the fd (the bridge holds the GIL there to drop the context anyway)."""

    __slots__ = ("file", "who", "push")

    def __init__(self, inode: Any, push: Any) -> None:
        self.file, self.who, self.push = [inode, None], None, push

    def __del__(self) -> None:
        who = self.who
        if who is not None:
            try:
                self.push(("close_write", time.time(), who, self.file, None, None))
            except Exception:  # noqa: BLE001 - a finalizer must not raise (e.g. at interpreter exit)
                pass


_INTERNAL_1, _INTERNAL_2, _INTERNAL_3 = INTERNAL_KEYS


def _internal(xdata: Any) -> bool:
    """A FOP of GlusterFS's own (xdata given: its callers check for None first)."""
    return _INTERNAL_1 in xdata or _INTERNAL_2 in xdata or _INTERNAL_3 in xdata


def _gfid(value: Any) -> str | None:
    return None if value is None else str(value)


def _file_gfid(file: list) -> str | None:
    """The gfid of an fd's file (``[Inode, gfid]``), made once."""
    gfid = file[1]
    if gfid is None and file[0] is not None:
        gfid = file[1] = _gfid(file[0].gfid)
    return gfid


def _loc_gfid(loc: Any) -> str | None:
    g = loc.gfid
    if g is None and loc.inode is not None:
        g = loc.inode.gfid
    return _gfid(g)


def _loc_pargfid(loc: Any) -> str | None:
    g = loc.pargfid
    if g is None and loc.parent is not None:
        g = loc.parent.gfid
    return _gfid(g)


def parse_rename_op(raw: bytes) -> tuple[str, str, str, str] | None:
    """(old parent gfid, old name, new parent gfid, new name) of DHT's changelog.rename-op value."""
    if raw is None or len(raw) < 40:
        return None
    old_p, new_p = uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:32])
    old_len = int.from_bytes(raw[32:36], "little", signed=True)
    new_len = int.from_bytes(raw[36:40], "little", signed=True)
    names = raw[40:]
    if old_len < 0 or new_len < 0 or old_len + new_len > len(names):
        return None
    old = names[:old_len].split(b"\0", 1)[0].decode(errors="surrogateescape")
    new = names[old_len:old_len + new_len].split(b"\0", 1)[0].decode(errors="surrogateescape")
    return str(old_p), old, str(new_p), new


class BrickPaths:
    """Paths from gfids, read from a brick's backend directory (GlusterFS's handles):
    a directory's handle is a symlink ``../../xx/yy/PARENT-GFID/name``; a file's is a
    hard link whose ``trusted.gfid2path.*`` xattrs hold ``PARENT-GFID/name``."""

    def __init__(self, root: str | None) -> None:
        self.root = root

    def _handle(self, gfid: str) -> str:
        return os.path.join(self.root or "", ".glusterfs", gfid[0:2], gfid[2:4], gfid)

    def directory(self, gfid: str, depth: int = 0) -> str | None:
        if gfid == ROOT_TEXT:
            return ""
        if not self.root or depth > 256:
            return None
        try:
            target = os.readlink(self._handle(gfid))
        except OSError:
            return None
        parts = target.split("/")
        if len(parts) < 2:
            return None
        parent = self.directory(parts[-2], depth + 1)
        return None if parent is None else f"{parent}/{parts[-1]}"

    def file(self, gfid: str) -> str | None:
        if not self.root:
            return None
        handle = self._handle(gfid)
        try:
            names = [n for n in os.listxattr(handle, follow_symlinks=False) if n.startswith("trusted.gfid2path.")]
            for n in sorted(names):
                value = os.getxattr(handle, n, follow_symlinks=False).rstrip(b"\0").decode(errors="surrogateescape")
                parent, _, name = value.partition("/")
                base = self.directory(parent)
                if base is not None:
                    return f"{base}/{name}"
        except OSError:
            return None
        return None

    def of(self, gfid: str | None) -> str | None:
        if gfid is None:
            return None
        found = self.directory(gfid)
        if found is None:
            found = self.file(gfid)
        return None if found is None else (found or "/")

    def resolve(self, path: str | None, gfid: str | None = None) -> str | None:
        """An absolute path for a brick's loc path (``/a/b``, ``<gfid:G>/name``, ``<gfid:G>``), else None."""
        if path and path.startswith("/"):
            return path
        if path and path.startswith("<gfid:"):
            end = path.find(">")
            base = self.of(path[6:end]) if end > 0 else None
            if base is None:
                return None
            rest = path[end + 1:]
            return (base.rstrip("/") + rest) if rest else base
        return self.of(gfid)


def _brick_identity() -> tuple[str | None, str | None]:
    """(volume, brick path) of this brick process, from its command line (None elsewhere)."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None, None
    args = [a.decode(errors="replace") for a in argv]
    volume = brick = None
    for i, a in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else None
        if a == "--volfile-id" and value:
            volume = value.split(".", 1)[0]
        elif a.startswith("--volfile-id="):
            volume = a.split("=", 1)[1].split(".", 1)[0]
        elif a == "--brick-name" and value:
            brick = value
        elif a.startswith("--brick-name="):
            brick = a.split("=", 1)[1]
    return volume, brick


def _set_if_pending(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs on `loop` (a connection accepted as the server closed) and let
    it end, before the loop is closed: a coroutine left pending would be finalized later
    by the garbage collector, anywhere, with a loop that is gone."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


class _Ring:
    """The last `size` events, numbered from 1; O(1) access by number. An event is a list
    ``[seq, kind, time, who, path, gfid, type, detail, line]``; its JSON line is made the
    first time a watcher or the sink reads it (:meth:`Events._encoded`), never if nobody does."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: list[list | None] = [None] * size
        self.next = 1  # number of the next event

    @property
    def first(self) -> int:
        return max(1, self.next - self.size)

    def append(self, entry: list) -> int:
        seq = entry[0] = self.next
        self.entries[seq % self.size] = entry
        self.next = seq + 1
        return seq

    def since(self, seq: int, limit: int) -> list[list]:
        """Events seq+1 ... (at most limit); seq must be >= first - 1."""
        end = min(self.next, seq + 1 + limit)
        return [self.entries[s % self.size] for s in range(seq + 1, end)]  # type: ignore[misc]


class Events(glupy.Translator):
    """Reports every change to watchers (``glupy watch``), off the FOP path."""

    listen = glupy.Option(str, default=DEFAULT_LISTEN, reconfigurable=False,
                          doc="HOST:PORT to serve events on; HOST:PORT+ takes the first free port "
                              "from PORT to PORT+99")
    buffer = glupy.Option(int, default=65536, min=16, reconfigurable=False,
                          doc="events kept for watchers that reconnect or fall behind")
    queue_size = glupy.Option(int, default=65536, min=16,
                              doc="FOP records that may wait for the events thread before being dropped")
    coalesce = glupy.Option(float, default=0.2, min=0.0,
                            doc="seconds over which writes to one file become one modify event")
    brick = glupy.Option(str, default="",
                         doc="the brick's directory (default: this brick process's --brick-name)")
    redis = glupy.Option(str, default="", reconfigurable=False,
                         doc="redis://HOST:PORT/DB: also append every event, once per volume, to a Redis stream "
                             "(durable: for consumers that must not miss events while they are away)")
    redis_stream = glupy.Option(str, default="glupy:events:{volume}", reconfigurable=False,
                                doc="the Redis stream's name ({volume}: the volume's name)")
    redis_maxlen = glupy.Option(int, default=1_000_000, min=1000,
                                doc="about how many events the Redis stream keeps (XADD MAXLEN ~)")

    # ---- lifecycle

    def init(self) -> None:
        volume, brick = _brick_identity()
        self.volume = volume or ""
        self.brick_path = self.brick or brick or ""
        self.paths = BrickPaths(self.brick_path or None)
        self.epoch = secrets.token_hex(8)
        self.records: collections.deque[tuple] = collections.deque()
        self._queue_limit = self.queue_size  # read on every FOP: a plain attribute, not the option
        self._idle = False  # the publisher waits for a kick (set and cleared by it)
        self._kick = threading.Event()
        self._quit = False
        self._by_json: dict[tuple, str] = {}  # caller -> its "by" JSON, see _by
        self.dropped = 0  # records the queue had no room for
        self.reported_dropped = 0
        self.ring = _Ring(self.buffer)
        self.pending: dict[str, list[Any]] = {}  # gfid -> [time, who, path, version, writes] being coalesced
        self.names: dict[str, str] = {}  # gfid -> path of files, see _path_of
        self.subscribers = 0
        # what every handler calls, bound once: the bridge's own functions inside GlusterFS
        native = sys.modules.get("glupy._glupy")
        xlator = self._glupy_xlator
        inside = native is not None and isinstance(xlator, getattr(native, "Xlator", ()))
        self._frame = native.current_frame if inside else current_frame
        self._fd_ctx_get, self._fd_ctx_set = xlator.fd_ctx_get, xlator.fd_ctx_set
        self.address: tuple[str, int] | None = None
        self.sunk = 0  # events appended to the Redis stream (by this brick: the first to report each)
        self.sink_state = "off" if not self.redis else "connecting"
        if self.redis:  # fail init with a clear error when the package is missing; imported
            try:  # here, not on the loop's thread (CPython 3.11 and imports from two threads)
                importlib.import_module("redis.asyncio")
                importlib.import_module("redis.exceptions")
            except ImportError:
                raise glupy.OptionError("option redis: the Python package redis is not installed in the bricks' "
                                        "environment (pip install 'glupy[events]')") from None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None  # the Redis sink waits on it
        self._waiting: list[asyncio.Future[bool | None]] = []  # the connections' waits, see _serve
        self._server: asyncio.AbstractServer | None = None
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure),
                                        name=f"glupy-events-{self.name}"[:15], daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        self._publisher = threading.Thread(target=self._publishing, name=f"glupy-evpub-{self.name}"[:15],
                                           daemon=True)
        self._publisher.start()
        self.log.info("events: serving %s brick %s on %s:%d (epoch %s)", self.volume or "?",
                      self.brick_path or "?", *(self.address or ("?", 0)), self.epoch)

    def fini(self) -> None:
        publisher = getattr(self, "_publisher", None)
        if publisher is not None:
            self._quit = True
            self._kick.set()
            publisher.join(10)
            self._publisher = None
        loop, thread = self._loop, getattr(self, "_thread", None)
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._stop_now)
            thread.join(10)
        self._thread = None

    def reconfigure(self, changed):
        self._queue_limit = self.queue_size

    def statedump(self):
        host, port = self.address or ("", 0)
        return {"listen": f"{host}:{port}", "epoch": self.epoch, "published": self.published,
                "queued": len(self.records), "dropped": self.dropped, "watchers": self.subscribers,
                "brick": self.brick_path, "redis": self.sink_state, "redis-sent": self.sunk}

    # ---- the FOP side: observers, and on success one record
    #
    # Every FOP this translator reports is observed (glupy.observer), not handled: it goes
    # to posix and back in C without waiting for Python, and the observer sees it and its
    # reply a few milliseconds later on the bridge's observer thread, in reply order
    # (before observers, a FOP entering Python cost each brick two thread switches: creates
    # ran at 0.90x of plain). An observer does as little as it can: it appends a tuple of
    # what it was given (the Loc, the reply's Iatt: objects of their own, safe to keep) and
    # the caller; gfids, paths and types are read from them on the publisher's thread. No fd
    # context is set for a file that is only created or opened: the fd of a file that is
    # written gets one (_FdState) at its first write, and its end is the close after write
    # (the observation holds the fd until it has run, so the context is set before the end).

    def _push(self, record: tuple) -> None:
        records = self.records
        if len(records) >= self._queue_limit:
            self.dropped += 1
            return
        records.append(record)
        if self._idle:  # the publisher sleeps: wake it (once: it clears the flag itself)
            self._idle = False
            self._kick.set()

    def _stop_now(self) -> None:
        self._stopping.set()

    def _who(self) -> tuple | None:
        """The caller, or None for GlusterFS's own daemons (self-heal, rebalance: negative pids)."""
        c = self._frame()
        pid = c.pid
        if pid < 0:
            return None
        return (c.uid, c.gid, pid, c.client)

    def _entry(self, kind: str, loc: Any, reply: Any, xdata: Any) -> None:
        if not (xdata and _internal(xdata)) and (who := self._who()) is not None:
            self._push((kind, time.time(), who, loc, reply.buf, None))
        elif kind == "mkdir":  # not reported (self-heal, DHT): remembered paths may be stale
            self._push(("forget", 0.0, None, loc, _DIR, None))

    @glupy.observer
    def create(self, loc, flags, mode, umask, fd, xdata, reply):
        if reply.op_ret < 0:
            return
        self._entry("create", loc, reply, xdata)

    @glupy.observer
    def mkdir(self, loc, mode, umask, xdata, reply):
        if reply.op_ret < 0:
            return
        self._entry("mkdir", loc, reply, xdata)

    @glupy.observer
    def mknod(self, loc, mode, rdev, umask, xdata, reply):
        if reply.op_ret < 0:
            return
        self._entry("mknod", loc, reply, xdata)

    @glupy.observer
    def symlink(self, linkname, loc, umask, xdata, reply):
        if reply.op_ret < 0:
            return
        self._entry("symlink", loc, reply, xdata)

    @glupy.observer
    def link(self, oldloc, newloc, xdata, reply):
        if reply.op_ret < 0:
            return
        if not (xdata and _internal(xdata)) and (who := self._who()) is not None:
            self._push(("link", time.time(), who, newloc, reply.buf, oldloc))

    def _removal(self, kind: str, loc: Any, xdata: Any, reply: Any) -> None:
        if reply.op_ret < 0:
            return
        inode = loc.inode
        ftype = int(inode.type) if inode is not None else 0
        if xdata and RENAME_OP_KEY in xdata:  # DHT's rename done as link + unlink
            op = parse_rename_op(xdata.raw(RENAME_OP_KEY))
            if op is not None and (who := self._who()) is not None:
                self._push(("dht-rename", time.time(), who, loc, ftype, op))
            return
        if not (xdata and _internal(xdata)) and (who := self._who()) is not None:
            self._push((kind, time.time(), who, loc, ftype, None))
        else:  # not reported (self-heal, DHT): remembered paths may be stale
            self._push(("forget", 0.0, None, loc, ftype, None))

    @glupy.observer
    def unlink(self, loc, flags, xdata, reply):
        self._removal("unlink", loc, xdata, reply)

    @glupy.observer
    def rmdir(self, loc, flags, xdata, reply):
        self._removal("rmdir", loc, xdata, reply)

    @glupy.observer
    def rename(self, oldloc, newloc, xdata, reply):
        if reply.op_ret < 0:
            return
        if (xdata and _internal(xdata)) or (who := self._who()) is None:
            who = None  # not reported; a directory's new name still makes remembered paths stale
        self._push(("rename", time.time(), who, oldloc, reply.buf, newloc))

    # changes of contents: coalesced into "modify"

    def _fd_modified(self, fd: Any, post: Any, xdata: Any) -> None:
        if xdata and _internal(xdata):
            return
        who = self._who()
        if who is None:
            return
        state = self._fd_ctx_get(fd)
        if state is None:
            state = _FdState(fd.inode, self._push)
            self._fd_ctx_set(fd, state)
        state.who = who  # written: the end of its context is a close after write
        self._push(("modify", time.time(), who, state.file, post, None))

    @glupy.observer
    def open(self, loc, flags, fd, xdata, reply):
        # only an open that truncates is a change (on replicated and dispersed volumes the
        # clients' AFR and EC send O_TRUNC to the bricks as an ftruncate after the open)
        if reply.op_ret < 0:
            return
        if flags & _O_TRUNC and flags & _O_ACCMODE != _O_RDONLY:
            self._fd_modified(fd, None, xdata)

    @glupy.observer
    def writev(self, fd, data, offset, flags, xdata, reply):
        if reply.op_ret < 0:
            return
        self._fd_modified(fd, reply.postbuf, xdata)

    @glupy.observer
    def truncate(self, loc, offset, xdata, reply):
        if reply.op_ret < 0:
            return
        if not (xdata and _internal(xdata)) and (who := self._who()) is not None:
            self._push(("truncate", time.time(), who, loc, reply.postbuf, None))

    @glupy.observer
    def ftruncate(self, fd, offset, xdata, reply):
        if reply.op_ret < 0:
            return
        self._fd_modified(fd, reply.postbuf, xdata)

    @glupy.observer
    def fallocate(self, fd, mode, offset, len, xdata, reply):
        if reply.op_ret < 0:
            return
        self._fd_modified(fd, reply.post, xdata)

    @glupy.observer
    def discard(self, fd, offset, len, xdata, reply):
        if reply.op_ret < 0:
            return
        self._fd_modified(fd, reply.post, xdata)

    @glupy.observer
    def zerofill(self, fd, offset, len, xdata, reply):
        if reply.op_ret < 0:
            return
        self._fd_modified(fd, reply.post, xdata)

    # attributes and xattrs: (kind, when, who, Loc or Inode, Iatt after or None, detail)

    def _attrib(self, kind: str, target: Any, post: Any, detail: Any, xdata: Any) -> None:
        if xdata and _internal(xdata):
            return
        who = self._who()
        if who is not None:
            self._push((kind, time.time(), who, target, post, detail))

    @staticmethod
    def _setattr_detail(stbuf: Any, valid: int) -> tuple:
        detail = [valid]
        if valid & 0x1:
            detail.append(stbuf.mode & 0o7777)
        if valid & 0x6:
            detail += [stbuf.uid, stbuf.gid]
        if valid & 0x30:
            detail += [stbuf.atime, stbuf.atime_nsec, stbuf.mtime, stbuf.mtime_nsec]
        return tuple(detail)

    @glupy.observer
    def setattr(self, loc, stbuf, valid, xdata, reply):
        if reply.op_ret < 0:
            return
        self._attrib("attrib", loc, reply.statpost, self._setattr_detail(stbuf, valid), xdata)

    @glupy.observer
    def fsetattr(self, fd, stbuf, valid, xdata, reply):
        if reply.op_ret < 0:
            return
        self._attrib("attrib", fd.inode, reply.statpost, self._setattr_detail(stbuf, valid), xdata)

    @staticmethod
    def _xattr_detail(d: Any) -> tuple | None:
        if not d:
            return None
        names = sorted(k for k in d if not is_internal_xattr(k))
        if not names:
            return None
        return tuple((k, d.raw(k)) for k in names)

    @glupy.observer
    def setxattr(self, loc, dict, flags, xdata, reply):
        if reply.op_ret < 0:
            return
        if (detail := self._xattr_detail(dict)) is not None:
            self._attrib("setxattr", loc, None, detail, xdata)

    @glupy.observer
    def fsetxattr(self, fd, dict, flags, xdata, reply):
        if reply.op_ret < 0:
            return
        if (detail := self._xattr_detail(dict)) is not None:
            self._attrib("setxattr", fd.inode, None, detail, xdata)

    @glupy.observer
    def removexattr(self, loc, name, xdata, reply):
        if reply.op_ret < 0:
            return
        if not is_internal_xattr(name):
            self._attrib("removexattr", loc, None, ((name, None),), xdata)

    @glupy.observer
    def fremovexattr(self, fd, name, xdata, reply):
        if reply.op_ret < 0:
            return
        if not is_internal_xattr(name):
            self._attrib("removexattr", fd.inode, None, ((name, None),), xdata)

    # ---- the events thread

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        except BaseException as error:  # noqa: BLE001 - reported to init, or logged
            if not ready.is_set():
                failure.append(error)
                ready.set()
            else:
                self.log.error("events: the events thread stopped: %s", error)
        finally:
            _finish_tasks(loop)
            loop.close()

    async def _bind(self) -> asyncio.AbstractServer:
        host, port, scan = parse_listen(self.listen, scan=True)
        last: OSError | None = None
        for candidate in range(port, port + (100 if scan else 1)):
            try:
                return await asyncio.start_server(self._serve, host, candidate, reuse_address=True,
                                                  family=socket.AF_INET6 if ":" in host else socket.AF_INET)
            except OSError as error:
                last = error
        raise OSError(last.errno if last else 0,
                      f"events: no free port to listen on ({self.listen}): {last}")

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._connections: set[asyncio.Task[Any]] = set()
        self._server = await self._bind()
        sock = self._server.sockets[0].getsockname()
        self.address = (sock[0], sock[1])
        ready.set()
        sink = asyncio.ensure_future(self._sink()) if self.redis else None
        try:
            await self._stopping.wait()
        finally:
            if sink is not None:
                sink.cancel()
                await asyncio.gather(sink, return_exceptions=True)
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

    def _publishing(self) -> None:
        """The publisher thread: asleep until a FOP's record kicks it (once, only while it
        sleeps) or the oldest write being coalesced is due, so an idle brick costs nothing.
        It publishes at most PUBLISH_RATE times a second, and BUSY_PUBLISH_RATE times while
        the brick is busy (over BUSY_RATE records a second): a wake-up per FOP would cost more
        than the FOP itself; what comes between two publishes goes out together."""
        rate = 0.0  # records a second, smoothed over RATE_WINDOW: is the brick busy?
        last = time.monotonic()
        while not self._quit:
            waiting = len(self.records)
            try:
                self._publish()
            except Exception:  # noqa: BLE001 - one bad record must not stop the reporting
                self.log.exception("events: cannot publish")
            published = time.monotonic()
            rate = rate * math.exp((last - published) / RATE_WINDOW) + waiting / RATE_WINDOW
            last = published
            self._idle = True
            if not self.records and not self._quit:
                due = min((m[0] for m in self.pending.values()), default=None)
                self._kick.wait(None if due is None else max(0.0, due + self.coalesce - time.time()))
                self._kick.clear()
            self._idle = False
            gap = 1.0 / (BUSY_PUBLISH_RATE if rate > BUSY_RATE else PUBLISH_RATE)
            wait = gap - (time.monotonic() - published)
            if wait > 0 and not self._quit:
                time.sleep(wait)
        self._publish()  # what came before fini

    def _tell_watchers(self) -> None:
        """On the loop: wake the connections (and the sink) waiting for events."""
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.done():
                waiter.set_result(True)
        if self._wake is not None and self.redis:
            self._wake.set()
            self._wake = asyncio.Event()

    # ---- the publisher: records to events in the ring (JSON is made when someone reads)

    @property
    def published(self) -> int:
        """Events put in the ring since the brick started."""
        return self.ring.next - 1

    def _emit(self, kind: str, when: float, who: tuple | None, path: str | None, gfid: str | None, ftype: int,
              detail: Any) -> None:
        self.ring.append([0, kind, when, who, path, gfid, ftype, detail, None])

    def _path_of(self, gfid: str | None) -> str | None:
        """The path of a file the brick knows only by gfid (an fd): the name it was last
        seen created or renamed to, else from the brick's handles (then remembered)."""
        if gfid is None:
            return None
        names = self.names
        path = names.get(gfid)
        if path is None:
            path = self.paths.of(gfid)
            if path is not None:
                self._remember(gfid, path)
        return path

    def _remember(self, gfid: str, path: str) -> None:
        names = self.names
        names[gfid] = path
        if len(names) > NAMES_KEPT:
            del names[next(iter(names))]

    def _target(self, target: Any, post: Any) -> tuple[str | None, str | None, int]:
        """(path, gfid, type) of what an attribute change applied to: a Loc or an fd's Inode."""
        inode = getattr(target, "inode", target)  # a Loc, or an Inode
        if hasattr(target, "path"):
            gfid = _loc_gfid(target) or (_gfid(post.gfid) if post is not None else None)
            path = self.paths.resolve(target.path, gfid)
        else:
            gfid = _gfid(target.gfid)
            path = self._path_of(gfid)
        if post is not None:
            ftype = int(post.type)
        else:
            ftype = int(inode.type) if inode is not None else 0
        return path, gfid, ftype

    def _flush_modify(self, gfid: str) -> None:
        m = self.pending.pop(gfid, None)
        if m is not None:
            when, who, path, version, writes = m
            self._emit("modify", when, who, path, gfid, int(FileType.REG), (version, writes))

    def _publish(self) -> None:
        records = self.records
        pending = self.pending
        now = time.time()
        before = self.ring.next
        while records:
            record = records.popleft()
            kind, when, who, target, iatt, detail = record
            if kind == "modify" or kind == "truncate":
                version = (iatt.ctime * 1_000_000_000 + iatt.ctime_nsec) if iatt is not None else None
                if kind == "modify":  # target: the fd's file, [Inode, gfid]
                    gfid = _file_gfid(target)
                    path = None
                else:  # target: the Loc truncated
                    gfid = _loc_gfid(target)
                    path = self.paths.resolve(target.path, gfid)
                m = pending.get(gfid)
                if m is None:
                    pending[gfid] = [when, who, path or self._path_of(gfid), version, 1]
                else:
                    m[4] += 1
                    if version is not None and (m[3] is None or version > m[3]):
                        m[3] = version
                    m[1] = who
                continue
            self._event(kind, when, who, target, iatt, detail)
        for gfid in [g for g, m in pending.items() if now - m[0] >= self.coalesce]:
            self._flush_modify(gfid)
        if self.dropped != self.reported_dropped:
            n, self.reported_dropped = self.dropped - self.reported_dropped, self.dropped
            self.log.warning("events: queue full: %d change records dropped (%d in all)", n, self.dropped)
            self._emit("overflow", now, None, None, None, 0, n)
        if self.ring.next != before and (self.subscribers or self.redis):
            loop = self._loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._tell_watchers)
                except RuntimeError:  # the loop is closed: fini
                    pass

    def _entry_path(self, path: str | None, pargfid: str | None, name: str | None) -> str | None:
        resolved = self.paths.resolve(path)
        if resolved is None and pargfid is not None and name:
            parent = self.paths.of(pargfid)
            if parent is not None:
                resolved = f"{parent.rstrip('/')}/{name}"
        return resolved

    def _before(self, gfid: str | None) -> None:
        if gfid in self.pending:  # per file, in order: the writes before what comes now
            self._flush_modify(gfid)  # type: ignore[arg-type]

    def _event(self, kind: str, when: float, who: tuple | None, target: Any, iatt: Any, detail: Any) -> None:
        if kind in _ENTRY_KINDS:  # target: the Loc, iatt: the new entry's
            gfid = _gfid(iatt.gfid) or _loc_gfid(target)
            ftype = int(iatt.type)
            pargfid, name = _loc_pargfid(target), target.name
            path = self._entry_path(target.path, pargfid, name)
            self._before(gfid)
            if ftype == _REG and path is not None and gfid is not None:
                self._remember(gfid, path)
            self._emit(kind, when, who, path, gfid, ftype, (pargfid, name))
        elif kind == "forget":  # an entry change not reported: target its Loc, iatt its type
            if iatt == _REG:
                gfid = _loc_gfid(target)
                if gfid is not None:
                    self.names.pop(gfid, None)
            else:
                self.names.clear()
        elif kind == "close_write":  # target: the fd's file, [Inode, gfid]
            gfid = _file_gfid(target)
            self._before(gfid)
            self._emit(kind, when, who, self._path_of(gfid), gfid, _REG, None)
        elif kind in ("unlink", "rmdir"):  # iatt: the file type, read before the removal
            gfid = _loc_gfid(target)
            pargfid, name = _loc_pargfid(target), target.name
            path = self._entry_path(target.path, pargfid, name)
            self._before(gfid)
            if gfid is not None and path is not None and self.names.get(gfid) == path:
                del self.names[gfid]
            self._emit(kind, when, who, path, gfid, iatt, (pargfid, name))
        elif kind == "rename":  # target: the old Loc, iatt: the file's, detail: the new Loc
            new = detail
            linkfile = iatt is not None and iatt.type == FileType.REG and (iatt.mode & 0o7777) == 0o1000
            ftype = int(iatt.type) if iatt is not None else 0
            if who is None or linkfile:  # not reported (GlusterFS's own, DHT's link files)
                if ftype != _REG:
                    self.names.clear()  # a directory moved: paths remembered under it are stale
                return
            gfid = _gfid(iatt.gfid) or _loc_gfid(target)
            pargfid, name = _loc_pargfid(target), target.name
            new_pargfid, new_name = _loc_pargfid(new), new.name
            path = self._entry_path(target.path, pargfid, name)
            newpath = self._entry_path(new.path, new_pargfid, new_name)
            self._before(gfid)
            self._renamed(gfid, ftype, newpath)
            self._emit(kind, when, who, path, gfid, ftype, (pargfid, name, newpath, new_pargfid, new_name))
        elif kind == "dht-rename":  # DHT's rename as link + unlink; iatt: the file type
            gfid = _loc_gfid(target)
            old_p, old_name, new_p, new_name = detail
            path, newpath = self._entry_path(None, old_p, old_name), self._entry_path(None, new_p, new_name)
            self._before(gfid)
            self._renamed(gfid, iatt, newpath)
            self._emit("rename", when, who, path, gfid, iatt, (old_p, old_name, newpath, new_p, new_name))
        elif kind == "link":  # target: the new Loc, iatt: the file's, detail: the old Loc
            gfid = _gfid(iatt.gfid) or _loc_gfid(detail)
            pargfid, name = _loc_pargfid(target), target.name
            path = self._entry_path(target.path, pargfid, name)
            self._before(gfid)
            self._emit(kind, when, who, path, gfid, int(iatt.type), (pargfid, name, self.paths.resolve(detail.path)))
        else:  # attrib, setxattr, removexattr: target a Loc or an Inode, iatt the attributes after or None
            path, gfid, ftype = self._target(target, iatt)
            self._before(gfid)
            self._emit(kind, when, who, path, gfid, ftype, detail)

    def _renamed(self, gfid: str | None, ftype: int, newpath: str | None) -> None:
        if ftype != _REG:
            self.names.clear()  # a directory moved: paths remembered under it are stale
        elif gfid is not None:
            if newpath is None:
                self.names.pop(gfid, None)
            else:
                self._remember(gfid, newpath)

    # ---- events as watchers and the sink see them (on the loop's thread)

    def _key(self, entry: list) -> str:
        """The key naming the operation an event reports (the same on every brick that saw it)."""
        _, kind, when, _, _, gfid, _, detail, _ = entry
        if kind in _KEYED_BY_ENTRY or kind == "link":
            return f"{kind}|{gfid}|{detail[0]}/{detail[1]}"
        if kind == "rename":
            return f"rename|{gfid}|{detail[0]}/{detail[1]}|{detail[3]}/{detail[4]}"
        if kind in ("modify", "close_write"):
            return f"{kind}|{gfid}"
        if kind == "overflow":
            return f"overflow|{self.epoch}|{when}"
        return f"{kind}|{gfid}|{stable_digest(detail)}"  # attrib, setxattr, removexattr

    def _encoded(self, entry: list) -> bytes:
        """The event's JSON line, made the first time someone reads it: the same text as
        json.dumps of the event with separators (",", ":"), written out field by field
        (strings escaped by json's own C function; the caller's part made once per caller)."""
        line = entry[8]
        if line is None:
            seq, kind, when, who, path, gfid, ftype, detail, _ = entry
            if kind == "overflow":
                text = _encode({"event": kind, "path": None, "gfid": None, "type": None, "time": round(when, 6),
                                "lost": detail, "key": self._key(entry), "seq": seq})
            else:
                text = (f'{{"event":"{kind}","path":{"null" if path is None else _quote(path)},'
                        f'"gfid":{"null" if gfid is None else _quote(gfid)},"type":{_TYPE_JSON.get(ftype, "null")},'
                        f'"time":{round(when, 6)!r}')
                if who is not None:
                    text += self._by(who)
                if kind == "rename":
                    newpath = detail[2]
                    text += f',"newpath":{"null" if newpath is None else _quote(newpath)}'
                text += f',"key":{_quote(self._key(entry))}'
                if kind == "link":
                    target = detail[2]
                    text += f',"target":{"null" if target is None else _quote(target)}'
                elif kind == "modify":
                    version, writes = detail
                    text += f',"version":{"null" if version is None else version},"writes":{writes}'
                elif kind == "attrib":
                    valid = detail[0]
                    text += f',"changed":{_encode([n for n, bit in SET_ATTR_BITS.items() if valid & bit])}'
                elif kind in ("setxattr", "removexattr"):
                    text += f',"names":{_encode([n for n, _ in detail])}'
                text += f',"seq":{seq}}}'
            line = entry[8] = text.encode() + b"\n"
        return line

    def _by(self, who: tuple) -> str:
        """``,"by":{...}`` of a caller, made once per caller (a brick has few)."""
        cache = self._by_json
        text = cache.get(who)
        if text is None:
            uid, gid, pid, client = who
            host, client_pid = client_of(client)
            if len(cache) > 4096:
                cache.clear()
            text = cache[who] = ',"by":' + _encode({"host": host, "client_pid": client_pid, "pid": pid, "uid": uid,
                                                    "gid": gid})
        return text

    # ---- serving watchers

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.subscribers += 1
        closed: asyncio.Future[bytes] | None = None
        waiter: asyncio.Future[bool | None] | None = None
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        # what a watcher that does not read can hold up: 64 KiB in the socket, 64 KiB in asyncio
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        writer.transport.set_write_buffer_limits(high=65536)
        try:
            try:
                request = json.loads(await asyncio.wait_for(reader.readline(), 10) or b"{}")
            except (ValueError, asyncio.TimeoutError):
                request = {}
            ring = self.ring
            encoded = self._encoded
            epoch, since = request.get("epoch"), request.get("since")
            lost = None
            if epoch == self.epoch and isinstance(since, int) and 0 <= since < ring.next:
                cursor = since  # a watcher coming back: what it missed, if the ring still has it
            elif epoch is None:
                cursor = ring.next - 1  # a new watcher: from now on
            else:
                cursor = 0  # this brick restarted since the watcher's last visit: all it has is new
            if cursor < ring.first - 1:
                lost, cursor = ring.first - 1 - cursor, ring.first - 1
            hello = {"hello": HELLO_VERSION, "volume": self.volume, "brick": self.brick_path, "epoch": self.epoch,
                     "next": ring.next, "dropped": self.dropped}
            writer.write(json.dumps(hello).encode() + b"\n")
            if request.get("brick") not in (None, self.brick_path) or \
                    (self.volume and request.get("volume") not in (None, self.volume)):
                await writer.drain()
                return  # another brick's watcher, looking for its brick's port
            if lost:
                writer.write(json.dumps({"lost": lost, "reason": "buffer"}).encode() + b"\n")
            loop = asyncio.get_running_loop()
            # the watcher went away (EOF): wakes the wait below, as _tell_watchers does
            closed = asyncio.ensure_future(reader.read(1))
            closed.add_done_callback(lambda _: waiter is not None and not waiter.done() and waiter.set_result(False))
            while not self._stopping.is_set():
                if cursor < ring.first - 1:  # the ring overtook this watcher
                    lost, cursor = ring.first - 1 - cursor, ring.first - 1
                    writer.write(json.dumps({"lost": lost, "reason": "buffer"}).encode() + b"\n")
                entries = ring.since(cursor, 1024)
                if entries:
                    cursor += len(entries)
                    writer.write(b"".join([encoded(e) for e in entries]))
                    await writer.drain()
                    continue
                await writer.drain()
                if closed.done():
                    break
                if ring.next - 1 > cursor:
                    continue  # published while draining
                # one future a wait (no task, no asyncio.wait): _tell_watchers sets it to True, the
                # end of the connection to False, the timer to None (a ping keeps the link alive)
                waiter = loop.create_future()
                self._waiting.append(waiter)
                timer = loop.call_later(5, _set_if_pending, waiter, None)
                woken = await waiter
                timer.cancel()
                if woken is False:
                    break
                if woken is None:
                    writer.write(b'{"ping":1}\n')
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self.subscribers -= 1
            self._connections.discard(task)  # type: ignore[arg-type]
            for future in (closed, waiter):
                if future is not None:
                    future.cancel()
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            writer.close()

    # ---- the durable sink: a Redis stream

    async def _sink(self) -> None:
        """Append the ring's events to the Redis stream, each operation once for the whole
        volume: every brick runs the same Lua script, which appends an event only if its
        once-key (the operation's key and occurrence) was not set by another brick in the
        last ``SINK_DEDUP_SECONDS``. While Redis is away the ring is the buffer; what the
        ring loses meanwhile becomes a ``lost`` entry."""
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        client = aioredis.from_url(self.redis)
        stream = self.redis_stream.replace("{volume}", self.volume or "volume")
        script = client.register_script(_XADD_ONCE)
        occurrences: collections.OrderedDict[str, int] = collections.OrderedDict()
        cursor = 0  # everything this brick has seen since it started
        batch: list[tuple[str | None, bytes]] = []
        delay = 0.5
        try:
            while not self._stopping.is_set():
                ring = self.ring
                wake = self._wake
                if not batch:
                    if cursor < ring.first - 1:
                        lost, cursor = ring.first - 1 - cursor, ring.first - 1
                        note = {"event": "lost", "count": lost, "reason": "redis unreachable", "brick": self.brick_path}
                        batch.append((None, json.dumps(note).encode()))
                    for entry in ring.since(cursor, 256):
                        batch.append((self._once_key(entry, occurrences), self._encoded(entry)))
                    cursor += len([b for b in batch if b[0] is not None])
                if not batch:
                    assert wake is not None
                    try:
                        await asyncio.wait_for(wake.wait(), 5)
                    except asyncio.TimeoutError:
                        pass
                    continue
                try:
                    async with client.pipeline(transaction=False) as pipe:
                        for once, line in batch:
                            entry = line.rstrip(b"\n")
                            if once is None:
                                pipe.xadd(stream, {"event": entry}, maxlen=self.redis_maxlen, approximate=True)
                            else:
                                await script(keys=[f"{stream}:once:{once}", stream],
                                             args=[SINK_DEDUP_SECONDS, self.redis_maxlen, entry], client=pipe)
                        results = await pipe.execute()
                    self.sunk += sum(1 for r in results if r)
                    batch = []
                    delay = 0.5
                    if self.sink_state != "connected":
                        self.sink_state = "connected"
                        self.log.info("events: appending to Redis stream %s at %s", stream, self.redis)
                except (RedisError, OSError) as error:
                    if self.sink_state != "unreachable":
                        self.log.warning("events: Redis at %s unreachable (%s); the ring keeps events for it",
                                         self.redis, error)
                    self.sink_state = "unreachable"
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        finally:
            await client.aclose()

    def _once_key(self, entry: list, occurrences: collections.OrderedDict[str, int]) -> str:
        key = self._key(entry)
        if entry[1] == "modify":
            return stable_digest(f"{key}|{entry[7][0]}")
        n = occurrences.pop(key, 0) + 1
        occurrences[key] = n
        if len(occurrences) > 200_000:
            occurrences.popitem(last=False)
        return stable_digest(f"{key}#{n}")


#: how long a once-key lives in Redis: the bricks of a replica set report one operation
#: within this time of each other (a brick that was down longer reports only what it
#: saw itself after it came back)
SINK_DEDUP_SECONDS = 600

_XADD_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[3])
end
return false
"""
