"""negative: a negative-lookup cache.

Lookups that fail with ENOENT are remembered per parent directory (key: the
parent's gfid and the name) and later lookups of the same name are answered
ENOENT at once, without winding: an ENOENT ``LookupReply`` whose ``postparent``
is the one the original failed lookup returned, as GlusterFS gives it (a
translator above sees ``FopError(ENOENT)`` carrying that reply). Workloads that
probe many names that do not exist (search paths: ``$PATH``, ``sys.path``,
include paths, ``.so`` lookups, "does this lock/config file exist?") stop paying
a network round trip per probe.

How it is fast
--------------
The names live in a :class:`glupy.MissingNames` the bridge holds: a repeated
lookup of a missing name is answered ENOENT in C, without entering Python (as
GlusterFS's own nl-cache answers in C). Python sees the misses (and stores their
ENOENT), the namespace changes that invalidate, the upcalls, and, with
``watch-directories on``, the lookups of names the client already knows, to
notice a directory whose mtime/ctime changed. By default (``auto``) and with
``off`` those stay in C too, and only the first lookup of each missing name
enters Python.

Where to put it
---------------
On the client side. Right under io-stats (``glupy attach`` without ``--after``)
a hit also skips md-cache and everything below it. With no options it adapts to
the volume (see "What it chooses by itself" below)::

    glupy attach VOL glupy.translators.negative --side client --name negative
    glupy mount VOL MNT --with glupy.translators.negative

On a volume with ``features.cache-invalidation on`` whose
``features.cache-invalidation-timeout`` you know (GlusterFS's ``group nl-cache``
sets 600), a ttl equal to it keeps entries longest::

    gluster volume set VOL features.cache-invalidation on
    gluster volume set VOL features.cache-invalidation-timeout 600
    glupy attach VOL glupy.translators.negative --side client --name negative -o ttl=600

Below md-cache (``--after quick-read``), where GlusterFS's nl-cache sits, works
too: there every lookup carries md-cache's xattr requests (see below), and
md-cache answers the revalidations of directories first, so fewer of them
reach the cache.

Which lookups are cached
------------------------
Only named lookups (a Loc with a parent gfid and a name) of a name for which
the client holds no inode yet. A lookup whose Loc already has an inode with a
gfid is a revalidation: the client has evidence that the name exists (e.g.
readdirp linked it), so it is always wound, never answered ENOENT from here,
and the bridge drops a cached entry of that name as it passes (nl-cache makes
the same check with ``inode_grep``).

The lookup's xdata is a list of requests. A key may be present when a lookup
is answered ENOENT from (or its ENOENT stored in) the cache only if it asks for
something about an entry that EXISTS: an ENOENT reply carries no inode, iatt or
xattrs, so such a request has nothing to answer and the brick ignores it for a
missing name too. These are (``CACHEABLE_XDATA_KEYS``/``_PREFIXES``):

* ``gfid-req``: the gfid to give the inode if the lookup links a new one (FUSE
  and gfapi send it with every fresh lookup);
* xattr requests: names beginning ``security.``, ``system.posix_acl_`` or
  ``user.`` and GlusterFS's ACL keys ``glusterfs.posix.acl``,
  ``glusterfs.posix.default_acl``: md-cache adds these (security.capability,
  security.ima, security.selinux, the ACLs, user.swift.metadata, Samba's
  user.DOSATTRIB, performance.xattr-cache-list names) to every lookup it
  winds, so below md-cache every lookup carries them; ordinary xattrs that no
  translator interprets as a command;
* ``glusterfs.content`` (quick-read: the file's content), ``trusted.glusterfs.mdata``
  (utime: the entry's times);
* counts about the entry's own inode: ``get-link-count``,
  ``glusterfs.inodelk-count``, ``glusterfs.entrylk-count`` (entry locks ON the
  inode, i.e. inside it if it is a directory), ``glusterfs.posixlk-count``,
  ``glusterfs.open-fd-count``.

Any other key makes the lookup bypass the cache, in particular keys that change
how a name resolves or that are about the name rather than an inode:
``glusterfs.parent-entrylk`` (entry locks on the name in the parent, used by
afr's self-heal decisions), dht's link-file keys (``trusted.glusterfs.dht.linkto``),
afr's heal and xattrop keys, and any key not listed (unknown keys are never
assumed harmless). On a FUSE client these only appear below dht/afr, i.e.
below where this translator belongs.

Staleness and what bounds it
----------------------------
This client's own namespace changes are seen at once: create, mkdir, mknod,
symlink, link, rename (the new name, the old name and the old parent's entries),
put and namelink drop the entry of the name they create; setxattr/fsetxattr on a
directory (e.g. dht's layout) and rmdir drop all of that directory's entries.
A lookup that is in flight while such a change happens is not cached.

A name created by **another client** is not seen by this cache until one of:

* the entry's ``ttl`` expires (option ``ttl``; by default chosen as below, 5 s
  or 60 s): a file created elsewhere becomes visible here **within ttl seconds**;
* an upcall arrives: with ``features.cache-invalidation on`` the bricks' upcall
  translator tells each client about changes to inodes it has looked at within
  ``features.cache-invalidation-timeout``, including a create in a directory it
  has looked up. Any upcall drops the **whole** cache (which directories'
  missing names an inode's change touches depends on the bricks' upcall
  rules); this is what nl-cache relies on and
  what makes a long ttl safe: with cache-invalidation on, a ttl up to
  ``features.cache-invalidation-timeout`` (GlusterFS's ``group-nl-cache`` sets
  both timeouts to 600). Without it, keep the ttl short;
* with ``watch-directories on`` (revalidations in Python): a lookup of the parent directory returns a
  different mtime/ctime than the previous lookup of it while it had entries: all
  of the directory's entries are dropped. With FUSE and a zero entry/attribute
  timeout this happens as soon as the kernel revalidates the directory and
  md-cache does not answer it (for the
  root, FUSE turns the kernel's getattr into a lookup), so another client's
  create is usually seen at once; the ttl is the bound when no such lookup
  comes (or when the first one seen after the entry was stored already has the
  new times);
* a miss in the same directory (always, whatever ``watch-directories`` says): a
  lookup that reaches the bricks and fails carries the directory's times (its
  postparent); times that differ from those the previous miss in that directory
  returned drop all of the directory's entries. Cheap (misses enter Python
  anyway), and in a search-path workload, where misses in a directory are
  frequent, it notices another client's create long before the ttl; a directory
  in which nothing misses any more is not watched this way. A signal, never the
  bound: with ``features.ctime`` (on by default) the bricks only move a
  directory's times forward, and take them from the client that made the
  change, so a create by a client whose clock is behind may leave them unchanged
  (the same holds for ``watch-directories on``);
* a child goes up or down (the whole cache is dropped).

What it chooses by itself
-------------------------
``ttl`` and ``watch-directories`` default to ``auto``; a value given explicitly
always wins.

*Watching.* Whether lookups of names the client already knows (revalidations)
enter Python is fixed when the translator starts (the bridge reads
``fresh_lookups_only`` once), before anything can be learnt about the volume. Each
such lookup costs a trip into Python (about 25 µs; on the include-path
benchmark one or two per probe, where a hit costs none). ``auto`` keeps them in
C, as ``off`` does, and watches directories through the misses (above); ``on``
routes them to Python.

*ttl.* A brick tells this client about a change (an upcall) only if the volume
has ``features.cache-invalidation on``, and only for inodes this client used
within ``features.cache-invalidation-timeout`` (upcall's default 60 s; ``group
nl-cache`` sets 600; each cache-invalidation upcall carries the value, as
``glupy.Upcall.expire``). So ``auto`` takes:

* **5 s** until a cache-invalidation upcall has arrived: nothing is known to tell
  this client about other clients' creates, and the ttl is the bound;
* **the bricks' timeout** (from the upcall; 60 s if it carried none) once one has
  arrived (an upcall of kind CACHE_INVALIDATION, which only
  the upcall translator sends, and only with ``features.cache-invalidation on``;
  lease recalls and lock-contention upcalls prove nothing). Every later upcall
  still drops the whole cache at once. An entry lives no longer than the bricks
  keep telling this client about the directory it is in (it was looked up there
  when it was stored), so an upcall covers every change while it lives. A
  CHILD_DOWN forgets the proof (the bricks may come back with other options):
  5 s until the next one.

Why this is never staler than GlusterFS's own nl-cache in the same setting:
nl-cache keeps a directory's negative entries for ``nl-cache-timeout`` (default
60 s; ``group nl-cache`` sets 600) whether or not the volume sends upcalls, and
with upcalls it drops them on the same events this cache drops everything on (a
change to the directory or a name in it; a subset of "any upcall"). Without
upcalls this cache's bound is 5 s against nl-cache's 60 (or 600); with them,
the bricks' timeout (60, or 600 with the group) against nl-cache's own, and an
upcall clears at least what it clears nl-cache's. Until the first upcall arrives
the short bound holds, so a volume without cache-invalidation never gets the
long one.

The statedump shows the choice: ``ttl`` (in effect now), ``ttl-chosen-by`` and
``watching``.

``ttl 0`` switches caching off; changing ``ttl`` by reconfigure empties the
cache. Memory is bounded by ``max-entries`` (default 100000, about 250 bytes
each plus the name) with least-recently-used eviction. ``gluster volume statedump`` (or
SIGUSR1 to a FUSE client) shows entries, directories, hits, misses, evictions,
expired entries, invalidations and upcalls.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import OrderedDict
from typing import Any, Hashable

import glupy
from glupy.constants import Event, FileType, UpcallKind
from glupy.translator import parse_bool
from glupy.fop_table import FOP_BY_NAME
from glupy.types import entry_key

#: xdata keys a lookup may carry and still be answered from (or stored in) the cache:
#: each asks for something about an entry that EXISTS (see "Which lookups are
#: cached" in the module doc for why each is irrelevant to an ENOENT answer)
CACHEABLE_XDATA_KEYS = frozenset({
    "gfid-req",                     # the gfid to give the entry if the lookup links a new inode
    "glusterfs.content",            # quick-read: the file's content (GF_CONTENT_KEY)
    "glusterfs.posix.acl",          # md-cache: GlusterFS's ACL xattrs of the entry
    "glusterfs.posix.default_acl",
    "trusted.glusterfs.mdata",      # utime: the entry's ctime/mtime/atime xattr
    "get-link-count",               # the entry's link count
    "glusterfs.inodelk-count",      # locks: counts of locks held on the entry's inode
    "glusterfs.entrylk-count",
    "glusterfs.posixlk-count",
    "glusterfs.open-fd-count",      # open fds of the entry's inode
})
#: name prefixes of xattr requests (md-cache asks for security.capability,
#: security.ima, security.selinux, system.posix_acl_*, user.swift.metadata, ... and
#: performance.xattr-cache-list names): ordinary xattrs of the entry, nothing a
#: translator interprets as a command
CACHEABLE_XDATA_PREFIXES = ("security.", "system.posix_acl_", "user.")

#: at most this many distinct xdata key sets remembered as (not) cacheable
_KEYSET_MEMO_LIMIT = 256

#: beyond this many directories touched by invalidations during in-flight lookups,
#: forget them and refuse to cache lookups that started before (bounded memory)
_TOUCHED_LIMIT = 4096

_DIR_EVENTS = {Event.CHILD_UP, Event.CHILD_DOWN, Event.SOME_DESCENDENT_DOWN, Event.SOME_DESCENDENT_UP}

#: the value of ``ttl`` and ``watch-directories`` that lets the translator choose (the default)
AUTO = "auto"
#: ttl auto, while no cache-invalidation upcall has arrived: nothing is known to tell
#: this client about other clients' creates, the ttl is the bound
AUTO_TTL_WITHOUT_UPCALLS = 5.0
#: ttl auto, once one has: upcall's default features.cache-invalidation-timeout (the
#: bricks stop telling a client about an inode it has not used for that long) and
#: nl-cache's default nl-cache-timeout (see "What it chooses by itself")
AUTO_TTL_WITH_UPCALLS = 60.0


def _seconds_or_auto(text: str) -> float | str:
    """Option parser of ``ttl``: ``auto`` or seconds (>= 0)."""
    if text.strip().lower() == AUTO:
        return AUTO
    return float(text)


def _check_ttl(value: Any) -> None:
    if value == AUTO:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{value!r} is neither auto nor a number of seconds >= 0")


def _bool_or_auto(text: str) -> bool | str:
    """Option parser of ``watch-directories``: ``auto`` or a boolean."""
    if text.strip().lower() == AUTO:
        return AUTO
    return parse_bool(text)


def _check_watch(value: Any) -> None:
    if value != AUTO and not isinstance(value, bool):
        raise ValueError(f"{value!r} is neither auto nor on/off")


def xdata_is_cacheable(keys: Any) -> bool:
    """True if a lookup whose xdata has these keys may be answered ENOENT from the cache
    (and its ENOENT stored): every key only asks for something about an existing entry."""
    for key in keys:
        if key not in CACHEABLE_XDATA_KEYS and not key.startswith(CACHEABLE_XDATA_PREFIXES):
            return False
    return True


def _stamp(ia: Any) -> tuple[int, int, int, int] | None:
    if ia is None:
        return None
    return (ia.mtime, ia.mtime_nsec, ia.ctime, ia.ctime_nsec)


def _loc_gfid(loc: Any) -> Any:
    if loc is None:
        return None
    gfid = loc.gfid
    if gfid is None and loc.inode is not None:
        gfid = loc.inode.gfid
    return gfid


def _loc_pargfid(loc: Any) -> Any:
    key = entry_key(loc)
    return key[0] if key else None


#: FOPs that make a name exist, and their argument whose (parent, name) that is
NAME_MAKERS = {"create": "loc", "mkdir": "loc", "mknod": "loc", "symlink": "loc", "link": "newloc",
               "put": "loc", "namelink": "loc"}


def _name_maker(name: str, loc_arg: str) -> Any:
    """A handler that winds FOP `name` and then forgets that the name it makes was missing."""
    wind = getattr(glupy.Child, name)
    position = [a.name for a in FOP_BY_NAME[name].py_args].index(loc_arg)

    async def handler(self, *args):
        try:
            return await wind(self.child, *args)
        finally:
            self._invalidate_key(entry_key(args[position]))

    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = f"Wind {name}; the name in its {loc_arg} is no longer known to be missing."
    return handler


class NegativeLookupCache(glupy.Translator):
    """Answers repeated lookups of missing names with ENOENT from a cache (see the module doc)."""

    ttl = glupy.Option(_seconds_or_auto, default=AUTO, validate=_check_ttl,
                       doc="seconds a failed lookup is remembered (0: no caching); bounds how long a name "
                           "created by another client can stay invisible. auto (default): 5 until the bricks "
                           "are seen sending cache-invalidation upcalls (features.cache-invalidation on), "
                           "60 from then on")
    watch_directories = glupy.Option(
        _bool_or_auto, default=AUTO, validate=_check_watch, reconfigurable=False,
        doc="on: lookups of names this client already knows (revalidations of directories, FUSE's getattr "
            "of the root) pass through the cache, which drops a directory's missing names as soon as its "
            "mtime/ctime changes; off and auto (default): those lookups stay in C and never enter Python "
            "(cheaper; another client's create is then seen through upcalls, a later miss in the same "
            "directory, or after ttl)")
    max_entries = glupy.Option(int, default=100000, min=1,
                               doc="most names remembered; the least recently used are evicted")

    #: the clock (seconds, monotonic) deadlines are set with; tests replace it on the instance
    clock = staticmethod(time.monotonic)

    def init(self) -> None:
        # the names themselves live in the bridge (C), which answers hits without Python
        self.missing_names = glupy.MissingNames(self.max_entries, CACHEABLE_XDATA_KEYS, CACHEABLE_XDATA_PREFIXES)
        # fixed here: the bridge reads it once, before anything is known about the volume
        self.watching = self.watch_directories is True
        self.fresh_lookups_only = not self.watching
        # a cache-invalidation upcall arrived (since the last CHILD_DOWN): the bricks
        # have features.cache-invalidation on (what ttl auto chooses by)
        self.upcalls_seen = False
        # the bricks' features.cache-invalidation-timeout, as the upcalls carry it (None
        # until one did): ttl auto's bound once upcalls are proven
        self.upcall_timeout: float | None = None
        self._lock = threading.Lock()
        # directory gfid -> its mtime/ctime at the first lookup of it since a name in it was
        # stored (None until then); bounded like the names
        self._stamps: OrderedDict[Any, tuple[int, int, int, int] | None] = OrderedDict()
        # directory gfid -> its mtime/ctime in the postparent of the last miss stored in it
        self._miss_stamps: OrderedDict[Any, tuple[int, int, int, int]] = OrderedDict()
        # invalidation epochs: a lookup may store its ENOENT only if nothing touched
        # its directory since it was wound
        self._epoch = 0
        self._floor = 0
        self._touched: dict[Any, int] = {}
        self.misses = 0
        self.invalidations = 0
        self.upcalls = 0
        # xdata key tuples seen -> cacheable? (a handful in practice: FUSE's, md-cache's)
        self._keysets: dict[tuple[str, ...], bool] = {}

    # ------------------------------------------------------------ cache internals (lock held)

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
            if self.missing_names.discard(*key):
                self.invalidations += 1

    def _invalidate_dir_locked(self, dir_gfid: Any) -> None:
        self._touch(dir_gfid)
        self._stamps.pop(dir_gfid, None)
        self._miss_stamps.pop(dir_gfid, None)
        self.invalidations += self.missing_names.discard_dir(dir_gfid)

    def _invalidate_dir(self, dir_gfid: Any) -> None:
        if dir_gfid is None:
            return
        with self._lock:
            self._invalidate_dir_locked(dir_gfid)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._epoch += 1
            self._touched.clear()
            self._floor = self._epoch
            self._stamps.clear()
            self._miss_stamps.clear()
            self.invalidations += self.missing_names.clear()

    def current_ttl(self) -> float:
        """The ttl a miss is stored with now: the option's value, or with ttl auto
        the bricks' cache-invalidation timeout once a cache-invalidation upcall has
        arrived (AUTO_TTL_WITH_UPCALLS if it did not say), else AUTO_TTL_WITHOUT_UPCALLS."""
        ttl = self.ttl
        if ttl != AUTO:
            return float(ttl)
        if not self.upcalls_seen:
            return AUTO_TTL_WITHOUT_UPCALLS
        return self.upcall_timeout or AUTO_TTL_WITH_UPCALLS

    # ------------------------------------------------------------ lookup

    def _cacheable(self, xdata: Any) -> bool:
        keys = tuple(xdata.keys())
        ok = self._keysets.get(keys)
        if ok is None:
            ok = xdata_is_cacheable(keys)
            if len(self._keysets) < _KEYSET_MEMO_LIMIT:
                self._keysets[keys] = ok
        return ok

    async def lookup(self, loc, xdata):
        # Hits never come here: the bridge answers them from missing_names in C. A
        # fresh, cacheable lookup that arrives is a miss (or its entry expired).
        key = entry_key(loc)
        inode = loc.inode
        known = inode is not None and inode.gfid is not None
        if key is None or known or (xdata and not self._cacheable(xdata)):
            # Nameless, asking for more than attributes of an existing entry, or a
            # revalidation: the client already holds an inode for this name (e.g.
            # linked by readdirp), evidence that it exists (the bridge has dropped
            # the name), so it is never answered ENOENT from here (nl-cache does the
            # same with inode_grep).
            reply = await self.child.lookup(loc, xdata)
            # a fresh name found after all (created by another client); a revalidation's
            # name was dropped by the bridge already
            if key is not None and not known and self.missing_names.discard(*key):
                with self._lock:
                    self.invalidations += 1
            self._seen(reply)
            return reply
        ttl = self.current_ttl()
        with self._lock:
            self.misses += 1
            started = self._epoch
        try:
            reply = await self.child.lookup(loc, xdata)
        except glupy.FopError as error:
            if error.errno == errno.ENOENT and ttl > 0:
                self._store(key, started, getattr(error.reply, "postparent", None), ttl)
            raise
        self._seen(reply)
        return reply

    def _store(self, key: tuple[Any, str], started: int, postparent: Any, ttl: float) -> None:
        dir_gfid = key[0]
        with self._lock:
            if self._floor > started or self._touched.get(dir_gfid, 0) > started:
                return  # the directory changed while this lookup was in flight
            stamp = _stamp(postparent)
            if stamp is not None:
                # the directory's times differ from those of the previous miss in it:
                # something changed it since (maybe another client's create), so its
                # entries go (and lookups of it in flight will not be stored)
                if self._miss_stamps.get(dir_gfid, stamp) != stamp:
                    self._invalidate_dir_locked(dir_gfid)
                self._miss_stamps[dir_gfid] = stamp
                self._miss_stamps.move_to_end(dir_gfid)
                while len(self._miss_stamps) > self.max_entries:
                    self._miss_stamps.popitem(last=False)
            # no stamp yet: the first lookup of the directory itself sets it (a failed
            # lookup's postparent may come from elsewhere than the directory's own
            # lookups, e.g. fresh from the brick while md-cache answers the directory)
            self._stamps.setdefault(dir_gfid, None)
            self._stamps.move_to_end(dir_gfid)
            while len(self._stamps) > self.max_entries:
                self._stamps.popitem(last=False)
            self.missing_names.add(dir_gfid, key[1], postparent, self.clock() + ttl)

    def _seen(self, reply: Any) -> None:
        """A successful lookup: a directory whose mtime/ctime changed loses its entries."""
        buf = getattr(reply, "buf", None)
        if buf is None or buf.type != FileType.DIR or not self._stamps:
            return
        gfid = buf.gfid
        stamp = _stamp(buf)
        with self._lock:
            if gfid not in self._stamps:
                return
            old = self._stamps[gfid]
            if old is None:
                self._stamps[gfid] = stamp
            elif old != stamp:
                self._invalidate_dir_locked(gfid)

    # ------------------------------------------------------------ namespace changes

    async def rename(self, oldloc, newloc, xdata):
        try:
            return await self.child.rename(oldloc, newloc, xdata)
        finally:
            self._invalidate_key(entry_key(newloc))
            self._invalidate_key(entry_key(oldloc))
            self._invalidate_dir(_loc_pargfid(oldloc))

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
            if event == Event.CHILD_DOWN:
                # the bricks may come back with other options: prove upcalls again
                self.upcalls_seen = False
                self.upcall_timeout = None
            self.clear()
        elif event == Event.UPCALL:
            # another client changed something this client has looked at (bricks'
            # features.cache-invalidation). `source` (a glupy.Upcall) names the inode,
            # but which directories' missing names that touches depends on the bricks'
            # upcall rules: everything goes. Only the upcall translator sends this kind,
            # and only with features.cache-invalidation on: proof for ttl auto (lease
            # recalls and lock contention come without it)
            if getattr(source, "kind", None) == UpcallKind.CACHE_INVALIDATION:
                self.upcalls_seen = True
                # the bricks keep telling this client about what it used for this long
                expire = getattr(source, "expire", 0) or 0
                if expire > 0:
                    self.upcall_timeout = float(expire)
            self.upcalls += 1
            self.clear()

    def reconfigure(self, changed):
        if "max-entries" in changed:
            self.missing_names.max_entries = self.max_entries
        if "ttl" in changed:
            self.clear()  # entries carry deadlines from the old ttl

    def statedump(self):
        names = self.missing_names
        with self._lock:
            return {
                "ttl": f"{self.current_ttl():g}",
                "ttl-chosen-by": ("option" if self.ttl != AUTO else
                                  "auto: cache-invalidation upcalls seen" if self.upcalls_seen else
                                  "auto: no cache-invalidation upcall seen"),
                "watching": "revalidations and misses" if self.watching else "misses",
                "entries": len(names),
                "directories": len(self._stamps),
                "hits": names.hits,
                "misses": self.misses,
                "evictions": names.evictions,
                "expired": names.expired,
                "invalidations": self.invalidations,
                "upcalls": self.upcalls,
            }

    def stats(self) -> dict[str, int]:
        """The statedump counters as ints (for tests and tools)."""
        return {k: v for k, v in self.statedump().items() if isinstance(v, int)}


for _name, _loc_arg in NAME_MAKERS.items():
    setattr(NegativeLookupCache, _name, _name_maker(_name, _loc_arg))
