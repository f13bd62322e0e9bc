"""Translators that exercise the bridge's safety and context handling in tests.

They ship with glupy so that any GlusterFS process using glupy's environment can
load them by module path (glupy.testing.translators:Faulty, ...).
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid

import glupy
from glupy.constants import ROOT_GFID
from glupy.fop_table import FOPS
from glupy.translators.passthrough import Passthrough, forwarder

STATS_XATTR = "glupy.test.stats"


class Faulty(glupy.Translator):
    """Misbehaves on request, by file name:

    * lookup of ``boom-*``: raises ZeroDivisionError (a bug) -> EIO;
    * lookup of ``eperm-*``: raises FopError(EPERM);
    * lookup of ``wrongtype-*``: returns a reply of the wrong type -> EIO;
    * writev whose data starts with ``crash``: raises RuntimeError -> EIO.
    """

    async def lookup(self, loc, xdata):
        name = loc.name or ""
        if name.startswith("boom-"):
            return 1 / 0
        if name.startswith("eperm-"):
            raise glupy.FopError(errno.EPERM)
        if name.startswith("wrongtype-"):
            return glupy.StatReply()
        return await self.child.lookup(loc, xdata)

    async def writev(self, fd, data, offset, flags, xdata):
        if bytes(data[:5]) == b"crash":
            raise RuntimeError("writev asked to crash")
        return await self.child.writev(fd, data, offset, flags, xdata)


class FailingInit(glupy.Translator):
    """Raises in init(), as a translator with a bug in its set-up would."""

    def init(self) -> None:
        raise RuntimeError("FailingInit fails by design")


class FailingConstructor(glupy.Translator):
    """Raises in its constructor."""

    def __init__(self) -> None:
        raise ValueError("FailingConstructor fails by design")


class FailsOnlyInGlusterFS(glupy.Translator):
    """Starts in the in-process harness (a dry run) but raises in init() inside a
    GlusterFS process: a translator whose trouble only shows where it really runs
    (a dependency missing on that host, a path only a brick has)."""

    def init(self) -> None:
        if type(self._glupy_xlator).__module__ != "glupy.testing.harness":
            raise RuntimeError("FailsOnlyInGlusterFS fails inside GlusterFS by design")


class Probe(glupy.Translator):
    """Keeps per-inode and per-fd context and counts how often GlusterFS releases it.

    ``getfattr -n glupy.test.stats`` on any file answers a JSON object with the
    counts, the option values and the last reconfigure and notify events seen
    (``stats-xattr`` names another attribute, for two probes in one graph). With
    ``upcall-seconds``, its notify hook takes that long on every upcall.
    """

    label = glupy.Option(str, default="probe", doc="a value to see reconfigure work")
    limit = glupy.Option(int, default=10, min=0, max=1000)
    stats_xattr = glupy.Option(str, default=STATS_XATTR, doc="the attribute that answers the counts")
    upcall_seconds = glupy.Option(float, default=0.0, min=0, doc="time.sleep this long on every upcall")

    def init(self) -> None:
        self.lock = threading.Lock()
        self.stats = {"inode_ctx_set": 0, "forgets": 0, "fd_ctx_set": 0, "releases": 0,
                      "reconfigured": [], "events": []}

    def _bump(self, key: str) -> None:
        with self.lock:
            self.stats[key] += 1

    async def lookup(self, loc, xdata):
        reply = await self.child.lookup(loc, xdata)
        if reply.inode is not None and self.inode_ctx(reply.inode) is None:
            self.set_inode_ctx(reply.inode, {"path": loc.path})
            self._bump("inode_ctx_set")
        return reply

    async def open(self, loc, flags, fd, xdata):
        reply = await self.child.open(loc, flags, fd, xdata)
        self.set_fd_ctx(fd, {"path": loc.path, "flags": flags})
        self._bump("fd_ctx_set")
        return reply

    def forget(self, ctx):
        self._bump("forgets")

    def release(self, ctx):
        self._bump("releases")

    def reconfigure(self, changed):
        with self.lock:
            self.stats["reconfigured"].append({k: v[1] for k, v in changed.items()})

    def notify(self, event, source):
        if isinstance(source, glupy.Upcall) and self.upcall_seconds:
            time.sleep(self.upcall_seconds)
        with self.lock:
            self.stats["events"].append(getattr(event, "name", str(event)))
            if isinstance(source, glupy.Upcall):
                self.stats.setdefault("upcalls", []).append(
                    {"kind": glupy.UpcallKind(source.kind).name, "gfid": str(source.gfid), "flags": source.flags,
                     "type": getattr(source.stat, "type", None)})

    async def getxattr(self, loc, name, xdata):
        if name == self.stats_xattr:
            with self.lock:
                data = dict(self.stats, label=self.label, limit=self.limit,
                            caller={"uid": self.caller.uid, "gid": self.caller.gid, "pid": self.caller.pid})
            value = json.dumps(data).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self.child.getxattr(loc, name, xdata)

    def statedump(self):
        with self.lock:
            return {k: v for k, v in self.stats.items() if isinstance(v, int)}


DRIVE_XATTR = "glupy.test.drive"
DRIVE_RESULT_XATTR = "glupy.test.drive.result"


class FopDriver(glupy.Translator):
    """Issues FOPs that no FUSE or gfapi call triggers, for tests.

    ``setfattr -n glupy.test.drive -v FOP FILE`` makes this translator send FOP
    (rchecksum, getactivelk, setactivelk, put, icreate, namelink, ipc, getspec,
    lease, zerofill, seek; inodelk, finodelk, entrylk, fentrylk: a lock taken, tried
    by a second owner, given back) to its child for FILE; the setxattr itself succeeds.
    ``getfattr -n glupy.test.drive.result FILE`` then answers a JSON object with
    the FOP's op_ret, op_errno and a summary of its reply.
    """

    def init(self) -> None:
        self.results: dict[str, dict] = {}
        self._open_fds: dict = {}  # gfid -> the last fd opened on it (f*lk need a real one)
        # gfid -> its directory's inode, from lookups and creates: a setxattr's Loc has
        # no parent, and put and namelink make a sibling entry
        self._parents: dict = {}

    async def lookup(self, loc, xdata):
        return self._note_parent(loc, await self.child.lookup(loc, xdata))

    async def create(self, loc, flags, mode, umask, fd, xdata):
        return self._note_parent(loc, await self.child.create(loc, flags, mode, umask, fd, xdata))

    def _note_parent(self, loc, reply):
        if loc.parent is not None and reply.buf is not None:
            self._parents[reply.buf.gfid] = loc.parent
        return reply

    def _sibling(self, loc, suffix: str):
        """A Loc for a new entry beside loc's."""
        parent = loc.parent or self._parents.get(loc.inode.gfid)
        if parent is None:
            raise glupy.FopError(errno.EINVAL, f"FopDriver does not know the directory of {loc.path}")
        return glupy.Loc(path=f"{loc.path}{suffix}", parent=parent)

    async def open(self, loc, flags, fd, xdata):
        reply = await self.child.open(loc, flags, fd, xdata)
        if fd.inode is not None and fd.inode.gfid is not None:
            self._open_fds[fd.inode.gfid] = fd
        return reply

    async def _drive(self, fop: str, loc):
        c = self.child
        inode = loc.inode
        if fop == "rchecksum":
            r = await c.rchecksum(glupy.Fd.anonymous_for(inode), 0, 4096, None)
            return {"weak": r.weak_checksum, "strong": r.strong_checksum.hex() if r.strong_checksum else None}
        if fop == "seek":
            r = await c.seek(glupy.Fd.anonymous_for(inode), 0, 0, None)
            return {"offset": r.offset}
        if fop == "zerofill":
            r = await c.zerofill(glupy.Fd.anonymous_for(inode), 0, 16, None)
            return {"size": r.post.size if r.post else None}
        if fop == "getactivelk":
            r = await c.getactivelk(loc, None)
            return {"locks": len(r.locklist)}
        if fop == "setactivelk":
            await c.setactivelk(loc, [], None)
            return {}
        if fop == "ipc":
            await c.ipc(1, None)
            return {}
        if fop == "getspec":
            r = await c.getspec("volfile", 0)
            return {"spec": (r.spec_data or "")[:20]}
        if fop == "put":
            new = self._sibling(loc, ".put")
            xdata = glupy.Xdata({"gfid-req": uuid.uuid4()})
            r = await c.put(new, 0o644, 0o022, 0, b"put-data", 0, glupy.Xdata(), xdata)
            return {"size": r.buf.size if r.buf else None}
        if fop == "icreate":
            new = glupy.Loc(gfid=uuid.uuid4())
            r = await c.icreate(new, 0o100644, glupy.Xdata({"gfid-req": new.gfid}))
            return {"type": r.buf.type if r.buf else None}
        if fop == "namelink":
            await c.namelink(self._sibling(loc, ".nl"), None)
            return {}
        if fop == "copy_file_range":  # the file's first 16 bytes to offset 2000 of itself
            # on an fd the client opened for writing: protocol/server 10.3 gives the bricks
            # no fd_out for an anonymous one (NULL)
            fd = self._open_fds.get(inode.gfid)
            if fd is None:
                raise glupy.FopError(errno.EBADF, f"{fop}: open the file for writing first")
            r = await c.copy_file_range(fd, 0, fd, 2000, 16, 0, None)
            return {"copied": r.op_ret, "size": r.postbuf_dst.size if r.postbuf_dst else None}
        if fop in ("inodelk", "finodelk", "entrylk", "fentrylk"):
            return await self._lock_unlock(fop, loc)
        raise glupy.FopError(errno.EINVAL, f"FopDriver cannot drive {fop}")

    async def _lock_unlock(self, fop: str, loc) -> dict:
        """Take a lock (one lock owner), try it with a second owner (non-blocking: it must
        fail with EAGAIN if the lock is real), give it back: each step's result (None for
        success, else the errno's name)."""
        c = self.child
        owner, other = uuid.uuid4().bytes, uuid.uuid4().bytes
        # f*lk: an fd the client opened (AFR refuses an anonymous one)
        target = self._open_fds.get(loc.inode.gfid) if fop.startswith("f") else loc
        if target is None:
            raise glupy.FopError(errno.EBADF, f"{fop}: open the file first")
        wind = getattr(c, fop)
        domain = "glupy-test-driver"
        if fop.endswith("inodelk"):
            lock = glupy.Flock(type=glupy.LockType.WRLCK, whence=0, start=0, len=0)
            unlock = glupy.Flock(type=glupy.LockType.UNLCK, whence=0, start=0, len=0)
            steps = [(owner, (domain, target, glupy.LockCmd.SETLK, lock, None)),
                     (other, (domain, target, glupy.LockCmd.SETLK, lock, None)),
                     (owner, (domain, target, glupy.LockCmd.SETLK, unlock, None))]
        else:
            name = "drive-entry"
            steps = [(who, (domain, target, name, cmd, glupy.EntrylkType.WRLCK, None))
                     for who, cmd in ((owner, glupy.EntrylkCmd.LOCK_NB), (other, glupy.EntrylkCmd.LOCK_NB),
                                      (owner, glupy.EntrylkCmd.UNLOCK))]
        out = {}
        for label, (who, args) in zip(("lock", "contended", "unlock"), steps):
            try:
                await wind(*args, lk_owner=who)
                out[label] = None
            except glupy.FopError as e:
                out[label] = e.name
        return out

    async def setxattr(self, loc, dict, flags, xdata):
        if dict is not None and DRIVE_XATTR in dict:
            fop = dict.raw(DRIVE_XATTR).rstrip(b"\0").decode()
            try:
                detail = await self._drive(fop, loc)
                self.results[fop] = {"op_ret": 0, "op_errno": 0, **detail}
            except glupy.FopError as e:
                self.results[fop] = {"op_ret": -1, "op_errno": e.errno, "error": e.name}
            return glupy.SetxattrReply()
        return await self.child.setxattr(loc, dict, flags, xdata)

    async def getxattr(self, loc, name, xdata):
        if name == DRIVE_RESULT_XATTR:
            value = json.dumps(self.results).encode()
            return glupy.GetxattrReply(dict=glupy.Xdata({name: value}))
        return await self.child.getxattr(loc, name, xdata)


