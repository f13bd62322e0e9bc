"""negative: a negative-lookup cache.

Lookups that fail with ENOENT are remembered per parent directory (key: the
parent's gfid and the name) and later lookups of the same name are answered
ENOENT at once, without winding: a failure with ``FopError(ENOENT)`` carrying a
``LookupReply`` whose ``postparent`` is the one the original failed lookup
returned, as GlusterFS gives it. Workloads that probe many names that do not
exist (search paths: ``$PATH``, ``sys.path``, include paths, ``.so`` lookups,
"does this lock/config file exist?") stop paying a network round trip per probe.

Place it on the client side, right under the top (io-stats)::

    glupy attach VOL glupy.translators.negative --side client --name negative -o ttl=5

Staleness and what bounds it
----------------------------
This client's own namespace changes are seen at once: create, mkdir, mknod,
symlink, link, rename (the new name, the old name and the old parent's entries),
put and namelink drop the entry of the name they create; setxattr/fsetxattr on a
directory (e.g. dht's layout) and rmdir drop all of that directory's entries.
A lookup that is in flight while such a change happens is not cached.

A name created by **another client** is not seen by this cache until one of:

* the entry's ``ttl`` expires (option ``ttl``, seconds, default 5): a file
  created elsewhere becomes visible here **within ttl seconds**;
* a lookup of the parent directory returns a different mtime/ctime than the
  previous lookup of it while it had entries: all of the directory's entries are
  dropped. With FUSE and a zero entry/attribute timeout this happens as soon as
  the kernel revalidates the directory (for the root, FUSE turns the kernel's
  getattr into a lookup), so another client's create is usually seen at once;
  the ttl is the bound when no such lookup comes (or when the first one seen
  after the entry was stored already has the new times);
* a child goes up or down (the whole cache is dropped).

``ttl 0`` switches caching off. Only named lookups are cached (a Loc with a
parent gfid and a name); lookups whose xdata asks for more than ``gfid-req``
are neither answered from nor stored in the cache.

Memory is bounded by ``max-entries`` (default 100000) with least-recently-used
eviction. ``gluster volume statedump`` shows entries, hits, misses, evictions,
expired entries and invalidations.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import OrderedDict
from typing import Any, Hashable

import glupy
from glupy.constants import Event, FileType

#: xdata keys a lookup may carry and still be answered from (or stored in) the cache
CACHEABLE_XDATA_KEYS = frozenset({"gfid-req"})

#: beyond this many directories touched by invalidations during in-flight lookups,
#: forget them and refuse to cache lookups that started before (bounded memory)
_TOUCHED_LIMIT = 4096

_DIR_EVENTS = {Event.CHILD_UP, Event.CHILD_DOWN, Event.SOME_DESCENDENT_DOWN, Event.SOME_DESCENDENT_UP}


class _Dir:
    """The cached names of one directory, and its last seen mtime/ctime."""

    __slots__ = ("names", "stamp")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.stamp: tuple[int, int, int, int] | None = None


def _stamp(ia: Any) -> tuple[int, int, int, int] | None:
    if ia is None:
        return None
    return (ia.mtime, ia.mtime_nsec, ia.ctime, ia.ctime_nsec)


def _loc_key(loc: Any) -> tuple[Any, str] | None:
    """(parent gfid, name) of a named Loc, or None (nameless, root, unknown parent)."""
    if loc is None:
        return None
    name = loc.name
    if not name:
        return None
    pargfid = loc.pargfid
    if pargfid is None:
        parent = loc.parent
        pargfid = parent.gfid if parent is not None else None
    if pargfid is None:
        return None
    return (pargfid, name)


def _loc_gfid(loc: Any) -> Any:
    if loc is None:
        return None
    gfid = loc.gfid
    if gfid is None and loc.inode is not None:
        gfid = loc.inode.gfid
    return gfid


def _loc_pargfid(loc: Any) -> Any:
    key = _loc_key(loc)
    return key[0] if key else None


class NegativeLookupCache(glupy.Translator):
    """Answers repeated lookups of missing names with ENOENT from a cache (see the module doc)."""

    ttl = glupy.Option(float, default=5.0, min=0,
                       doc="seconds a failed lookup is remembered (0: no caching); bounds how long a name "
                           "created by another client can stay invisible")
    max_entries = glupy.Option(int, default=100000, min=1,
                               doc="most names remembered; the least recently used are evicted")

    #: the clock (seconds, monotonic); tests replace it on the instance
    clock = staticmethod(time.monotonic)

    def init(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, str], tuple[float, Any]] = OrderedDict()
        self._dirs: dict[Any, _Dir] = {}
        # invalidation epochs: a lookup may store its ENOENT only if nothing touched
        # its directory since it was wound
        self._epoch = 0
        self._floor = 0
        self._touched: dict[Any, int] = {}
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expired = 0
        self.invalidations = 0

    # ------------------------------------------------------------ cache internals (lock held)

    def _drop_key(self, key: tuple[Any, str]) -> bool:
        if self._entries.pop(key, None) is None:
            return False
        d = self._dirs.get(key[0])
        if d is not None:
            d.names.discard(key[1])
            if not d.names:
                del self._dirs[key[0]]
        return True

    def _touch(self, dir_gfid: Hashable) -> None:
        self._epoch += 1
        if len(self._touched) >= _TOUCHED_LIMIT:
            self._touched.clear()
            self._floor = self._epoch
        self._touched[dir_gfid] = self._epoch

    def _invalidate_key(self, key: tuple[Any, str] | None) -> None:
        if key is None:
            return
        with self._lock:
            self._touch(key[0])
            if self._drop_key(key):
                self.invalidations += 1

    def _invalidate_dir_locked(self, dir_gfid: Any) -> None:
        self._touch(dir_gfid)
        d = self._dirs.pop(dir_gfid, None)
        if d is not None:
            for name in d.names:
                if self._entries.pop((dir_gfid, name), None) is not None:
                    self.invalidations += 1

    def _invalidate_dir(self, dir_gfid: Any) -> None:
        if dir_gfid is None:
            return
        with self._lock:
            self._invalidate_dir_locked(dir_gfid)

    def _evict_over_limit(self) -> None:
        limit = self.max_entries
        while len(self._entries) > limit:
            key, _ = self._entries.popitem(last=False)
            self.evictions += 1
            d = self._dirs.get(key[0])
            if d is not None:
                d.names.discard(key[1])
                if not d.names:
                    del self._dirs[key[0]]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._epoch += 1
            self._touched.clear()
            self._floor = self._epoch
            self.invalidations += len(self._entries)
            self._entries.clear()
            self._dirs.clear()

    # ------------------------------------------------------------ lookup

    async def lookup(self, loc, xdata):
        key = _loc_key(loc)
        if key is None or (xdata and not CACHEABLE_XDATA_KEYS.issuperset(xdata.keys())):
            reply = await self.child.lookup(loc, xdata)
            self._seen(reply)
            return reply
        ttl = self.ttl
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if self.clock() - entry[0] < ttl:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    postparent = entry[1]
                    hit = True
                else:
                    self._drop_key(key)
                    self.expired += 1
                    hit = False
            else:
                hit = False
            if not hit:
                self.misses += 1
                started = self._epoch
        if hit:
            raise glupy.FopError(errno.ENOENT, reply=glupy.LookupReply(
                postparent=postparent.copy() if postparent is not None else None,
                op_ret=-1, op_errno=errno.ENOENT))
        try:
            reply = await self.child.lookup(loc, xdata)
        except glupy.FopError as error:
            if error.errno == errno.ENOENT and ttl > 0:
                postparent = getattr(error.reply, "postparent", None)
                self._store(key, started, postparent)
            raise
        self._seen(reply)
        return reply

    def _store(self, key: tuple[Any, str], started: int, postparent: Any) -> None:
        dir_gfid = key[0]
        now = self.clock()
        saved = postparent.copy() if postparent is not None else None
        with self._lock:
            if self._floor > started or self._touched.get(dir_gfid, 0) > started:
                return  # the directory changed while this lookup was in flight
            d = self._dirs.get(dir_gfid)
            if d is None:
                # no stamp yet: the first lookup of the directory itself sets it (a failed
                # lookup's postparent may come from elsewhere than the directory's own
                # lookups, e.g. fresh from the brick while md-cache answers the directory)
                d = self._dirs[dir_gfid] = _Dir()
            d.names.add(key[1])
            self._entries[key] = (now, saved)
            self._entries.move_to_end(key)
            self._evict_over_limit()

    def _seen(self, reply: Any) -> None:
        """A successful lookup: a directory whose mtime/ctime changed loses its entries."""
        buf = getattr(reply, "buf", None)
        if buf is None or buf.type != FileType.DIR or not self._dirs:
            return
        gfid = buf.gfid
        stamp = _stamp(buf)
        with self._lock:
            d = self._dirs.get(gfid)
            if d is None or d.stamp == stamp:
                return
            if d.stamp is None:
                d.stamp = stamp
                return
            self._invalidate_dir_locked(gfid)

    # ------------------------------------------------------------ namespace changes

    async def create(self, loc, flags, mode, umask, fd, xdata):
        try:
            return await self.child.create(loc, flags, mode, umask, fd, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def mkdir(self, loc, mode, umask, xdata):
        try:
            return await self.child.mkdir(loc, mode, umask, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def mknod(self, loc, mode, rdev, umask, xdata):
        try:
            return await self.child.mknod(loc, mode, rdev, umask, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def symlink(self, linkname, loc, umask, xdata):
        try:
            return await self.child.symlink(linkname, loc, umask, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def link(self, oldloc, newloc, xdata):
        try:
            return await self.child.link(oldloc, newloc, xdata)
        finally:
            self._invalidate_key(_loc_key(newloc))

    async def rename(self, oldloc, newloc, xdata):
        try:
            return await self.child.rename(oldloc, newloc, xdata)
        finally:
            self._invalidate_key(_loc_key(newloc))
            self._invalidate_key(_loc_key(oldloc))
            self._invalidate_dir(_loc_pargfid(oldloc))

    async def put(self, loc, mode, umask, flags, data, offset, dict, xdata):
        try:
            return await self.child.put(loc, mode, umask, flags, data, offset, dict, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def namelink(self, loc, xdata):
        try:
            return await self.child.namelink(loc, xdata)
        finally:
            self._invalidate_key(_loc_key(loc))

    async def setxattr(self, loc, dict, flags, xdata):
        # On a directory this may be dht's layout (or anything else that changes how
        # names resolve); on a file it drops nothing (no entries are keyed by a file).
        try:
            return await self.child.setxattr(loc, dict, flags, xdata)
        finally:
            self._invalidate_dir(_loc_gfid(loc))

    async def fsetxattr(self, fd, dict, flags, xdata):
        try:
            return await self.child.fsetxattr(fd, dict, flags, xdata)
        finally:
            self._invalidate_dir(fd.inode.gfid if fd is not None and fd.inode is not None else None)

    async def rmdir(self, loc, flags, xdata):
        try:
            return await self.child.rmdir(loc, flags, xdata)
        finally:
            self._invalidate_dir(_loc_gfid(loc))

    # ------------------------------------------------------------ hooks

    def notify(self, event, source):
        if event in _DIR_EVENTS:
            self.clear()

    def reconfigure(self, changed):
        if "max-entries" in changed:
            with self._lock:
                self._evict_over_limit()
        if "ttl" in changed and self.ttl == 0:
            self.clear()

    def statedump(self):
        with self._lock:
            return {
                "entries": len(self._entries),
                "directories": len(self._dirs),
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
                "expired": self.expired,
                "invalidations": self.invalidations,
            }

    def stats(self) -> dict[str, int]:
        """The statedump counters as ints (for tests and tools)."""
        return dict(self.statedump())