class Responder(glupy.Translator):
    """Answers, in Python and without winding, the FOPs a brick cannot take.

    posix implements neither icreate, namelink nor getspec; GlusterFS's default
    would wind them to posix's (missing) child. features/locks of GlusterFS 10.3
    crashes on setactivelk with an empty lock list. Placed under a passthrough, this
    lets tests drive those FOPs through Python end to end.
    """

    async def icreate(self, loc, mode, xdata):
        raise glupy.FopError(errno.ENOTSUP)

    async def namelink(self, loc, xdata):
        raise glupy.FopError(errno.ENOTSUP)

    async def getspec(self, key, flags):
        raise glupy.FopError(errno.ENOTSUP)

    async def setactivelk(self, loc, locklist, xdata):
        # GlusterFS 10.3's features/locks dereferences NULL on an empty lock list
        raise glupy.FopError(errno.ENOTSUP)


class LookupOnly(glupy.Translator):
    """Overrides lookup only (and passes it on): the cheapest translator that still sees every path."""

    async def lookup(self, loc, xdata):
        return await self.child.lookup(loc, xdata)


class LockingWriter(glupy.Translator):
    """Wraps every write in a GlusterFS inode lock taken from Python, as a
    translator doing read-modify-write (e.g. encryption) must.

    It locks by inode (inodelk with a Loc of the fd's inode), not by fd: in
    GlusterFS 10.3, AFR forwards an finodelk *unlock* from a parent translator
    with a NULL fd, which the clients refuse with EINVAL.
    """

    domain = glupy.Option(str, default="glupy-test", doc="the lock domain")

    async def writev(self, fd, data, offset, flags, xdata):
        # a lock owner of its own for each write: writes of one client wait for each other too
        owner = uuid.uuid4().bytes
        loc = glupy.Loc(inode=fd.inode)
        lock = glupy.Flock(type=glupy.LockType.WRLCK, whence=0, start=0, len=0)
        await self.child.inodelk(self.domain, loc, glupy.LockCmd.SETLKW, lock, None, lk_owner=owner)
        try:
            return await self.child.writev(fd, data, offset, flags, xdata)
        finally:
            lock.type = glupy.LockType.UNLCK
            await self.child.inodelk(self.domain, loc, glupy.LockCmd.SETLK, lock, None, lk_owner=owner)


PATHS_XATTR = "glupy.test.paths."


class DriverPaths(glupy.Translator):
    """Takes every way a handler can leave the bridge's C fast path, on request.

    ``getfattr -n glupy.test.paths.CASE FILE`` answers a JSON value (or fails)
    according to CASE:

    * ``plain``: winds nothing and returns a reply from a plain coroutine;
    * ``gather``: two stats at once through glupy.gather -> both sizes;
    * ``caught``: a failing wind (ENODATA) caught, then a successful one -> errno and size;
    * ``chain``: three winds in a row (C path only) -> the sizes;
    * ``caller``: the caller's pid, read after a wind -> pid;
    * ``raise-fop``: FopError(EACCES) raised after a wind;
    * ``raise-bug``: RuntimeError after a wind (EIO, traceback in the log);
    * ``none``: returns None after a wind (an empty success reply);
    * ``wrong``: returns another FOP's reply after a wind (EIO).

    ``access`` is a plain ``def`` handler (not a coroutine) that answers itself.
    """

    def access(self, loc, mask, xdata):
        return glupy.AccessReply()

    async def getxattr(self, loc, name, xdata):
        if not name or not name.startswith(PATHS_XATTR):
            return await self.child.getxattr(loc, name, xdata)
        case = name[len(PATHS_XATTR):]

        def answer(value) -> glupy.GetxattrReply:
            return glupy.GetxattrReply(dict=glupy.Xdata({name: json.dumps(value).encode()}))

        if case == "plain":
            return answer("plain")
        if case == "gather":
            a, b = await glupy.gather(self.child.stat(loc, None), self.child.stat(loc, None))
            return answer([a.buf.size, b.buf.size])
        if case == "caught":
            try:
                await self.child.getxattr(loc, "user.glupy-test-missing", None)
            except glupy.FopError as e:
                st = await self.child.stat(loc, None)
                return answer([errno.errorcode[e.errno], st.buf.size])
            return answer("no error")
        if case == "chain":
            sizes = [(await self.child.stat(loc, None)).buf.size for _ in range(3)]
            return answer(sizes)
        if case == "caller":
            await self.child.stat(loc, None)
            return answer(self.caller.pid)
        await self.child.stat(loc, None)
        if case == "raise-fop":
            raise glupy.FopError(errno.EACCES)
        if case == "raise-bug":
            raise RuntimeError("DriverPaths raise-bug by design")
        if case == "none":
            return None
        if case == "wrong":
            return glupy.StatReply()
        raise glupy.FopError(errno.EINVAL)


def _event_pairs(text: str) -> dict[glupy.Event, glupy.Event]:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        old, sep, new = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} is not OLD=NEW")
        pairs[glupy.Event[old.strip().upper()]] = glupy.Event[new.strip().upper()]
    return pairs


class EventMap(glupy.Translator):
    """Passes notify events on under other names: ``option events CHILD_UP=CHILD_DOWN``
    (a notify returning another Event); other events go on unchanged."""

    events = glupy.Option(_event_pairs, default="", doc="OLD=NEW pairs, comma-separated")

    def notify(self, event, source):
        return self.events.get(event)


LOOKUPS_XATTR = "glupy.test.lookups"


def exercise_missing_names(cls) -> list[str]:
    """Run one scenario against a MissingNames class (the bridge's C type or the harness's
    stand-in, its specification); the checks that failed (none: both behave alike)."""
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    def raises(exc: type[BaseException], fn, *args) -> bool:
        try:
            fn(*args)
        except exc:
            return True
        return False

    now = time.monotonic()
    d1, d2 = uuid.uuid4(), uuid.uuid4()
    pp = glupy.Iatt()
    pp.size = 4096
    table = cls(3, ["gfid-req"], ("security.",))
    check(table.max_entries == 3 and len(table) == 0, "empty table")
    check(set(table.xdata_keys) == {"gfid-req"} and tuple(table.xdata_prefixes) == ("security.",), "key lists")
    table.add(d1, "a", pp, now + 600)
    table.add(d1.bytes, "b", None, now + 600)  # a gfid as 16 bytes
    table.add(d2, "a", pp, now - 1)  # already expired
    check(len(table) == 3 and (d1, "a") in table and (d1, b"b") in table, "add/contains")
    got = table.get(d1, "a")
    check(got is not None and got[0] == now + 600 and got[1].size == 4096, "get")
    check(table.get(d1, "zzz") is None, "get of an absent name")
    check(table.answer(d1, "a", ["gfid-req", "security.ima"])[0] is True, "answer with allowed keys")
    check(table.answer(d1, "a", ["gfid-req", "trusted.x"]) == (False, None), "answer refused by a key")
    answered, postparent = table.answer(d1, "b", [])
    check(answered is True and postparent is None, "answer without a postparent")
    check(table.answer(d2, "a", []) == (False, None) and (d2, "a") not in table, "expired dropped")
    check((table.hits, table.expired, table.evictions) == (2, 1, 0), "counters after answers")
    # least recently used: d1/a was answered before d1/b, so adding d2/c and d2/d evicts d1/a
    table.add(d2, "c", None, now + 600)
    table.add(d2, "d", None, now + 600)
    check(len(table) == 3 and (d1, "a") not in table and (d1, "b") in table, "LRU eviction")
    check(table.evictions == 1, "eviction counted")
    table.add(d2, "c", pp, now + 900)  # re-adding replaces
    check(len(table) == 3 and table.get(d2, "c")[0] == now + 900, "re-add replaces")
    check(table.discard_dir(d2) == 2 and len(table) == 1 and table.discard_dir(d2) == 0, "discard_dir")
    check(table.discard(d1, "b") is True and table.discard(d1, "b") is False, "discard")
    for i in range(3):
        table.add(d1, f"n{i}", None, now + 600)
    table.max_entries = 1
    check(len(table) == 1 and (d1, "n2") in table and table.evictions == 3, "lowering max_entries evicts")
    check(table.clear() == 1 and len(table) == 0, "clear")
    check(raises(ValueError, cls, 0), "max_entries 0 refused")
    check(raises(TypeError, table.add, None, "x", None, now), "a None gfid refused")
    check(raises(TypeError, table.add, d1, "", None, now), "an empty name refused")
    check(raises(TypeError, table.add, d1, "x", "not an iatt", now), "a postparent that is no Iatt refused")
    check(raises(TypeError, table.__contains__, 5), "a key that is no (pargfid, name) refused")
    return failures


class LookupFilters(glupy.Translator):
    """Declares the bridge's lookup filters from its options and counts the lookups that
    still reach it, by kind and name (``getfattr -n glupy.test.lookups``: {"named": n,
    "nameless": n, "names": [...], "hits": n, "entries": n, "selftest": [failures]}).

    Options: ``named-only``, ``fresh-only`` (named_lookups_only, fresh_lookups_only);
    ``missing``: names (comma-separated) put in the root's missing_names at init for ten
    minutes; ``expired``: names put there already expired. At init it runs
    exercise_missing_names against glupy.MissingNames (the C type inside GlusterFS)."""

    named_only = glupy.Option(bool, default=False)
    fresh_only = glupy.Option(bool, default=False)
    missing = glupy.Option(str, default="")
    expired = glupy.Option(str, default="")

    def init(self) -> None:
        self.named_lookups_only = self.named_only
        self.fresh_lookups_only = self.fresh_only
        self.selftest = exercise_missing_names(glupy.MissingNames)
        self.seen = {"named": 0, "nameless": 0, "names": []}
        if self.missing or self.expired:
            self.missing_names = glupy.MissingNames(100, ["gfid-req"])
            root, now = ROOT_GFID, time.monotonic()
            for names, deadline in ((self.missing, now + 600), (self.expired, now - 1)):
                for name in filter(None, names.split(",")):
                    self.missing_names.add(root, name, None, deadline)

    async def lookup(self, loc, xdata):
        if loc.name:
            self.seen["named"] += 1
            self.seen["names"].append(loc.name)
        else:
            self.seen["nameless"] += 1
        return await self.child.lookup(loc, xdata)

    async def getxattr(self, loc, name, xdata):
        if name == LOOKUPS_XATTR:
            table = self.missing_names
            report = dict(self.seen, selftest=self.selftest, hits=table.hits if table else 0,
                          entries=len(table) if table else 0)
            return glupy.GetxattrReply(dict=glupy.Xdata({name: json.dumps(report).encode()}))
        return await self.child.getxattr(loc, name, xdata)


class Stalls(glupy.Translator):
    """Lookups that block, spin or never finish, by name (the bridge must keep
    serving every other FOP meanwhile, and answer the stuck one at its deadline):

    * ``sleep-*``: ``time.sleep(block)`` on the worker running the handler;
    * ``spin-*``: a busy loop for ``block`` seconds (holding the GIL as Python does);
    * ``hang-*``: awaits something that never comes (``glupy.sleep`` of a day);

    and, for a file ``sleep-*`` opened through it, a ``release`` hook that sleeps
    ``block`` seconds when the file is closed (GlusterFS calls it on whichever of
    its threads drops the fd last: the FUSE reader, epoll...); with ``notify-block``,
    a notify hook that sleeps that long on every event (CHILD_UP while mounting...).
    """

    block = glupy.Option(float, default=5.0, min=0)
    notify_block = glupy.Option(float, default=0.0, min=0)

    def notify(self, event, source):
        if self.notify_block:
            time.sleep(self.notify_block)

    async def open(self, loc, flags, fd, xdata):
        reply = await self.child.open(loc, flags, fd, xdata)
        if (loc.name or "").startswith("sleep-"):
            self.set_fd_ctx(fd, "sleep")
        return reply

    def release(self, ctx):
        if ctx == "sleep":
            time.sleep(self.block)

    async def lookup(self, loc, xdata):
        name = loc.name or ""
        if name.startswith("sleep-"):
            time.sleep(self.block)
        elif name.startswith("spin-"):
            until = time.monotonic() + self.block
            while time.monotonic() < until:
                pass
        elif name.startswith("hang-"):
            await glupy.sleep(86400)
        return await self.child.lookup(loc, xdata)


class Observing(glupy.Translator):
    """Observes create, writev, stat and lookup (glupy.observer) and answers the getxattr
    ``glupy.observed`` with what it saw, as JSON: ``[fop, path or offset, op_ret,
    op_errno, uid, pid]`` per observation. An observation of a name starting ``block-``
    sleeps ``block`` seconds; of ``raise-``, raises (neither may delay any FOP)."""

    OBSERVED_XATTR = "glupy.observed"
    block = glupy.Option(float, default=5.0, min=0)

    def init(self) -> None:
        self.seen: list[list] = []

    def _saw(self, fop: str, what: object, reply) -> None:
        caller = self.caller
        self.seen.append([fop, what, reply.op_ret, reply.op_errno, caller.uid, caller.pid])

    @glupy.observer
    def lookup(self, loc, xdata, reply):
        name = loc.name or ""
        if name.startswith("block-"):
            time.sleep(self.block)
        elif name.startswith("raise-"):
            raise RuntimeError(f"observer fails by design on {name}")
        if reply.op_ret < 0:
            self._saw("lookup", loc.path, reply)

    @glupy.observer
    def create(self, loc, flags, mode, umask, fd, xdata, reply):
        self._saw("create", loc.path, reply)

    @glupy.observer
    def writev(self, fd, data, offset, flags, xdata, reply):
        self._saw("writev", [offset, len(data)], reply)

    @glupy.observer
    def stat(self, loc, xdata, reply):
        self._saw("stat", loc.path, reply)

    async def getxattr(self, loc, name, xdata):
        if name == self.OBSERVED_XATTR:
            return glupy.GetxattrReply(dict=glupy.Xdata({name: json.dumps(self.seen)}))
        return await self.child.getxattr(loc, name, xdata)


class TailPassthrough(Passthrough):
    """The passthrough (every FOP counted, the counts read as glupy.passthrough's), each
    FOP passed on by a tail call: a plain ``def`` returning ``self.child.<fop>(...)``
    unawaited. Each FOP enters Python; its reply does not."""


for _fop in FOPS:
    if _fop.name != "getxattr":  # the passthrough's: it answers the counts
        setattr(TailPassthrough, _fop.name, forwarder(_fop, tail=True))


class ReplyPassthrough(Passthrough):
    """The passthrough (every FOP counted, the counts read as glupy.passthrough's), each
    reply taken into Python as its object before it is returned (``reply = await ...;
    return reply``): every FOP and every reply converted both ways."""


for _fop in FOPS:
    if _fop.name != "getxattr":  # the passthrough's: it answers the counts
        setattr(ReplyPassthrough, _fop.name, forwarder(_fop, reply=True))


class GfidChooser(glupy.Translator):
    """mkdir and create choose the new entry's gfid, ``uuid5(NAMESPACE_URL, name)``, set as
    the ``gfid-req`` of their xdata (as a translator that names files by content would),
    and check that the Xdata gives it back after more work on the thread's stack."""

    @staticmethod
    def chosen(name: str) -> uuid.UUID:
        """The gfid for `name`: the root's for names starting with ``root-`` (a wind the
        bridge refuses: storage/posix would give the root's handle to the new entry)."""
        if name.startswith("root-"):
            return ROOT_GFID
        return uuid.uuid5(uuid.NAMESPACE_URL, name)

    def _request(self, name: str, xdata):
        wanted = self.chosen(name)
        mine = glupy.Xdata(dict(xdata.items()) if xdata is not None else {})
        mine["gfid-req"] = wanted
        json.dumps([list(range(i)) for i in range(200)])  # other calls over the frame that set it
        if uuid.UUID(bytes=mine.raw("gfid-req")[:16]) != wanted:
            raise glupy.FopError(errno.EPROTO, "the Xdata lost the gfid it was given")
        return mine

    async def mkdir(self, loc, mode, umask, xdata):
        return await self.child.mkdir(loc, mode, umask, self._request(loc.name, xdata))

    async def create(self, loc, flags, mode, umask, fd, xdata):
        return await self.child.create(loc, flags, mode, umask, fd, self._request(loc.name, xdata))


class TailMistakes(glupy.Translator):
    """Lookups passed on by tail calls, some wrongly (by name): ``other-*`` returns a stat's
    wind, ``owner-*`` one with a lock owner, ``badarg-*`` one whose loc is not a Loc; each
    of those is answered EIO and logged. Every other name is passed on."""

    def lookup(self, loc, xdata):
        name = loc.name or ""
        if name.startswith("other-"):
            return self.child.stat(loc, xdata)
        if name.startswith("owner-"):
            return self.child.lookup(loc, xdata, lk_owner=b"mine")
        if name.startswith("badarg-"):
            return self.child.lookup("not a loc", xdata)
        return self.child.lookup(loc, xdata)


class AwaitMistakes(glupy.Translator):
    """Lookups passed on by ``return await`` (every await of the handler a tail await: the
    bridge may answer the child's reply in C), one of them wrongly: ``crossed-*`` winds the
    lookup of the name ``first`` (a Loc kept from an earlier lookup), whose reply is not
    the request's inode and must be answered EIO (logged) as from Python. Every other name
    is passed on."""

    def init(self) -> None:
        self.first = None

    async def lookup(self, loc, xdata):
        name = loc.name or ""
        if name == "first":
            self.first = loc
        elif name.startswith("crossed-") and self.first is not None:
            return await self.child.lookup(self.first, xdata)
        return await self.child.lookup(loc, xdata)


class _Finalized:
    """Appends a byte to a file when freed: a coroutine holding one was finished."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        os.write(self.fd, b".")


class FinishedCoroutines(glupy.Translator):
    """stat by ``return await`` (its replies answered in C where they arrive). Each call
    appends a byte to the file ``FILES.started``, and its coroutine holds an object that
    appends one to ``FILES.finished`` when the coroutine is finished and freed (option
    ``files``: the path FILES): how many were, seen from outside the process without
    sending it a FOP."""

    files = glupy.Option(str, default="")

    def init(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self._started = os.open(f"{self.files}.started", flags, 0o644)
        self._finished = os.open(f"{self.files}.finished", flags, 0o644)

    async def stat(self, loc, xdata):
        os.write(self._started, b".")
        held = _Finalized(self._finished)  # noqa: F841 (kept by the coroutine until it is finished)
        return await self.child.stat(loc, xdata)


class _NeverEnds:
    """An fd context whose ``__del__`` blocks its thread for good (in C: no exception can
    stop it), after counting itself in ``entered``."""

    entered = 0

    def __del__(self) -> None:
        type(self).entered += 1
        threading.Event().wait()


class StuckContexts(glupy.Translator):
    """Gives every fd opened on a path whose name starts ``stuck-`` a context whose ``__del__``
    never returns (each release holds the thread that runs it, for good), and answers
    the getxattr ``glupy.stuck`` with how many such ``__del__`` have started."""

    STUCK_XATTR = "glupy.stuck"

    async def open(self, loc, flags, fd, xdata):
        reply = await self.child.open(loc, flags, fd, xdata)
        if os.path.basename(loc.path or "").startswith("stuck-") and reply.op_ret >= 0:
            self.set_fd_ctx(fd, _NeverEnds())
        return reply

    async def getxattr(self, loc, name, xdata):
        if name == self.STUCK_XATTR:
            return glupy.GetxattrReply(dict=glupy.Xdata({name: str(_NeverEnds.entered)}))
        return await self.child.getxattr(loc, name, xdata)


class SlowStat(glupy.Translator):
    """A stat of a name starting ``slow-`` waits ``seconds`` (``glupy.sleep``) before it
    goes on to the child: a child that answers late."""

    seconds = glupy.Option(float, default=3.0, min=0)

    async def stat(self, loc, xdata):
        if os.path.basename(loc.path or "").startswith("slow-"):
            await glupy.sleep(self.seconds)
        return await self.child.stat(loc, xdata)
